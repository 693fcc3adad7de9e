// The package's bin, dist/cli/kadeploy (src/cli/kadeploy.sh): a POSIX sh launcher that finds its
// directory through npm's bin symlinks and runs Node on dist/cli/start.cjs with NODE_EXTRA_CA_CERTS
// hidden from Node's start (src/cli/launcher-env.ts gives it back). Whatever starts kadeploy — the
// launcher, or `node dist/cli/main.js` as the tests do — prints the same and exits the same.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HIDDEN_CA_CERTS, restoreLauncherEnv } from '../../src/cli/launcher-env.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('launcher (the package bin)', () => {
  let dir = '';
  let cache = '';
  const bin = () => join(dir, 'dist', 'cli', 'kadeploy');
  // Node as the launcher finds it (PATH), the environment without the test runner's Node options.
  const base = (): NodeJS.ProcessEnv => {
    const { NODE_OPTIONS: _o, NODE_EXTRA_CA_CERTS: _c, ...env } = process.env;
    return { ...env, NO_COLOR: '1', KADEPLOY_CACHE_DIR: cache, PATH: `${join(process.execPath, '..')}:${env.PATH ?? ''}` };
  };
  const out = (r: ReturnType<typeof spawnSync>) => ({ status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) });
  const viaBin = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = dir) => out(spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...base(), ...env } }));
  const viaMain = (args: string[], env: NodeJS.ProcessEnv = {}) => out(spawnSync(process.execPath, [join(dir, 'dist', 'cli', 'main.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...base(), ...env } }));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kadeploy-launcher-'));
    mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
    for (const f of ['kadeploy', 'start.cjs', 'main.js', 'kadeploy.cjs']) cpSync(join(ROOT, 'dist', 'cli', f), join(dir, 'dist', 'cli', f));
    for (const d of ['templates', 'playbooks', 'inventories']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
    cpSync(join(ROOT, 'dist', 'templates.cjs'), join(dir, 'dist', 'templates.cjs'));
    cache = join(dir, 'cache');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is the package bin, built executable from src/cli/kadeploy.sh', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.equal(pkg.bin.kadeploy, 'dist/cli/kadeploy');
    assert.equal(readFileSync(join(ROOT, 'dist', 'cli', 'kadeploy'), 'utf8'), readFileSync(join(ROOT, 'src', 'cli', 'kadeploy.sh'), 'utf8'));
    assert.match(readFileSync(bin(), 'utf8'), /^#!\/bin\/sh\n/);
  });

  it('prints and exits exactly as node dist/cli/main.js, with and without the compile cache (which both share)', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(join(dir, 'inventories', 'doc-two-nodes.yaml'), 'utf8').replace(/priority: \d+/, 'priority: 300'));
    const cases = [['validate', 'inventories/doc-two-nodes.yaml'], ['validate', bad], ['render', 'inventories/doc-two-nodes.yaml'], ['--help'], ['--version'], ['nosuchcommand']];
    for (const args of cases) {
      const expected = viaMain(args, { KADEPLOY_NO_COMPILE_CACHE: '1' });
      assert.deepEqual(viaBin(bin(), args, { KADEPLOY_NO_COMPILE_CACHE: '1' }), expected, args.join(' '));
      assert.deepEqual(viaBin(bin(), args), expected, `${args.join(' ')} (first run: writes the cache)`);
      assert.deepEqual(viaBin(bin(), args), expected, `${args.join(' ')} (cached)`);
      assert.deepEqual(viaMain(args), expected, `${args.join(' ')} (main.js with the launcher's cache)`);
    }
    assert.notEqual(viaMain(['validate', bad]).status, 0, 'a failing command fails through both');
    // Both starts compile the same bundle with the same flags: one cache per command, not two.
    assert.deepEqual(readdirSync(cache).map((f) => f.split('-')[1]).sort(), ['all', 'render', 'validate']);
  });

  it('finds its directory through npm-style symlinks (relative, chained) from any directory, and with no slash in $0', () => {
    const links = mkdtempSync(join(tmpdir(), 'kadeploy-links-'));
    try {
      mkdirSync(join(links, 'bin'));
      mkdirSync(join(links, 'lib'));
      symlinkSync(bin(), join(links, 'lib', 'kadeploy')); // absolute
      symlinkSync('../lib/kadeploy', join(links, 'bin', 'kadeploy')); // relative, to a link
      const inventory = join(dir, 'inventories', 'doc-two-nodes.yaml');
      const expected = viaMain(['validate', inventory]);
      assert.equal(expected.status, 0, expected.stderr);
      assert.deepEqual(viaBin(join(links, 'bin', 'kadeploy'), ['validate', inventory], {}, links), expected);
      // On PATH, as an installed bin is run: $0 is the path the shell found.
      assert.deepEqual(viaBin('kadeploy', ['validate', inventory], { PATH: `${join(links, 'bin')}:${base().PATH}` }, tmpdir()), expected);
      // `sh kadeploy` in its own directory: $0 has no slash.
      assert.deepEqual(viaBin('sh', ['kadeploy', 'validate', inventory], {}, join(dir, 'dist', 'cli')), expected);
    } finally {
      rmSync(links, { recursive: true, force: true });
    }
  });

  it("hides NODE_EXTRA_CA_CERTS from Node's start and gives it back to the processes kadeploy starts", () => {
    const missing = join(dir, 'no-such-ca.pem');
    // Node 20 loads the file at start and warns when it cannot: the launcher's Node never sees it...
    const direct = viaMain(['--version'], { NODE_EXTRA_CA_CERTS: missing });
    assert.match(direct.stderr, /Ignoring extra certs/, 'node dist/cli/main.js loads it (the check below could fail)');
    const launched = viaBin(bin(), ['--version'], { NODE_EXTRA_CA_CERTS: missing });
    assert.deepEqual(launched, { status: 0, stdout: '0.1.0\n', stderr: '' });
    // ...and a child process started by kadeploy sees the user's environment, not the launcher's.
    const hook = join(dir, 'child-env.cjs');
    writeFileSync(hook, `process.on('exit', () => process.stderr.write(require('node:child_process').execFileSync('/bin/sh', ['-c', 'printf "%s|%s" "\${NODE_EXTRA_CA_CERTS-unset}" "\${${HIDDEN_CA_CERTS}-unset}"'], { encoding: 'utf8' })));`);
    const child = viaBin(bin(), ['--version'], { NODE_EXTRA_CA_CERTS: missing, NODE_OPTIONS: `--require ${hook}` });
    assert.equal(child.stderr, `${missing}|unset`);
    const unset = viaBin(bin(), ['--version'], { NODE_OPTIONS: `--require ${hook}` });
    assert.equal(unset.stderr, 'unset|unset', 'not set by the user: not set for the children either');
    const stray = viaBin(bin(), ['--version'], { [HIDDEN_CA_CERTS]: '/stray.pem', NODE_OPTIONS: `--require ${hook}` });
    assert.equal(stray.stderr, 'unset|unset', "the launcher's own variable, inherited from elsewhere, is not taken for the user's");
    const empty = viaBin(bin(), ['--version'], { NODE_EXTRA_CA_CERTS: '', NODE_OPTIONS: `--require ${hook}` });
    assert.equal(empty.stderr, '|unset', 'set but empty stays set but empty');
  });

  it('restoreLauncherEnv moves the hidden variable back, and does nothing without the launcher', () => {
    const env: NodeJS.ProcessEnv = { [HIDDEN_CA_CERTS]: '/etc/ca.pem', PATH: '/bin' };
    restoreLauncherEnv(env);
    assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: '/etc/ca.pem', PATH: '/bin' });
    const plain: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '/x.pem' };
    restoreLauncherEnv(plain);
    assert.deepEqual(plain, { NODE_EXTRA_CA_CERTS: '/x.pem' });
  });
});
