// Issue 5 on the real lab: verify passes after apply, catches drift and a stopped keepalived, the
// failover drill times failover and failback, nopreempt keeps the VIP on the backup, and Ctrl-C in
// the middle of the drill leaves HAProxy running everywhere.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { CLI, kadeploy } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';

function expectCode(r: { code: number; stdout: string; stderr: string }, code: number, what: string) {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

async function haproxyActiveEverywhere(lab: Lab): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of lab.nodes) out[n.name] = (await lab.ssh(n.name, 'systemctl is-active haproxy')).stdout.trim();
  return out;
}

describe('verify, status and the failover drill on a 2-node lab', { timeout: 900_000 }, () => {
  it('passes after apply, fails on drift and on a stopped keepalived, drills failover', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const inv = lab.inventoryPath;
      expectCode(await kadeploy(['apply', inv]), 0, 'apply');

      // --adverts: measured over a window (right after apply the states are too recent to show it anyway).
      const ok = await kadeploy(['verify', inv, '--adverts']);
      expectCode(ok, 0, 'verify after apply');
      const vip = lab.vip.replace(/\./g, '\\.');
      assert.match(ok.stdout, new RegExp(`cluster\\s+VIP ${vip}\\s+PASS\\s+VIP ${vip} on lb1 \\(expected lb1\\)`));
      assert.match(ok.stdout, /lb2\s+VRRP adverts VI_1\s+PASS\s+backup: received [1-9]/);
      assert.match(ok.stdout, /all \d+ checks passed/);

      // Two verifies at the same moment: each gets its own stats dump (they take turns on the node).
      const both = await Promise.all([kadeploy(['verify', inv, '--adverts']), kadeploy(['verify', inv, '--adverts'])]);
      for (const [i, r] of both.entries()) {
        expectCode(r, 0, `concurrent verify ${i + 1}`);
        assert.match(r.stdout, /lb2\s+VRRP adverts VI_1\s+PASS\s+backup: received [1-9]/);
      }

      const status = await kadeploy(['status', inv]);
      expectCode(status, 0, 'status');
      assert.match(status.stdout, new RegExp(`VIP ${vip}: lb1\n`));
      // A lab node now and then boots degraded (systemd-remount-fs in a container): status says so, rightly.
      assert.match(status.stdout, /lb1\s+(running|degraded)\s+VI_1\s+MASTER\s+\d{4}-/);
      assert.match(status.stdout, /lb2\s+(running|degraded)\s+VI_1\s+BACKUP\s+\d{4}-/);

      // Drift: a hand edit on lb2 shows as a diff, and verify fails naming lb2.
      await lab.ssh('lb2', `sed -i 's/advert_int 1/advert_int 2/' ${CONF}`);
      const drift = await kadeploy(['verify', inv]);
      expectCode(drift, 1, 'verify with drift');
      assert.match(drift.stdout, /lb2\s+\/etc\/keepalived\/keepalived\.conf as rendered\s+FAIL\s+drift:/);
      assert.match(drift.stdout, /-\s+advert_int 2/);
      assert.match(drift.stdout, /\+\s+advert_int 1/);
      assert.match(drift.stdout, /checks failed: lb2$/m);
      expectCode(await kadeploy(['apply', inv]), 0, 're-apply fixes the drift');

      // keepalived stopped on lb2: verify fails naming lb2.
      await lab.ssh('lb2', 'systemctl stop keepalived');
      const stopped = await kadeploy(['verify', inv]);
      expectCode(stopped, 1, 'verify with keepalived stopped');
      assert.match(stopped.stdout, /lb2\s+keepalived active\s+FAIL\s+not running/);
      assert.match(stopped.stdout, /checks failed: lb2$/m);
      await lab.ssh('lb2', 'systemctl start keepalived');
      await new Promise((r) => setTimeout(r, 4000));

      // The drill: failover to lb2, HAProxy answers through the VIP, failback to lb1.
      const drill = await kadeploy(['verify', inv, '--failover', '--json']);
      const report = JSON.parse(drill.stdout).failover;
      process.stderr.write(`  drill: failover ${report.failoverMs} ms (bound ${report.failoverBoundMs}), service ${report.serviceMs} ms, failback ${report.failbackMs} ms\n`);
      expectCode(drill, 0, 'verify --failover');
      assert.equal(report.from, 'lb1');
      assert.equal(report.to, 'lb2');
      assert.equal(report.answeredBy, 'lb2', 'HAProxy on lb2 answered through the VIP');
      assert.equal(report.outcome, 'failback');
      // The drill times VIP events to the millisecond: the new holder may add the VIP a moment before
      // the old one drops it (VRRP's own handover). Two holders for longer than one advert is a split brain.
      assert.ok(report.maxHolders === 1 || report.overlapMs <= report.splitBrainMs, `split brain: ${report.maxHolders} holders for ${report.overlapMs} ms`);
      assert.ok(report.failoverMs <= report.failoverBoundMs);
      assert.deepEqual(await haproxyActiveEverywhere(lab), { lb1: 'active', lb2: 'active' });

      // The same drill stopping keepalived itself.
      const kd = await kadeploy(['verify', inv, '--failover=keepalived', '--json']);
      const kReport = JSON.parse(kd.stdout).failover;
      process.stderr.write(`  keepalived drill: failover ${kReport.failoverMs} ms, failback ${kReport.failbackMs} ms\n`);
      expectCode(kd, 0, 'verify --failover=keepalived');
      assert.deepEqual([kReport.from, kReport.to, kReport.outcome], ['lb1', 'lb2', 'failback']);
      assert.equal((await lab.ssh('lb1', 'systemctl is-active keepalived')).stdout.trim(), 'active', 'keepalived restarted on lb1');

      // Ctrl-C during the drill: HAProxy is started again.
      const child = spawn(process.execPath, [CLI, 'verify', inv, '--failover'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((r) => child.on('close', r));
      for (let i = 0; i < 300 && !/VIP .* moved to/.test(stderr) && !/stopping haproxy/.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(stderr, /stopping haproxy on lb1/);
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 130, `interrupted drill exit code\n${stderr}`);
      assert.match(stderr, /drill interrupted; every stopped service was started again/);
      assert.deepEqual(await haproxyActiveEverywhere(lab), { lb1: 'active', lb2: 'active' });

      // nopreempt (both BACKUP): after restore the VIP stays on the backup, as declared.
      const doc = parseDocument(readFileSync(inv, 'utf8'));
      doc.setIn(['vrrp_instances', 'VI_1', 'nopreempt'], true);
      doc.setIn(['nodes', 0, 'state'], 'BACKUP');
      const nopreempt = join(mkdtempSync(join(tmpdir(), 'kadeploy-e2e-')), 'nopreempt.yaml');
      writeFileSync(nopreempt, doc.toString());
      await new Promise((r) => setTimeout(r, 4000)); // let lb1 take the VIP back first
      expectCode(await kadeploy(['apply', nopreempt]), 0, 'apply nopreempt');
      const stay = await kadeploy(['verify', nopreempt, '--failover', '--json']);
      const stayReport = JSON.parse(stay.stdout).failover;
      process.stderr.write(`  nopreempt drill: failover ${stayReport.failoverMs} ms, outcome ${stayReport.outcome}\n`);
      expectCode(stay, 0, 'nopreempt drill');
      assert.equal(stayReport.expectedOutcome, 'stayed');
      assert.equal(stayReport.outcome, 'stayed');
      assert.equal(stayReport.to, 'lb2');
    });
  });
});
