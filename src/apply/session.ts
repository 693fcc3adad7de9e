// Everything before a change: load the inventory and playbook, connect to every node, read facts,
// build the plan. Fails before touching anything when any node cannot be reached or trusted.
import { ConnectError, KadeployError, formatIssue, type Issue } from '../errors.js';
import { gatherFacts, type HostFacts } from '../facts/index.js';
import { loadInventory } from '../inventory/load.js';
import type { Cluster, NodeSpec } from '../inventory/model.js';
import { buildPlan } from '../plan/build.js';
import { desiredFor } from '../plan/desired.js';
import type { Desired, Plan } from '../plan/types.js';
import { loadPlaybook } from '../playbook/playbook.js';
import { createRenderer } from '../render/render.js';
import { acquireLocks } from './lock.js';
import type { SshConnection } from '../ssh/connection.js';
import { mapLimit, SshPool } from '../ssh/pool.js';
import { targetFromSettings } from '../ssh/target.js';

export interface SessionOptions {
  inventory: string;
  playbook?: string;
  /** Only these nodes are changed (all are still read, to know who holds the VIP). */
  limit?: string[];
  forks?: number;
  acceptNewHostKeys?: boolean;
  /** Go on without nodes that cannot be reached (they are left out of the plan, with a warning). */
  skipUnreachable?: boolean;
  /** Take the per-node lock (apply, rollback) so two runs never interleave; dry-runs do not. */
  lock?: boolean;
  /** Recorded in the lock for whoever finds it held. */
  command?: string;
}

export interface Session {
  cluster: Cluster;
  warnings: Issue[];
  pool: SshPool;
  conns: Map<string, SshConnection>;
  desired: Map<string, Desired[]>;
  facts: Map<string, HostFacts>;
  plan: Plan;
  /** Nodes the plan may change (after --limit and --skip-unreachable). */
  targets: NodeSpec[];
  /** Unreachable nodes left out with --skip-unreachable, with the reason. */
  skipped: string[];
  /** Release the locks and close every connection. */
  close(): Promise<void>;
}

export async function openSession(opts: SessionOptions): Promise<Session> {
  const { cluster, warnings } = loadInventory(opts.inventory);
  const playbook = loadPlaybook(opts.playbook);
  const unknown = (opts.limit ?? []).filter((n) => !cluster.nodes.some((s) => s.name === n));
  if (unknown.length) {
    throw new KadeployError(`no node named ${unknown.join(', ')} in ${opts.inventory} (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`);
  }
  const targets = opts.limit?.length ? cluster.nodes.filter((n) => opts.limit!.includes(n.name)) : cluster.nodes;

  // Render everything before connecting: a template error must not cost a connection, or a change.
  const renderer = createRenderer(cluster);
  const desired = new Map(cluster.nodes.map((n) => [n.name, desiredFor(playbook, cluster, renderer, n)]));

  const forks = opts.forks ?? cluster.forks;
  const pool = new SshPool({ forks });
  const conns = new Map<string, SshConnection>();
  const failures: Array<{ node: string; message: string }> = [];
  await mapLimit(cluster.nodes, forks, async (node) => {
    const ssh = opts.acceptNewHostKeys ? { ...node.ssh, hostKeyPolicy: 'accept-new' as const } : node.ssh;
    try {
      conns.set(node.name, await pool.get(targetFromSettings(node.name, ssh)));
    } catch (e) {
      const message = e instanceof ConnectError ? e.message : `${node.name}: ${(e as Error).message}`;
      failures.push({ node: node.name, message });
    }
  });
  failures.sort((a, b) => a.node.localeCompare(b.node));
  if (failures.length && (!opts.skipUnreachable || failures.length === cluster.nodes.length)) {
    await pool.closeAll();
    throw new ConnectError(
      failures.map((f) => f.node).join(', '),
      `cannot connect; nothing was changed on any node:\n  ${failures.map((f) => f.message).join('\n  ')}` +
        (opts.skipUnreachable ? '' : '\n(--skip-unreachable goes on without unreachable nodes)'),
    );
  }
  const reachable = cluster.nodes.filter((n) => conns.has(n.name));
  const planned = targets.filter((n) => conns.has(n.name));
  let release = async (): Promise<void> => {};
  const close = async () => {
    await release();
    await pool.closeAll();
  };
  if (opts.lock) {
    const lockConns = new Map(planned.map((n) => [n.name, conns.get(n.name)!]));
    try {
      release = await acquireLocks(lockConns, {
        command: opts.command,
        onWait: (node, holder) => process.stderr.write(`${node}: waiting for the lock held by ${holder}\n`),
        onTakeOver: (node, holder) => process.stderr.write(`${node}: took over a stale lock of ${holder}\n`),
        onLost: (node) => process.stderr.write(`${node}: warning: this run's lock was taken over by another run (no sign of life reached the node)\n`),
      });
    } catch (e) {
      await pool.closeAll();
      throw e;
    }
  }

  const facts = new Map<string, HostFacts>();
  try {
    await mapLimit(reachable, forks, async (node) => {
      facts.set(node.name, await gatherFacts(conns.get(node.name)!, desired.get(node.name)!));
    });
  } catch (e) {
    await close();
    throw e;
  }
  const plan = buildPlan(planned.map((spec) => ({ spec, desired: desired.get(spec.name)!, facts: facts.get(spec.name)! })), cluster.secrets);
  const skipped = failures.map((f) => f.message);
  return { cluster, warnings, pool, conns, desired, facts, plan, targets: planned, skipped, close };
}

export const printWarnings = (warnings: Issue[]): void => {
  for (const w of warnings) process.stderr.write(`${formatIssue(w)}\n`);
};
