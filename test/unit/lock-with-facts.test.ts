// The lock taken in the facts' round trip (acquireLocksWith), against a real sshd on loopback: the
// command runs only once the lock is taken, in the same exec; a held lock falls back to waiting.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireLocks, acquireLocksWith, parseHolder } from '../../src/apply/lock.js';
import { LockError } from '../../src/errors.js';
import { quote } from '../../src/shell/quote.js';
import { SshConnection } from '../../src/ssh/connection.js';
import { sshdSkipReason, startSshd, type Sshd } from '../support/sshd.js';

const skip = sshdSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-lockfacts-'));
let server: Sshd | undefined;
let c1: SshConnection;
let c2: SshConnection;

before(async () => {
  if (skip) return;
  server = await startSshd(dir);
  c1 = await SshConnection.connect(server.target({ name: 'lb1' }));
  c2 = await SshConnection.connect(server.target({ name: 'lb1' }));
});

after(async () => {
  await c1?.close();
  await c2?.close();
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const lockPath = () => {
  const path = join(dir, `run $(x) ${n++}`, 'kadeploy.lock');
  mkdirSync(join(path, '..'), { recursive: true });
  return path;
};
/** What the "facts" command saw: the lock's holder file at the time it ran. */
const readHolder = (path: string) => `cat -- ${quote(join(path, 'holder'))}`;

describe('acquireLocksWith on a real sshd', { skip }, () => {
  it('one exec: takes the lock, then runs the command under it; release frees it', async () => {
    const path = lockPath();
    let execs = 0;
    const counting = new Proxy(c1, { get: (t, k) => (k === 'exec' ? (...a: Parameters<SshConnection['exec']>) => (execs++, t.exec(...a)) : Reflect.get(t, k)) });
    const { release, outputs } = await acquireLocksWith(new Map([['lb1', counting]]), () => readHolder(path), { path, command: 'apply x.yaml' });
    assert.equal(execs, 1, 'one round trip for the lock and the command');
    const seen = parseHolder(outputs!.get('lb1')!.split('\n'));
    assert.equal(seen.pid, process.pid, 'the command ran after the lock was ours');
    assert.equal(seen.command, 'apply x.yaml');
    assert.ok(existsSync(path));
    await release();
    assert.equal(existsSync(path), false);
  });

  it('a held lock: the command does not run under it; waits, then refuses naming the holder', async () => {
    const path = lockPath();
    const other = await acquireLocks(new Map([['lb1', c2]]), { path, command: 'apply other.yaml' });
    try {
      const marker = join(dir, `ran-${n}`);
      await assert.rejects(acquireLocksWith(new Map([['lb1', c1]]), () => `touch -- ${quote(marker)}`, { path, waitMs: 300, retryMs: 100 }), (e: unknown) => {
        assert.ok(e instanceof LockError);
        assert.match(e.message, /^lb1: another kadeploy run holds the lock .*\(apply other\.yaml\)/);
        return true;
      });
      assert.equal(existsSync(marker), false, 'the command never ran');
      assert.match(readFileSync(join(path, 'holder'), 'utf8'), /command=apply other\.yaml/, 'the holder keeps its lock');
    } finally {
      await other();
    }
  });

  it('a lock freed while waiting: taken by the fallback, no outputs (the caller reads again, under the lock)', async () => {
    const path = lockPath();
    const other = await acquireLocks(new Map([['lb1', c2]]), { path });
    setTimeout(() => void other(), 300);
    const { release, outputs } = await acquireLocksWith(new Map([['lb1', c1]]), () => 'echo facts', { path, waitMs: 5_000, retryMs: 100 });
    assert.equal(outputs, undefined);
    assert.equal(parseHolder(readFileSync(join(path, 'holder'), 'utf8').split('\n')).pid, process.pid);
    await release();
    assert.equal(existsSync(path), false);
  });
});
