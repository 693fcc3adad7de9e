// Issue 16 on the lab, with a test CA made by `ssh-keygen -s`: the nodes' sshd trusts a user CA
// (TrustedUserCAKeys) and presents host certificates (HostCertificate); root has no authorized key.
// kadeploy applies with only a certificate under strict host checking (known_hosts holds only
// @cert-authority), through a file and through ssh-agent; an expired certificate and a host
// certificate for another name are refused with clear errors and nothing changed.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { kadeploy } from '../support/cli.js';
import { keygen, pubBlob } from '../support/sshd.js';
import { withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const HOST_KEY = '/etc/ssh/ssh_host_ed25519_key';
const scratch = mkdtempSync(join(tmpdir(), 'kadeploy-e2e-cert-'));

function sign(ca: string, pub: string, args: string[]): string {
  execFileSync('ssh-keygen', ['-q', '-s', ca, ...args, pub]);
  return pub.replace(/\.pub$/, '-cert.pub');
}

async function ok(lab: Lab, node: string, cmd: string): Promise<string> {
  const r = await lab.exec(node, cmd);
  assert.equal(r.code, 0, `${node}: ${cmd}: ${r.stderr}`);
  return r.stdout;
}

/** Certify `node`'s ed25519 host key for `principals` and (re)start its sshd. */
async function certifyHost(lab: Lab, node: string, hostCa: string, principals: string): Promise<void> {
  const pub = join(scratch, `${node}_host.pub`);
  writeFileSync(pub, await ok(lab, node, `cat ${HOST_KEY}.pub`));
  const cert = sign(hostCa, pub, ['-h', '-I', `${node}-host`, '-n', principals, '-V', '-5m:+1d']);
  await ok(lab, node, `echo '${readFileSync(cert, 'utf8').trim()}' > ${HOST_KEY}-cert.pub && systemctl restart ssh`);
}

/** Per node: checksum of keepalived.conf (or "none"), read through the node's namespace, not SSH. */
async function confSums(lab: Lab): Promise<string[]> {
  return Promise.all(lab.nodes.map((n) => ok(lab, n.name, `sha256sum ${CONF} 2>/dev/null | cut -d' ' -f1 || true`).then((s) => s.trim() || 'none')));
}

describe('SSH certificates on the lab', { timeout: 900_000 }, () => {
  it('applies with only a user certificate and host certificates; refuses expired and misnamed ones', async (t) => {
    await withLab(t, {}, async (lab) => {
      const userCa = keygen(scratch, 'user_ca', 'ed25519');
      const hostCa = keygen(scratch, 'host_ca', 'ecdsa');
      for (const n of lab.nodes) {
        await ok(
          lab,
          n.name,
          `echo '${pubBlob(userCa)}' > /etc/ssh/kadeploy_user_ca.pub && ` +
            `printf '%s\\n' 'TrustedUserCAKeys /etc/ssh/kadeploy_user_ca.pub' 'HostCertificate ${HOST_KEY}-cert.pub' > /etc/ssh/sshd_config.d/kadeploy-ca.conf && ` +
            // Only a certificate can log in now.
            `rm -f /root/.ssh/authorized_keys`,
        );
        await certifyHost(lab, n.name, hostCa, `${n.ip},${n.name}`);
      }
      const caKnownHosts = join(scratch, 'ca_known_hosts');
      writeFileSync(caKnownHosts, `@cert-authority ${lab.nodes.map((n) => n.ip).join(',')} ${pubBlob(hostCa)}\n`);

      const key = keygen(scratch, 'deployer', 'ed25519');
      sign(userCa, `${key}.pub`, ['-I', 'deployer@ci', '-n', 'root', '-V', '-5m:+1h']);
      const inventory = (name: string, edit: (doc: ReturnType<typeof parseDocument>) => void): string => {
        const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
        doc.setIn(['ssh', 'known_hosts'], caKnownHosts);
        doc.setIn(['ssh', 'host_key_policy'], 'strict');
        doc.setIn(['ssh', 'use_agent'], false);
        edit(doc);
        const file = join(scratch, name);
        writeFileSync(file, doc.toString());
        return file;
      };
      // An empty HOME: no ~/.ssh/config, no default keys; only what the test gives.
      const home = mkdtempSync(join(scratch, 'home-'));
      const env = { HOME: home, SSH_AUTH_SOCK: '' };

      // 1. A certificate file next to the key; strict host checking through @cert-authority only.
      const viaFile = inventory('cert-file.yaml', (doc) => doc.setIn(['ssh', 'identity_file'], key));
      const first = await kadeploy(['apply', viaFile], env);
      assert.equal(first.code, 0, `apply with a certificate file:\n${first.stdout}\n${first.stderr}`);
      assert.match(first.stdout, /VIP check: VIP .* on lb1/);
      for (const n of lab.nodes) {
        const log = await ok(lab, n.name, `journalctl -u ssh --no-pager | grep -c 'Accepted publickey for root .*ED25519-CERT.*ID deployer@ci' || true`);
        assert.ok(Number(log.trim()) >= 1, `${n.name} saw a certificate login`);
      }

      // 2. The certificate held by ssh-agent only (no identity file, empty HOME).
      const sock = join(scratch, 'agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
      try {
        for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
        execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
        const viaAgent = inventory('cert-agent.yaml', (doc) => {
          doc.deleteIn(['ssh', 'identity_file']);
          doc.setIn(['ssh', 'use_agent'], true);
          doc.setIn(['nodes', 1, 'priority'], 139);
        });
        const second = await kadeploy(['apply', viaAgent], { ...env, SSH_AUTH_SOCK: sock });
        assert.equal(second.code, 0, `apply through ssh-agent:\n${second.stdout}\n${second.stderr}`);
        assert.match(second.stdout, /lb2\s+ok=\d+ changed=[1-9]/);
        assert.match(await ok(lab, 'lb2', `grep -c 'priority 139' ${CONF}`), /^1/);
      } finally {
        agent.kill('SIGTERM');
      }
      const before = await confSums(lab);

      // 3. An expired certificate: refused before connecting, nothing changed.
      const oldKey = keygen(scratch, 'expired', 'ed25519');
      sign(userCa, `${oldKey}.pub`, ['-I', 'old@ci', '-n', 'root', '-V', '20200101:20200102']);
      const expired = inventory('cert-expired.yaml', (doc) => {
        doc.setIn(['ssh', 'identity_file'], oldKey);
        doc.setIn(['nodes', 1, 'priority'], 138);
      });
      const refused = await kadeploy(['apply', expired], env);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /certificate .*expired-cert\.pub \(key id "old@ci"\) expired at 2020-01-02T00:00:00Z; get a new certificate from your CA/);
      assert.match(refused.stderr, /nothing was changed on any node/);
      assert.deepEqual(await confSums(lab), before, 'the expired certificate changed nothing');

      // 4. lb1 presents a host certificate for another name: refused under strict checking, nothing changed.
      await certifyHost(lab, 'lb1', hostCa, 'lb-elsewhere.example');
      const misnamed = inventory('cert-misnamed.yaml', (doc) => {
        doc.setIn(['ssh', 'identity_file'], key);
        doc.setIn(['nodes', 1, 'priority'], 138);
      });
      const wrongHost = await kadeploy(['apply', misnamed], env);
      assert.equal(wrongHost.code, 1, wrongHost.stdout + wrongHost.stderr);
      const lb1 = lab.nodes[0]!.ip;
      assert.match(wrongHost.stderr, new RegExp(`host certificate for ${lb1.replace(/\./g, '\\.')} \\(key id "lb1-host", CA SHA256:\\S+\\) is not valid for the name ${lb1.replace(/\./g, '\\.')}: it names lb-elsewhere\\.example; refusing to connect`));
      assert.match(wrongHost.stderr, /nothing was changed on any node/);
      assert.deepEqual(await confSums(lab), before, 'the misnamed host certificate changed nothing');
      assert.doesNotMatch(refused.stderr + wrongHost.stderr, /\n\s+at /, 'no stack trace');
    });
  });
});
