// --limit over a fleet: cluster names, node names and globs; a pattern that selects nothing is an error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Cluster, Fleet } from '../../src/inventory/model.js';
import { parseLimit, selectFleet } from '../../src/inventory/select.js';

const cluster = (name: string, nodes: string[]) => ({ name, nodes: nodes.map((n) => ({ name: n })) }) as unknown as Cluster;
const fleet: Fleet = { file: '/x/fleet.yaml', clusters: [cluster('edge-a', ['lb1', 'lb2']), cluster('edge-b', ['lb3', 'lb4']), cluster('core', ['core1', 'core2'])] };
const picked = (limit?: string) => selectFleet(fleet, parseLimit(limit)).map((s) => `${s.cluster.name}:${s.targets.map((n) => n.name).join('+')}`);

describe('--limit', () => {
  it('selects everything without a limit', () => assert.deepEqual(picked(), ['edge-a:lb1+lb2', 'edge-b:lb3+lb4', 'core:core1+core2']));
  it('selects a cluster by name, whole', () => assert.deepEqual(picked('core'), ['core:core1+core2']));
  it('selects clusters by glob and nodes by name, comma separated', () => assert.deepEqual(picked('edge-*, core2'), ['edge-a:lb1+lb2', 'edge-b:lb3+lb4', 'core:core2']));
  it('selects single nodes by glob, keeping only their clusters', () => assert.deepEqual(picked('lb?'), ['edge-a:lb1+lb2', 'edge-b:lb3+lb4']));
  it('selects one node of one cluster', () => assert.deepEqual(picked('lb3'), ['edge-b:lb3']));
  it('is case-sensitive, like the names in the inventory', () => assert.throws(() => picked('LB3'), /no cluster or node named LB3/));
  it('refuses a name or glob that selects nothing, listing what exists', () => {
    assert.throws(() => picked('lb1,edgy-*'), /no cluster or node matches edgy-\* in \/x\/fleet\.yaml \(clusters: edge-a, edge-b, core; nodes: lb1, lb2, lb3, lb4, core1, core2\)/);
  });
  it('keeps the one-cluster message for a plain inventory (no cluster names)', () => {
    const plain: Fleet = { file: '/x/inv.yaml', clusters: [cluster('', ['a', 'b'])] };
    assert.throws(() => selectFleet(plain, ['zz']), /^KadeployError: no node named zz in \/x\/inv\.yaml \(nodes: a, b\)$/);
  });
});
