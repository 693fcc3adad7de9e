// The per-node lock against a real sshd on loopback (lock directories in a temp dir, never /run),
// plus its pure parts: holder parsing, staleness, messages.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireLocks, describeHolder, isStale, LockError, parseHolder } from '../../src/apply/lock.js';
import { SshConnection } from '../../src/ssh/connection.js';
import { sshdSkipReason, startSshd, type Sshd } from '../support/sshd.js';

const skip = sshdSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-lock-'));
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
/** A fresh lock path per test; with characters that need quoting. */
const lockPath = () => join(dir, `run $(x) ${n++}`, 'kadeploy.lock');
const prepare = (path: string) => mkdirSync(join(path, '..'), { recursive: true });
const holderFile = (path: string) => readFileSync(join(path, 'holder'), 'utf8');

describe('acquireLocks on a real sshd', { skip }, () => {
  it('takes the lock with holder info, and release frees it', async () => {
    const path = lockPath();
    prepare(path);
    const release = await acquireLocks(new Map([['lb1', c1]]), { path, command: 'apply test.yaml' });
    const holder = parseHolder(holderFile(path).split('\n'));
    assert.equal(holder.host, hostname());
    assert.equal(holder.pid, process.pid);
    assert.equal(holder.command, 'apply test.yaml');
    assert.match(holder.token ?? '', /^[0-9a-f]{16}$/);
    assert.ok(holder.started && Math.abs(holder.started - Date.now() / 1000) < 60);
    await release();
    assert.equal(existsSync(path), false);
    await release(); // idempotent
  });

  it('a second acquire refuses, naming the node and the holder', async () => {
    const path = lockPath();
    prepare(path);
    const release = await acquireLocks(new Map([['lb1', c1]]), { path, command: 'apply first.yaml' });
    try {
      const started = Date.now();
      await assert.rejects(acquireLocks(new Map([['lb1', c2]]), { path, waitMs: 1_200, retryMs: 200 }), (err: unknown) => {
        assert.ok(err instanceof LockError);
        assert.equal(err.exitCode, 1);
        assert.match(err.message, new RegExp(`^lb1: another kadeploy run holds the lock .*: \\S+@${hostname()} pid ${process.pid} \\(apply first\\.yaml\\), held for \\d+ s; waited 1 s`));
        assert.doesNotMatch(err.message, /\n\s+at /);
        return true;
      });
      assert.ok(Date.now() - started >= 1_100, 'it waited before refusing');
      assert.match(holderFile(path), /command=apply first\.yaml/, 'the holder keeps its lock');
    } finally {
      await release();
    }
  });

  it('two concurrent acquires: the second waits until the first releases', async () => {
    const path = lockPath();
    prepare(path);
    const order: string[] = [];
    const first = await acquireLocks(new Map([['lb1', c1]]), { path });
    const waits: string[] = [];
    const second = acquireLocks(new Map([['lb1', c2]]), { path, waitMs: 8_000, retryMs: 100, onWait: (node, h) => waits.push(`${node}: ${h}`) }).then((rel) => {
      order.push('second acquired');
      return rel;
    });
    await new Promise((r) => setTimeout(r, 600));
    order.push('first releases');
    await first();
    const releaseSecond = await second;
    assert.deepEqual(order, ['first releases', 'second acquired']);
    assert.equal(waits.length, 1);
    assert.match(waits[0]!, /^lb1: \S+@\S+ pid \d+/);
    assert.ok(existsSync(path));
    await releaseSecond();
    assert.equal(existsSync(path), false);
  });

  it('only one of many simultaneous acquires wins', async () => {
    const path = lockPath();
    prepare(path);
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => acquireLocks(new Map([['lb1', i % 2 ? c1 : c2]]), { path, waitMs: 0 })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof LockError));
    await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
  });

  it('takes over a lock that is too old', async () => {
    const path = lockPath();
    mkdirSync(path, { recursive: true });
    const old = Math.floor(Date.now() / 1000) - 7_200;
    writeFileSync(join(path, 'holder'), `token=aaaa\nhost=elsewhere\npid=1\nuser=ops\ncommand=apply\nstarted=${old}\n`);
    const release = await acquireLocks(new Map([['lb1', c1]]), { path, waitMs: 0, staleMs: 3_600_000 });
    assert.equal(parseHolder(holderFile(path).split('\n')).pid, process.pid);
    await release();
  });

  it('takes over a lock whose holder was a process of this machine that is gone', async () => {
    const path = lockPath();
    mkdirSync(path, { recursive: true });
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim(); // exited: its PID is free
    const now = Math.floor(Date.now() / 1000);
    writeFileSync(join(path, 'holder'), `token=bbbb\nhost=${hostname()}\npid=${dead}\nstarted=${now}\n`);
    const release = await acquireLocks(new Map([['lb1', c1]]), { path, waitMs: 0 });
    assert.equal(parseHolder(holderFile(path).split('\n')).pid, process.pid);
    await release();
    // The same dead PID on another machine proves nothing: that lock is respected.
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'holder'), `token=cccc\nhost=other-host\npid=${dead}\nstarted=${now}\n`);
    await assert.rejects(acquireLocks(new Map([['lb1', c1]]), { path, waitMs: 0 }), LockError);
    assert.match(holderFile(path), /token=cccc/);
  });

  it('all or nothing: a refusal on one node releases the others', async () => {
    const path = lockPath();
    prepare(path);
    // lb2 is a node whose lock is always held (a fake connection answering like the remote script).
    const busy = { exec: async () => ({ stdout: `HELD ${Math.floor(Date.now() / 1000)} 0\nhost=x\npid=7\nuser=u\nstarted=${Math.floor(Date.now() / 1000)}\n`, stderr: '', code: 0, durationMs: 0 }) } as unknown as SshConnection;
    await assert.rejects(acquireLocks(new Map([['lb2', busy], ['lb1', c1]]), { path, waitMs: 0 }), /^LockError: lb2: another kadeploy run holds the lock/);
    assert.equal(existsSync(path), false, "lb1's lock (taken first, by name order) was released");
  });

  it('a lock that cannot be created is an error naming the node and the reason', async () => {
    const path = join(dir, 'missing-parent', 'deeper', 'kadeploy.lock');
    await assert.rejects(acquireLocks(new Map([['lb1', c1]]), { path, waitMs: 0 }), (err: unknown) => {
      assert.ok(err instanceof LockError);
      assert.match(err.message, /^lb1: cannot take the lock .*missing-parent.*: mkdir: cannot create directory .*No such file or directory/);
      return true;
    });
  });
});

