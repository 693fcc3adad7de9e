// A lock on each node, so two kadeploy runs on one cluster never interleave their changes. The lock
// is a directory (`mkdir` is atomic on every filesystem) holding who took it; /run is a tmpfs, so a
// reboot clears it. Its identity is a random run id (a host name and PID collide across containers
// and CI runners); its liveness is a signal the holder renews: the `alive` file's time, touched every
// few seconds over the holder's connection, judged by the node's own clock. A lock whose signal is
// older than a bound is stale (its holder died or lost the node), and is taken over, saying so.
// One shortcut: a holder that ran in this very PID namespace of this boot, and whose process (PID
// and start time) is gone, is dead now — no need to wait for its signal to age.
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { LockError } from '../errors.js';
import { quote, sh } from '../shell/quote.js';
import type { SshConnection } from '../ssh/connection.js';
import { mapLimit } from '../ssh/limit.js';

export const DEFAULT_LOCK_PATH = '/run/kadeploy.lock';

export interface LockOptions {
  /** Lock directory on every node (default /run/kadeploy.lock). */
  path?: string;
  /** How long to wait for a held lock before refusing (default 10 s; 0: refuse at once). */
  waitMs?: number;
  /** Pause between attempts while waiting (default 500 ms). */
  retryMs?: number;
  /** A lock whose holder gave no sign of life for this long is taken over (default 60 s; renewed every quarter of it). */
  staleMs?: number;
  /** What this run is, recorded for whoever finds the lock held, e.g. "apply prod.yaml". */
  command?: string;
  /** Called once per node when its lock is held and we start waiting. */
  onWait?: (node: string, holder: string) => void;
  /** Called when a stale lock is taken over (who held it, and how long it was silent). */
  onTakeOver?: (node: string, holder: string) => void;
  /** Called once per node when our lock there was found taken over (we were silent too long). */
  onLost?: (node: string) => void;
  /** Who takes the lock (default: a new identity for this run and `command`). */
  me?: Me;
}

/** Who holds a lock, as written into it (for people; only `token` identifies). `started` is the node's clock (seconds). */
export interface LockHolder {
  token?: string;
  /** The holder process as its kernel knows it: boot id, PID namespace, PID, start time (Linux). */
  proc?: string;
  host?: string;
  pid?: number;
  user?: string;
  command?: string;
  started?: number;
}


const HOLDER_FILE = 'holder';
const ALIVE_FILE = 'alive';

export interface Me {
  token: string;
  proc?: string;
  host: string;
  pid: number;
  user: string;
  command: string;
}

/**
 * One attempt, one round trip: take the lock, or report who holds it, the node's current time and
 * the holder's last sign of life (the `alive` file's time; the directory's while it has none).
 */
export function acquireCommand(path: string, me: Me): string {
  const holder = `${path}/${HOLDER_FILE}`;
  const alive = `${path}/${ALIVE_FILE}`;
  const info = [`token=${me.token}`, ...(me.proc ? [`proc=${me.proc}`] : []), `host=${me.host}`, `pid=${me.pid}`, `user=${me.user}`, `command=${me.command}`].map(quote).join(' ');
  return [
    // A lock without holder info would only go stale after staleMs: give it up if the info cannot be written.
    `if mkdir -- ${quote(path)} 2>/dev/null; then if printf '%s\\n' ${info} "started=$(date +%s)" > ${quote(holder)} && : > ${quote(alive)}; then echo ACQUIRED; ` +
      `else ${sh('rm', '-rf', '--', path)}; echo FAILED; fi`,
    `elif [ -d ${quote(path)} ]; then echo "HELD $(date +%s) $(stat -c %Y -- ${quote(alive)} 2>/dev/null || stat -c %Y -- ${quote(path)} 2>/dev/null)"; cat -- ${quote(holder)} 2>/dev/null`,
    `else echo FAILED; mkdir -- ${quote(path)} 2>&1; fi`,
  ].join('; ');
}

/** Our sign of life: touch `alive` while the lock is still ours; prints LOST when it is not. */
export function renewCommand(path: string, token: string): string {
  return `if [ "$(sed -n 's/^token=//p' ${quote(`${path}/${HOLDER_FILE}`)} 2>/dev/null)" = ${quote(token)} ]; then touch -- ${quote(`${path}/${ALIVE_FILE}`)}; else echo LOST; fi`;
}

/**
 * Remove the lock only while it is still the one we looked at (same token, or still without holder
 * info): a competitor may have taken it over in the meantime. Renaming first frees the name at once.
 */
export function removeCommand(path: string, token: string | undefined, by: string): string {
  const holder = `${path}/${HOLDER_FILE}`;
  const same = token ? `[ "$(sed -n 's/^token=//p' ${quote(holder)} 2>/dev/null)" = ${quote(token)} ]` : `[ ! -e ${quote(holder)} ]`;
  const gone = `${path}.gone.${by}`;
  return `if ${same}; then ${sh('mv', '--', path, gone)} && ${sh('rm', '-rf', '--', gone)}; fi`;
}

