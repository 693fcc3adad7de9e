// verify's readings on a node (issue 12, item 11), run here by a real sh: track scripts run as
// keepalived runs them (argv, no shell, as the script user), a check that could not run is a failure,
// and keepalived's stats are read only from a file root wrote.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Cluster, VrrpScript } from '../../src/inventory/model.js';
import { advertWindowFacts, describeScriptExit, readRootFile, readVrrp, vrrpFacts } from '../../src/verify/probe.js';

const root = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-probe-'));
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a command line with this machine's sh, as a node's connection would. */
const local = {
  exec: async (command: string) => {
    const r = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
    return { stdout: r.stdout, code: r.status ?? -1 };
  },
};
const clusterWith = (vrrpScripts: VrrpScript[], scriptUser = 'root') => ({ vrrpScripts, globalDefs: { scriptUser } }) as unknown as Cluster;

describe('track scripts as keepalived runs them', { skip: root ? false : 'needs root (scripts run as another user)' }, () => {
  it('"if /bin/true" is a command named "if" (exit 127, could not run), and the readings after it are still taken', async () => {
    const scripts = [{ name: 'bad', script: 'if /bin/true', interval: 1 }, { name: 'good', script: '/bin/true', interval: 1 }];
    const r = await readVrrp(local, clusterWith(scripts));
    assert.deepEqual(r.scripts, { bad: 127, good: 0 });
    assert.match(describeScriptExit(r.scripts.bad, scripts[0]!, 'root'), /^could not run \(exit 127: command not found; keepalived runs it without a shell\)$/);
  });

  it('runs as the script user (the script\'s own, else script_user), without a shell', async () => {
    const check = join(dir, 'is-nobody');
    writeFileSync(check, '#!/bin/sh\n[ "$(id -u)" = 65534 ]\n', { mode: 0o755 });
    const r = await readVrrp(local, clusterWith([
      { name: 'as_script_user', script: check, interval: 1 },
      { name: 'as_own_user', script: check, interval: 1, user: 'root' },
      { name: 'no_user', script: check, interval: 1, user: 'kadeploy-no-such-user' },
      { name: 'slow', script: 'sleep 5', interval: 1 },
    ], 'nobody'));
    assert.equal(r.scripts.as_script_user, 0, 'ran as nobody');
    assert.equal(r.scripts.as_own_user, 1, 'ran as root');
    assert.match(describeScriptExit(r.scripts.no_user, { name: 'no_user', script: check, user: 'kadeploy-no-such-user' }, 'nobody'), /^could not run: no user kadeploy-no-such-user on the node$/);
    assert.match(describeScriptExit(r.scripts.slow, { name: 'slow', script: 'sleep 5', interval: 1 }, 'nobody'), /^timed out after 1 s$/);
  });

  it('a script with no result is a failure, never a pass', () => {
    assert.match(describeScriptExit(undefined, { name: 'x', script: '/bin/true' }, 'root'), /^could not run/);
  });
});

describe('readings that could not be taken are not "all clear"', () => {
  it('a journal that could not be read is undefined, not "no errors"', () => {
    const journal = vrrpFacts(clusterWith([])).find((f) => f.name === 'journal')!;
    assert.equal(journal.parse('', 1), undefined);
    assert.deepEqual(journal.parse('\n', 0), []);
  });
});

describe("keepalived's stats file: read only what root wrote", { skip: root ? false : 'needs root to chown' }, () => {
  const read = (path: string) => spawnSync('sh', ['-c', readRootFile(path)], { encoding: 'utf8' });
  it('reads a root-owned regular file', () => {
    const f = join(dir, 'ok.stats');
    writeFileSync(f, 'VRRP Instance: VI_1\n', { mode: 0o644 });
    const r = read(f);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'VRRP Instance: VI_1\n');
  });
  it('refuses a file another user planted, a link, a file others can write', () => {
    const planted = join(dir, 'planted.stats');
    writeFileSync(planted, 'VRRP Instance: VI_1\nAdvertisements:\nReceived: 99\nSent: 99\n');
    chownSync(planted, 65534, 65534);
    const link = join(dir, 'link.stats');
    writeFileSync(join(dir, 'target'), 'x\n', { mode: 0o600 });
    symlinkSync(join(dir, 'target'), link);
    const writable = join(dir, 'writable.stats');
    writeFileSync(writable, 'x\n');
    chmodSync(writable, 0o666);
    for (const f of [planted, link, writable, join(dir, 'missing.stats')]) {
      const r = read(f);
      assert.notEqual(r.status, 0, f);
      assert.equal(r.stdout, '', f);
    }
  });
});

describe("the advert listener on perl-base alone (Time::HiRes comes with keepalived's dependencies, not with perl-base)", () => {
  const listen = advertWindowFacts(0.3).find((f) => f.name === 'heard')!.command;
  /** Runs the listener with Time::HiRes made unloadable (a module of that name that dies), or as installed. */
  const run = (withoutHiRes: boolean) => {
    const lib = join(dir, 'no-hires');
    if (withoutHiRes) {
      mkdirSync(join(lib, 'Time'), { recursive: true });
      writeFileSync(join(lib, 'Time', 'HiRes.pm'), "die \"Can't locate Time/HiRes.pm in \\@INC\\n\";\n");
    }
    const started = Date.now();
    const r = spawnSync('sh', ['-c', listen], { encoding: 'utf8', env: { ...process.env, ...(withoutHiRes ? { PERL5LIB: lib } : {}) } });
    return { code: r.status, stderr: r.stderr, ms: Date.now() - started };
  };
  for (const withoutHiRes of [false, true]) {
    // Without Time::HiRes the end is a whole second: 0.3 s asked ends at the second whole second after the
    // start, 1-2 s later. The upper bounds leave a loaded machine (CI) a second of slack: they catch a
    // window of the wrong unit or one that never ends, not scheduling noise.
    it(withoutHiRes ? 'without Time::HiRes: runs (whole seconds), at least as long as asked, ends within 2 s' : 'with Time::HiRes: runs for the time asked', () => {
      const r = run(withoutHiRes);
      // 0: listened (root, a raw socket); 3: no raw socket, waited instead — never perl's compile error (2).
      assert.ok(r.code === 0 || r.code === 3, `exit ${r.code}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Can't locate/);
      assert.ok(r.ms >= 290, `ran ${r.ms} ms`);
      assert.ok(r.ms < (withoutHiRes ? 3000 : 1300), `ran ${r.ms} ms`);
    });
  }
});
