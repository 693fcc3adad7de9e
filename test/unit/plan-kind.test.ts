// Adding a task kind touches one module and the registry: a kind defined whole in one test file
// (test/fixtures/kinds/sysctl.ts) is accepted by the playbook, asks for its facts, and is planned
// with its commands, in the node's turn of the schedule.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { factsFor, type HostFacts } from '../../src/facts/index.js';
import { loadInventory } from '../../src/inventory/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { desiredFor } from '../../src/plan/desired.js';
import { formatPlan } from '../../src/plan/format.js';
import { loadPlaybook } from '../../src/playbook/playbook.js';
import { createRenderer } from '../../src/render/render.js';
import { needsOf, registerTaskKind } from '../../src/tasks/registry.js';
import { sysctlKind } from '../fixtures/kinds/sysctl.js';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-kind-'));

describe('a task kind added in one file', () => {
  it('is refused by the playbook before it is registered, then planned with its commands', () => {
    const playbook = join(dir, 'playbook.yaml');
    writeFileSync(playbook, 'name: t\ntasks:\n  - name: Bind the VIP before it arrives\n    sysctl: {name: net.ipv4.ip_nonlocal_bind, value: 1}\n');
    assert.throws(() => loadPlaybook(playbook), /invalid playbook/);
    registerTaskKind(sysctlKind);

    const { cluster } = loadInventory(join(ROOT, 'inventories', 'doc-two-nodes.yaml'));
    const renderer = createRenderer(cluster);
    const [node] = cluster.nodes;
    const desired = desiredFor(loadPlaybook(playbook), cluster, renderer, node!);
    assert.deepEqual(desired, [{ kind: 'sysctl', task: 'Bind the VIP before it arrives', name: 'net.ipv4.ip_nonlocal_bind', value: '1' }]);
    // Its facts: the /proc/sys file, read with the others in the one round trip.
    assert.match(factsFor(needsOf(desired)).find((f) => f.name === 'files')!.command, /\/proc\/sys\/net\/ipv4\/ip_nonlocal_bind/);

    const facts = (value: string): HostFacts => ({
      os: { id: 'debian', versionId: '12', family: 'debian' },
      packages: {},
      units: {},
      files: { '/proc/sys/net/ipv4/ip_nonlocal_bind': { mode: '0644', owner: 'root', group: 'root', content: `${value}\n` } },
      addresses: {},
      keepalived: null,
      unless: {},
    });
    const plan = buildPlan([{ spec: node!, desired, facts: facts('0') }]);
    assert.deepEqual(
      plan.phases.map((p) => [p.title, p.nodes.map((n) => n.steps.map((s) => s.command))]),
      [['Configure lb-master', [['sysctl -w net.ipv4.ip_nonlocal_bind=1']]]],
    );
    assert.match(formatPlan(plan, [], { color: false }), /~ sysctl\s+net\.ipv4\.ip_nonlocal_bind: 0 → 1/);
    const same = buildPlan([{ spec: node!, desired, facts: facts('1') }]);
    assert.deepEqual(same.phases.flatMap((p) => p.nodes.flatMap((n) => n.steps)), [], 'no change, no command');
  });
});
