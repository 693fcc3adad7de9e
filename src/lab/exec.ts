// Running host programs for the lab: argument vectors only (no shell), errors as LabError.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { LabError } from '../errors.js';
import { sh } from '../shell/quote.js';
import { startTimeOf, type ProcRef } from './procs.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** A PATH that finds sbin tools even when the caller's PATH lacks them. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Run a program and return its output whatever its exit code (127 when it cannot start). */
export function runResult(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? { ...process.env, PATH: `${SYSTEM_PATH}:${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: stderr + err.message }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/**
 * `lab exec NODE WORD…` as the node's shell gets it: one word is a command line for the shell
 * (`'a; b'`); several are one program's arguments, each quoted, so `sh -c "a; b"` reaches sh as
 * its two words (ssh would join them, and `sh -c` would get only `a;`).
 */
export const nodeCommandLine = (words: string[]): string => (words.length === 1 ? words[0]! : sh(...words));

/** Run a program; a non-zero exit becomes a LabError showing the command and its last output lines. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await runResult(cmd, args, opts);
  if (r.code !== 0) {
    const detail = (r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n  ');
    throw new LabError(`command failed (exit ${r.code}): ${sh(cmd, ...args)}${detail ? `\n  ${detail}` : ''}`);
  }
  return r.stdout;
}

/** How each detached process this run started ended (exit code or signal), by PID: said when one dies early. */
export const detachedExits = new Map<number, string>();

/**
 * Start a long-running program in its own session (it outlives the CLI), stdin from /dev/null and
 * output to `logPath`. The recorded command line is the one started, not read from /proc: uv_spawn
 * returns once the child's exec has begun, but the kernel sets the new command line a moment later,
 * so a read then may see an empty one — the process would then look gone to `isAlive` while it runs
 * on (a lab node taken for dead at boot and left running by lab down).
 */
export function spawnDetached(cmd: string, args: string[], logPath: string): ProcRef {
  const log = openSync(logPath, 'w');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', log, log] });
    child.on('exit', (code, signal) => child.pid !== undefined && detachedExits.set(child.pid, signal ? `killed by ${signal}` : `exit ${code}`));
    child.unref();
    const startTime = child.pid === undefined ? undefined : startTimeOf(child.pid);
    if (child.pid === undefined || startTime === undefined) throw new LabError(`could not start ${sh(cmd, ...args)} (see ${logPath})`);
    return { pid: child.pid, startTime, cmdline: [cmd, ...args].join(' ') };
  } finally {
    closeSync(log);
  }
}
