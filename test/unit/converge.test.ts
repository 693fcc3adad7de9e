// Convergence facts (issue 12, items 4 and 5): leftover temp files of managed files are listed by a
// real sh (names only), and a unit runs an older file when the file changed after its last (re)load.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { factScript, parseFacts } from '../../src/facts/fact.js';
import { tempsFact } from '../../src/facts/files.js';
import { runsOlderFile } from '../../src/facts/loaded.js';
import { parseUsUtc } from '../../src/facts/systemd.js';

describe('convergence facts', () => {
  it('lists the leftover temp files of a managed file (upload and rollback), nothing else, with a real sh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kadeploy-temps-'));
    const conf = join(dir, 'keep alived.conf'); // a space: the glob's prefix must be quoted
    const left = join(dir, '.keep alived.conf.kadeploy-0badc0de.tmp');
    const restore = `${conf}.kadeploy-restore.tmp`;
    for (const f of [conf, left, restore, join(dir, '.other.conf.kadeploy-0badc0de.tmp'), `${conf}.kadeploy-bak.20250101T000000Z`]) writeFileSync(f, 'auth_pass s3cret');
    const facts = [tempsFact([conf, join(dir, 'absent.conf')])];
    const out = execFileSync('sh', ['-c', factScript(facts)], { encoding: 'utf8' });
    assert.ok(!out.includes('s3cret'), 'contents are never read');
    const temps = parseFacts(facts, out).temps as Record<string, string[]>;
    assert.deepEqual(temps, { [conf]: [left, restore] });
  });

  it('reads systemd --timestamp=us+utc stamps to the microsecond', () => {
    assert.equal(parseUsUtc('Sun 2026-11-22 03:36:04.297272 UTC'), Date.UTC(2026, 10, 22, 3, 36, 4) * 1000 + 297272);
    assert.equal(parseUsUtc('Sun 2026-11-22 03:36:04 UTC'), undefined, 'no microseconds: unknown, never guessed');
    assert.equal(parseUsUtc(''), undefined);
  });

  it('a file changed after the unit last (re)loaded is not what the unit runs; unknowns claim nothing', () => {
    const file = (changed?: number) => ({ '/c': { mode: '0640', owner: 'root', group: 'root', content: '', ...(changed ? { changed } : {}) } });
    const unit = (since?: number, active = true) => ({ k: { enabled: true, active, pid: 1, ...(since ? { since } : {}) } });
    assert.equal(runsOlderFile({ units: unit(100), files: file(200) }, 'k', '/c'), true);
    assert.equal(runsOlderFile({ units: unit(300), files: file(200) }, 'k', '/c'), false);
    assert.equal(runsOlderFile({ units: unit(100, false), files: file(200) }, 'k', '/c'), false, 'a stopped unit runs nothing');
    assert.equal(runsOlderFile({ units: unit(), files: file(200) }, 'k', '/c'), false);
    assert.equal(runsOlderFile({ units: unit(100), files: file() }, 'k', '/c'), false);
    assert.equal(runsOlderFile({ units: unit(100), files: {} }, 'k', '/c'), false);
  });
});
