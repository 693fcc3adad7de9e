// Issue 4 on the real lab: apply installs and starts keepalived over SSH, is idempotent, dry-run
// changes nothing, and host-key or auth problems stop before any change.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { kadeploy } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const scratch = mkdtempSync(join(tmpdir(), 'kadeploy-e2e-'));

/** A copy of an inventory with edits applied through the YAML document (comments kept). */
function editInventory(src: string, name: string, edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(readFileSync(src, 'utf8'));
  edit(doc);
  const file = join(scratch, name);
  writeFileSync(file, doc.toString());
  return file;
}

/** Per node: checksum of the config, keepalived's main PID, active state. */
async function nodeState(lab: Lab) {
  const state: Record<string, { sum: string; pid: string; active: string }> = {};
  for (const n of lab.nodes) {
    const r = await lab.ssh(n.name, `sha256sum ${CONF} | cut -d' ' -f1; systemctl show -p MainPID --value keepalived; systemctl is-active keepalived`);
    const [sum = '', pid = '', active = ''] = r.stdout.trim().split('\n');
    state[n.name] = { sum, pid, active };
  }
  return state;
}

async function vipHolders(lab: Lab, vip: string): Promise<string[]> {
  const holders: string[] = [];
  for (const n of lab.nodes) {
    const r = await lab.ssh(n.name, 'ip -o addr show');
    if (r.stdout.split('\n').some((l) => l.includes(` ${vip}/`))) holders.push(n.name);
  }
  return holders;
}

function expectOk(r: { code: number; stdout: string; stderr: string }, what: string) {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
}

