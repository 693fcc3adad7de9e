// Task kind `file` (what `template` and `managed_files` want): a file with its content, mode and owner
// root. Planned as commands: upload to a temp file beside it (private until its mode is set), validate
// it there (keepalived -t), keep the old file as PATH.kadeploy-bak.<run>, rename into place (readers
// see the old file or the new one), prune old backups. The undo puts the backup back (ops/rollback.ts).
import { createHash, randomBytes } from 'node:crypto';
import { tempPrefix } from '../facts/files.js';
import { keepalivedVersionOf } from '../facts/index.js';
import { runsOlderFile, runsOlderMessage } from '../facts/loaded.js';
import { atLeast, CONFIG_TEST_EXIT_STATUS_SINCE, CONFIG_TEST_SINCE, refusalMessage, unsupportedDirectives } from '../render/keepalived-versions.js';
import { pruneStep, RUN_BACKUP_SUFFIX } from '../ops/backups.js';
import { sameConfigText } from '../import/compare.js';
import { maskedDiff } from '../mask.js';
import { runStep } from '../ops/steps.js';
import type { Runner } from '../shell/runner.js';
import { sh } from '../shell/quote.js';
import type { Desired, Step } from '../types.js';
import { noop, type PlanContext, type TaskKind } from './kind.js';

type Want = Extract<Desired, { kind: 'file' }>;

const normMode = (mode: string) => mode.padStart(4, '0');
export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The commands that put `w` in place; `exists`: there is a file to keep as backup. */
export function fileSteps(w: Want, exists: boolean, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>, keepalived?: string): Step[] {
  const tmp = `${tempPrefix(w.path)}${ctx.runId}.tmp`;
  const backup = w.path + ctx.backupSuffix;
  const cleanup = `{ ${sh('rm', '-f', tmp)}; exit 1; }`;
  const steps: Step[] = [
    {
      title: `upload ${w.path}`,
      // umask 077: the content may hold secrets and stays private until its final mode is set.
      command: `{ umask 077 && cat > ${sh(tmp)} && ${sh('chown', 'root:root', tmp)} && ${sh('chmod', normMode(w.mode), tmp)}; } || ${cleanup}`,
      stdin: { sha256: sha256(w.content), content: w.content },
    },
  ];
  if (w.validate === 'keepalived' && atLeast(keepalived, CONFIG_TEST_SINCE)) {
    const test = sh('keepalived', '-t', '-f', tmp);
    // Before 2.2 the exit status misses errors it prints (keepalived-versions.ts): any output fails.
    const command = atLeast(keepalived, CONFIG_TEST_EXIT_STATUS_SINCE)
      ? `${test} || ${cleanup}`
      : `{ out=$(${test} 2>&1) && [ -z "$out" ]; } || { printf '%s\n' "$out" >&2; ${cleanup.slice(2)}`;
    steps.push({ title: `validate ${w.path}`, command, failure: { message: `${w.path} fails keepalived -t`, show: 'output' } });
  }
  steps.push(
    exists
      ? { title: `replace ${w.path}`, command: `${sh('cp', '-p', w.path, backup)} && ${sh('mv', '-f', tmp, w.path)}`, undo: { path: w.path, backup } }
      : { title: `create ${w.path}`, command: sh('mv', '-f', tmp, w.path), undo: { path: w.path } },
  );
  if (exists) steps.push(pruneStep(w.path));
  return steps;
}

/**
 * Leftover temp files of `path` (an upload or a rollback cut short: kadeploy killed, connection
 * lost) may hold secrets: removed before anything else. Listed by name; their content is never read.
 */
function cleanupStep(path: string, temps: readonly string[]): Step[] {
  return temps.length ? [{ title: `remove ${temps.length} leftover temp file(s) of ${path}`, command: sh('rm', '-f', '--', ...temps) }] : [];
}

export const fileKind: TaskKind<never, Want> = {
  key: 'file',
  needs: (w) => ({ files: [w.path], ...(w.notify ? { units: [w.notify] } : {}) }),
  plan(w, facts, ctx) {
    const keepalived = w.validate === 'keepalived' ? keepalivedVersionOf(facts) : undefined;
    const unknown = keepalived ? unsupportedDirectives(w.content, keepalived) : [];
    if (unknown.length) {
      const summary = `${w.path}: keepalived ${keepalived} lacks ${unknown.map((u) => u.directive).join(', ')}`;
      return { task: w.task, kind: 'file', actions: ['check'], summary, desired: w, steps: [], blocker: refusalMessage(ctx.node ?? 'this node', keepalived!, w.path, unknown) };
    }
    const remote = facts.files[w.path];
    const temps = facts.temps?.[w.path] ?? [];
    const cleanup = cleanupStep(w.path, temps);
    const leftovers = temps.length ? `; remove ${temps.length} leftover temp file(s) of an interrupted run` : '';
    if (remote && remote.content === w.content && normMode(remote.mode) === normMode(w.mode) && remote.owner === 'root') {
      // Written but never loaded (a run killed between the rename and the reload, a hand edit): reload.
      const older = w.notify !== undefined && runsOlderFile(facts, w.notify, w.path);
      if (older) ctx.notified.set(w.notify!, `${w.path} changed on disk since ${w.notify} last loaded it`);
      const summary = `${w.path} up to date${older ? `, but ${runsOlderMessage(w.notify!)}` : ''}`;
      if (!cleanup.length) return noop(w, summary);
      return { task: w.task, kind: 'file', actions: ['remove'], summary: `${summary}${leftovers}`, desired: w, steps: cleanup };
    }
    if (w.notify) ctx.notified.set(w.notify, '');
    const action = remote ? 'update' : 'create';
    const modeNote = remote && normMode(remote.mode) !== normMode(w.mode) ? `, mode ${normMode(remote.mode)} → ${normMode(w.mode)}` : '';
    // Adopting a hand-written keepalived.conf: say when the new text only reformats what runs now.
    const formatting = remote && w.validate === 'keepalived' && remote.content !== w.content && sameConfigText(remote.content, w.content) ? ', formatting only' : '';
    // Masked by position: neither the inventory's secrets nor the node's current ones are ever shown.
    const diff = maskedDiff(w.path, remote?.content ?? '', w.content, ctx.secrets);
    return {
      task: w.task,
      kind: 'file',
      actions: [action],
      summary: `${w.path} (${action}${formatting}${modeNote})${leftovers}`,
      diff,
      desired: w,
      steps: [...cleanup, ...fileSteps(w, remote != null, ctx, keepalived)],
    };
  },
};

/**
 * Write one file now, with the planned steps (the executor does the same inside a plan). Returns
 * the backup of the replaced file, undefined when the file is new.
 */
export async function writeDesiredFile(conn: Runner & { target: { name: string } }, w: Want): Promise<string | undefined> {
  const exists = (await conn.exec(`test -e ${sh(w.path)}`, { check: false })).code === 0;
  const steps = fileSteps(w, exists, { backupSuffix: RUN_BACKUP_SUFFIX, runId: randomBytes(4).toString('hex') });
  for (const step of steps) await runStep(conn.target.name, conn, step);
  return steps.find((s) => s.undo)?.undo?.backup;
}
