// What a first deploy downloads while preflight listens: per node, the packages its plan installs
// (and nothing for a node that installs nothing), with a download-only command that cannot install.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HostFacts } from '../../src/facts/index.js';
import { loadFleet } from '../../src/inventory/load.js';
import { prefetchPlan } from '../../src/preflight/prefetch.js';
import type { Change, NodePlan, Plan } from '../../src/types.js';

const { clusters } = loadFleet(join(import.meta.dirname, '..', '..', 'inventories', 'fleet.yaml')).fleet;
const edgeA = clusters.find((c) => c.name === 'edge-a')!;

const install = (names: string[], cacheValidS?: number): Change => ({
  task: 'Install', kind: 'package', actions: ['install'], summary: `install ${names.join(', ')}`, steps: [],
  desired: { kind: 'package', task: 'Install', names, ...(cacheValidS !== undefined ? { cacheValidS } : {}) },
});
const installed: Change = { ...install(['keepalived']), actions: ['none'] };
const node = (name: string, changes: Change[]): NodePlan => ({
  node: name, address: '', holds: [], changes, rollback: { configPath: '/etc/keepalived/keepalived.conf', unit: 'keepalived', unitWasActive: false },
});
const facts = (family: string) => ({ os: { family, id: family } }) as unknown as HostFacts;

describe('prefetch plan', () => {
  it('downloads what each node installs, download-only, and nothing for a node with nothing to install', () => {
    const plan: Plan = { nodes: [node('edge-a1', [install(['keepalived', 'psmisc'])]), node('edge-a2', [installed])], phases: [] };
    const items = prefetchPlan([edgeA], plan, new Map([['edge-a1', facts('debian')], ['edge-a2', facts('debian')]]));
    assert.deepEqual(items.map((i) => [i.node, i.names]), [['edge-a1', ['keepalived', 'psmisc']]]);
    assert.equal(items[0]!.lockWaitS, 180, 'its time limit is command_timeout plus the lock wait, as for the install step');
    assert.match(items[0]!.command, /apt-get [^;]*install --download-only --no-install-recommends keepalived psmisc/);
    assert.doesNotMatch(items[0]!.command.replace(/install --download-only/g, ''), /apt-get [^;|&]* install /, 'no apt-get install without --download-only');
  });

  it('keeps the strictest list freshness of the node\'s package tasks; skips nodes of other clusters and unknown OS families', () => {
    const plan: Plan = { nodes: [node('edge-a1', [install(['keepalived']), install(['psmisc'], 0)]), node('edge-a2', [install(['keepalived'])]), node('core1', [install(['keepalived'])])], phases: [] };
    const items = prefetchPlan([edgeA], plan, new Map([['edge-a1', facts('debian')], ['edge-a2', facts('arch')], ['core1', facts('debian')]]));
    assert.deepEqual(items.map((i) => i.node), ['edge-a1']);
    assert.doesNotMatch(items[0]!.command, /Candidate/, 'cache_valid_time 0 on one task: always refresh');
  });
});
