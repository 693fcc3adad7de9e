// V8 optimises a function (TurboFan, on a background thread) once it has used up an "interrupt
// budget" of executed bytecode. A run over a fleet repeats the same per-node code (SSH handshakes,
// facts, plans) just often enough for V8 to optimise much of it, and in a run of a few seconds those
// compiles cost more CPU than the optimised code saves: at 100 hosts, a third of kadeploy's CPU per
// host went to TurboFan. A 16x larger budget still optimises what is really hot (long runs, big
// inventories) and took kadeploy's CPU for a 100-host no-op from ~1.0 s to ~0.87 s (bench/README.md,
// "Issue 15: kadeploy's CPU per host"). It changes when code is optimised, never what it does.
// Set once at start-up by src/cli/start.ts, before the code cache is read (V8 checks a cache against
// the flags it was made with).
import v8 from 'node:v8';

const BUDGET = 16 * 67_584; // V8 11's default budget, times 16

let done = false;

/** Raise V8's optimisation budget for the rest of the process (once). */
export function optimiseOnlyHotCode(): void {
  if (done) return;
  done = true;
  v8.setFlagsFromString(`--interrupt-budget=${BUDGET}`);
}
