// The plan and render side of a drained node (kadeploy drain): pure data, plus the real
// `keepalived -t` on a drained render of the richest example (two instances, a sync group).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { factScript, parseFacts } from '../../src/facts/fact.js';
import { loadInventory } from '../../src/inventory/load.js';
import type { Cluster } from '../../src/inventory/model.js';
import { buildPlan } from '../../src/plan/build.js';
import { desiredFor } from '../../src/plan/desired.js';
import { DRAIN_MARKER, DRAINED_CONFIG_LINE, drainMarkerText, drainRefusal, drainedFact, drainedNode, withDrained } from '../../src/plan/drain.js';
import { expectedHolder } from '../../src/plan/expected.js';
import { formatPlan } from '../../src/plan/format.js';
import { fingerprint } from '../../src/plan/saved.js';
import { loadPlaybook } from '../../src/playbook/playbook.js';
import { createRenderer } from '../../src/render/render.js';
import type { HostFacts } from '../../src/facts/index.js';
import type { Desired } from '../../src/types.js';
import { canRunKeepalived, interfacesOf, keepalivedCheck } from '../support/keepalived-check.js';

const ROOT = join(import.meta.dirname, '..', '..');
Object.assign(process.env, { KEEPALIVED_AUTH_PASS: 'unicast1', KEEPALIVED_PRIV_PASS: 'private1' }); // unicast.yaml, sync-group-dual-stack.yaml
const load = (file: string) => loadInventory(join(ROOT, 'inventories', file)).cluster;
const doc = load('doc-two-nodes.yaml');
const CONF = '/etc/keepalived/keepalived.conf';
const playbook = loadPlaybook();
const confOf = (cluster: Cluster, node: string) => {
  const d = desiredFor(playbook, cluster, createRenderer(cluster), cluster.nodes.find((n) => n.name === node)!) as Desired[];
  return (d.find((x) => x.kind === 'file' && x.path === CONF) as { content: string }).content;
};
const names = (c: Cluster) => c.nodes.map((n) => n.name);

