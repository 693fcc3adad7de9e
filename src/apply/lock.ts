// A lock on each node, so two kadeploy runs on one cluster never interleave their changes. The lock
// is a directory (`mkdir` is atomic on every filesystem) holding who took it; /run is a tmpfs, so a
// reboot clears it. A lock is stale, and taken over, when older than a bound or when its holder ran
// on this machine and that process is gone.
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { KadeployError } from '../errors.js';
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
  /** A lock older than this is taken over (default 1 h: longer than any sane apply). */
  staleMs?: number;
  /** What this run is, recorded for whoever finds the lock held, e.g. "apply prod.yaml". */
  command?: string;
  /** Called once per node when its lock is held and we start waiting. */
  onWait?: (node: string, holder: string) => void;
  /** Whether a PID of this machine is running (replaceable in tests). */
  isAlive?: (pid: number) => boolean;
  /** Who takes the lock (default: a new identity for this process and `command`). */
  me?: Me;
}

/** Who holds a lock, as written into it. `started` is the node's clock (seconds), so skew does not matter. */
export interface LockHolder {
  token?: string;
  host?: string;
  pid?: number;
  user?: string;
  command?: string;
  started?: number;
}

export class LockError extends KadeployError {}

const HOLDER_FILE = 'holder';

export interface Me {
  token: string;
  host: string;
  pid: number;
  user: string;
  command: string;
}

/** One attempt, one round trip: take the lock, or report who holds it and the node's current time. */
export function acquireCommand(path: string, me: Me): string {
  const holder = `${path}/${HOLDER_FILE}`;
  const info = [`token=${me.token}`, `host=${me.host}`, `pid=${me.pid}`, `user=${me.user}`, `command=${me.command}`].map(quote).join(' ');
  return [
    // A lock without holder info would only go stale after staleMs: give it up if the info cannot be written.
    `if mkdir -- ${quote(path)} 2>/dev/null; then if printf '%s\\n' ${info} "started=$(date +%s)" > ${quote(holder)}; then echo ACQUIRED; ` +
      `else ${sh('rm', '-rf', '--', path)}; echo FAILED; fi`,
    `elif [ -d ${quote(path)} ]; then echo "HELD $(date +%s) $(stat -c %Y -- ${quote(path)} 2>/dev/null)"; cat -- ${quote(holder)} 2>/dev/null`,
    `else echo FAILED; mkdir -- ${quote(path)} 2>&1; fi`,
  ].join('; ');
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
    if (key === 'token' || key === 'host' || key === 'user' || key === 'command') h[key] = value;
    else if ((key === 'pid' || key === 'started') && /^\d+$/.test(value)) h[key] = Number(value);
  }
  return h;
}

export function describeHolder(h: LockHolder, ageS: number): string {
  const who = h.host ? `${h.user ?? '?'}@${h.host} pid ${h.pid ?? '?'}` : 'a run whose details are not written yet';
  return `${who}${h.command ? ` (${h.command})` : ''}, held for ${ageS} s`;
}

