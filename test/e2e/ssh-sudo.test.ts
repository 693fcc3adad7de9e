// Issue 12 item 2 on a real node: the sudo password goes only to a sudo that asks for it, never into a
// command's input, whatever the per-command sudoers policy; a wrong password is named as such.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { SshConnection } from '../../src/ssh/connection.js';
import { SudoPasswordError } from '../../src/errors.js';
import type { SshTarget } from '../../src/ssh/target.js';
import { writeDesiredFile } from '../../src/tasks/file.js';
import { kadeploy } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const PASSWORD = 'Sud0-pass-e2e';
const scratch = mkdtempSync(join(tmpdir(), 'kadeploy-e2e-sudo-'));

/** A user `deploy` with a password and the lab's key; `policy` is the body of its sudoers file. */
async function deployUser(lab: Lab, node: string, policy: string[]): Promise<void> {
  const pub = readFileSync(`${lab.keyPath}.pub`, 'utf8').trim();
  const r = await lab.exec(
    node,
    `id deploy >/dev/null 2>&1 || useradd -m -s /bin/sh deploy; echo 'deploy:${PASSWORD}' | chpasswd; ` +
      `mkdir -p ~deploy/.ssh; echo '${pub}' > ~deploy/.ssh/authorized_keys; chown -R deploy: ~deploy/.ssh; ` +
      `printf '%s\\n' ${policy.map((l) => `'${l}'`).join(' ')} > /etc/sudoers.d/deploy; chmod 0440 /etc/sudoers.d/deploy; visudo -c`,
  );
  assert.equal(r.code, 0, r.stderr);
}

function target(lab: Lab, over: Partial<SshTarget> = {}): SshTarget {
  return {
    name: lab.nodes[0]!.name,
    host: lab.nodes[0]!.ip,
    port: 22,
    user: 'deploy',
    identityFiles: [lab.keyPath],
    knownHostsFile: lab.knownHostsPath,
    hostKeyPolicy: 'strict',
    useAgent: false,
    sudo: true,
    sudoPassword: PASSWORD,
    connectTimeoutMs: 10_000,
    commandTimeoutMs: 30_000,
    ...over,
  };
}

/** Upload a file through sudo as `deploy`; return what landed on the node (read as root, not through kadeploy). */
async function upload(lab: Lab, t: SshTarget, path: string, content: string): Promise<string> {
  const conn = await SshConnection.connect(t);
  try {
    assert.equal((await conn.exec('id -u')).stdout.trim(), '0', 'commands run as root');
    // The way apply writes a managed file: the content is the command's input.
    await writeDesiredFile(conn, { kind: 'file', task: 'sudo e2e', path, content, mode: '0644', secret: false });
  } finally {
    await conn.close();
  }
  const r = await lab.exec(t.name, `cat ${path}`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('sudo with a password on a real node', { timeout: 600_000 }, () => {
  it('feeds the password only to sudo, under per-command sudoers policies; a wrong one is named', async (t) => {
    await withLab(t, { nodes: 1 }, async (lab) => {
      const node = lab.nodes[0]!.name;
      const payload = 'first line of the payload\nsecond\n';

      // sh needs no password, everything else (true) does: the old `sudo -n true` probe said
      // "password needed" and the password became the first line of every uploaded file.
      await deployUser(lab, node, ['deploy ALL=(ALL) ALL', 'deploy ALL=(ALL) NOPASSWD: /usr/bin/sh, /bin/sh']);
      const landed = await upload(lab, target(lab), '/usr/local/bin/kadeploy-sudo-a.sh', payload);
      assert.equal(landed, payload, 'the file holds exactly the payload');
      assert.ok(!landed.includes(PASSWORD), 'the password is not in the uploaded file');

      // The reverse: true needs no password, sh does. The old probe said "no password needed" and
      // sudo read the payload's first line as the password.
      await deployUser(lab, node, ['deploy ALL=(ALL) ALL', 'deploy ALL=(ALL) NOPASSWD: /usr/bin/true, /bin/true']);
      assert.equal(await upload(lab, target(lab), '/usr/local/bin/kadeploy-sudo-b.sh', payload), payload);

      // Nothing of the password anywhere under the node's /usr/local, /tmp or /root.
      const grep = await lab.exec(node, `grep -rlF -- '${PASSWORD}' /usr/local /tmp /root /home || true`);
      assert.equal(grep.stdout.trim(), '', `password found in: ${grep.stdout}`);

      // A wrong password: a clear error, and it is tried once (sudo asking again ends the command).
      const wrong = await SshConnection.connect(target(lab, { sudoPassword: 'not-the-password' }));
      try {
        await assert.rejects(wrong.exec('touch /root/should-not-exist'), (err: unknown) => {
          assert.ok(err instanceof SudoPasswordError, String(err));
          assert.match(err.message, new RegExp(`^sudo password refused on ${node} \\(user deploy\\)`));
          return true;
        });
      } finally {
        await wrong.close();
      }
      // No password given while sudo wants one: says so.
      const none = await SshConnection.connect(target(lab, { sudoPassword: undefined }));
      try {
        await assert.rejects(none.exec('true'), /asks user deploy for a password and none is set/);
      } finally {
        await none.close();
      }
      assert.equal((await lab.exec(node, 'test -e /root/should-not-exist')).code, 1, 'the command did not run');

      // Through the CLI: the first sudo command (the lock) gets the message, not "cannot take the lock … Sorry, try again".
      const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
      doc.setIn(['ssh', 'user'], 'deploy');
      doc.setIn(['ssh', 'sudo'], true);
      doc.setIn(['ssh', 'sudo_password'], doc.createNode({ env: 'KADEPLOY_E2E_SUDO' }));
      const inv = join(scratch, 'sudo-wrong.yaml');
      writeFileSync(inv, doc.toString());
      const r = await kadeploy(['apply', inv], { KADEPLOY_E2E_SUDO: 'not-the-password' });
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`sudo password refused on ${node}`));
      assert.doesNotMatch(r.stdout + r.stderr, /cannot take the lock|Sorry, try again|not-the-password/);
      assert.equal((await lab.exec(node, 'dpkg -s keepalived >/dev/null 2>&1')).code, 1, 'nothing installed');

      // And with the right password the same apply goes through the sudo prompt for every command.
      const ok = await kadeploy(['apply', inv], { KADEPLOY_E2E_SUDO: PASSWORD });
      assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
      const conf = await lab.exec(node, `cat /etc/keepalived/keepalived.conf; stat -c '%U %a' /etc/keepalived/keepalived.conf`);
      assert.ok(!conf.stdout.includes(PASSWORD), 'the password is not in keepalived.conf');
      assert.match(conf.stdout, /^vrrp_instance VI_1/m);
      assert.match(conf.stdout, /root 640\n$/);
    });
  });
});
