// The shipped CLI (dist/cli/main.js, built by `npm run build`) is a bundle: it runs from its own
// directory with templates/ and playbooks/ next to it and no node_modules (ssh2's native addons, the
// only things left outside, are optional), and each command loads only its own chunks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../support/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('bundled CLI', () => {
  let dir = '';
  const run = (...args: string[]) => spawnSync(process.execPath, [join(dir, 'dist', 'cli', 'main.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kadeploy-bundle-'));
    mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
    // Only the bundle's own files: tsc's per-module output next to it must not be what runs.
    for (const f of readdirSync(join(ROOT, 'dist', 'cli'))) {
      if (f === 'main.js' || /^chunk-.*\.js$/.test(f)) cpSync(join(ROOT, 'dist', 'cli', f), join(dir, 'dist', 'cli', f));
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

  it('ssh2 is in a chunk of its own that only the commands that connect load (lazy per-command loading)', () => {
    const cli = join(dir, 'dist', 'cli');
    const ssh2 = readdirSync(cli).filter((f) => readFileSync(join(cli, f), 'utf8').includes('sshcrypto.node'));
    assert.equal(ssh2.length, 1, `ssh2 in one chunk: ${ssh2.join(', ')}`);
    rmSync(join(cli, ssh2[0]!));
    const v = run('validate', 'inventories/doc-two-nodes.yaml');
    assert.equal(v.status, 0, `validate without the ssh2 chunk: ${v.stderr}`);
    const d = run('diff', 'inventories/doc-two-nodes.yaml');
    assert.notEqual(d.status, 0);
    assert.match(d.stderr, new RegExp(ssh2[0]!.replace('.', '\\.')), 'diff needs that chunk');
  });

  it('--help (in the built tree, with node_modules) still lists every command', () => {
    const h = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0, h.stderr);
    for (const c of ['validate', 'render', 'apply', 'diff', 'plan', 'show', 'verify', 'status', 'rollback', 'schema', 'lab']) assert.match(h.stdout, new RegExp(`\\n  ${c} `));
  });

  it('is what the tests and the package bin run', () => {
    assert.equal(CLI, join(ROOT, 'dist', 'cli', 'main.js'));
  });
});
