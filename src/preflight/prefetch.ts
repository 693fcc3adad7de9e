// While preflight listens (a few seconds of waiting on every node), a first deploy refreshes apt's
// package lists when they are stale and downloads the packages the plan installs into apt's cache,
// installing nothing: the plan's install step then finds fresh lists and the .debs already there.
// Nothing a node runs changes (no package installed, no config, no service): only apt's lists and
// its download cache, as `apt-get update` and `apt-get install --download-only` leave them.
import type { HostFacts } from '../facts/index.js';
import type { Cluster } from '../inventory/model.js';
import { installCommand, lockWaitS } from '../ops/package.js';
import type { SshConnection } from '../ssh/connection.js';
import { mapLimit } from '../ssh/pool.js';
import { isChange, type Plan } from '../types.js';

export interface Prefetch {
  node: string;
  names: string[];
  command: string;
  /** Its wait for apt's locks (seconds): added to command_timeout, as for the install step. */
  lockWaitS: number;
}

/** Per node of these clusters, the packages the plan installs and the download-only command for them. */
export function prefetchPlan(clusters: Cluster[], plan: Plan, facts: Map<string, HostFacts>): Prefetch[] {
  const clusterOf = new Map(clusters.flatMap((c) => c.nodes.map((n) => [n.name, c] as const)));
  return plan.nodes.flatMap((p): Prefetch[] => {
    const cluster = clusterOf.get(p.node);
    const os = facts.get(p.node)?.os;
    if (!cluster || !os || (os.family !== 'debian' && os.family !== 'redhat')) return [];
    const wants = p.changes.flatMap((c) => (c.desired.kind === 'package' && isChange(c) ? [c.desired] : []));
    const names = [...new Set(wants.flatMap((w) => w.names))];
    if (!names.length) return [];
    // The stricter freshness of the node's package tasks (0: refresh always), as its install will judge.
    const valid = wants.map((w) => w.cacheValidS).filter((v): v is number => v !== undefined);
    const command = installCommand(os, names, {
      aptProxy: cluster.aptProxy, lockTimeoutS: cluster.packageLockTimeoutS, downloadOnly: true,
      ...(valid.length ? { cacheValidS: Math.min(...valid) } : {}),
    });
    return [{ node: p.node, names, command, lockWaitS: lockWaitS(cluster.packageLockTimeoutS) }];
  });
}

/**
 * Run the downloads, `forks` nodes at once. A failure is no error: the install step refreshes and
 * downloads again itself (and reports its own failure); it is said in a progress line.
 */
export async function prefetch(
  items: Prefetch[],
  opts: { conns: Map<string, SshConnection>; forks: number; progress: (line: string) => void; time: (name: string, fn: () => Promise<void>) => Promise<void> },
): Promise<void> {
  const { conns, progress, time } = opts;
  await mapLimit(items, opts.forks, async (it) => {
    const conn = conns.get(it.node);
    if (!conn) return;
    await time(`${it.node}: download ${it.names.join(', ')} (during preflight)`, async () => {
      const r = await conn.exec(it.command, { check: false, extraTimeoutMs: it.lockWaitS * 1000 });
      if (r.code !== 0) progress(`${it.node}: downloading ${it.names.join(', ')} failed (the install will try again): ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`);
    });
  });
}
