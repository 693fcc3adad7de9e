// Issue 14, planned maintenance, on a 2-node lab (HAProxy as the lab installs it). Under a 100 ms
// HTTP prober through the VIP: drain the holder → the VIP is on the other node with 0 failed
// probes; an apply in between keeps the drain (the VIP never comes back, nothing changes); status
// (text and --json) and verify see the drain; draining the other node too is refused; an undrain
// interrupted by SIGTERM between writing keepalived.conf and reloading leaves the node drained and
// working, and its rerun brings the VIP back with 0 failed probes; draining the backup moves nothing.
// With nopreempt, draining the holder is refused; after `systemctl stop keepalived` the drain keeps
// the VIP away, and undrain leaves it where it is.
//
// The prober opens a new connection per request. A connection kept alive across the move cannot
// survive it (its TCP state is on the old holder; the new one answers its next packet with a reset):
// measured on this lab, one ECONNRESET per kept-alive connection per move, whatever VRRP does.
// The kept-alive prober runs beside it and its count is printed, not asserted.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { kadeploy, type CliResult } from '../support/cli.js';
import { startProber } from '../support/prober.js';
import { HOLD, spawnHeld, vipHolders, waitHolder, withLab, type Lab } from './lab-helper.js';

const MARKER = '/etc/keepalived/kadeploy-drained';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const expectOk = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);

/** Runs `fn` under two 100 ms probers (a connection per request, asserted; kept alive, reported). */
async function probed<T>(lab: Lab, what: string, fn: () => Promise<T>): Promise<T> {
  const fresh = startProber(lab.vip, { keepAlive: false });
  const kept = startProber(lab.vip);
  await sleep(1000);
  let result: T;
  try {
    result = await fn();
    await sleep(3000);
  } finally {
    const [f, k] = [await fresh.stop(), await kept.stop()];
    process.stderr.write(`  ${what}: ${f.sent} probes, ${f.failed} failed, longest gap ${f.longestGapMs} ms; kept-alive prober: ${k.sent} probes, ${k.failed} failed\n`);
    assert.equal(f.failed, 0, `${what}: no failed probe (of ${f.sent}; longest gap ${f.longestGapMs} ms)`);
  }
  return result;
}

/** Polls who holds the VIP every 100 ms while `fn` runs: every holder seen. */
async function holdersDuring<T>(lab: Lab, fn: () => Promise<T>): Promise<{ result: T; seen: Set<string> }> {
  const seen = new Set<string>();
  let running = true;
  const poll = (async () => {
    while (running) {
      for (const h of await vipHolders(lab)) seen.add(h);
      await sleep(100);
    }
  })();
  try {
    return { result: await fn(), seen };
  } finally {
    running = false;
    await poll;
  }
}

