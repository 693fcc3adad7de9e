// Recorded processes: a PID plus what proves it is still ours (start time and command line),
// so a stale PID reused by an unrelated process is never signalled.
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcRef {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks since boot when the process started. */
  startTime: string;
  cmdline: string;
}

function readProc(pid: number): { startTime: string; cmdline: string; zombie: boolean } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it are split from the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    return { startTime: rest[19] ?? '', cmdline, zombie: rest[0] === 'Z' };
  } catch {
    return undefined;
  }
}

/** Start time of a live process, or undefined when there is none with that PID. */
export function startTimeOf(pid: number): string | undefined {
  const p = readProc(pid);
  return p && !p.zombie ? p.startTime : undefined;
}

/** Describe a live process so it can be recognised later. */
export function procRef(pid: number): ProcRef | undefined {
  const p = readProc(pid);
  return p && !p.zombie ? { pid, startTime: p.startTime, cmdline: p.cmdline } : undefined;
}

/** True while the recorded process is still running (same PID, start time and command line). */
export function isAlive(ref: ProcRef | undefined): boolean {
  if (!ref) return false;
  const p = readProc(ref.pid);
  return !!p && !p.zombie && p.startTime === ref.startTime && p.cmdline === ref.cmdline;
}

async function waitGone(ref: ProcRef, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (isAlive(ref)) {
    if (Date.now() > until) return false;
    await sleep(100);
  }
  return true;
}

/** Signal a process that may exit at any moment (ESRCH means it already did). */
function signalProc(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Ask a recorded process to stop with `signal`; SIGKILL it after `graceMs`. No-op when already gone. */
export async function terminate(ref: ProcRef | undefined, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!ref || !isAlive(ref)) return;
  signalProc(ref.pid, signal);
  if (await waitGone(ref, graceMs)) return;
  if (isAlive(ref)) signalProc(ref.pid, 'SIGKILL');
  await waitGone(ref, 5000);
}

/** Children of a process (needs CONFIG_PROC_CHILDREN, present on Debian kernels). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** True when `pid` is PID 1 of its own PID namespace, i.e. a container's init. */
export function isNamespaceInit(pid: number): boolean {
  try {
    const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
    return !!nspid && nspid.length > 1 && nspid[nspid.length - 1] === '1';
  } catch {
    return false;
  }
}

/** Namespaces of a node that must be gone when it is: a process in any of them is still the node's. */
export const NODE_NAMESPACES = ['net', 'pid', 'mnt'] as const;

/** The namespace ids (e.g. `net:[4026532281]`) of a live process, or undefined when it is gone. */
export function namespacesOf(pid: number): string[] | undefined {
  try {
    return NODE_NAMESPACES.map((ns) => readlinkSync(`/proc/${pid}/ns/${ns}`));
  } catch {
    return undefined;
  }
}

/** A process's namespaces held open: while held, their ids cannot be freed and given to someone else's. */
export interface HeldNamespaces {
  ids: string[];
  fds: number[];
}

/** Hold the namespaces of a recorded process that is still running; undefined when it is not. */
export function holdNamespaces(ref: ProcRef | undefined): HeldNamespaces | undefined {
  if (!ref || !isAlive(ref)) return undefined;
  const fds: number[] = [];
  try {
    for (const ns of NODE_NAMESPACES) fds.push(openSync(`/proc/${ref.pid}/ns/${ns}`, 'r'));
  } catch {
    fds.forEach((fd) => closeSync(fd));
    return undefined;
  }
  // Still the same process once opened: the namespaces are really its own, not a reused PID's.
  if (!isAlive(ref)) {
    fds.forEach((fd) => closeSync(fd));
    return undefined;
  }
  return { ids: fds.map((fd) => readlinkSync(`/proc/self/fd/${fd}`)), fds };
}

export function releaseNamespaces(held: HeldNamespaces): void {
  held.fds.forEach((fd) => closeSync(fd));
}

/** Live processes in any of the given namespaces (zombies hold none). Only meaningful while they are held. */
export function processesIn(namespaces: string[]): ProcRef[] {
  const wanted = new Set(namespaces);
  const found: ProcRef[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!namespacesOf(pid)?.some((ns) => wanted.has(ns))) continue;
    const ref = procRef(pid);
    if (ref) found.push(ref);
  }
  return found;
}
