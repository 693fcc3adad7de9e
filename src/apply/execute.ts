// Carry out a plan. Order (design.md, kolla-ansible): packages on every node in parallel (harmless to
// the VIP), then each node's config and service one node at a time, VIP holders last, each checked
// before the next; a node whose keepalived fails after a change is put back to its previous config.
import type { ListrTask } from 'listr2';
import { KadeployError } from '../errors.js';
import { maskSecrets } from '../mask.js';
import { restoreCommand, writeDesiredFile } from '../ops/file.js';
import { installCommand } from '../ops/package.js';
import { activeCheckCommand, serviceCommand } from '../ops/service.js';
import { isChange, type Change, type NodePlan } from '../plan/types.js';
import { sh } from '../shell/quote.js';
import type { SshConnection } from '../ssh/connection.js';
import type { Session } from './session.js';
import { describePlacement, placementFrom, placementOk, waitForPlacement } from './vip.js';

export interface NodeRecap {
  node: string;
  ok: number;
  changed: number;
  failed: number;
  /** What was put back after a failure, and why. */
  rolledBack?: string;
}

export class ApplyError extends KadeployError {}

/** Ctrl-C: the current node was put back, no further node was touched. */
export class ApplyInterrupted extends KadeployError {
  override readonly exitCode = 130;
}

export interface ExecuteOptions {
  /** listr2 renderer: 'default' on a terminal, 'simple' plain lines otherwise, 'silent' for --json. */
  renderer: 'default' | 'simple' | 'silent';
  /** Aborted on Ctrl-C: checked between steps; the node being changed is rolled back. */
  signal?: AbortSignal;
}

