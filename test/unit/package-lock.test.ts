// The wait for a busy package manager, run by a real sh against a real fcntl lock (as apt and dpkg
// take theirs) held by another process: who holds it comes from /proc/locks, the wait is bounded.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { installCommand, LOCK_WAIT_PREFIX, lockWaitFunctions } from '../../src/ops/package.js';
import { runStep } from '../../src/ops/steps.js';
import { packageKind } from '../../src/tasks/package.js';

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-lock-'));
const lock = join(dir, 'lock');
writeFileSync(lock, '');
const holders: ChildProcess[] = [];
after(() => {
  for (const h of holders) h.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** Another process holding `lock` with fcntl for `seconds`; resolves once it holds it. */
async function hold(seconds: number): Promise<ChildProcess> {
  const py = `import fcntl, sys, time\nf = open(sys.argv[1], "w")\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint("held", flush=True)\ntime.sleep(${seconds})`;
  const child = spawn('python3', ['-c', py, lock], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(child);
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return child;
}

const sh = (script: string) => spawnSync('sh', ['-c', script], { encoding: 'utf8' });

describe('waiting for a package manager lock', () => {
  it('names nothing while the lock is free', () => {
    const r = sh(`${lockWaitFunctions(5)}; kd_holder ${lock} /nonexistent; echo "[$(kd_holder ${lock})]"; kd_wait ${lock} && echo free`);
    assert.equal(r.stdout, '[]\nfree\n', r.stderr);
  });

  it('names the holder (process name and PID) and gives up after the bound, saying why', async () => {
    const holder = await hold(30);
    const r = sh(`${lockWaitFunctions(2)}; kd_holder ${lock}; kd_wait ${lock}; echo "rc=$?"`);
    assert.match(r.stdout, new RegExp(`^${lock} is held by python3 \\(pid ${holder.pid}\\)\\n`));
    assert.match(r.stdout, new RegExp(`${LOCK_WAIT_PREFIX} ${lock} is held by python3 \\(pid ${holder.pid}\\) \\(0 s\\)`));
    assert.match(r.stdout, /rc=1$/m);
    assert.match(r.stderr, new RegExp(`kadeploy: ${lock} is held by python3 \\(pid ${holder.pid}\\), still after 2 s \\(package_lock_timeout\\)`));
    holder.kill();
    await new Promise((resolve) => holder.once('exit', resolve));
  });

  it('waits while it is held, then goes on', async () => {
    await hold(3);
    const started = Date.now();
    const r = sh(`${lockWaitFunctions(30)}; kd_wait ${lock} && echo went-on`);
    const waited = (Date.now() - started) / 1000;
    assert.match(r.stdout, /\(0 s\)\n(.*\n)*went-on\n$/);
    assert.ok(waited >= 1.5 && waited < 10, `waited ${waited} s`);
  });

  it('the install command waits for apt lists and dpkg locks, with the bound from the setting', () => {
    const cmd = installCommand({ family: 'debian', id: 'debian' } as Parameters<typeof installCommand>[0], ['keepalived'], { cacheValidS: 0, lockTimeoutS: 42 });
    assert.match(cmd, /kd_deadline=\$\(\( \$\(date \+%s\) \+ 42 \)\)/);
    assert.match(cmd, /kd_wait \/var\/lib\/apt\/lists\/lock && \{ apt-get -q update/);
    assert.match(cmd, /kd_wait \/var\/lib\/dpkg\/lock-frontend \/var\/lib\/dpkg\/lock \/var\/cache\/apt\/archives\/lock && apt-get -y -q -o DPkg::Lock::Timeout=42 /);
  });

  it("the install's time limit is command_timeout plus the lock wait, so a long wait never cuts the install short", async () => {
    const facts = { os: { family: 'debian', id: 'debian' }, packages: {} } as unknown as Parameters<NonNullable<typeof packageKind.plan>>[1];
    const [step] = packageKind.plan!({ kind: 'package', task: 't', names: ['keepalived'] }, facts, { packageLockTimeoutS: 600 } as Parameters<NonNullable<typeof packageKind.plan>>[2]).steps;
    assert.equal(step!.lockWaitS, 600);
    const seen: Array<number | undefined> = [];
    await runStep('lb1', { exec: async (_c, o) => (seen.push(o?.extraTimeoutMs), { stdout: '', stderr: '', code: 0 }) }, step!);
    assert.deepEqual(seen, [600_000]);
  });
});

