// Issue 6 on the real lab: every fault ends with a clear error, a non-zero exit, every node running
// keepalived with its old or new config (never a broken one), exactly one VIP holder, and a second
// apply that converges once the fault is gone. Also: a rollout under a 100 ms prober, and the lock.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { cutLink, restoreLink } from '../../src/lab/index.js';
import { CLI, kadeploy, type CliResult } from '../support/cli.js';
import { startProber } from '../support/prober.js';
import { clearStepMarkers, markStep, settledState, clusterState, waitForStep, withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-faults-'));
const PLAYBOOK = readFileSync(join(import.meta.dirname, '..', '..', 'playbooks', 'keepalived.yaml'), 'utf8');

function writeInventory(lab: Lab, name: string, edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  edit(doc);
  const file = join(dir, name);
  writeFileSync(file, doc.toString());
  return file;
}

/** The default playbook with a command task between writing the config and reloading keepalived. */
function playbookWithCommand(name: string, run: string, extraPackages: string[] = []): string {
  const doc = parseDocument(PLAYBOOK);
  const tasks = doc.get('tasks') as { items: unknown[] };
  tasks.items.splice(5, 0, doc.createNode({ name: 'In between', command: { run } }));
  if (extraPackages.length) doc.setIn(['tasks', 1, 'package', 'names'], ['keepalived', 'psmisc', ...extraPackages]);
  const file = join(dir, `playbook-${name}`);
  writeFileSync(file, doc.toString());
  return file;
}

function expectFailure(r: CliResult, code: number, pattern: RegExp, what: string) {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout + r.stderr, pattern, what);
  assert.doesNotMatch(r.stderr, /\n\s+at \S+ \(/, `${what}: no stack trace`);
  assert.doesNotMatch(r.stdout + r.stderr, /labpass1/, `${what}: no secret`);
}

const expectOk = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);