export function parseHolder(lines: readonly string[]): LockHolder {
  const h: LockHolder = {};
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const [key, value] = [line.slice(0, eq), line.slice(eq + 1)];
    if (key === 'token' || key === 'proc' || key === 'host' || key === 'user' || key === 'command') h[key] = value;
    else if ((key === 'pid' || key === 'started') && /^\d+$/.test(value)) h[key] = Number(value);
  }
  return h;
}

export function describeHolder(h: LockHolder, silentS: number): string {
  const who = h.host ? `${h.user ?? '?'}@${h.host} pid ${h.pid ?? '?'}` : 'a run whose details are not written yet';
  return `${who}${h.command ? ` (${h.command})` : ''}, last sign of life ${silentS} s ago`;
}

/** Stale: its holder gave no sign of life for longer than the bound (host names and PIDs alone prove nothing). */
export const isStale = (silentS: number, staleMs: number): boolean => silentS * 1000 > staleMs;

/** A process's start time (clock ticks after boot), from /proc; undefined when there is no such process. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** `BOOT/PIDNS/PID/START` of a process of ours, which no other process on any machine shares; undefined off Linux. */
export function procIdentity(pid: number = process.pid): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = readlinkSync('/proc/self/ns/pid').replace(/\D/g, '');
    const start = startTime(pid);
    return boot && ns && start ? `${boot}/${ns}/${pid}/${start}` : undefined;
  } catch {
    return undefined;
  }
}

/** The holder ran in our PID namespace of this boot, and that process (PID and start time) is gone. */
export function goneHere(proc: string | undefined): boolean {
  const mine = procIdentity();
  if (!proc || !mine) return false;
  const [boot, ns, pid, start] = proc.split('/');
  const [myBoot, myNs] = mine.split('/');
  return boot === myBoot && ns === myNs && /^\d+$/.test(pid ?? '') && startTime(Number(pid)) !== start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Settings = LockOptions & Required<Pick<LockOptions, 'path' | 'waitMs' | 'retryMs' | 'staleMs'>>;

/** One attempt on one node, never waiting: taken (undefined), or who holds it. A stale lock is taken over. */
async function tryOnce(node: string, conn: SshConnection, me: Me, opts: Settings): Promise<string | undefined> {
  for (let attempt = 0; ; attempt++) {
    const r = await conn.exec(acquireCommand(opts.path, me), { check: false });
    const [first = '', ...rest] = r.stdout.split('\n');
    if (first === 'ACQUIRED') return undefined;
    if (!first.startsWith('HELD')) {
      const why = (rest.join(' ').trim() || r.stderr.trim() || `exit ${r.code}`).split('\n')[0];
      throw new LockError(`${node}: cannot take the lock ${opts.path}: ${why}`);
    }
    const [, now = 0, lastSign = 0] = first.split(' ').map(Number);
    const holder = parseHolder(rest);
    const silentS = Math.max(0, now - lastSign);
    // Taken over at most twice in a row: a lock that keeps coming back stale is someone else's race.
    const dead = goneHere(holder.proc);
    if ((!dead && !isStale(silentS, opts.staleMs)) || attempt >= 2) return describeHolder(holder, silentS);
    await conn.exec(removeCommand(opts.path, holder.token, me.token), { check: false });
    opts.onTakeOver?.(node, `${describeHolder(holder, silentS)}${dead ? '; its process has exited' : ''}`);
  }
}

/**
 * Take the lock on every node, or on none: on a refusal, the locks already taken are released and
 * a LockError names the node and the holder. Every node is tried at once (one round trip in all, not
 * one per node); a run that finds any lock held gives back what it took before waiting, so it never
 * holds some locks while waiting for others and two runs over overlapping node sets cannot deadlock.
 * Returns the release function: call it in a `finally`; it never throws (a lock it cannot remove,
 * e.g. after a lost connection, goes stale on its own).
 */
/** A new lock identity for this run: a random token, this machine's process and user. */
export function identity(command = 'kadeploy'): Me {
  return { token: randomBytes(8).toString('hex'), proc: procIdentity(), host: hostname(), pid: process.pid, user: safeUser(), command };
}

const settingsOf = (opts: LockOptions): Settings => ({
  ...opts,
  path: opts.path ?? DEFAULT_LOCK_PATH,
  waitMs: opts.waitMs ?? 10_000,
  retryMs: opts.retryMs ?? 500,
  staleMs: opts.staleMs ?? 60_000,
});

/** Remove our own lock (by token) on these nodes; never throws. */
async function removeOwn(conns: SshConnection[], path: string, token: string): Promise<void> {
  await mapLimit(conns, 50, (conn) => conn.exec(removeCommand(path, token, token), { check: false }).catch(() => undefined));
}

/**
 * Locks now held on `held`: renew their sign of life while the run lasts (a failed renewal is retried
 * at the next tick; a lock found taken over is reported once). Returns the release, which never throws.
 */
function hold(held: Array<[string, SshConnection]>, me: Me, o: Settings): () => Promise<void> {
  const lost = new Set<string>();
  const renew = () =>
    void mapLimit(held, 50, async ([node, conn]) => {
      const r = await conn.exec(renewCommand(o.path, me.token), { check: false }).catch(() => undefined);
      if (r?.stdout.includes('LOST') && !lost.has(node)) {
        lost.add(node);
        o.onLost?.(node);
      }
    });
  const timer = setInterval(renew, o.staleMs / 4);
  timer.unref();
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    clearInterval(timer);
    await removeOwn(held.map(([, conn]) => conn), o.path, me.token);
  };
}

