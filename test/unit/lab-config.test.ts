// The lab's release choice: validated, part of the rootfs recipe, and cache pruning that never
// touches another release's rootfs (nor one a lab uses, nor one whose release cannot be read).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, test } from 'node:test';
import { loadFleet } from '../../src/inventory/load.js';
import { labConfig } from '../../src/lab/config.js';
import { labInventory } from '../../src/lab/inventory.js';
import { rootfsPath, rootfsRelease, staleRootfs } from '../../src/lab/rootfs.js';

test('lab release: bookworm by default, bullseye and trixie accepted, anything else refused', () => {
  assert.equal(labConfig().release, 'bookworm');
  assert.equal(labConfig({ release: 'bullseye' }).release, 'bullseye');
  assert.equal(labConfig({ release: 'trixie' }).release, 'trixie');
  assert.throws(() => labConfig({ release: 'buster' }), /invalid lab release "buster": expected one of bullseye, bookworm, trixie/);
});

test('each release has a rootfs of its own', () => {
  const paths = new Set(['bullseye', 'bookworm', 'trixie'].map((r) => rootfsPath(r as 'bookworm')));
  assert.equal(paths.size, 3);
});

test('pruning after a build only removes older, unused rootfs of the same release', () => {
  const cache = mkdtempSync(join(tmpdir(), 'kadeploy-cache-'));
  const make = (name: string, codename?: string): string => {
    const root = join(cache, name);
    mkdirSync(join(root, 'etc'), { recursive: true });
    if (codename) writeFileSync(join(root, 'etc/os-release'), `PRETTY_NAME="Debian"\nVERSION_CODENAME=${codename}\nID=debian\n`);
    return root;
  };
  const current = make('rootfs-0001', 'bullseye');
  const olderBullseye = make('rootfs-0002', 'bullseye');
  const usedBullseye = make('rootfs-0003', 'bullseye');
  make('rootfs-0004', 'bookworm');
  make('rootfs-0005', 'trixie');
  make('rootfs-0006'); // no os-release: release unknown, kept
  make('rootfs-0007.build-1-2', 'bullseye'); // a build directory is not a cache
  mkdirSync(join(cache, 'apt-cacher-ng-default'));

  assert.equal(rootfsRelease(current), 'bullseye');
  assert.equal(rootfsRelease(join(cache, 'rootfs-0006')), undefined);
  assert.deepEqual(staleRootfs(cache, current, 'bullseye', new Set([usedBullseye])), [olderBullseye]);
  assert.deepEqual(staleRootfs(cache, join(cache, 'rootfs-0004'), 'bookworm', new Set()), []);
});

describe('lab up --clusters', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-labinv-'));
  const load = (cfg: ReturnType<typeof labConfig>) => {
    const file = join(dir, `${cfg.nodes.length}-${cfg.clusters}.yaml`);
    writeFileSync(file, labInventory(cfg));
    return loadFleet(file, {}).fleet;
  };

  it('writes one cluster without clusters: by default', () => {
    const cfg = labConfig({ name: 'kx', nodes: 2, subnet: '10.99.0.0/24' });
    assert.doesNotMatch(labInventory(cfg), /clusters:/);
    assert.deepEqual(load(cfg).clusters.map((c) => [c.name, c.nodes.map((n) => n.name)]), [['', ['lb1', 'lb2']]]);
  });

  it('splits 4 nodes into 2 clusters on one segment with distinct vrids and VIPs (it validates)', () => {
    const fleet = load(labConfig({ name: 'kx', nodes: 4, clusters: 2, subnet: '10.99.0.0/24' }));
    const view = fleet.clusters.map((c) => ({
      name: c.name,
      nodes: c.nodes.map((n) => `${n.name}:${n.instances[0]!.state}`),
      vrid: c.nodes[0]!.instances[0]!.virtualRouterId,
      vip: c.nodes[0]!.instances[0]!.vips[0]!.address,
    }));
    assert.deepEqual(view, [
      { name: 'c1', nodes: ['lb1:MASTER', 'lb2:BACKUP'], vrid: 51, vip: '10.99.0.100/32' },
      { name: 'c2', nodes: ['lb3:MASTER', 'lb4:BACKUP'], vrid: 52, vip: '10.99.0.101/32' },
    ]);
  });

  it('splits unevenly, and refuses more clusters than nodes', () => {
    const fleet = load(labConfig({ name: 'kx', nodes: 5, clusters: 2, subnet: '10.99.0.0/24' }));
    assert.deepEqual(fleet.clusters.map((c) => c.nodes.length), [3, 2]);
    assert.throws(() => labConfig({ nodes: 2, clusters: 3 }), /invalid cluster count 3/);
  });
});
