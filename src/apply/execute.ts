// Carry out a plan, exactly as it says: its phases in order, each node's steps in order. The
// executor decides nothing: when a step fails (or the run is interrupted) in a phase that allows it,
// the node's steps run so far are undone by the one rollback (ops/rollback.ts restoreNode, the one
// `kadeploy rollback` uses: validated, atomic, health-checked), and the run stops before the next node.
import type { ListrTask } from 'listr2';
import { ApplyError, ApplyInterrupted, ConnectError, KadeployError } from '../errors.js';
import { maskSecrets } from '../mask.js';
import { BACKUP_MARK, type Backup } from '../ops/backups.js';
import { describeUnitAction, restoreNode } from '../ops/rollback.js';
import { runStep } from '../ops/steps.js';
import type { NodePlan, NodeRollback, Phase, Plan, Step } from '../types.js';
import type { Runner } from '../shell/runner.js';
import { describePlacement, judgeVipCheck, waitForVipCheck } from './vip.js';
import type { AddressesFact } from '../facts/addresses.js';
import { timed, type Timings } from '../timings.js';

export interface NodeRecap {
  node: string;
  ok: number;
  changed: number;
  failed: number;
  /** What was put back after a failure, and why. */
  rolledBack?: string;
}

export interface ExecuteOptions {
  /** A connection per node: the plan's nodes, and every node read for the VIP check. */
  conns: Map<string, Runner>;
  /** Masked out of every message. */
  secrets: readonly string[];
  /** Nodes at once in a parallel phase. */
  forks: number;
  /** listr2 renderer: 'default' on a terminal, 'simple' plain lines otherwise, 'silent' for --json. */
  renderer: 'default' | 'simple' | 'silent';
  /** Aborted on Ctrl-C, SIGTERM or SIGHUP: checked between steps; the node being changed is rolled back. */
  signal?: AbortSignal;
  /** The addresses read with the facts: with nothing changed, the VIP check needs no second read. */
  addresses?: Array<{ node: string; addrs: AddressesFact }>;
  /** --timings: each step and the VIP check are recorded here. */
  timings?: Timings;
  /** Each step a node starts and each output line it prints (a fleet's own progress; listr2 shows them otherwise). */
  onProgress?: (node: string, text: string, kind: 'step' | 'line') => void;
}

const withNode = (node: string, message: string) => (message.startsWith(`${node}: `) ? message : `${node}: ${message}`);
const firstLine = (message: string) => message.split('\n')[0]!;

/** Undo the steps of one node that ran (those with an undo): the one rollback. Returns what it did. */
export async function rollbackNode(node: string, conn: Runner, done: readonly Step[], how: NodeRollback): Promise<string | undefined> {
  const undos = done.flatMap((s) => (s.undo ? [s.undo] : []));
  if (!undos.length) return undefined;
  const backups: Backup[] = undos.flatMap((u) => (u.backup ? [{ of: u.path, path: u.backup, stamp: u.backup.slice(u.path.length + BACKUP_MARK.length) }] : []));
  const created = undos.flatMap((u) => (u.backup ? [] : [u.path]));
  try {
    const r = await restoreNode(node, conn, backups, { configPath: how.configPath, unit: how.unit, created, expectActive: how.unitWasActive });
    const files = [...r.restored.map((b) => `${b.of} restored`), ...r.removed.map((p) => `${p} removed`)].join(', ');
    return `${files}, ${describeUnitAction(how.unit, r)}`;
  } catch (e) {
    return `ROLLBACK FAILED: ${(e as Error).message}`;
  }
}