describe('lock holder (pure)', () => {
  it('parses holder lines, ignoring junk and bad numbers', () => {
    assert.deepEqual(parseHolder(['token=ab', 'host=h=1', 'pid=12', 'started=x', 'junk', 'user=u', 'command=apply a b']), {
      token: 'ab',
      host: 'h=1',
      pid: 12,
      user: 'u',
      command: 'apply a b',
    });
  });

  it('is stale when older than the bound, or when its local holder process is gone', () => {
    const opts = { staleMs: 60_000, localHost: 'me', isAlive: (pid: number) => pid === 5 };
    assert.equal(isStale({ host: 'other', pid: 9 }, 61, opts), true);
    assert.equal(isStale({ host: 'other', pid: 9 }, 59, opts), false);
    assert.equal(isStale({ host: 'me', pid: 9 }, 1, opts), true);
    assert.equal(isStale({ host: 'me', pid: 5 }, 1, opts), false);
    assert.equal(isStale({}, 1, opts), false, 'info not written yet: held');
  });

  it('describes the holder for humans', () => {
    assert.equal(describeHolder({ host: 'ws1', user: 'ann', pid: 42, command: 'apply x.yaml' }, 3), 'ann@ws1 pid 42 (apply x.yaml), held for 3 s');
    assert.equal(describeHolder({}, 0), 'a run whose details are not written yet, held for 0 s');
  });
});
