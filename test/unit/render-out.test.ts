// render --out writes secrets (issue 12, item 3): only into new files, owner-only, in a tree of
// this user's; a tree another local user prepared (pre-created files, links, their directories)
// is refused and nothing is written into it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI } from '../support/cli.js';

const INV = join(import.meta.dirname, '..', '..', 'inventories', 'kolla-three-controllers.yaml');
const CONF = join('etc', 'keepalived', 'keepalived.conf');
const OTHER = 65534; // nobody
const root = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-render-out-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const render = (out: string) => spawnSync(process.execPath, [CLI, 'render', INV, '--out', out], { encoding: 'utf8' });
let n = 0;
const fresh = () => join(dir, `case${n++}`);

describe('render --out', () => {
  it('creates directories 0700 and files owner-only (0600, scripts 0700), whatever the umask', () => {
    const out = fresh();
    const r = spawnSync('sh', ['-c', `umask 000; exec "$0" "$@"`, process.execPath, CLI, 'render', INV, '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const conf = join(out, 'controller-1', CONF);
    assert.equal(statSync(conf).mode & 0o777, 0o600);
    assert.equal(statSync(join(out, 'controller-1', 'usr', 'local', 'bin', 'kolla_notify.sh')).mode & 0o777, 0o700);
    for (const d of [out, join(out, 'controller-1'), join(out, 'controller-1', 'etc', 'keepalived')]) assert.equal(statSync(d).mode & 0o777, 0o700, d);
  });

  it('never writes into a file that exists: refused, the file unchanged', () => {
    const out = fresh();
    mkdirSync(join(out, 'controller-1', 'etc', 'keepalived'), { recursive: true, mode: 0o700 });
    chmodSync(out, 0o700);
    writeFileSync(join(out, 'controller-1', CONF), 'planted\n', { mode: 0o644 });
    const r = render(out);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /render --out: .*keepalived\.conf already exists; render --out writes new files only/);
    assert.equal(readFileSync(join(out, 'controller-1', CONF), 'utf8'), 'planted\n');
    assert.equal(statSync(join(out, 'controller-1', CONF)).mode & 0o777, 0o644);
  });

  it('never writes through a link planted at a target', () => {
    const out = fresh();
    mkdirSync(join(out, 'controller-1', 'etc', 'keepalived'), { recursive: true, mode: 0o700 });
    chmodSync(out, 0o700);
    const elsewhere = join(dir, `elsewhere${n}`);
    writeFileSync(elsewhere, 'theirs\n');
    symlinkSync(elsewhere, join(out, 'controller-1', CONF));
    assert.equal(render(out).status, 1);
    assert.equal(readFileSync(elsewhere, 'utf8'), 'theirs\n');
  });

  it('refuses an output directory writable by others', () => {
    const out = fresh();
    mkdirSync(out);
    chmodSync(out, 0o777);
    const r = render(out);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is writable by other users \(mode 777\): refusing/);
    assert.equal(existsSync(join(out, 'controller-1')), false);
  });

  it('refuses a tree owned by another user: the output directory, a directory in it, or one above it', { skip: root ? false : 'needs root to chown' }, () => {
    const owned = fresh();
    mkdirSync(owned, { mode: 0o755 });
    chownSync(owned, OTHER, OTHER);
    assert.match(render(owned).stderr, /is owned by uid 65534, not by you .*refusing to write secrets into it/);

    const inner = fresh();
    mkdirSync(join(inner, 'controller-1'), { recursive: true, mode: 0o700 });
    chmodSync(inner, 0o700);
    chownSync(join(inner, 'controller-1'), OTHER, OTHER);
    assert.match(render(inner).stderr, /controller-1 is owned by uid 65534/);
    assert.equal(existsSync(join(inner, 'controller-1', 'etc')), false);

    const parent = fresh();
    mkdirSync(parent, { mode: 0o755 });
    chownSync(parent, OTHER, OTHER);
    const r = render(join(parent, 'out'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is owned by uid 65534: refusing to write secrets below it/);
    assert.equal(existsSync(join(parent, 'out')), false);
  });
});
