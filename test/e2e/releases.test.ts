// Issue 14 on Debian 11, 12 and 13 nodes (each with its own keepalived: 2.1, 2.2, 2.3): apply waits
// for a dpkg lock another process holds, re-apply changes nothing, verify passes, and after the VIP
// holder reboots keepalived comes back (enabled), the VIP returns to it and verify passes again; then
// the failover drill.
// KADEPLOY_TEST_RELEASES=bullseye,trixie limits the releases (default: all).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RELEASES, startNode, stopNode, type Release } from '../../src/lab/index.js';
import { kadeploy } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const KEEPALIVED: Record<Release, RegExp> = { bullseye: /^1:2\.1\./, bookworm: /^1:2\.2\./, trixie: /^1:2\.3\./ };
const LOCK = '/var/lib/dpkg/lock-frontend';
const LOCK_SECONDS = 20;
// apt and dpkg lock with fcntl(2): a `flock` holder would not stop them. Records when it let go.
const HOLD_LOCK =
  `setsid sh -c 'python3 -c "import fcntl, sys, time; f = open(sys.argv[1], \\"w\\"); fcntl.lockf(f, fcntl.LOCK_EX); ` +
  `time.sleep(${LOCK_SECONDS})" ${LOCK}; date +%s > /run/lock-released' </dev/null >/dev/null 2>&1 &`;
const LOCK_HELD = `python3 -c "import fcntl; fcntl.lockf(open('${LOCK}', 'w'), fcntl.LOCK_EX | fcntl.LOCK_NB)" 2>/dev/null && echo free || echo held`;

const releases = (process.env.KADEPLOY_TEST_RELEASES?.split(',') ?? [...RELEASES]) as Release[];

function expectCode(r: { code: number; stdout: string; stderr: string }, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

async function out(lab: Lab, node: string, cmd: string): Promise<string> {
  const r = await lab.exec(node, cmd);
  assert.equal(r.code, 0, `${node}: ${cmd} -> exit ${r.code}\n${r.stderr}`);
  return r.stdout.trim();
}

/** Running nodes that hold the VIP (a stopped node holds nothing). */
async function vipHolders(lab: Lab): Promise<string[]> {
  const holders: string[] = [];
  for (const n of lab.nodes) {
    const addrs = await lab.exec(n.name, 'ip -o addr show').catch(() => undefined);
    if (addrs?.stdout.includes(` ${lab.vip}/`)) holders.push(n.name);
  }
  return holders;
}

async function waitHolders(lab: Lab, expected: string[], seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  let holders = await vipHolders(lab);
  while (holders.join() !== expected.join() && Date.now() < until) {
    await sleep(500);
    holders = await vipHolders(lab);
  }
  assert.deepEqual(holders, expected, `VIP ${lab.vip} holders after ${seconds} s`);
}

const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

describe('Debian 11, 12 and 13 nodes', { timeout: 600_000 * releases.length }, () => {
  for (const release of releases) {
    it(`${release}: apply waits for a busy dpkg lock, re-apply changes nothing, verify passes, a reboot of the VIP holder heals, the drill passes`, async (t) => {
      await withLab(t, { nodes: 2, release }, async (lab) => {
        const inv = lab.inventoryPath;
        t.diagnostic(`${release}: lab up ${lab.upSeconds.toFixed(1)} s`);
        assert.match(await out(lab, 'lb1', 'cat /etc/os-release'), new RegExp(`VERSION_CODENAME=${release}`));

        // A package manager busy on lb2: apply must wait for the lock, not fail.
        await out(lab, 'lb2', HOLD_LOCK);
        let held = '';
        for (let i = 0; i < 50 && held !== 'held'; i++, await sleep(100)) held = await out(lab, 'lb2', LOCK_HELD);
        assert.equal(held, 'held', `${LOCK} is held on lb2`);
        let t0 = Date.now();
        expectCode(await kadeploy(['apply', inv]), 0, 'apply with the dpkg lock held on lb2');
        t.diagnostic(`${release}: first apply (lock held ${LOCK_SECONDS} s on lb2) ${seconds(t0)}`);
        const released = Number(await out(lab, 'lb2', 'cat /run/lock-released'));
        const installed = Number(await out(lab, 'lb2', 'stat -c %Y /var/lib/dpkg/info/keepalived.list'));
        assert.ok(installed >= released, `keepalived installed on lb2 (${installed}) after the lock was released (${released})`);

        t0 = Date.now();
        const again = await kadeploy(['apply', inv, '--detailed-exitcode']);
        expectCode(again, 0, 're-apply');
        assert.match(again.stdout, /lb1\s+ok=\d+ changed=0 failed=0/);
        assert.match(again.stdout, /lb2\s+ok=\d+ changed=0 failed=0/);
        t.diagnostic(`${release}: re-apply ${seconds(t0)}`);

        t0 = Date.now();
        const verify = await kadeploy(['verify', inv]);
        expectCode(verify, 0, 'verify');
        assert.match(verify.stdout, /all \d+ checks passed/);
        const version = /lb1\s+keepalived installed\s+PASS\s+(\S+)/.exec(verify.stdout)?.[1] ?? '';
        assert.match(version, KEEPALIVED[release], `${release} ships its own keepalived`);
        t.diagnostic(`${release}: verify ${seconds(t0)} (keepalived ${version})`);

        // Reboot the VIP holder: the VIP moves to lb2, then comes back with lb1's keepalived.
        t0 = Date.now();
        await stopNode('lb1', { name: lab.name });
        await waitHolders(lab, ['lb2'], 15);
        await startNode('lb1', { name: lab.name });
        assert.equal(await out(lab, 'lb1', 'systemctl is-enabled keepalived'), 'enabled');
        await waitHolders(lab, ['lb1'], 30);
        assert.equal(await out(lab, 'lb1', 'systemctl is-active keepalived'), 'active');
        const after = await kadeploy(['verify', inv]);
        expectCode(after, 0, 'verify after lb1 rebooted');
        assert.match(after.stdout, /cluster\s+VIP \S+\s+PASS\s+VIP \S+ on lb1 \(expected lb1\)/);
        t.diagnostic(`${release}: reboot of lb1 and verify ${seconds(t0)}`);

        // The drill on this release's keepalived: HAProxy stopped on lb1, the VIP moves to lb2 and back.
        t0 = Date.now();
        const drill = await kadeploy(['verify', inv, '--failover', '--json']);
        expectCode(drill, 0, 'verify --failover');
        const report = JSON.parse(drill.stdout).failover;
        assert.equal(report.from, 'lb1');
        assert.equal(report.to, 'lb2');
        assert.equal(report.outcome, 'failback');
        t.diagnostic(`${release}: drill failover ${report.failoverMs} ms, failback ${report.failbackMs} ms (${seconds(t0)})`);
      });
    });
  }
});