describe('apply on a 2-node lab', { timeout: 900_000 }, () => {
  it('deploys, is idempotent, shows a dry-run diff without changing anything, refuses bad keys', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const inv = lab.inventoryPath;
      const t0 = Date.now();
      const first = await kadeploy(['apply', inv]);
      expectOk(first, 'first apply');
      process.stderr.write(`  first apply: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      assert.match(first.stdout, /install keepalived/);
      assert.match(first.stdout, /lb1\s+ok=\d+ changed=[1-9]\d* failed=0/);
      assert.doesNotMatch(first.stdout + first.stderr, /labpass1/, 'auth_pass never printed');

      const after = await nodeState(lab);
      for (const n of lab.nodes) {
        assert.equal(after[n.name]!.active, 'active', `${n.name} keepalived active`);
        const mode = await lab.ssh(n.name, `stat -c '%a %U' ${CONF}; systemctl is-enabled keepalived`);
        assert.equal(mode.stdout.trim(), '640 root\nenabled');
      }
      assert.deepEqual(await vipHolders(lab, lab.vip), ['lb1'], 'VIP on the MASTER only');

      // Second run: nothing to do, nothing restarted.
      const second = await kadeploy(['apply', inv, '--detailed-exitcode']);
      expectOk(second, 'second apply');
      assert.match(second.stdout, /No changes: 2 node\(s\) up to date/);
      assert.match(second.stdout, /lb1\s+ok=\d+ changed=0 failed=0/);
      assert.match(second.stdout, /lb2\s+ok=\d+ changed=0 failed=0/);
      assert.deepEqual(await nodeState(lab), after, 'same config and keepalived PIDs');

      // Change lb2's priority: the dry-run shows exactly that and changes nothing.
      const changed = editInventory(inv, 'prio.yaml', (doc) => doc.setIn(['nodes', 1, 'priority'], 145));
      const dry = await kadeploy(['apply', changed, '--dry-run', '--detailed-exitcode']);
      assert.equal(dry.code, 2, `dry-run exit code 2 when changes are pending:\n${dry.stdout}${dry.stderr}`);
      // The lab's addresses (not the default lab's literals), so the test runs on a lab of its own.
      const ipRe = (i: number) => lab.nodes[i]!.ip.replaceAll('.', '\\.');
      assert.match(dry.stdout, new RegExp(`lb1 \\(${ipRe(0)}\\).*: no changes`));
      assert.match(dry.stdout, new RegExp(`lb2 \\(${ipRe(1)}\\): 2 change\\(s\\)`));
      const diffLines = dry.stdout.split('\n').filter((l) => /^\s+[-+]\s/.test(l) && !/^\s+(---|\+\+\+)/.test(l));
      assert.deepEqual(diffLines.map((l) => l.trim().replace(/\s+/g, ' ')), ['- priority 140', '+ priority 145']);
      assert.match(dry.stdout, /keepalived: reload/);
      assert.deepEqual(await nodeState(lab), after, 'dry-run changed nothing');

      const json = await kadeploy(['diff', changed, '--json']);
      expectOk(json, 'diff --json');
      const plan = JSON.parse(json.stdout);
      assert.equal(plan.changes_pending, 2);
      assert.doesNotMatch(json.stdout, /labpass1/);

      // --limit: only the named node is planned and changed.
      const limited = await kadeploy(['apply', changed, '--limit', 'lb1', '--dry-run']);
      expectOk(limited, 'dry-run --limit lb1');
      assert.match(limited.stdout, /No changes: 1 node\(s\) up to date/);
      assert.doesNotMatch(limited.stdout, /lb2/);

      const third = await kadeploy(['apply', changed]);
      expectOk(third, 'apply of the new priority');
      assert.match(third.stdout, /lb1\s+ok=\d+ changed=0 failed=0/);
      assert.match(third.stdout, /lb2\s+ok=\d+ changed=2 failed=0/);
      const final = await nodeState(lab);
      assert.deepEqual(final.lb1, after.lb1, 'lb1 untouched');
      assert.notEqual(final.lb2!.sum, after.lb2!.sum, 'lb2 config changed');
      assert.equal(final.lb2!.pid, after.lb2!.pid, 'lb2 reloaded, not restarted');
      assert.deepEqual(await vipHolders(lab, lab.vip), ['lb1']);

      // An unknown host key: refused before any change.
      const emptyKnownHosts = join(scratch, 'empty_known_hosts');
      writeFileSync(emptyKnownHosts, '');
      const unknownKey = editInventory(changed, 'unknown-key.yaml', (doc) => {
        doc.setIn(['ssh', 'known_hosts'], emptyKnownHosts);
        doc.setIn(['nodes', 0, 'priority'], 149);
      });
      const refused = await kadeploy(['apply', unknownKey]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /lb1, lb2: cannot connect; nothing was changed on any node/);
      assert.match(refused.stderr, /host key .*not in .*empty_known_hosts/i);
      assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');

      // A wrong SSH key: refused before any change.
      const wrongKey = join(scratch, 'wrong_key');
      await import('node:child_process').then(({ execFileSync }) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]));
      const badAuth = editInventory(unknownKey, 'wrong-key.yaml', (doc) => {
        doc.setIn(['ssh', 'known_hosts'], lab.knownHostsPath);
        doc.setIn(['ssh', 'identity_file'], wrongKey);
      });
      const denied = await kadeploy(['apply', badAuth]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /authentication failed/i);
      assert.deepEqual(await nodeState(lab), final, 'refused runs changed nothing');

      // A non-root user through `sudo -n`, and lb2 reached through lb1 as a jump host (ProxyJump).
      const pub = readFileSync(`${lab.keyPath}.pub`, 'utf8').trim();
      for (const n of lab.nodes) {
        const r = await lab.exec(
          n.name,
          `id deploy >/dev/null 2>&1 || useradd -m -s /bin/sh deploy; mkdir -p ~deploy/.ssh; echo '${pub}' > ~deploy/.ssh/authorized_keys; ` +
            `chown -R deploy: ~deploy/.ssh; echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deploy; chmod 0440 /etc/sudoers.d/deploy`,
        );
        assert.equal(r.code, 0, r.stderr);
      }
      const viaSudo = editInventory(changed, 'sudo.yaml', (doc) => {
        doc.setIn(['ssh', 'user'], 'deploy');
        doc.setIn(['ssh', 'sudo'], true);
        doc.setIn(['nodes', 1, 'ssh'], doc.createNode({ proxy_jump: `root@${lab.nodes[0]!.ip}` }));
        doc.setIn(['nodes', 1, 'priority'], 144);
      });
      const sudoApply = await kadeploy(['apply', viaSudo]);
      expectOk(sudoApply, 'apply as deploy with sudo, lb2 through a jump host');
      assert.match(sudoApply.stdout, /lb2\s+ok=\d+ changed=2 failed=0/);
      const who = await lab.ssh('lb2', `stat -c '%U %a' ${CONF}; grep -c 'priority 144' ${CONF}; journalctl -u ssh --no-pager | grep -c 'Accepted publickey for deploy from ${lab.nodes[0]!.ip}' || true`);
      const [owner, prio, viaJump] = who.stdout.trim().split('\n');
      assert.equal(owner, 'root 640', 'written as root through sudo');
      assert.equal(prio, '1');
      assert.ok(Number(viaJump) >= 1, `lb2 saw deploy log in from lb1 (the jump host): ${who.stdout}`);
    });
  });
});

describe('apply of the three-controller example on a 3-node lab', { timeout: 900_000 }, () => {
  it('deploys two VIPs with notify scripts; they land on the highest-priority node', async (t) => {
    await withLab(t, { nodes: 3 }, async (lab) => {
      // The Kolla example, moved onto the lab's addresses. Its external VIP lives on eth1: give
      // each node an eth1 (a veth pair inside the node) on a private test network.
      const inv = editInventory(join(import.meta.dirname, '..', '..', 'inventories', 'kolla-three-controllers.yaml'), 'kolla-lab.yaml', (doc) => {
        const lab0 = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
        doc.set('ssh', lab0.get('ssh'));
        doc.set('apt_proxy', lab0.get('apt_proxy'));
        doc.setIn(['vars', 'haproxy_check_url'], 'http://127.0.0.1/');
        doc.setIn(['vrrp_instances', 'VI_1', 'virtual_ipaddresses', 0, 'address'], `${lab.vip}/24`);
        doc.setIn(['vrrp_instances', 'VI_1', 'virtual_ipaddresses', 1, 'address'], '198.51.100.10/24');
        lab.nodes.forEach((n, i) => doc.setIn(['nodes', i, 'address'], n.address));
      });
      for (const n of lab.nodes) {
        const r = await lab.exec(n.name, 'ip link add eth1 type veth peer name eth1peer && ip link set eth1 up && ip link set eth1peer up');
        assert.equal(r.code, 0, r.stderr);
      }
      const r = await kadeploy(['apply', inv]);
      expectOk(r, 'apply kolla example');
      assert.deepEqual(await vipHolders(lab, lab.vip), ['lb1'], 'internal VIP on controller-1 (priority 100)');
      assert.deepEqual(await vipHolders(lab, '198.51.100.10'), ['lb1'], 'external VIP on controller-1');
      const notify = await lab.ssh('lb1', 'cat /run/keepalived-notify.state');
      assert.match(notify.stdout, /^master \d+/, 'notify_master ran on lb1');
      const notifyBackup = await lab.ssh('lb2', 'cat /run/keepalived-notify.state');
      assert.match(notifyBackup.stdout, /^backup \d+/, 'notify_backup ran on lb2');
      const again = await kadeploy(['apply', inv, '--detailed-exitcode']);
      assert.equal(again.code, 0, `re-apply is a no-op:\n${again.stdout}`);

      // Issue 5 on three nodes: stopping HAProxy on controller-1 (weight -20: 100 → 80) moves the
      // VIP to the next priority, controller-2 (90), not controller-3 (80); then it comes back.
      const drill = await kadeploy(['verify', inv, '--failover', '--json']);
      const report = JSON.parse(drill.stdout).failover;
      process.stderr.write(`  3-node drill: ${report.from} → ${report.to} in ${report.failoverMs} ms, failback ${report.failbackMs} ms\n`);
      assert.equal(drill.code, 0, `3-node drill:\n${drill.stdout}\n${drill.stderr}`);
      assert.equal(report.from, 'controller-1');
      assert.equal(report.to, 'controller-2');
      assert.equal(report.expectedTo, 'controller-2');
      assert.equal(report.outcome, 'failback');
    });
  });
});
