// The units fact reads every unit with one systemctl (blocks in the order asked), falls back to the
// older systemd without --timestamp, and to one call per unit when systemctl refuses a name.
// Run by a local sh against a stub systemctl that prints what systemctl show prints.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { unitsFact } from '../../src/facts/systemd.js';

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-units-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Like systemctl show: a block per unit (blank line between), an unknown unit gets empty values, an
// invalid name fails the call where it is reached; OLD=1: no --timestamp (systemd < 248).
writeFileSync(
  join(dir, 'systemctl'),
  `#!/bin/sh
echo "$*" >> ${dir}/calls
ts=; case "$2" in --timestamp=*) [ "$OLD" = 1 ] && { echo "unrecognized option" >&2; exit 1; }; ts=.123456;; esac
while [ "$1" != -- ]; do shift; done; shift
first=1
for u; do
  case $u in *@) echo "Unit name $u is not valid" >&2; exit 1;; esac
  [ $first = 1 ] || echo; first=
  case $u in
    keepalived) printf 'MainPID=41\\nActiveState=active\\nUnitFileState=enabled\\nStateChangeTimestamp=Sun 2026-11-22 13:33:22%s UTC\\n' "$ts";;
    haproxy) printf 'MainPID=0\\nActiveState=inactive\\nUnitFileState=masked\\nStateChangeTimestamp=\\n';;
    *) printf 'MainPID=0\\nActiveState=inactive\\nUnitFileState=\\nStateChangeTimestamp=\\n';;
  esac
done
`,
);
chmodSync(join(dir, 'systemctl'), 0o755);

function read(units: string[], env: Record<string, string> = {}) {
  writeFileSync(join(dir, 'calls'), '');
  const fact = unitsFact(units);
  const out = execFileSync('/bin/sh', ['-c', fact.command], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, ...env } });
  return { units: fact.parse(out, 0), calls: readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') };
}

const keepalived = { enabled: true, active: true, pid: 41, since: Date.parse('2026-11-22T13:33:22Z') * 1000 + 123456 };
const haproxy = { enabled: false, active: false, pid: 0, masked: true };
const unknown = { enabled: false, active: false, pid: 0 };

describe('units fact', () => {
  it('reads every unit with one systemctl, each block to its unit in the order asked', () => {
    const r = read(['keepalived', 'haproxy', 'nosuch.service']);
    assert.deepEqual(r.units, { keepalived, haproxy, 'nosuch.service': unknown });
    assert.equal(r.calls.length, 1, r.calls.join('\n'));
  });
  it('older systemd (no --timestamp): read again without it, no `since`', () => {
    const r = read(['keepalived', 'haproxy'], { OLD: '1' });
    const { since: _, ...noSince } = keepalived;
    assert.deepEqual(r.units, { keepalived: noSince, haproxy });
    assert.equal(r.calls.length, 2);
  });
  it('a name systemctl refuses: one call per unit, every other unit still read', () => {
    const r = read(['keepalived', 'foo@', 'haproxy']);
    assert.deepEqual(r.units, { keepalived, 'foo@': unknown, haproxy });
  });
  it('no units: nothing asked', () => {
    assert.equal(unitsFact([]).command, '');
  });
});