describe('drained node: render', () => {
  const [master, backup] = names(doc) as [string, string];

  it('renders every instance BACKUP at priority 1, saying what undrain restores; other nodes unchanged', () => {
    const drained = withDrained(doc, new Set([master]));
    const conf = confOf(drained, master);
    assert.match(conf, /# drained by kadeploy \(undrain restores state MASTER, priority 100\)\n\s+state BACKUP\n\s+priority 1\n/);
    assert.ok(conf.includes(DRAINED_CONFIG_LINE), 'the line rollback looks for in a backup is the one rendered');
    assert.doesNotMatch(confOf(doc, master), /drained/, 'not drained: no comment, configured priority');
    assert.equal(confOf(drained, backup), confOf(doc, backup));
  });

  it('is the configured render again once undrained (the marker gone)', () => {
    assert.equal(confOf(withDrained(doc, new Set()), master), confOf(doc, master));
  });

  it('drains every instance of a node with several instances and a sync group', () => {
    const node = load('sync-group-dual-stack.yaml').nodes[0]!;
    const d = drainedNode(node);
    assert.ok(node.instances.length >= 2);
    for (const [k, i] of d.instances.entries()) {
      assert.deepEqual([i.state, i.priority, i.drained], ['BACKUP', 1, { state: node.instances[k]!.state, priority: node.instances[k]!.priority }]);
    }
  });

  it('passes the real keepalived -t (drained render of a node of four shipped examples, sync group included)', (t) => {
    const skip = canRunKeepalived();
    if (skip) return t.skip(skip);
    for (const file of ['doc-two-nodes.yaml', 'kolla-three-controllers.yaml', 'unicast.yaml', 'sync-group-dual-stack.yaml']) {
      const cluster = withDrained(load(file), new Set([load(file).nodes[0]!.name]));
      const node = cluster.nodes[0]!;
      const r = keepalivedCheck(createRenderer(cluster).nodeFiles(node), interfacesOf(node));
      assert.equal(r.code, 0, `${file} ${node.name} drained: ${r.output}`);
    }
  });
});

describe('drained node: where the VIPs should be', () => {
  const [master, backup] = names(doc) as [string, string];
  const vip = doc.nodes[0]!.instances[0]!.vips[0]!.address.split('/')[0]!;

  it('the expected holder is the other node, whoever holds it now', () => {
    const drained = withDrained(doc, new Set([master]));
    assert.equal(expectedHolder(doc.nodes, doc.vrrpScripts, vip, [master]), master);
    assert.equal(expectedHolder(drained.nodes, drained.vrrpScripts, vip, [master]), backup);
    assert.equal(expectedHolder(drained.nodes, drained.vrrpScripts, vip, [backup]), backup);
  });

  it('with nopreempt, a drained holder does not keep the VIP by holding it', () => {
    const nopreempt: Cluster = { ...doc, nodes: doc.nodes.map((n) => ({ ...n, instances: n.instances.map((i) => ({ ...i, state: 'BACKUP' as const, nopreempt: true })) })) };
    assert.equal(expectedHolder(nopreempt.nodes, doc.vrrpScripts, vip, [master]), master, 'undrained: the holder keeps it');
    const drained = withDrained(nopreempt, new Set([master]));
    assert.equal(expectedHolder(drained.nodes, doc.vrrpScripts, vip, [master]), backup);
    assert.equal(expectedHolder(drained.nodes, doc.vrrpScripts, vip, [backup]), backup);
  });

  it('the plan of a drained node that runs its drained config changes nothing and expects the VIP on the other node', () => {
    const drained = withDrained(doc, new Set([master]));
    const input = (name: string, holds: boolean) => {
      const spec = drained.nodes.find((n) => n.name === name)!;
      const desired = desiredFor(playbook, drained, createRenderer(drained), spec);
      const facts: HostFacts = {
        os: { id: 'debian', versionId: '12', family: 'debian' },
        packages: { keepalived: '1:2.2.7-1', psmisc: '23.6-1' },
        units: { keepalived: { enabled: true, active: true, pid: 42 } },
        files: { [CONF]: { mode: '640', owner: 'root', group: 'root', content: confOf(drained, name) } },
        addresses: { eth0: holds ? [vip] : [] },
        keepalived: '2.2.7',
        unless: {},
        ...(name === master ? { drained: { since: 'now', by: 'test' } } : {}),
      };
      return { spec, desired, facts };
    };
    const all = [input(master, false), input(backup, true)];
    const plan = buildPlan(all, { all, scripts: drained.vrrpScripts, secrets: drained.secrets });
    assert.equal(plan.nodes.flatMap((n) => n.changes).filter((c) => !c.actions.includes('none') && !c.actions.includes('check')).length, 0);
    assert.deepEqual(plan.vipCheck?.vips.map((v) => v.expected), [backup]);
    assert.equal(plan.vipCheck?.satisfied, true);
    assert.deepEqual(plan.nodes.map((n) => [n.node, n.drained ?? false]), [[master, true], [backup, false]]);
    assert.match(formatPlan(plan, [], { color: false }), new RegExp(`^${master} \\(.*\\) — DRAINED \\(priority 1 until kadeploy undrain\\): no changes$`, 'm'));
    // A saved plan notices a drain or undrain since.
    assert.ok(fingerprint(all[0]!.facts).drained);
    assert.equal(fingerprint(all[1]!.facts).drained, undefined);
  });
});

describe('drain refusals', () => {
  const [a, b] = names(doc) as [string, string];
  const vip = doc.nodes[0]!.instances[0]!.vips[0]!.address.split('/')[0]!;

  it('allows the holder and a node holding nothing', () => {
    assert.equal(drainRefusal(doc, a, new Set(), [vip]), undefined);
    assert.equal(drainRefusal(doc, b, new Set(), []), undefined);
  });
  it('refuses the second node of a 2-node cluster, naming the instance and the drained node', () => {
    assert.match(drainRefusal(doc, b, new Set([a]))!, new RegExp(`every other node running VI_1 \\(${a}\\) is drained`));
  });
  it('refuses the only node running an instance', () => {
    const alone: Cluster = { ...doc, nodes: [doc.nodes[0]!] };
    assert.match(drainRefusal(alone, a, new Set())!, /the only node running VI_1: there is nowhere to move its VIPs/);
  });
  it('refuses an unknown node', () => {
    assert.match(drainRefusal(doc, 'zz', new Set())!, /no node named zz/);
  });
  it('nopreempt: refuses the holder (only a failover moves it), allows a node not holding it', () => {
    const np: Cluster = { ...doc, nodes: doc.nodes.map((n) => ({ ...n, instances: n.instances.map((i) => ({ ...i, state: 'BACKUP' as const, nopreempt: true })) })) };
    assert.match(drainRefusal(np, a, new Set(), [vip])!, /nopreempt and .* holds its VIP .*systemctl stop keepalived/);
    assert.equal(drainRefusal(np, b, new Set(), []), undefined);
  });
});

describe('drain marker fact', () => {
  it('reads back what drain writes, and nothing when the file is absent', () => {
    const text = drainMarkerText({ since: '2026-01-01T00:00:00.000Z', by: 'kadeploy drain inv.yaml lb1 (root@host)' });
    assert.match(text, /kadeploy undrain INVENTORY NODE/, 'an operator finding the file learns how to end it');
    assert.deepEqual(drainedFact.parse(text, 0), { since: '2026-01-01T00:00:00.000Z', by: 'kadeploy drain inv.yaml lb1 (root@host)' });
    assert.equal(drainedFact.parse('', 1), undefined);
    assert.equal(drainedFact.command, `cat -- ${DRAIN_MARKER}`);
    // Through the facts script, as a node's shell runs it.
    assert.equal(parseFacts([drainedFact], `@@kadeploy-fact drained\n\n@@kadeploy-fact-rc 1\n`).drained, undefined);
    assert.ok(factScript([drainedFact]).includes(DRAIN_MARKER));
  });
});