/** Stale: too old, or taken by a process of this machine that no longer runs. */
export function isStale(h: LockHolder, ageS: number, opts: { staleMs: number; localHost: string; isAlive: (pid: number) => boolean }): boolean {
  if (ageS * 1000 > opts.staleMs) return true;
  return h.host === opts.localHost && h.pid !== undefined && !opts.isAlive(h.pid);
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Settings = LockOptions & Required<Pick<LockOptions, 'path' | 'waitMs' | 'retryMs' | 'staleMs' | 'isAlive'>>;

/** One attempt on one node, never waiting: taken (undefined), or who holds it. A stale lock is taken over. */
async function tryOnce(node: string, conn: SshConnection, me: Me, opts: Settings): Promise<string | undefined> {
  for (;;) {
    const r = await conn.exec(acquireCommand(opts.path, me), { check: false });
    const [first = '', ...rest] = r.stdout.split('\n');
    if (first === 'ACQUIRED') return undefined;
    if (!first.startsWith('HELD')) {
      const why = (rest.join(' ').trim() || r.stderr.trim() || `exit ${r.code}`).split('\n')[0];
      throw new LockError(`${node}: cannot take the lock ${opts.path}: ${why}`);
    }
    const [, now = 0, mtime = 0] = first.split(' ').map(Number);
    const holder = parseHolder(rest);
    const ageS = Math.max(0, now - (holder.started ?? mtime));
    if (isStale(holder, ageS, { ...opts, localHost: me.host })) {
      await conn.exec(removeCommand(opts.path, holder.token, me.token), { check: false });
      continue;
    }
    return describeHolder(holder, ageS);
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
export async function acquireLocks(conns: Map<string, SshConnection>, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const o: Settings = {
    ...opts,
    path: opts.path ?? DEFAULT_LOCK_PATH,
    waitMs: opts.waitMs ?? 10_000,
    retryMs: opts.retryMs ?? 500,
    staleMs: opts.staleMs ?? 3_600_000,
    isAlive: opts.isAlive ?? pidAlive,
  };
  const me = opts.me ?? identity(opts.command);
  let held: Array<[string, SshConnection]> = [];
  const giveBack = async (): Promise<void> => {
    const taken = held;
    held = [];
    await removeOwn(taken.map(([, conn]) => conn), o.path, me.token);
  };
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await giveBack();
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
      if (!busy.length) return release;
      await giveBack();
      const first = busy[0]!;
      if (Date.now() >= deadline) {
        throw new LockError(
          `${first.node}: another kadeploy run holds the lock ${o.path}: ${first.holder}; ` +
            `waited ${Math.round(o.waitMs / 1000)} s. Try again when it is done; if no run is active, remove ${o.path} on ${first.node}.`,
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
    await release();
    throw e;
  }
}

/** A new lock identity for this run: a random token, this machine, process and user. */
export function identity(command = 'kadeploy'): Me {
  return { token: randomBytes(8).toString('hex'), host: hostname(), pid: process.pid, user: safeUser(), command };
}

/** Remove our own lock (by token) on these nodes; never throws. */
async function removeOwn(conns: SshConnection[], path: string, token: string): Promise<void> {
  await mapLimit(conns, 50, (conn) => conn.exec(removeCommand(path, token, token), { check: false }).catch(() => undefined));
}

const LOCKED = 'ACQUIRED';

/** One round trip: take the lock, and only when that succeeded run `script` (its output follows the first line). */
export function lockThenCommand(path: string, me: Me, script: string): string {
  return `kadeploy_lock=$( ${acquireCommand(path, me)} ); printf '%s\n' "$kadeploy_lock"; if [ "$kadeploy_lock" = ${LOCKED} ]; then ${script}; fi`;
}

/**
 * Take the lock on every node in the same round trip as another command (the facts), which runs on
 * a node only once its lock is taken there. When every lock was taken at once (the usual case),
 * returns each node's command output and the release. Otherwise (a lock held, stale, or failing),
 * gives back what it took and falls back to `acquireLocks` (waiting, stale takeover, the same
 * errors) and returns no outputs: the caller runs its command again, under the lock.
 */
export async function acquireLocksWith(
  conns: Map<string, SshConnection>,
  command: (node: string) => string,
  opts: LockOptions = {},
  /** Nodes at once (the run's --forks). */
  forks = 50,
): Promise<{ release: () => Promise<void>; outputs?: Map<string, string> }> {
  const path = opts.path ?? DEFAULT_LOCK_PATH;
  const me = opts.me ?? identity(opts.command);
  const nodes = [...conns];
  const outputs = new Map<string, string>();
  await mapLimit(nodes, forks, async ([node, conn]) => {
    // A failure here (a lost connection) is reported by the fallback below, with the others.
    const out = await conn.exec(lockThenCommand(path, me, command(node)), { check: false }).then((r) => r.stdout, () => '');
    if (out.startsWith(`${LOCKED}\n`)) outputs.set(node, out.slice(LOCKED.length + 1));
  });
  if (outputs.size === nodes.length) {
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await removeOwn(nodes.map(([, conn]) => conn), path, me.token);
    };
    return { release, outputs };
  }
  // Ours may also be on a node whose answer was lost (same token: removing it is always safe).
  await removeOwn(nodes.map(([, conn]) => conn), path, me.token);
  return { release: await acquireLocks(conns, { ...opts, me }) };
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '?');
  }
}