/** The recap is returned even when a step failed: the user needs to know what was done and undone. */
export async function executePlan(plan: Plan, opts: ExecuteOptions): Promise<{ recaps: NodeRecap[]; error?: KadeployError }> {
  const recaps = new Map<string, NodeRecap>(plan.nodes.map((n) => [n.node, { node: n.node, ok: 0, changed: 0, failed: 0 }]));
  const byName = new Map<string, NodePlan>(plan.nodes.map((n) => [n.node, n]));
  const mask = (text: string) => maskSecrets(text, opts.secrets);
  const aborted = () => opts.signal?.aborted === true;

  /** `progress`: the current step, then each output line it prints (a lock wait, apt's progress). */
  const runNode = async (phase: Phase, entry: Phase['nodes'][number], progress?: (text: string) => void) => {
    const { node, steps } = entry;
    const recap = recaps.get(node)!;
    const conn = opts.conns.get(node)!;
    const done: Step[] = [];
    try {
      for (const step of steps) {
        if (aborted()) {
          const rolled = phase.rollback ? await rollbackNode(node, conn, done, byName.get(node)!.rollback) : undefined;
          if (rolled) recap.rolledBack = mask(`${rolled} (interrupted)`);
          throw new ApplyInterrupted(
            done.length
              ? `interrupted while changing ${node}${rolled ? `; ${node} rolled back: ${rolled}` : ''}; no further node was touched`
              : 'interrupted: no further step was started',
          );
        }
        progress?.(step.title);
        opts.onProgress?.(node, step.title, 'step');
        const onLine = (progress || opts.onProgress) && ((line: string) => {
          const text = mask(`${step.title}: ${line}`);
          progress?.(text);
          opts.onProgress?.(node, text, 'line');
        });
        await timed(opts.timings, `${node}: ${step.title}`, () => runStep(node, conn, step, onLine));
        done.push(step);
      }
      recap.changed += entry.changes;
      recap.ok += entry.ok;
    } catch (e) {
      if (e instanceof ApplyInterrupted) throw new ApplyInterrupted(mask(e.message));
      recap.failed++;
      const why = withNode(node, (e as Error).message);
      // Any failure mid-node (a step, a lost connection, a timeout) puts the node back before stopping.
      const rolled = phase.rollback ? await rollbackNode(node, conn, done, byName.get(node)!.rollback) : undefined;
      if (rolled) recap.rolledBack = mask(`${rolled} (${firstLine(why).slice(node.length + 2)})`);
      // A connection lost mid-node: most often the node is rebooting or shutting down.
      const lost = e instanceof ConnectError ? `\n${node} may be rebooting or shutting down: once it is up again, run again (the next run converges; it waits for a node still booting)` : '';
      throw new ApplyError(mask(`${why}${rolled ? `; rolled back: ${rolled}` : ''}${lost}`));
    }
  };

  const tasks: ListrTask[] = [];
  let changing = false;
  for (const phase of plan.phases) {
    const active = phase.nodes.filter((n) => n.steps.length);
    for (const idle of phase.nodes.filter((n) => !n.steps.length)) {
      const r = recaps.get(idle.node)!;
      r.ok += idle.ok;
      r.changed += idle.changes;
    }
    if (!active.length) continue;
    changing = true;
    tasks.push({
      title: phase.title,
      task: (_, t) =>
        phase.parallel
          ? t.newListr(
              active.map((entry) => ({ title: `${entry.node}: ${entry.steps.map((s) => s.title).join('; ')}`, task: (_c, sub) => runNode(phase, entry, (text) => (sub.output = text)) })),
              { concurrent: opts.forks, exitOnError: true },
            )
          : t.newListr(
              active.map((entry) => ({
                title: entry.node,
                task: (_c, sub) => runNode(phase, entry, (text) => (sub.output = text)),
              })),
              { concurrent: false, exitOnError: true },
            ),
    });
  }
  const check = plan.vipCheck;
  if (check) {
    tasks.push({
      title: 'Check VIP placement with ip a on every node',
      task: async (_, t) => {
        if (aborted()) throw new ApplyInterrupted('interrupted: no further step was started');
        // Nothing changed and the facts show every VIP in place: no second read.
        const known = !changing && check.satisfied && opts.addresses ? judgeVipCheck(check, opts.addresses) : undefined;
        const { ok, placements } = await timed(opts.timings, 'VIP check', () => (known?.ok ? known : waitForVipCheck(check, opts.conns)));
        t.title = `VIP check: ${placements.map(describePlacement).join('; ')}`;
        if (!ok) throw new ApplyError(`VIP placement wrong after ${check.timeoutS}s: ${placements.map(describePlacement).join('; ')}`);
      },
    });
  }

  try {
    // Loaded here, not at start-up: dry-run, verify and status never pay for listr2.
    const { Listr } = await import('listr2');
    await new Listr(tasks, {
      concurrent: false,
      exitOnError: true,
      renderer: opts.renderer,
      fallbackRenderer: 'simple',
      rendererOptions: { collapseSubtasks: false },
      // listr2 would exit(127) on Ctrl-C; we roll back the node being changed instead.
      registerSignalListeners: false,
    }).run();
    return { recaps: [...recaps.values()] };
  } catch (e) {
    const error = e instanceof KadeployError ? e : new ApplyError(mask(String((e as Error).message ?? e)));
    return { recaps: [...recaps.values()], error };
  }
}

export function formatRecap(recaps: NodeRecap[]): string {
  const width = Math.max(...recaps.map((r) => r.node.length));
  const lines = recaps.map(
    (r) =>
      `${r.node.padEnd(width)}  ok=${r.ok} changed=${r.changed} failed=${r.failed}${r.rolledBack ? `  rolled back: ${r.rolledBack}` : ''}`,
  );
  return `RECAP\n${lines.join('\n')}\n`;
}
