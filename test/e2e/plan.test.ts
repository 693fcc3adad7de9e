// Issue 10 on the real lab: a saved plan is applied exactly, a stale one is refused with nothing
// changed, a failure mid-node is undone by the rollback `kadeploy rollback` uses, and SIGTERM
// mid-apply rolls back like Ctrl-C and releases the lock.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { CLI, kadeploy, type CliResult } from '../support/cli.js';
import { clearStepMarkers, markStep, settledState, clusterState, waitForStep, withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-plan-e2e-'));
const PLAYBOOK = readFileSync(join(import.meta.dirname, '..', '..', 'playbooks', 'keepalived.yaml'), 'utf8');

function writeInventory(lab: Lab, name: string, edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  edit(doc);
  const file = join(dir, name);
  writeFileSync(file, doc.toString());
  return file;
}

/** The default playbook with one more task at `at`. */
function playbookWith(name: string, at: number, task: Record<string, unknown>): string {
  const doc = parseDocument(PLAYBOOK);
  (doc.get('tasks') as { items: unknown[] }).items.splice(at, 0, doc.createNode(task));
  const file = join(dir, `playbook-${name}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

const expectOk = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);

describe('saved plans, one rollback, SIGTERM on a 2-node lab', { timeout: 900_000 }, () => {
  it('plan → apply --plan changes exactly what the plan showed; stale plans are refused; failures and SIGTERM roll back', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const base = lab.inventoryPath;
      expectOk(await kadeploy(['apply', base]), 'initial apply');
      const s0 = await settledState(lab, 'after the initial apply');
      const bumped = writeInventory(lab, 'bumped.yaml', (doc) => {
        doc.setIn(['nodes', 0, 'priority'], 151);
        doc.setIn(['nodes', 1, 'priority'], 141);
      });
      const planFile = join(dir, 'bumped.plan');

      await t.test('plan -o, show, apply --plan: exactly the plan, no secret in the file', async () => {
        const made = await kadeploy(['plan', bumped, '-o', planFile, '--commands']);
        expectOk(made, 'plan -o');
        const text = readFileSync(planFile, 'utf8');
        assert.doesNotMatch(text, /labpass1/, 'no auth_pass in the saved plan');
        assert.doesNotMatch(text, /"content"/, 'no file content in the saved plan');
        const saved = JSON.parse(text);
        assert.equal(saved.format, 'kadeploy-plan');
        assert.equal(saved.version, 1);
        assert.deepEqual(Object.keys(saved.fingerprints).sort(), ['lb1', 'lb2']);

        const dry = await kadeploy(['apply', bumped, '--dry-run', '--commands']);
        const shown = await kadeploy(['show', planFile, '--commands']);
        expectOk(shown, 'show');
        const body = (s: string) => s.replace(/sha256:[0-9a-f]+/g, 'sha256').replace(/kadeploy-[0-9a-f]{8}\.tmp/g, 'kadeploy-RUN.tmp').replace(/kadeploy-bak\.\d{8}T\d{6}Z/g, 'kadeploy-bak.STAMP');
        assert.equal(body(shown.stdout.split('\n').slice(1).join('\n')), body(dry.stdout), 'show prints the plan as the dry-run does');
        assert.match(shown.stdout, /\$ systemctl reload keepalived/, 'every command is in the plan');
        assert.equal(made.stdout, shown.stdout.split('\n').slice(1).join('\n'), 'show prints what plan printed');

        const applied = await kadeploy(['apply', '--plan', planFile]);
        expectOk(applied, 'apply --plan');
        assert.match(applied.stdout, /lb1\s+ok=\d+ changed=2 failed=0/);
        assert.match(applied.stdout, /lb2\s+ok=\d+ changed=2 failed=0/);
        const s1 = await settledState(lab, 'after apply --plan');
        for (const n of lab.nodes) assert.notEqual(s1.nodes[n.name]!.sum, s0.nodes[n.name]!.sum, `${n.name} changed`);
        const after = await kadeploy(['apply', bumped, '--dry-run', '--detailed-exitcode']);
        assert.equal(after.code, 0, `nothing left to do:\n${after.stdout}`);
        assert.match(after.stdout, /No changes: 2 node\(s\) up to date/);

        // Applied once, the plan is stale: the nodes no longer match it.
        const again = await kadeploy(['apply', '--plan', planFile]);
        assert.equal(again.code, 1, again.stdout + again.stderr);
        assert.match(again.stderr, /is stale; nothing was changed on any node/);
      });

      await t.test('a plan made stale by a hand edit on one node is refused, naming the node and what changed', async () => {
        const back = join(dir, 'base.plan');
        expectOk(await kadeploy(['plan', base, '-o', back]), 'plan back to base');
        await lab.exec('lb2', `echo '# edited by hand' >> ${CONF}`);
        const before = await clusterState(lab);
        const r = await kadeploy(['apply', '--plan', back]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stderr, /lb2: file \/etc\/keepalived\/keepalived\.conf changed since the plan/);
        assert.doesNotMatch(r.stderr, /lb1:/, 'only lb2 is named');
        assert.deepEqual((await clusterState(lab)).nodes, before.nodes, 'nothing changed');
        expectOk(await kadeploy(['apply', base]), 'converge to base');
        assert.deepEqual((await settledState(lab, 'back to base')).nodes, s0.nodes);
      });

      await t.test('a failure mid-node is undone by the rollback kadeploy rollback uses', async () => {
        const playbook = playbookWith('assert', 7, { name: 'Post-change check', assert: { run: 'test -e /nonexistent', message: 'marker' } });
        const r = await kadeploy(['apply', bumped, '--playbook', playbook]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stderr, /lb2: check failed: marker \(exit 1\); rolled back: \/etc\/keepalived\/keepalived\.conf restored, keepalived reloaded/);
        assert.doesNotMatch(r.stdout + r.stderr, /lb2: lb2:/, 'the node is named once');
        const s = await settledState(lab, 'after the rollback');
        assert.deepEqual(s.nodes, s0.nodes, 'files byte-identical to before, keepalived active');
        // restoreNode's marks: the replaced file kept once as .kadeploy-rollback, the backup used up.
        const marks = await lab.exec('lb2', `cmp ${CONF}.kadeploy-rollback ${CONF} >/dev/null && echo differs-not || echo kept; ls ${CONF}.kadeploy-bak.* 2>/dev/null | wc -l`);
        assert.match(marks.stdout, /^kept\n/, `the config replaced by the failed apply is kept as .kadeploy-rollback: ${marks.stdout}`);
      });

      await t.test('SIGTERM mid-apply rolls back, exits non-zero and releases the lock', async () => {
        const playbook = playbookWith('slow', 5, { name: 'In between', command: { run: markStep('sleep 3') } });
        await clearStepMarkers(lab);
        const child = spawn(process.execPath, [CLI, 'apply', bumped, '--playbook', playbook], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const exited = new Promise<number | null>((r) => child.on('close', r));
        await waitForStep(lab, 'lb2');
        child.kill('SIGTERM');
        const code = await exited;
        assert.notEqual(code, 0, out);
        assert.equal(code, 130, out);
        assert.match(out, /interrupted while changing lb2; lb2 rolled back/);
        assert.deepEqual((await settledState(lab, 'after SIGTERM')).nodes, s0.nodes);
        for (const n of lab.nodes) {
          const lock = await lab.exec(n.name, 'test -e /run/kadeploy.lock && echo held || echo free');
          assert.equal(lock.stdout.trim(), 'free', `lock released on ${n.name}`);
        }
      });
    });
  });
});
