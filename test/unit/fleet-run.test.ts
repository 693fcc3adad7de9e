// Clusters of a fleet in parallel: --forks counted in nodes, and one cluster's failure kept to itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eachCluster, throwIfFailed } from '../../src/apply/fleet.js';
import type { Scope } from '../../src/apply/session.js';
import { KadeployError } from '../../src/errors.js';
import type { Cluster } from '../../src/inventory/model.js';
import { mapWeighted } from '../../src/ssh/limit.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('fleet runs', () => {
  it('mapWeighted never runs more weight than the budget, and runs an item heavier than the budget alone', async () => {
    let load = 0;
    let peak = 0;
    const weights = [2, 2, 3, 1, 5, 2];
    const out = await mapWeighted(weights, 4, (w) => w, async (w, i) => {
      load += Math.min(w, 4);
      peak = Math.max(peak, load);
      await tick();
      load -= Math.min(w, 4);
      return i;
    });
    assert.deepEqual(out, [0, 1, 2, 3, 4, 5], 'results in input order');
    assert.equal(peak, 4, 'the budget is used, never exceeded');
  });

  it('eachCluster keeps a failing cluster\'s error and finishes the others', async () => {
    const scope = (name: string, nodes: number) => ({ cluster: { name, nodes: Array.from({ length: nodes }, () => ({})) } as unknown as Cluster, targets: [], warnings: [] }) as Scope;
    const forks: Record<string, number> = {};
    const results = await eachCluster([scope('a', 2), scope('b', 3), scope('c', 2)], 2, async (s, f) => {
      forks[s.cluster.name] = f;
      await tick();
      if (s.cluster.name === 'b') throw new KadeployError('lb3: keepalived start failed');
      return s.cluster.name;
    });
    assert.deepEqual(results.map((r) => [r.scope.cluster.name, r.value, r.error?.message]), [['a', 'a', undefined], ['b', undefined, 'lb3: keepalived start failed'], ['c', 'c', undefined]]);
    assert.deepEqual(forks, { a: 2, b: 2, c: 2 }, 'a cluster\'s forks: its nodes, at most the budget');
    assert.throws(() => throwIfFailed(results), /^KadeployError: 1 of 3 cluster\(s\) failed: b \(the other 2 finished\)$/);
  });
});
