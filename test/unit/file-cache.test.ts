// The cache of what was read from a file (identity files, ssh_config): a file rewritten with the same
// size is read again when its mtime or its inode changed, and not otherwise. Real files, real stat.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileCache } from '../../src/ssh/file-cache.js';

describe('FileCache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-file-cache-'));
  const file = join(dir, 'config');
  const OLD = new Date('2026-01-01T00:00:00Z');
  let reads = 0;
  const cache = new FileCache<string>();
  const load = () => cache.get(file, statSync(file), () => (reads++, readFileSync(file, 'utf8')));

  it('reads once while the file is unchanged', () => {
    writeFileSync(file, 'one');
    utimesSync(file, OLD, OLD);
    assert.equal(load(), 'one');
    assert.equal(load(), 'one');
    assert.equal(reads, 1);
  });

  it('rewritten in place with the same size and mtime: still the cached value (nothing tells it apart)', () => {
    writeFileSync(file, 'two');
    utimesSync(file, OLD, OLD);
    assert.equal(load(), 'one');
    assert.equal(reads, 1);
  });

  it('same size, another mtime: read again', () => {
    utimesSync(file, new Date(OLD.getTime() + 1000), new Date(OLD.getTime() + 1000));
    assert.equal(load(), 'two');
    assert.equal(reads, 2);
  });

  it('same size and mtime, another inode (a new file renamed over it): read again', () => {
    const before = statSync(file);
    const next = join(dir, 'config.new');
    writeFileSync(next, 'six');
    utimesSync(next, before.atime, before.mtime);
    renameSync(next, file);
    const after = statSync(file);
    assert.equal(after.size, before.size);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.notEqual(after.ino, before.ino);
    assert.equal(load(), 'six');
    assert.equal(load(), 'six');
    assert.equal(reads, 3);
  });

  it('one entry per key; forget drops only the value given (a failed read is tried again)', () => {
    const c = new FileCache<number>();
    const st = { ino: 1, size: 1, mtimeMs: 1 };
    assert.equal(c.get('k', st, () => 1), 1);
    c.forget('k', 99);
    assert.equal(c.get('k', st, () => 2), 1, 'another value forgotten: the entry stays');
    c.forget('k', 1);
    assert.equal(c.get('k', st, () => 3), 3);
    assert.equal(c.get('k', { ...st, mtimeMs: 2 }, () => 4), 4);
    assert.equal(c.get('k', st, () => 5), 5, 'the older version was replaced, not kept');
  });
});
