// The lab's release choice: validated, part of the rootfs recipe, and cache pruning that never
// touches another release's rootfs (nor one a lab uses, nor one whose release cannot be read).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { labConfig } from '../../src/lab/config.js';
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
