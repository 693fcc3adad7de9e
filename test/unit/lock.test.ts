// The per-node lock against a real sshd on loopback (lock directories in a temp dir, never /run),
// plus its pure parts: holder parsing, staleness, messages. Liveness is a renewed signal, never a
// host name and PID (issue 12, item 7).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireLocks, describeHolder, goneHere, isStale, parseHolder, procIdentity } from '../../src/apply/lock.js';
import { LockError } from '../../src/errors.js';
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
        assert.match(err.message, new RegExp(`^lb1: another kadeploy run holds the lock .*: \\S+@${hostname()} pid ${process.pid} \\(apply first\\.yaml\\), last sign of life \\d+ s ago; waited 1 s`));
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

  /** A lock left by another run: holder info as given, its last sign of life `silentS` seconds ago. */
  const plant = (path: string, holder: string, silentS: number) => {
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'holder'), holder);
    writeFileSync(join(path, 'alive'), '');
    const t = Date.now() / 1000 - silentS;
    utimesSync(join(path, 'alive'), t, t);
  };
  const now = () => Math.floor(Date.now() / 1000);

  it('takes over a lock whose holder stopped renewing it, and says so', async () => {
    const path = lockPath();
    // PID 1 runs on every machine: a PID says nothing about a holder (it looked alive for an hour).
    plant(path, `token=aaaa\nhost=${hostname()}\npid=1\nuser=ops\ncommand=apply old.yaml\nstarted=${now() - 100}\n`, 90);
    const taken: string[] = [];
    const release = await acquireLocks(new Map([['lb1', c1]]), { path, waitMs: 0, staleMs: 60_000, onTakeOver: (node, h) => taken.push(`${node}: ${h}`) });
    assert.equal(parseHolder(holderFile(path).split('\n')).pid, process.pid);
    assert.equal(taken.length, 1);
    assert.match(taken[0]!, new RegExp(`^lb1: ops@${hostname()} pid 1 \\(apply old\\.yaml\\), last sign of life (8|9|10)\\d s ago$`));
    await release();
  });

  it('respects a live lock whose holder has our host name and a PID unknown here (another PID namespace)', async () => {
    const path = lockPath();
    const unused = 4_000_000; // above any pid_max: no such process here
    plant(path, `token=cccc\nhost=${hostname()}\npid=${unused}\nuser=ci\ncommand=apply\nstarted=${now() - 300}\n`, 1);
    await assert.rejects(acquireLocks(new Map([['lb1', c1]]), { path, waitMs: 0 }), (err: unknown) => {
      assert.ok(err instanceof LockError);
      assert.match(err.message, new RegExp(`pid ${unused} \\(apply\\), last sign of life \\d s ago`));
      return true;
    });
    assert.match(holderFile(path), /token=cccc/, 'the live lock is kept');
  });

  it('a holder of this PID namespace and boot whose process has exited is taken over at once', async () => {
    const path = lockPath();
    const gone = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim(); // exited: its PID is free
    const mine = procIdentity()!;
    const [boot, ns] = mine.split('/');
    plant(path, `token=dddd\nproc=${boot}/${ns}/${gone}/12345\nhost=${hostname()}\npid=${gone}\nuser=ci\ncommand=apply\n`, 0);
    const taken: string[] = [];
    const release = await acquireLocks(new Map([['lb1', c1]]), { path, waitMs: 0, onTakeOver: (_, h) => taken.push(h) });
    assert.match(taken[0] ?? '', /; its process has exited$/);
    assert.equal(parseHolder(holderFile(path).split('\n')).proc, mine);
    await release();
    // The same exited PID in another PID namespace proves nothing: that live lock is respected.
    plant(path, `token=eeee\nproc=${boot}/1/${gone}/12345\nhost=${hostname()}\npid=${gone}\n`, 0);
    await assert.rejects(acquireLocks(new Map([['lb1', c1]]), { path, waitMs: 0 }), LockError);
    // And a live process of ours with another start time is a reused PID: gone.
    assert.equal(goneHere(`${boot}/${ns}/${process.pid}/1`), true);
    assert.equal(goneHere(mine), false);
  });

  it('the holder renews its sign of life: a lock held longer than the bound is not stale', async () => {
    const path = lockPath();
    prepare(path);
    const staleMs = 2_000;
    const release = await acquireLocks(new Map([['lb1', c1]]), { path, staleMs });
    try {
      const before = statSync(join(path, 'alive')).mtimeMs;
      await new Promise((r) => setTimeout(r, 3_500));
      assert.ok(statSync(join(path, 'alive')).mtimeMs > before, 'alive was touched');
      const taken: string[] = [];
      await assert.rejects(acquireLocks(new Map([['lb1', c2]]), { path, waitMs: 0, staleMs, onTakeOver: (n) => taken.push(n) }), LockError);
      assert.deepEqual(taken, []);
    } finally {
      await release();
    }
    assert.equal(existsSync(path), false);
  });

  it('a run whose lock was taken over learns it at its next renewal', async () => {
    const path = lockPath();
    prepare(path);
    const lost: string[] = [];
    const release = await acquireLocks(new Map([['lb1', c1]]), { path, staleMs: 800, onLost: (n) => lost.push(n) });
    writeFileSync(join(path, 'holder'), 'token=someoneelse\n');
    await new Promise((r) => setTimeout(r, 800));
    assert.deepEqual(lost, ['lb1']);
    await release();
    assert.ok(existsSync(path), "release leaves the other run's lock");
  });

  it('all or nothing: a refusal on one node releases the others', async () => {
    const path = lockPath();
    prepare(path);
    // lb2 is a node whose lock is always held (a fake connection answering like the remote script).
    const busy = { exec: async () => ({ stdout: `HELD ${now()} ${now()}\nhost=x\npid=7\nuser=u\nstarted=${now()}\n`, stderr: '', code: 0, durationMs: 0 }) } as unknown as SshConnection;
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

  it('is stale only when its holder gave no sign of life for longer than the bound', () => {
    assert.equal(isStale(61, 60_000), true);
    assert.equal(isStale(59, 60_000), false);
  });

  it('describes the holder for humans', () => {
    assert.equal(describeHolder({ host: 'ws1', user: 'ann', pid: 42, command: 'apply x.yaml' }, 3), 'ann@ws1 pid 42 (apply x.yaml), last sign of life 3 s ago');
    assert.equal(describeHolder({}, 0), 'a run whose details are not written yet, last sign of life 0 s ago');
  });
});
