// The CLI's V8 code cache (src/cli/compile-cache.ts, used by dist/cli/main.js): written per command
// on the first run, used by the next, and never a reason for a command to fail or to print anything
// else — missing, corrupt, foreign (another script's), stale (an older build) or unwritable.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { after, before, describe, it } from 'node:test';
import { compileCacheDir } from '../../src/cli/compile-cache.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('compile cache', () => {
  let dir = '';
  let cache = '';
  const cli = () => join(dir, 'dist', 'cli', 'main.js');
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(process.execPath, [cli(), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', KADEPLOY_CACHE_DIR: cache, ...env } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const files = () => readdirSync(cache).sort();
  const only = (key: string) => {
    const f = files().filter((n) => n.includes(`-${key}-`));
    assert.equal(f.length, 1, `one ${key} cache: ${files().join(', ')}`);
    return join(cache, f[0]!);
  };
  const VALIDATE = ['validate', 'inventories/doc-two-nodes.yaml'];

  before(() => {
    // A copy of the built CLI, so that a test can touch its bundle without touching dist/.
    dir = mkdtempSync(join(tmpdir(), 'kadeploy-cache-'));
    mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
    for (const f of ['main.js', 'kadeploy.cjs']) cpSync(join(ROOT, 'dist', 'cli', f), join(dir, 'dist', 'cli', f));
    for (const d of ['templates', 'playbooks', 'inventories']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
    cpSync(join(ROOT, 'dist', 'templates.cjs'), join(dir, 'dist', 'templates.cjs'));
    cache = join(dir, 'cache');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is written by the first run of a command and used, unchanged, by the next; output identical to no cache', () => {
    const plain = run(VALIDATE, { KADEPLOY_NO_COMPILE_CACHE: '1' });
    assert.equal(plain.status, 0, plain.stderr);
    assert.throws(() => readdirSync(cache), 'KADEPLOY_NO_COMPILE_CACHE writes nothing');
    const first = run(VALIDATE);
    assert.deepEqual(first, plain);
    const file = only('validate');
    const written = readFileSync(file);
    const mtime = statSync(file).mtimeMs;
    const second = run(VALIDATE);
    assert.deepEqual(second, plain);
    assert.equal(statSync(file).mtimeMs, mtime, 'an accepted cache is not rewritten');
    assert.deepEqual(readFileSync(file), written);
    // Other commands, and a failing run, print the same with the cache as without.
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(join(dir, VALIDATE[1]!), 'utf8').replace(/priority: \d+/, 'priority: 300'));
    for (const args of [['render', VALIDATE[1]!], ['validate', bad], ['--help'], ['schema']]) {
      const without = run(args, { KADEPLOY_NO_COMPILE_CACHE: '1' });
      assert.deepEqual(run(args), without, args.join(' '));
      assert.deepEqual(run(args), without, `${args.join(' ')} (cache written by the run before)`);
    }
    assert.notEqual(run(['validate', bad]).status, 0, 'the edited inventory is invalid');
    assert.deepEqual(files().map((f) => f.split('-')[1]).sort(), ['all', 'render', 'schema', 'validate']);
  });

  it('a command that connects keeps its cache too (V8 flags are set before the cache is read, not mid-run)', () => {
    // diff loads the inventory, then fails before connecting (no such key file): after the code that
    // used to change a V8 flag mid-run and so made every cache it wrote unusable.
    const inv = join(dir, 'nokey.yaml');
    writeFileSync(inv, readFileSync(join(dir, VALIDATE[1]!), 'utf8').replace('identity_file: ~/.ssh/id_ed25519', 'identity_file: /nonexistent/kadeploy-test-key'));
    const args = ['diff', inv];
    const first = run(args);
    assert.notEqual(first.status, 0, 'nothing to connect to');
    const file = only('diff.partial');
    const mtime = statSync(file).mtimeMs;
    assert.deepEqual(run(args), first);
    assert.equal(statSync(file).mtimeMs, mtime, 'the cache written by the first run is accepted by the second, not rewritten');
  });

  it('a failed run or a help writes a partial cache, used until a run that goes through writes the complete one', () => {
    const bad = join(dir, 'bad-partial.yaml');
    writeFileSync(bad, readFileSync(join(dir, VALIDATE[1]!), 'utf8').replace(/priority: \d+/, 'priority: 300'));
    for (const first of [['render', bad], ['render', '--help']]) {
      rmSync(cache, { recursive: true, force: true });
      const failed = run(first);
      assert.deepEqual(failed, run(first, { KADEPLOY_NO_COMPILE_CACHE: '1' }), first.join(' '));
      const partial = only('render.partial');
      assert.equal(files().filter((f) => f.includes('-render-')).length, 0, `${first.join(' ')}: no complete cache yet`);
      const { mtimeMs: mtime, size: partialSize } = statSync(partial);
      assert.deepEqual(run(first), failed);
      assert.equal(statSync(partial).mtimeMs, mtime, 'the partial cache is used, not rewritten, by another such run');
      const plain = run(['render', VALIDATE[1]!], { KADEPLOY_NO_COMPILE_CACHE: '1' });
      assert.deepEqual(run(['render', VALIDATE[1]!]), plain);
      const complete = only('render');
      assert.deepEqual(files().filter((f) => f.includes('render')), [complete.slice(cache.length + 1)], 'the partial cache is gone');
      assert.ok(statSync(complete).size > partialSize, `the complete cache holds more functions (${statSync(complete).size} > ${partialSize} bytes)`);
      const written = readFileSync(complete);
      assert.deepEqual(run(['render', VALIDATE[1]!]), plain);
      assert.deepEqual(run(first), failed, 'a failed run afterwards');
      assert.deepEqual(readFileSync(complete), written, 'the complete cache is kept');
      assert.equal(files().filter((f) => f.includes('partial')).length, 0);
    }
  });

  it('a corrupt, truncated or foreign cache is ignored and rewritten', () => {
    const plain = run(VALIDATE, { KADEPLOY_NO_COMPILE_CACHE: '1' });
    run(VALIDATE);
    const file = only('validate');
    const good = readFileSync(file);
    // V8 aborts the process on damaged cache data whose header is intact: the digest must catch it.
    const flipped = Buffer.from(good);
    for (let i = 1000; i < flipped.length; i += 5000) flipped[i]! ^= 0xff;
    // Intact (its digest matches) but compiled from another script: V8 rejects it.
    const other = new Script('(function () { return 42; })').createCachedData();
    const foreign = Buffer.concat([createHash('sha1').update(other).digest(), other]);
    for (const [what, content] of [['flipped bytes', flipped], ['truncated', good.subarray(0, 10)], ['empty', Buffer.alloc(0)], ['foreign', foreign]] as const) {
      writeFileSync(file, content);
      assert.deepEqual(run(VALIDATE), plain, what);
      assert.notDeepEqual(readFileSync(file), content, `${what}: rewritten`);
      assert.deepEqual(run(VALIDATE), plain, `${what}: the rewritten cache works`);
    }
  });

  it("a new build of the bundle gets a new cache, and the old build's caches are removed", () => {
    run(VALIDATE);
    run(['schema']);
    const old = only('validate');
    const bundle = join(dir, 'dist', 'cli', 'kadeploy.cjs');
    const later = new Date(statSync(bundle).mtimeMs + 60_000);
    utimesSync(bundle, later, later);
    assert.equal(run(VALIDATE).status, 0);
    const now = only('validate');
    assert.notEqual(now, old);
    assert.deepEqual(files(), [now.slice(cache.length + 1)], 'the old schema cache is gone too');
  });

  it("a cache another user wrote, or in a directory others can write, is never used (it is code we would run)", { skip: process.getuid?.() !== 0 && 'needs root (chown)' }, () => {
    const plain = run(VALIDATE, { KADEPLOY_NO_COMPILE_CACHE: '1' });
    run(VALIDATE);
    const file = only('validate');
    chownSync(file, 65534, 65534);
    assert.deepEqual(run(VALIDATE), plain);
    assert.equal(statSync(file).uid, 0, 'replaced by a cache of our own');
    chmodSync(cache, 0o777);
    try {
      // A foreign cache would be rejected and rewritten, were it read: untouched, it was not.
      const other = new Script('(function () { return 1; })').createCachedData();
      const foreign = Buffer.concat([createHash('sha1').update(other).digest(), other]);
      writeFileSync(file, foreign);
      assert.deepEqual(run(VALIDATE), plain);
      assert.deepEqual(readFileSync(file), foreign);
      assert.deepEqual(run(['lab', '--help']), run(['lab', '--help'], { KADEPLOY_NO_COMPILE_CACHE: '1' }));
      assert.equal(files().filter((f) => f.includes('-lab-')).length, 0, 'nothing written into a directory others can write');
    } finally {
      chmodSync(cache, 0o700);
    }
  });

  it('an unwritable cache directory never fails a command', () => {
    const plain = run(VALIDATE, { KADEPLOY_NO_COMPILE_CACHE: '1' });
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, '');
    assert.deepEqual(run(VALIDATE, { KADEPLOY_CACHE_DIR: join(file, 'cache') }), plain);
  });

  it('lives in KADEPLOY_CACHE_DIR, else XDG_CACHE_HOME/kadeploy, else ~/.cache/kadeploy; off with KADEPLOY_NO_COMPILE_CACHE', () => {
    assert.equal(compileCacheDir({ KADEPLOY_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' }), '/c');
    assert.equal(compileCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/kadeploy');
    assert.match(compileCacheDir({})!, /\/\.cache\/kadeploy$/);
    assert.equal(compileCacheDir({ KADEPLOY_NO_COMPILE_CACHE: '1', KADEPLOY_CACHE_DIR: '/c' }), undefined);
  });
});