/** The recap is returned even when a step failed: the user needs to know what was done and undone. */
export async function executePlan(session: Session, opts: ExecuteOptions): Promise<{ recaps: NodeRecap[]; error?: KadeployError }> {
  const { plan, conns, facts, cluster } = session;
  const recaps = new Map<string, NodeRecap>(plan.nodes.map((n) => [n.node, { node: n.node, ok: 0, changed: 0, failed: 0 }]));
  const mask = (text: string) => maskSecrets(text, cluster.secrets);
  const count = (node: string, c: Change) => {
    const r = recaps.get(node)!;
    if (isChange(c)) r.changed++;
    else r.ok++;
  };
  const fail = (node: string, e: unknown): never => {
    if (e instanceof ApplyInterrupted) throw e;
    recaps.get(node)!.failed++;
    throw new ApplyError(mask(`${node}: ${(e as Error).message}`));
  };
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new ApplyInterrupted('interrupted: no further step was started');
  };

  const installs = plan.nodes.flatMap((n) => n.changes.filter((c) => c.kind === 'package' && isChange(c)).map((c) => ({ n, c })));
  const tasks: Array<ListrTask> = [];
  if (installs.length) {
    tasks.push({
      title: `Install packages on ${installs.length} node(s) in parallel`,
      task: (_, t) =>
        t.newListr(
          installs.map(({ n, c }) => ({
            title: `${n.node}: ${c.summary}`,
            task: async () => {
              checkAbort();
              const d = c.desired as Extract<Change['desired'], { kind: 'package' }>;
              try {
                await conns.get(n.node)!.exec(installCommand(facts.get(n.node)!.os, d.names, cluster.aptProxy));
                count(n.node, c);
              } catch (e) {
                fail(n.node, e);
              }
            },
          })),
          { concurrent: cluster.forks, exitOnError: true },
        ),
    });
  }
  for (const n of plan.nodes) {
    const steps = n.changes.filter((c) => c.kind !== 'assert_vip');
    steps.filter((c) => !isChange(c) && c.kind !== 'assert').forEach((c) => count(n.node, c));
    const changes = steps.filter((c) => isChange(c) && c.kind !== 'package'); // packages ran above
    if (!changes.length) continue;
    // Post-change checks follow the changes, so a failing one can still roll the node back.
    const todo = [...changes, ...steps.filter((c) => c.kind === 'assert')];
    tasks.push({
      title: `Configure ${n.node}${n.holds.length ? ` (holds ${n.holds.join(', ')}: last)` : ''}`,
      task: (_, t) => t.newListr(nodeTasks(n, todo, conns.get(n.node)!, recaps.get(n.node)!, { mask, count, fail, signal: opts.signal }), { concurrent: false, exitOnError: true }),
    });
  }
  // Nothing to change: the addresses read with this run's facts are the placement (no second read).
  const nothingChanged = tasks.length === 0;
  const vipCheck = session.desired.get(session.targets[0]?.name ?? '')?.find((d) => d.kind === 'assert_vip');
  if (vipCheck && vipCheck.kind === 'assert_vip') {
    tasks.push({
      title: 'Check VIP placement with ip a on every node',
      task: async (_, t) => {
        checkAbort();
        const reachable = cluster.nodes.filter((n) => conns.has(n.name));
        const known = nothingChanged
          ? placementFrom(reachable, cluster.vrrpScripts, reachable.map((n) => ({ node: n.name, addrs: facts.get(n.name)!.addresses })))
          : undefined;
        const { ok, placements } = known?.every(placementOk)
          ? { ok: true, placements: known }
          : await waitForPlacement(reachable, cluster.vrrpScripts, conns, vipCheck.timeoutS);
        t.title = `VIP check: ${placements.map(describePlacement).join('; ')}`;
        if (!ok) throw new ApplyError(`VIP placement wrong after ${vipCheck.timeoutS}s: ${placements.map(describePlacement).join('; ')}`);
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

interface NodeContext {
  mask: (s: string) => string;
  count: (node: string, c: Change) => void;
  fail: (node: string, e: unknown) => never;
  signal?: AbortSignal;
}

function nodeTasks(n: NodePlan, todo: Change[], conn: SshConnection, recap: NodeRecap, ctx: NodeContext): ListrTask[] {
  const backups = new Map<string, string | undefined>(); // path → backup (undefined: file was new)
  const units = [...new Set(todo.flatMap((c) => (c.desired.kind === 'service' ? [c.desired.name] : [])))];
  // Put the node back as it was: previous files, then keepalived reloaded on them (restart only when
  // reload fails, since a restart moves the VIP).
  const rollback = async (why: string) => {
    if (!backups.size) return;
    for (const [path, backup] of backups) await conn.exec(restoreCommand(path, backup), { check: false });
    for (const unit of units) {
      await conn.exec(`${sh('systemctl', 'reload', unit)} || ${sh('systemctl', 'restart', unit)}`, { check: false });
    }
    recap.rolledBack = `${[...backups.keys()].join(', ')} restored${units.length ? `, ${units.join(', ')} reloaded` : ''} (${why})`;
  };
  return todo.map((c) => ({
    title: c.summary,
    task: async () => {
      const d = c.desired;
      try {
        if (ctx.signal?.aborted) {
          await rollback('interrupted');
          throw new ApplyInterrupted(`interrupted while changing ${n.node}${recap.rolledBack ? `; ${n.node} rolled back: ${recap.rolledBack}` : ''}; no further node was touched`);
        }
        if (d.kind === 'file') backups.set(d.path, await writeDesiredFile(conn, d));
        else if (d.kind === 'command') await conn.exec(`sh -c ${sh(d.run)}`);
        else if (d.kind === 'assert') {
          const r = await conn.exec(`sh -c ${sh(d.run)}`, { check: false });
          if (r.code !== 0) {
            const why = `check failed: ${d.message ?? d.run} (exit ${r.code})`;
            await rollback(why);
            throw new ApplyError(ctx.mask(`${why}${recap.rolledBack ? `; rolled back: ${recap.rolledBack}` : ''}`));
          }
        }
        else if (d.kind === 'service') {
          for (const action of c.actions) {
            const r = await conn.exec(serviceCommand(action, d.name), { check: false });
            if (action === 'enable' && r.code === 0) continue;
            const health = r.code === 0 ? await conn.exec(activeCheckCommand(d.name), { check: false }) : r;
            if (health.code !== 0) {
              const why = `${d.name} ${action} failed: ${`${health.stdout}${health.stderr}`.trim().split('\n').join(' | ')}`;
              await rollback(why);
              throw new ApplyError(ctx.mask(`${why}${recap.rolledBack ? `; rolled back: ${recap.rolledBack}` : ''}`));
            }
          }
        }
        ctx.count(n.node, c);
      } catch (e) {
        // Any failure mid-node (lost connection, timeout…) tries to put the node back before stopping.
        if (!(e instanceof ApplyInterrupted) && !recap.rolledBack) await rollback((e as Error).message.split('\n')[0]!).catch(() => undefined);
        ctx.fail(n.node, e);
      }
    },
  }));
}

export function formatRecap(recaps: NodeRecap[]): string {
  const width = Math.max(...recaps.map((r) => r.node.length));
  const lines = recaps.map(
    (r) =>
      `${r.node.padEnd(width)}  ok=${r.ok} changed=${r.changed} failed=${r.failed}${r.rolledBack ? `  rolled back: ${r.rolledBack}` : ''}`,
  );
  return `RECAP\n${lines.join('\n')}\n`;
}
