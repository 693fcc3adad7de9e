// Run one planned step on a node. A failure is a StepError carrying what the user needs: the step's
// own message (with the command's last output lines or its exit code), or "command failed" with the
// command. Content referenced by hash must be at hand and hash the same (a saved plan re-renders it).
import { createHash } from 'node:crypto';
import { CommandError, PlanError, StepError } from '../errors.js';
import type { Step } from '../types.js';
import type { Runner } from '../shell/runner.js';

const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' | ');

/** `onLine`: the command's output lines as they come (the progress line shows them). */
export async function runStep(node: string, runner: Runner, step: Step, onLine?: (line: string) => void): Promise<void> {
  let stdin: string | undefined;
  if (step.stdin) {
    stdin = step.stdin.content;
    if (stdin === undefined || createHash('sha256').update(stdin).digest('hex') !== step.stdin.sha256) {
      throw new PlanError(`${node}: ${step.title}: the content to write is not the one planned (sha256 ${step.stdin.sha256.slice(0, 12)}…)`);
    }
  }
  const r = await runner.exec(step.command, {
    check: false,
    ...(stdin !== undefined ? { stdin } : {}),
    ...(onLine ? { onLine } : {}),
    ...(step.lockWaitS ? { extraTimeoutMs: step.lockWaitS * 1000 } : {}),
  });
  if (r.code === 0 || step.optional) return;
  if (!step.failure) throw new CommandError(node, step.command, r.code, r.stdout, r.stderr);
  const detail = step.failure.show === 'exit' ? ` (exit ${r.code})` : `: ${lastLines(`${r.stdout}${r.stderr}`)}`;
  throw new StepError(node, `${step.failure.message}${detail}`);
}
