// The install command skips `apt-get update` when apt's lists are fresh enough and every package has
// a candidate. Run by a real sh, with apt-get, apt-cache, stat and date replaced by stubs that log
// their calls (the node's clock and stamps are what the stubs say).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { APT_CACHE_VALID_S, installCommand } from '../../src/ops/package.js';
import { packageKind } from '../../src/tasks/package.js';

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-apt-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NOW = 1_800_000_000;
const debian = { family: 'debian', id: 'debian' } as Parameters<typeof installCommand>[0];

interface Node {
  /** Seconds since the last update; undefined: no stamp at all. */
  ageS?: number;
  /** Packages apt-cache knows a candidate for. */
  candidates: string[];
  /** How many `apt-get install` runs fail before one succeeds. */
  installFailures?: number;
}

/** The apt-get calls as 'update' / 'install'; with `calls`, the raw log lines it keeps. */
function run(command: string, node: Node, calls?: (line: string) => boolean): string[] {
  const log = join(dir, 'log');
  writeFileSync(log, '');
  const stub = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  stub('date', `echo ${NOW}`);
  // The update writes apt's success stamp: logged here, never the real one of this machine.
  stub('touch', '');
  stub('stat', node.ageS === undefined ? 'exit 1' : `echo ${NOW - node.ageS}; echo ${NOW - node.ageS - 50}`);
  stub('apt-cache', `for p in "$@"; do case " ${node.candidates.join(' ')} " in *" $p "*) printf '%s:\\n  Installed: (none)\\n  Candidate: 1:2.2.7-1\\n' "$p";; esac; done`);
  writeFileSync(join(dir, 'fails'), String(node.installFailures ?? 0));
  stub('apt-get', `case "$*" in *install*) n=$(cat ${dir}/fails); if [ "$n" -gt 0 ]; then echo $((n - 1)) > ${dir}/fails; exit 100; fi;; esac`);
  const r = spawnSync('sh', ['-c', command], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(log, 'utf8').split('\n');
  if (calls) return lines.filter(calls);
  return lines.filter((l) => l.startsWith('apt-get')).map((l) => (l.includes(' update') ? 'update' : 'install'));
}

describe('apt-get update skipping', () => {
  const cmd = installCommand(debian, ['keepalived', 'psmisc']);
  it('fresh lists, every package has a candidate: install only', () => {
    assert.deepEqual(run(cmd, { ageS: 60, candidates: ['keepalived', 'psmisc'] }), ['install']);
  });
  it('lists older than the setting: update first', () => {
    assert.deepEqual(run(cmd, { ageS: APT_CACHE_VALID_S + 1, candidates: ['keepalived', 'psmisc'] }), ['update', 'install']);
  });
  it('no stamp at all: update first', () => {
    assert.deepEqual(run(cmd, { candidates: ['keepalived', 'psmisc'] }), ['update', 'install']);
  });
  it('a package without a candidate: update first', () => {
    assert.deepEqual(run(cmd, { ageS: 60, candidates: ['keepalived'] }), ['update', 'install']);
  });
  it('fresh, but the install fails (the mirror moved on): update and install again', () => {
    assert.deepEqual(run(cmd, { ageS: 60, candidates: ['keepalived', 'psmisc'], installFailures: 1 }), ['install', 'update', 'install']);
  });
  it('the setting: 0 always updates; a longer one accepts older lists', () => {
    assert.deepEqual(run(installCommand(debian, ['psmisc'], { cacheValidS: 0 }), { ageS: 1, candidates: ['psmisc'] }), ['update', 'install']);
    assert.deepEqual(run(installCommand(debian, ['psmisc'], { cacheValidS: 86_400 }), { ageS: 7_200, candidates: ['psmisc'] }), ['install']);
  });
  it('the playbook sets it per package task (cache_valid_time, seconds), and rejects a bad value', () => {
    const kind = packageKind as unknown as {
      args: { parse(v: unknown): unknown; safeParse(v: unknown): { success: boolean } };
      want(a: unknown, task: string, ctx: unknown): unknown[];
      plan(w: unknown, facts: unknown, ctx: unknown): unknown;
    };
    const [want] = kind.want(kind.args.parse({ cache_valid_time: 0 }), 't', {});
    const step = kind.plan(want, { os: debian, packages: {} }, {});
    assert.match(JSON.stringify(step), /apt-get -q update && \{ touch [^}]+; }; }; } && kd_wait [^&]+&& apt-get -y/);
    assert.doesNotMatch(JSON.stringify(step), /Candidate/);
    assert.equal(kind.args.safeParse({ cache_valid_time: -1 }).success, false);
  });
  it('a successful update writes apt\'s update-success stamp (the lists directory alone does not show an update that found nothing new)', () => {
    const all = (l: string) => l.startsWith('apt-get') || l.startsWith('touch');
    const seen = run(cmd, { ageS: APT_CACHE_VALID_S + 1, candidates: ['keepalived', 'psmisc'] }, all).map((l) => l.split(' ').slice(0, 2).join(' ').replace(/^apt-get.*/, 'apt-get'));
    assert.deepEqual(seen, ['apt-get', 'touch /var/lib/apt/periodic/update-success-stamp', 'apt-get']);
  });
  it('download only: the same freshness rule, apt-get install --download-only, never an install (dnf/yum: --downloadonly)', () => {
    const only = installCommand(debian, ['keepalived'], { downloadOnly: true });
    const calls = run(only, { candidates: [] }, (l) => l.startsWith('apt-get'));
    assert.equal(calls.length, 2);
    assert.match(calls[0]!, / update$/);
    assert.match(calls[1]!, / install --download-only --no-install-recommends keepalived$/);
    assert.match(installCommand({ family: 'redhat', id: 'rocky' } as typeof debian, ['keepalived'], { downloadOnly: true }), /dnf -y install --downloadonly keepalived.*yum -y install --downloadonly keepalived/);
  });
});
