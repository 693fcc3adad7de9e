// The shipped CLI (dist/cli/main.js, built by `npm run build`) is a bundle: it runs from its own
// directory with templates/ and playbooks/ next to it and no node_modules (ssh2's native addons, the
// only things left outside, are optional), and each command evaluates only its own modules.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../support/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('bundled CLI', () => {
  let dir = '';
  const run = (...args: string[]) => spawnSync(process.execPath, [join(dir, 'dist', 'cli', 'main.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', KADEPLOY_CACHE_DIR: join(dir, 'cache') } });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kadeploy-bundle-'));
    mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
    // Only the bundle's own files: tsc's per-module output next to it must not be what runs.
    for (const f of readdirSync(join(ROOT, 'dist', 'cli'))) {
      if (f === 'main.js' || f === 'kadeploy.cjs') cpSync(join(ROOT, 'dist', 'cli', f), join(dir, 'dist', 'cli', f));
    }
    for (const d of ['templates', 'playbooks', 'inventories']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('validate and render run without node_modules and find the built-in templates and playbook', () => {
    const v = run('validate', 'inventories/doc-two-nodes.yaml');
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /valid — 2 node/);
    const r = run('render', 'inventories/doc-two-nodes.yaml', '--out', join(dir, 'out'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /keepalived\.conf/);
  });

  it('ssh2 is evaluated only by the commands that connect (lazy per-command loading)', () => {
    // ssh2 requires its optional native addons when its modules are evaluated: record those requires.
    const hook = join(dir, 'hook.cjs');
    writeFileSync(hook, "const M = require('node:module'); const load = M._load; M._load = function (req, ...a) { if (/cpu-features|sshcrypto/.test(req)) { process.stderr.write('ssh2 evaluated\\n'); process.exit(42); } return load.call(this, req, ...a); };");
    const withHook = (...args: string[]) => spawnSync(process.execPath, ['--require', hook, join(dir, 'dist', 'cli', 'main.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', KADEPLOY_NO_COMPILE_CACHE: '1' } });
    const v = withHook('validate', 'inventories/doc-two-nodes.yaml');
    assert.equal(v.status, 0, `validate evaluated ssh2: ${v.stderr}`);
    const d = withHook('diff', 'inventories/doc-two-nodes.yaml');
    assert.equal(d.status, 42, `diff never evaluated ssh2: ${d.stderr}`);
  });

  it('--help (in the built tree, with node_modules) still lists every command', () => {
    const h = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0, h.stderr);
    for (const c of ['validate', 'render', 'apply', 'diff', 'plan', 'show', 'verify', 'status', 'rollback', 'schema', 'lab']) assert.match(h.stdout, new RegExp(`\\n  ${c} `));
  });

  it('--version and -V print the version (without loading any command), and so does --version after a command', () => {
    for (const args of [['--version'], ['-V'], ['validate', '--version']]) {
      const v = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      assert.deepEqual([v.status, v.stdout, v.stderr], [0, '0.1.0\n', ''], args.join(' '));
    }
  });

  it('is what the tests run (the package bin runs the same start as CommonJS: test/unit/launcher.test.ts)', () => {
    assert.equal(CLI, join(ROOT, 'dist', 'cli', 'main.js'));
  });
});
