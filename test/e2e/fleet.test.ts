// Issue 13 on the real lab: a fleet of 2 clusters (c1: lb1+lb2, c2: lb3+lb4) on one bridge. One command
// deploys both, each VIP on its MASTER; a re-apply changes nothing; --limit to one cluster leaves the
// other's keepalived (PID and config) alone; keepalived failing to start on a node of one cluster rolls
// that node back and stops that cluster, while the other cluster is fully deployed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { kadeploy, type CliResult } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const DROP_IN = '/run/systemd/system/keepalived.service.d';
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-fleet-'));
const CLUSTERS = { c1: ['lb1', 'lb2'], c2: ['lb3', 'lb4'] } as const;

const expectOk = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);

/** The lab's fleet inventory with every node's priority raised by `bump` (a change on every node). */
function bumped(lab: Lab, bump: number): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  for (const name of Object.keys(CLUSTERS)) {
    for (const k of [0, 1]) doc.setIn(['clusters', name, 'nodes', k, 'priority'], (doc.getIn(['clusters', name, 'nodes', k, 'priority']) as number) + bump);
  }
  const file = join(dir, `bumped-${bump}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

interface Snapshot {
  sum: string;
  pid: string;
  active: string;
  addrs: string;
}

/** Every node's keepalived.conf sum, keepalived PID and state, and addresses (through nsenter). */
async function snapshot(lab: Lab): Promise<Record<string, Snapshot>> {
  const out: Record<string, Snapshot> = {};
  for (const n of lab.nodes) {
    const r = await lab.exec(n.name, `sha256sum ${CONF} | cut -d' ' -f1; systemctl show -p MainPID --value keepalived; systemctl is-active keepalived; ip -o addr show`);
    const [sum = '', pid = '', active = '', ...addrs] = r.stdout.trim().split('\n');
    out[n.name] = { sum, pid, active, addrs: addrs.join('\n') };
  }
  return out;
}

/** Waits until each cluster's VIP is on exactly its MASTER (the first node), and no other node. */
async function expectVipsOnMasters(lab: Lab, what: string): Promise<Record<string, Snapshot>> {
  const vips = { c1: lab.vip, c2: lab.vip.replace(/\d+$/, (d) => String(Number(d) + 1)) };
  const placed = (s: Record<string, Snapshot>) =>
    Object.entries(vips).map(([c, vip]) => `${vip}:${Object.keys(s).filter((n) => s[n]!.addrs.includes(` ${vip}/`)).join('+')}@${c}`);
  const want = [`${vips.c1}:lb1@c1`, `${vips.c2}:lb3@c2`];
  let s = await snapshot(lab);
  for (let i = 0; i < 40 && placed(s).join() !== want.join(); i++) {
    await new Promise((r) => setTimeout(r, 250));
    s = await snapshot(lab);
  }
  assert.deepEqual(placed(s), want, `${what}: each VIP on exactly its MASTER`);
  return s;
}

const pick = (s: Record<string, Snapshot>, nodes: readonly string[], field: keyof Snapshot) => nodes.map((n) => `${n}:${s[n]![field]}`);

describe('a fleet of 2 clusters on a 4-node lab', { timeout: 1_200_000 }, () => {
  it('applies in one command, limits to one cluster, and keeps a failure inside its cluster', async (t) => {
    await withLab(t, { nodes: 4, clusters: 2 }, async (lab) => {
      const inv = lab.inventoryPath;
      const first = await kadeploy(['apply', inv]);
      expectOk(first, 'fleet apply');
      // A first start everywhere: each cluster configures its highest-priority node first.
      assert.match(first.stdout, /RECAP\n== cluster c1 ==\nlb1 .*failed=0\nlb2 .*failed=0\n== cluster c2 ==\nlb3 .*failed=0\nlb4 .*failed=0\n/);
      // Live progress on stderr (not a terminal here: a line per step, a line per cluster end).
      for (const [c, n] of [['c1', 'lb1'], ['c2', 'lb4']]) assert.match(first.stderr, new RegExp(`^\\[${c}\\] ${n}: \\S`, 'm'), first.stderr);
      assert.deepEqual(first.stderr.match(/^\[c\d\] done$/gm)?.sort(), ['[c1] done', '[c2] done'], first.stderr);
      const s0 = await expectVipsOnMasters(lab, 'after the fleet apply');
      for (const [node, s] of Object.entries(s0)) assert.equal(s.active, 'active', `keepalived on ${node}`);

      const again = await kadeploy(['apply', inv, '--detailed-exitcode']);
      expectOk(again, 're-apply changes nothing (exit 0 with --detailed-exitcode)');
      assert.equal(again.stdout.match(/No changes: 2 node\(s\) up to date/g)?.length, 2, again.stdout);
      assert.deepEqual(await snapshot(lab), s0, 're-apply: same configs, same keepalived processes');

      // One fleet status table, one line per VIP; verify over the whole fleet.
      const status = await kadeploy(['status', inv]);
      expectOk(status, 'status');
      assert.match(status.stdout, new RegExp(`c1 +${lab.vip.replaceAll('.', '\\.')} +lb1\n +c2 +\\S+ +lb3\n`));
      const verify = await kadeploy(['verify', inv, '--json']);
      expectOk(verify, 'verify');
      const checks = (JSON.parse(verify.stdout) as { checks: Array<{ cluster: string; check: string; ok: boolean }> }).checks;
      assert.deepEqual(checks.filter((c) => c.check.startsWith('VIP ')).map((c) => `${c.cluster} ${c.ok}`), ['c1 true', 'c2 true']);

      const b1 = bumped(lab, 1);
      const unknown = await kadeploy(['apply', b1, '--limit', 'c9*']);
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.match(unknown.stderr, /no cluster or node matches c9\* in \S+ \(clusters: c1, c2; nodes: lb1, lb2, lb3, lb4\)/);
      assert.deepEqual(await snapshot(lab), s0, 'an unknown --limit changes nothing');

      await t.test('--limit to one cluster touches only its nodes', async () => {
        const r = await kadeploy(['apply', b1, '--limit', 'c2']);
        expectOk(r, 'apply --limit c2');
        assert.doesNotMatch(r.stdout, /lb1|lb2|cluster c1/, 'c1 is not even planned');
        const s = await expectVipsOnMasters(lab, 'after --limit c2');
        assert.deepEqual(pick(s, CLUSTERS.c1, 'sum'), pick(s0, CLUSTERS.c1, 'sum'), 'c1 configs unchanged');
        assert.deepEqual(pick(s, CLUSTERS.c1, 'pid'), pick(s0, CLUSTERS.c1, 'pid'), 'c1 keepalived PIDs unchanged');
        for (const n of CLUSTERS.c2) assert.notEqual(s[n]!.sum, s0[n]!.sum, `${n} got the new config`);
        // A glob over node names selects both clusters: c2 is up to date, c1 still has its change.
        const glob = await kadeploy(['diff', b1, '--limit', 'lb?']);
        expectOk(glob, 'diff --limit lb?');
        assert.match(glob.stdout, /== cluster c2 ==\n[^=]*No changes: 2 node\(s\) up to date/);
        assert.match(glob.stdout, /== cluster c1 ==\n[^=]*Plan: \d+ change\(s\) on 2 of 2 node\(s\)/);
      });

      await t.test('keepalived failing to start in one cluster: that node rolled back, the other cluster deployed', async () => {
        const before = await snapshot(lab);
        await lab.exec('lb4', `systemctl stop keepalived && mkdir -p ${DROP_IN} && printf '[Service]\\nExecStartPre=/bin/false\\n' > ${DROP_IN}/fault.conf && systemctl daemon-reload`);
        const b2 = bumped(lab, 2);
        const r = await kadeploy(['apply', b2]);
        assert.equal(r.code, 1, `exit 1\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /cluster c2: lb4: keepalived start failed/);
        assert.match(r.stderr, /1 of 2 cluster\(s\) failed: c2 \(the other 1 finished\)/);
        assert.match(r.stdout, /== cluster c1 ==\nlb2 .*failed=0\nlb1 .*failed=0\n== cluster c2 ==\nlb4 .*failed=1 +rolled back: \/etc\/keepalived\/keepalived\.conf restored/);
        assert.doesNotMatch(r.stdout + r.stderr, /labpass1/, 'no secret');
        const s = await snapshot(lab);
        assert.equal(s.lb4!.sum, before.lb4!.sum, 'lb4 rolled back to its config');
        assert.match(s.lb4!.active, /^(inactive|failed)$/, 'lb4 left as it was (stopped; its failed start recorded)');
        assert.deepEqual([s.lb3!.sum, s.lb3!.pid], [before.lb3!.sum, before.lb3!.pid], 'lb3 (after lb4 in order) untouched');
        for (const n of CLUSTERS.c1) {
          assert.notEqual(s[n]!.sum, before[n]!.sum, `${n} deployed`);
          assert.equal(s[n]!.active, 'active', `${n} running`);
        }
        const fixed = await kadeploy(['verify', b2, '--limit', 'c1']);
        expectOk(fixed, 'verify c1 after the c2 failure');

        await lab.exec('lb4', `rm -rf ${DROP_IN} && systemctl daemon-reload`);
        expectOk(await kadeploy(['apply', b2]), 'converges once keepalived starts');
        const converged = await expectVipsOnMasters(lab, 'after the fault is fixed');

        // rollback --limit one cluster: c2 goes back to its previous configs, c1 keeps its own.
        const rb = await kadeploy(['rollback', b2, '--limit', 'c2']);
        expectOk(rb, 'rollback --limit c2');
        const after = await expectVipsOnMasters(lab, 'after rollback --limit c2');
        assert.deepEqual(pick(after, CLUSTERS.c2, 'sum'), pick(before, CLUSTERS.c2, 'sum'), 'c2 back on its previous configs');
        assert.deepEqual(pick(after, CLUSTERS.c1, 'sum'), pick(converged, CLUSTERS.c1, 'sum'), 'c1 untouched by the rollback');
        assert.deepEqual(pick(after, CLUSTERS.c1, 'pid'), pick(converged, CLUSTERS.c1, 'pid'), 'c1 keepalived not restarted');
      });

      await t.test('--json: the plan and the recap per cluster', async () => {
        const r = await kadeploy(['diff', b1, '--json']);
        expectOk(r, 'diff --json');
        const { clusters } = JSON.parse(r.stdout) as { clusters: Array<{ cluster: string; plan: { nodes: Array<{ node: string }> } }> };
        assert.deepEqual(clusters.map((c) => [c.cluster, c.plan.nodes.map((n) => n.node).sort()]), [['c1', ['lb1', 'lb2']], ['c2', ['lb3', 'lb4']]]);
      });
    });
  });
});