describe('faults during apply on a 2-node lab', { timeout: 1_200_000 }, () => {
  it('never leaves a node broken, and converges once the fault is gone', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const base = lab.inventoryPath;
      expectOk(await kadeploy(['apply', base]), 'initial apply');
      const s0 = await settledState(lab, 'after the initial apply');
      // A change to every node: both priorities move up by one.
      const bumped = writeInventory(lab, 'bumped.yaml', (doc) => {
        doc.setIn(['nodes', 0, 'priority'], 151);
        doc.setIn(['nodes', 1, 'priority'], 141);
        doc.setIn(['ssh', 'connect_timeout'], 3);
      });

      await t.test('an unreachable node stops the run before any change, unless skipped', async () => {
        await cutLink('lb2', { name: lab.name });
        try {
          const r = await kadeploy(['apply', bumped]);
          expectFailure(r, 1, /lb2: cannot connect; nothing was changed on any node/, 'unreachable lb2');
          assert.deepEqual((await clusterState(lab)).nodes.lb1, s0.nodes.lb1, 'lb1 untouched');
          const skip = await kadeploy(['apply', bumped, '--skip-unreachable']);
          expectOk(skip, 'apply --skip-unreachable');
          assert.match(skip.stderr, /skipped unreachable node lb2/);
          assert.notEqual((await clusterState(lab)).nodes.lb1!.sum, s0.nodes.lb1!.sum, 'lb1 changed');
        } finally {
          await restoreLink('lb2', { name: lab.name });
        }
        expectOk(await kadeploy(['apply', base]), 'converge after the link is back');
        assert.deepEqual((await settledState(lab, 'after unreachable')).nodes, s0.nodes);
      });

      await t.test('keepalived failing to reload on a node rolls that node back and stops', async () => {
        await lab.exec('lb2', 'mkdir -p /run/systemd/system/keepalived.service.d && printf "[Service]\\nExecReload=\\nExecReload=/bin/false\\n" > /run/systemd/system/keepalived.service.d/fault.conf && systemctl daemon-reload');
        const r = await kadeploy(['apply', bumped]);
        expectFailure(r, 1, /lb2: keepalived reload failed/, 'reload fault');
        assert.match(r.stdout, /lb2 .*rolled back: \/etc\/keepalived\/keepalived\.conf restored/);
        const s = await settledState(lab, 'after the reload fault');
        assert.deepEqual(s.nodes, s0.nodes, 'lb2 back on its old config; lb1 (after lb2 in order) untouched');
        await lab.exec('lb2', 'rm -rf /run/systemd/system/keepalived.service.d && systemctl daemon-reload');
        expectOk(await kadeploy(['apply', bumped]), 'converge once reload works');
        expectOk(await kadeploy(['apply', base]), 'back to the base inventory');
        await settledState(lab, 'after the reload fault is fixed');
      });

      // Each case starts from the converged base, whatever the previous one left.
      const reset = async () => expectOk(await kadeploy(['apply', base]), 'reset to the base inventory');

      await t.test('a failing post-change check rolls the node back and stops', async () => {
        await reset();
        const doc = parseDocument(PLAYBOOK);
        (doc.get('tasks') as { items: unknown[] }).items.splice(7, 0, doc.createNode({ name: 'Post-change check', assert: { run: 'test -e /nonexistent/ready', message: 'ready marker present' } }));
        const playbook = join(dir, 'playbook-assert.yaml');
        writeFileSync(playbook, doc.toString());
        const r = await kadeploy(['apply', bumped, '--playbook', playbook]);
        expectFailure(r, 1, /lb2: check failed: ready marker present \(exit 1\); rolled back/, 'post-change check');
        assert.deepEqual((await settledState(lab, 'after the failed check')).nodes, s0.nodes, 'lb2 rolled back, lb1 untouched');
      });

      await t.test('a node that was not running keepalived is rolled back to stopped, its new config removed', async () => {
        await reset();
        // lb2 as a node keepalived was installed on but never configured nor started.
        await lab.exec('lb2', `systemctl stop keepalived && rm -f ${CONF}`);
        const doc = parseDocument(PLAYBOOK);
        (doc.get('tasks') as { items: unknown[] }).items.splice(7, 0, doc.createNode({ name: 'Post-change check', assert: { run: 'test -e /nonexistent/ready', message: 'ready marker present' } }));
        const playbook = join(dir, 'playbook-assert-fresh.yaml');
        writeFileSync(playbook, doc.toString());
        const r = await kadeploy(['apply', base, '--playbook', playbook]);
        expectFailure(r, 1, /lb2: check failed: ready marker present \(exit 1\); rolled back: \/etc\/keepalived\/keepalived\.conf removed, keepalived stopped, as it was before/, 'check on a fresh node');
        const lb2 = await lab.exec('lb2', `test -e ${CONF} && echo config; systemctl is-active keepalived`);
        assert.equal(lb2.stdout.trim(), 'inactive', 'lb2: no config, keepalived stopped as before the run');
        const s = await clusterState(lab);
        assert.deepEqual(s.nodes.lb1, s0.nodes.lb1, 'lb1 untouched');
        assert.deepEqual(s.holders, ['lb1']);
        expectOk(await kadeploy(['apply', base]), 'converge without the failing check');
        assert.deepEqual((await settledState(lab, 'after the fresh-node rollback')).nodes, s0.nodes);
      });

      await t.test('a failed package install changes no config', async () => {
        await reset();
        const playbook = playbookWithCommand('pkg.yaml', 'true', ['hello']);
        // Break dpkg on lb2 so apt-get cannot install anything.
        await lab.exec('lb2', 'chmod -x /usr/bin/dpkg');
        try {
          const r = await kadeploy(['apply', bumped, '--playbook', playbook]);
          expectFailure(r, 1, /lb2: command failed .*apt-get/, 'package fault');
          assert.deepEqual((await settledState(lab, 'after the package fault')).nodes, s0.nodes, 'no config changed');
        } finally {
          await lab.exec('lb2', 'chmod +x /usr/bin/dpkg');
        }
        expectOk(await kadeploy(['apply', bumped, '--playbook', playbook]), 'converge once apt works');
        expectOk(await kadeploy(['apply', base]), 'back to the base inventory');
      });

      await t.test('a hanging command times out and its node is rolled back', async () => {
        await reset();
        const playbook = playbookWithCommand('hang.yaml', 'sleep 600');
        const hangs = writeInventory(lab, 'hang.yaml', (doc) => {
          doc.setIn(['nodes', 1, 'priority'], 141);
          doc.setIn(['ssh', 'command_timeout'], 3);
        });
        const r = await kadeploy(['apply', hangs, '--playbook', playbook]);
        expectFailure(r, 1, /lb2: .*timed out after 3/i, 'hanging command');
        assert.deepEqual((await settledState(lab, 'after the timeout')).nodes, s0.nodes, 'lb2 rolled back, lb1 untouched');
        const leftover = await lab.exec('lb2', 'pgrep -x sleep || true');
        assert.equal(leftover.stdout.trim(), '', 'the hung command was killed on the node');
      });

      await t.test('a connection cut mid-apply leaves keepalived running; re-apply converges', async () => {
        await reset();
        const playbook = playbookWithCommand('slow.yaml', markStep('sleep 4'));
        const slow = writeInventory(lab, 'slow.yaml', (doc) => {
          doc.setIn(['nodes', 1, 'priority'], 141);
          doc.setIn(['ssh', 'command_timeout'], 20);
        });
        await clearStepMarkers(lab);
        const running = kadeploy(['apply', slow, '--playbook', playbook]);
        await waitForStep(lab, 'lb2'); // lb2 (changed first) is in its `sleep 4`
        await cutLink('lb2', { name: lab.name });
        let r: CliResult;
        try {
          r = await running;
        } finally {
          await restoreLink('lb2', { name: lab.name });
        }
        expectFailure(r, 1, /lb2: /, 'connection cut');
        assert.doesNotMatch(r.stdout, /lb1\s+ok=\d+ changed=[1-9]/, 'lb1 was not touched');
        await settledState(lab, 'after the cut');
        expectOk(await kadeploy(['apply', base]), 'converge after the cut');
        assert.deepEqual((await settledState(lab, 'converged after the cut')).nodes, s0.nodes);
      });

      await t.test('Ctrl-C rolls back the node being changed and touches no other', async () => {
        await reset();
        const playbook = playbookWithCommand('slow2.yaml', markStep('sleep 3'));
        await clearStepMarkers(lab);
        const child = spawn(process.execPath, [CLI, 'apply', bumped, '--playbook', playbook], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const exited = new Promise<number | null>((r) => child.on('close', r));
        await waitForStep(lab, 'lb2');
        child.kill('SIGINT');
        const code = await exited;
        assert.equal(code, 130, out);
        assert.match(out, /interrupted while changing lb2; lb2 rolled back/);
        assert.deepEqual((await settledState(lab, 'after Ctrl-C')).nodes, s0.nodes);
      });

      await t.test('two applies at once never interleave: the second waits for the lock', async () => {
        await reset();
        const playbook = playbookWithCommand('slow3.yaml', markStep('sleep 3'));
        await clearStepMarkers(lab);
        const first = kadeploy(['apply', bumped, '--playbook', playbook]);
        await waitForStep(lab, 'lb2'); // the first holds the lock and is changing lb2
        const second = await kadeploy(['apply', bumped, '--playbook', playbook]);
        const firstResult = await first;
        expectOk(firstResult, 'first apply');
        expectOk(second, 'second apply');
        assert.match(second.stderr, /waiting for the lock held by/);
        assert.match(firstResult.stdout, /keepalived\.conf \(update\)/);
        assert.doesNotMatch(second.stdout, /keepalived\.conf \(update\)/, 'the second read the nodes after the first finished');
        expectOk(await kadeploy(['apply', base]), 'back to the base inventory');
      });

      await t.test('kadeploy rollback restores the files of the last apply, node by node', async () => {
        await reset();
        expectOk(await kadeploy(['apply', bumped]), 'apply the change to roll back');
        const changed = await settledState(lab, 'after the change');
        assert.notEqual(changed.nodes.lb2!.sum, s0.nodes.lb2!.sum);
        const dry = await kadeploy(['rollback', bumped, '--dry-run']);
        expectOk(dry, 'rollback --dry-run');
        assert.match(dry.stdout, /Would restore/);
        assert.deepEqual((await clusterState(lab)).nodes, changed.nodes, 'dry-run changed nothing');
        const one = await kadeploy(['rollback', bumped, '--node', 'lb2']);
        expectOk(one, 'rollback --node lb2');
        let s = await settledState(lab, 'after rolling back lb2');
        assert.equal(s.nodes.lb2!.sum, s0.nodes.lb2!.sum, 'lb2 back on its previous config');
        assert.equal(s.nodes.lb1!.sum, changed.nodes.lb1!.sum, 'lb1 untouched');
        expectOk(await kadeploy(['rollback', bumped]), 'rollback of the rest');
        s = await settledState(lab, 'after the full rollback');
        assert.deepEqual(s.nodes, s0.nodes, 'every node back on the base config');
      });

      await t.test('a rollout to every node keeps the VIP answering (100 ms prober)', async () => {
        await reset();
        const probe = startProber(lab.vip);
        await new Promise((r) => setTimeout(r, 1000)); // the prober covers before, during and after
        const r = await kadeploy(['apply', bumped]);
        await new Promise((r) => setTimeout(r, 1000));
        const stats = await probe.stop();
        expectOk(r, 'rollout');
        const failoverMs = 3 * 1000 + 1 * 2 * 1000; // 3 × advert_int + interval × fall of the lab's check
        process.stderr.write(`  rollout: ${stats.sent} probes, ${stats.failed} failed, longest gap ${stats.longestGapMs} ms (failover time ${failoverMs} ms)\n`);
        assert.ok(stats.sent >= 10, `enough probes (${stats.sent})`);
        assert.ok(stats.longestGapMs < failoverMs, `gap ${stats.longestGapMs} ms < ${failoverMs} ms`);
        await settledState(lab, 'after the rollout');
      });
    });
  });
});