describe('drain and undrain on a 2-node lab', { timeout: 900_000 }, () => {
  it('moves the VIP off a node and back with no failed probe, and keeps it off across applies', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const inv = lab.inventoryPath;
      const [lb1, lb2] = lab.nodes.map((n) => n.name) as [string, string];
      expectOk(await kadeploy(['apply', inv]), 'first apply');
      await waitHolder(lab, lb1, 'after the first apply');

      // Drain interrupted by SIGTERM after keepalived.conf is written, before the reload: lb1 is put back, not drained.
      const cut = await spawnHeld(lab, lb1, ['drain', inv, lb1], 'drain');
      assert.equal((await lab.exec(lb1, `test -e ${MARKER}`)).code, 0, 'the marker is written before the plan runs');
      cut.kill('SIGTERM');
      await sleep(500);
      await lab.exec(lb1, `rm -f ${HOLD}`);
      assert.equal(await new Promise((r) => cut.once('exit', r)), 130, 'interrupted drain exits 130');
      assert.notEqual((await lab.exec(lb1, `test -e ${MARKER}`)).code, 0, 'the marker is removed again');
      assert.match((await lab.exec(lb1, 'cat /etc/keepalived/keepalived.conf')).stdout, /priority 150\n/, 'keepalived.conf rolled back');
      assert.equal((await lab.exec(lb1, 'systemctl is-active keepalived')).stdout.trim(), 'active');
      assert.deepEqual(await vipHolders(lab), [lb1]);
      assert.equal((await kadeploy(['apply', inv, '--dry-run', '--detailed-exitcode'])).code, 0, 'consistent: nothing to change');

      // Drain killed (SIGKILL: no chance to put anything back) between writing keepalived.conf and the
      // reload: lb1 keeps working on its old config, the mark wins, and the next apply converges to it.
      const killed = await spawnHeld(lab, lb1, ['drain', inv, lb1], 'drain');
      killed.kill('SIGKILL');
      await new Promise((r) => killed.once('exit', r));
      await lab.exec(lb1, `rm -f ${HOLD}`);
      assert.equal((await lab.exec(lb1, 'systemctl is-active keepalived')).stdout.trim(), 'active', 'lb1 still working');
      assert.equal((await lab.exec(lb1, `test -e ${MARKER}`)).code, 0, 'the mark stays');
      expectOk(await kadeploy(['apply', inv]), 'apply after the killed drain');
      await waitHolder(lab, lb2, 'after the apply converging to the drain');
      assert.equal((await kadeploy(['apply', inv, '--dry-run', '--detailed-exitcode'])).code, 0, 'converged: nothing to change');
      expectOk(await kadeploy(['undrain', inv, lb1]), 'undrain after the killed drain');
      await waitHolder(lab, lb1, 'after that undrain');

      const drain = await probed(lab, 'drain of the holder', () => kadeploy(['drain', inv, lb1]));
      expectOk(drain, 'drain lb1');
      assert.match(drain.stdout, new RegExp(`${lb1} drained .*VIP ${lab.vip.replace(/\./g, '\\.')} on ${lb2}, HTTP .* answers`));
      assert.ok(!(drain.stdout + drain.stderr).includes('labpass1'), 'no secret printed');
      assert.deepEqual(await vipHolders(lab), [lb2]);
      assert.match((await lab.exec(lb1, `cat ${MARKER}`)).stdout, /drained by kadeploy/, 'the marker is on the node');
      assert.match((await lab.exec(lb1, 'cat /etc/keepalived/keepalived.conf')).stdout, /# drained by kadeploy.*\n\s+state BACKUP\n\s+priority 1\n/);

      const status = await kadeploy(['status', inv]);
      expectOk(status, 'status');
      assert.match(status.stdout, new RegExp(`${lb1} is DRAINED since`));
      const json = JSON.parse((await kadeploy(['status', inv, '--json'])).stdout) as { nodes: Array<{ node: string; drained?: { since: string } }> };
      assert.ok(json.nodes.find((n) => n.node === lb1)?.drained?.since, 'status --json: lb1 drained');
      assert.equal(json.nodes.find((n) => n.node === lb2)?.drained, undefined, 'status --json: lb2 not drained');

      // A later apply keeps the drain: nothing to change, and the VIP never comes back.
      const dry = await kadeploy(['apply', inv, '--dry-run', '--detailed-exitcode']);
      assert.equal(dry.code, 0, `apply plans nothing while drained\n${dry.stdout}${dry.stderr}`);
      assert.match(dry.stdout, new RegExp(`^${lb1} .* — DRAINED \\(priority 1 until kadeploy undrain\\): no changes`, 'm'), 'the plan says lb1 is drained');
      const { result: apply, seen } = await holdersDuring(lab, () => kadeploy(['apply', inv]));
      expectOk(apply, 'apply while drained');
      assert.deepEqual([...seen], [lb2], 'the VIP stays on lb2 during the apply');
      assert.match(apply.stdout + apply.stderr, /expected lb2/);
      expectOk(await kadeploy(['verify', inv]), 'verify while drained: the lowered priority is no drift, lb2 is the expected holder');

      // Draining the other node of 2 would leave the VIP nowhere to go.
      const both = await kadeploy(['drain', inv, lb2]);
      assert.notEqual(both.code, 0);
      assert.match(both.stderr, new RegExp(`drain ${lb2}: every other node running VI_1 \\(${lb1}\\) is drained.*Nothing was changed`, 's'));
      assert.notEqual((await lab.exec(lb2, `test -e ${MARKER}`)).code, 0, 'lb2 not marked');

      // rollback would restore lb1's keepalived.conf from before the drain (the drain's backup) while the
      // mark stays: refused, nothing restored, the VIP stays on lb2.
      const drainedConf = (await lab.exec(lb1, 'cat /etc/keepalived/keepalived.conf')).stdout;
      const rollback = await kadeploy(['rollback', inv]);
      assert.notEqual(rollback.code, 0, rollback.stdout + rollback.stderr);
      assert.match(rollback.stderr, new RegExp(`${lb1} is drained \\(since .*restoring it would give ${lb1} its VIPs back.*Nothing was restored`, 's'));
      assert.equal((await lab.exec(lb1, 'cat /etc/keepalived/keepalived.conf')).stdout, drainedConf, 'keepalived.conf unchanged');
      assert.deepEqual(await vipHolders(lab), [lb2]);

      // Undrain killed by SIGTERM after keepalived.conf is written, before the reload: rolled back, still drained.
      const child = await spawnHeld(lab, lb1, ['undrain', inv, lb1], 'undrain');
      child.kill('SIGTERM');
      await sleep(500);
      await lab.exec(lb1, `rm -f ${HOLD}`);
      const code = await new Promise((r) => child.once('exit', r));
      assert.equal(code, 130, 'interrupted undrain exits 130');
      assert.equal((await lab.exec(lb1, `test -e ${MARKER}`)).code, 0, 'the marker is back: lb1 still drained');
      assert.match((await lab.exec(lb1, 'cat /etc/keepalived/keepalived.conf')).stdout, /priority 1\n/, 'keepalived.conf rolled back to the drained one');
      assert.equal((await lab.exec(lb1, 'systemctl is-active keepalived')).stdout.trim(), 'active');
      assert.deepEqual(await vipHolders(lab), [lb2]);
      const still = await kadeploy(['apply', inv, '--dry-run', '--detailed-exitcode']);
      assert.equal(still.code, 0, `consistent after the interruption: nothing to change\n${still.stdout}${still.stderr}`);

      const undrain = await probed(lab, 'undrain', () => kadeploy(['undrain', inv, lb1]));
      expectOk(undrain, 'undrain lb1');
      await waitHolder(lab, lb1, 'after undrain the VIP returns to the preferred node (preempt)');
      assert.notEqual((await lab.exec(lb1, `test -e ${MARKER}`)).code, 0, 'marker removed');
      assert.doesNotMatch((await kadeploy(['status', inv])).stdout, /DRAINED/);
      const after = await kadeploy(['apply', inv, '--dry-run', '--detailed-exitcode']);
      assert.equal(after.code, 0, `converged after undrain\n${after.stdout}${after.stderr}`);
      expectOk(await kadeploy(['verify', inv]), 'verify after undrain');

      // Draining a node that holds no VIP marks it all the same; the VIP does not move. (--json: the
      // outcome for scripts.)
      const { result: spare, seen: seenSpare } = await holdersDuring(lab, () => probed(lab, 'drain of the backup', () => kadeploy(['drain', inv, lb2, '--json'])));
      expectOk(spare, 'drain lb2');
      assert.deepEqual([...seenSpare], [lb1], 'the VIP stays on lb1');
      const out = JSON.parse(spare.stdout) as { node: string; drained: boolean; since: string; changed: boolean; placements: Array<{ vip: string; holder: string; http?: boolean }> };
      assert.deepEqual([out.node, out.drained, out.changed, typeof out.since], [lb2, true, true, 'string']);
      assert.deepEqual(out.placements, [{ vip: lab.vip, holder: lb1, http: true }]);
      assert.match((await lab.exec(lb2, 'cat /etc/keepalived/keepalived.conf')).stdout, /priority 1\n/);
      expectOk(await kadeploy(['verify', inv]), 'verify with the backup drained');
      const undrainJson = await kadeploy(['undrain', inv, lb2, '--json']);
      expectOk(undrainJson, 'undrain lb2');
      assert.deepEqual(JSON.parse(undrainJson.stdout).drained, false);
      assert.equal(JSON.parse((await kadeploy(['undrain', inv, lb2, '--json'])).stdout).changed, false, 'undrain of a node not drained: nothing changed');
      assert.deepEqual(await vipHolders(lab), [lb1]);
    });
  });

  it('nopreempt: refuses to drain the holder; after a stop of keepalived the drain keeps the VIP away, and undrain leaves it there', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
      doc.setIn(['vrrp_instances', 'VI_1', 'nopreempt'], true);
      lab.nodes.forEach((_, k) => doc.setIn(['nodes', k, 'state'], 'BACKUP'));
      const inv = join(mkdtempSync(join(tmpdir(), 'kadeploy-drain-')), 'nopreempt.yaml');
      writeFileSync(inv, doc.toString());
      expectOk(await kadeploy(['apply', inv]), 'apply');
      // With nopreempt and every node BACKUP, whichever node became MASTER first keeps the VIP.
      let holders: string[] = [];
      for (let i = 0; i < 40 && holders.length !== 1; i++) {
        await sleep(250);
        holders = await vipHolders(lab);
      }
      const lb1 = holders[0]!;
      const lb2 = lab.nodes.map((n) => n.name).find((n) => n !== lb1)!;

      const refused = await kadeploy(['drain', inv, lb1]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, new RegExp(`VI_1 uses nopreempt and ${lb1} holds its VIP .*systemctl stop keepalived.*Nothing was changed`, 's'));
      assert.notEqual((await lab.exec(lb1, `test -e ${MARKER}`)).code, 0, 'not marked');

      await lab.exec(lb1, 'systemctl stop keepalived');
      await waitHolder(lab, lb2, 'keepalived stopped on the holder');
      const drain = await kadeploy(['drain', inv, lb1]);
      expectOk(drain, 'drain after the stop');
      assert.equal((await lab.exec(lb1, 'systemctl is-active keepalived')).stdout.trim(), 'active', 'drain started keepalived again');
      await sleep(4000);
      assert.deepEqual(await vipHolders(lab), [lb2], 'the VIP stays on lb2');
      expectOk(await kadeploy(['verify', inv]), 'verify while drained');

      expectOk(await kadeploy(['undrain', inv, lb1]), 'undrain');
      await sleep(4000);
      assert.deepEqual(await vipHolders(lab), [lb2], 'nopreempt: the VIP stays where it is after undrain');
      expectOk(await kadeploy(['verify', inv]), 'verify after undrain');
    });
  });
});