export async function acquireLocks(conns: Map<string, SshConnection>, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const o = settingsOf(opts);
  const me = opts.me ?? identity(opts.command);
  let held: Array<[string, SshConnection]> = [];
  const giveBack = async (): Promise<void> => {
    const taken = held;
    held = [];
    await removeOwn(taken.map(([, conn]) => conn), o.path, me.token);
  };
  const nodes = [...conns].sort(([a], [b]) => a.localeCompare(b));
  const deadline = Date.now() + o.waitMs;
  const waitedOn = new Set<string>();
  try {
    for (;;) {
      const attempts = await mapLimit(nodes, 50, async ([node, conn]) => {
        try {
          return { node, conn, holder: await tryOnce(node, conn, me, o) };
        } catch (error) {
          return { node, conn, error };
        }
      });
      for (const a of attempts) if (!a.error && a.holder === undefined) held.push([a.node, a.conn]);
      const failed = attempts.find((a) => a.error);
      if (failed) throw failed.error;
      const busy = attempts.filter((a) => a.holder !== undefined);
      if (!busy.length) return hold(held, me, o);
      await giveBack();
      const first = busy[0]!;
      if (Date.now() >= deadline) {
        throw new LockError(
          `${first.node}: another kadeploy run holds the lock ${o.path}: ${first.holder}; ` +
            `waited ${Math.round(o.waitMs / 1000)} s. Try again when it is done (a lock whose holder is silent for ${Math.round(o.staleMs / 1000)} s is taken over).`,
        );
      }
      for (const b of busy) {
        if (waitedOn.has(b.node)) continue;
        waitedOn.add(b.node);
        o.onWait?.(b.node, b.holder!);
      }
      // Randomised, so two runs backing off from each other do not retry in lockstep.
      await sleep(Math.min(o.retryMs * (0.5 + Math.random()), Math.max(0, deadline - Date.now())));
    }
  } catch (e) {
    await giveBack();
    throw e;
  }
}

const LOCKED = 'ACQUIRED';

/** One round trip: take the lock, and only when that succeeded run `script` (its output follows the first line). */
export function lockThenCommand(path: string, me: Me, script: string): string {
  return `kadeploy_lock=$( ${acquireCommand(path, me)} ); printf '%s\n' "$kadeploy_lock"; if [ "$kadeploy_lock" = ${LOCKED} ]; then ${script}; fi`;
}

/**
 * Take the lock on every node in the same round trip as another command (the facts), which runs on
 * a node only once its lock is taken there. When every lock was taken at once (the usual case),
 * returns each node's command output and the release (the locks renewed as acquireLocks does).
 * Otherwise (a lock held, stale, or failing) gives back what it took and falls back to
 * `acquireLocks` (waiting, stale takeover, the same errors) and returns no outputs: the caller runs
 * its command again, under the lock.
 */
export async function acquireLocksWith(
  conns: Map<string, SshConnection>,
  command: (node: string) => string,
  opts: LockOptions = {},
  /** Nodes at once (the run's --forks). */
  forks = 50,
): Promise<{ release: () => Promise<void>; outputs?: Map<string, string> }> {
  const o = settingsOf(opts);
  const me = opts.me ?? identity(opts.command);
  const nodes = [...conns];
  const outputs = new Map<string, string>();
  await mapLimit(nodes, forks, async ([node, conn]) => {
    // A failure here (a lost connection) is reported by the fallback below, with the others.
    const out = await conn.exec(lockThenCommand(o.path, me, command(node)), { check: false }).then((r) => r.stdout, () => '');
    if (out.startsWith(`${LOCKED}\n`)) outputs.set(node, out.slice(LOCKED.length + 1));
  });
  if (outputs.size === nodes.length) return { release: hold(nodes, me, o), outputs };
  // Ours may also be on a node whose answer was lost (same token: removing it is always safe).
  await removeOwn(nodes.map(([, conn]) => conn), o.path, me.token);
  return { release: await acquireLocks(conns, { ...opts, me }) };
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '?');
  }
}
