// Timing and memory of one command run: wall time from spawn to exit (measured here), CPU time and
// the largest single-process RSS from GNU time (`/usr/bin/time -f`), and, optionally, the peak of the
// summed RSS and PSS of the whole process tree, sampled from /proc (Ansible forks workers and ssh
// clients, and its ssh ControlMaster processes detach from the tree: `extra` finds those).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export const GNU_TIME = '/usr/bin/time';

export interface Sample {
  code: number;
  stdout: string;
  stderr: string;
  /** Spawn to exit, milliseconds (includes the ~1 ms of /usr/bin/time itself). */
  wallMs: number;
  /** User + system CPU of the command and every child it waited for (GNU time %U + %S). */
  cpuMs: number;
  /** Largest RSS of any single process of the tree that was waited for (GNU time %M, ru_maxrss), KiB. */
  maxRssKiB: number;
  /** Peak of the summed RSS of the tree (sampled), KiB; 0 when not sampled. */
  treeRssKiB: number;
  /** Peak of the summed PSS of the tree (sampled; shared pages split between sharers), KiB; 0 when not sampled. */
  treePssKiB: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Sample the process tree's memory every `sampleMs` (0: do not sample). */
  sampleMs?: number;
  /** Processes outside the tree that belong to the run (e.g. by command line); checked once per PID. */
  extra?: (cmdline: string) => boolean;
  timeoutMs?: number;
}

/** Children of a process, from /proc/PID/task/TID/children (every thread may have forked). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      /* gone */
    }
  }
  return out;
}

function descendants(root: number): number[] {
  const seen: number[] = [];
  const queue = childrenOf(root);
  while (queue.length) {
    const pid = queue.shift()!;
    seen.push(pid);
    queue.push(...childrenOf(pid));
  }
  return seen;
}

const PAGE_KIB = 4;

function rssKiB(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE_KIB;
  } catch {
    return 0;
  }
}

function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

class TreeSampler {
  peakRss = 0;
  peakPss = 0;
  private timer?: NodeJS.Timeout;
  private readonly classified = new Map<number, boolean>();
  private readonly extras = new Set<number>();

  constructor(
    private readonly root: number,
    private readonly every: number,
    private readonly extra?: (cmdline: string) => boolean,
  ) {}

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.every);
  }

  stop(): void {
    clearInterval(this.timer);
    this.tick();
  }

  private tick(): void {
    // The root is /usr/bin/time: only its descendants count.
    const pids = new Set(descendants(this.root));
    if (this.extra) {
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const pid = Number(entry);
        if (!this.classified.has(pid)) {
          let cmd = '';
          try {
            cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
          } catch {
            /* gone */
          }
          const mine = cmd !== '' && this.extra(cmd);
          this.classified.set(pid, mine);
          if (mine) this.extras.add(pid);
        }
      }
      for (const pid of this.extras) pids.add(pid);
    }
    let rss = 0;
    let pss = 0;
    for (const pid of pids) {
      rss += rssKiB(pid);
      pss += pssKiB(pid);
    }
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakPss = Math.max(this.peakPss, pss);
  }
}

/** The timed commands running now (their /usr/bin/time processes), to stop them on Ctrl-C. */
const running = new Set<ChildProcess>();

/**
 * Stop the timed commands still running: SIGINT to the command itself (GNU time ignores SIGINT, and a
 * kadeploy apply interrupted that way rolls back the node it was changing), SIGKILL after `graceMs`.
 */
export async function stopRunning(graceMs = 10_000): Promise<void> {
  const live = () => [...running].filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of live()) for (const pid of childrenOf(c.pid!)) {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + graceMs;
  while (live().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const c of live()) {
    for (const pid of descendants(c.pid!)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    c.kill('SIGKILL');
  }
}

// GNU time writes its figures to a file (the command's stderr stays its own): one directory per bench.
let timeDir: string | undefined;
let timeCount = 0;

/** Remove the directory of GNU time's output files (call once at the end, also after Ctrl-C). */
export function removeTimeDir(): void {
  if (timeDir) rmSync(timeDir, { recursive: true, force: true });
  timeDir = undefined;
}

/** Run `cmd args` under GNU time; never throws for a non-zero exit (the caller checks `code`). */
export function measure(cmd: string, args: string[], opts: RunOptions = {}): Promise<Sample> {
  timeDir ??= mkdtempSync(join(tmpdir(), 'kabench-time-'));
  const timeFile = join(timeDir, `${++timeCount}`);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(GNU_TIME, ['-o', timeFile, '-f', '%e %U %S %M', cmd, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    const sampler = opts.sampleMs && child.pid ? new TreeSampler(child.pid, opts.sampleMs, opts.extra) : undefined;
    sampler?.start();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (err) => {
      running.delete(child);
      sampler?.stop();
      reject(err);
    });
    // 'exit', not 'close': a detached ssh ControlMaster may keep the pipes open after the run ends.
    child.on('exit', (code, signal) => {
      const wallMs = performance.now() - started;
      running.delete(child);
      clearTimeout(timer);
      sampler?.stop();
      let cpuMs = 0;
      let maxRssKiB = 0;
      try {
        // GNU time writes "Command exited with non-zero status N" first when the command fails.
        const line = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1) ?? '';
        const [, user = '0', sys = '0', rss = '0'] = line.split(' ');
        cpuMs = (Number(user) + Number(sys)) * 1000;
        maxRssKiB = Number(rss);
      } catch {
        /* killed before time wrote it */
      }
      rmSync(timeFile, { force: true });
      // Wait for the pipes to drain, but not for a detached holder (at most 2 s).
      const finish = (): void => {
        clearTimeout(drain);
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({
          code: code ?? (signal ? 128 : 1),
          stdout,
          stderr,
          wallMs,
          cpuMs,
          maxRssKiB,
          treeRssKiB: sampler?.peakRss ?? 0,
          treePssKiB: sampler?.peakPss ?? 0,
        });
      };
      const drain = setTimeout(finish, 2000);
      if (child.stdout.readableEnded && child.stderr.readableEnded) finish();
      else child.once('close', finish);
    });
  });
}

/** Run a command for its result only (no timing), output captured: the lab's helper. */
export { runResult as run } from '../../src/lab/exec.js';
