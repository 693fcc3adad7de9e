// apply runs preflight before the first deploy of a cluster, and refuses before any change when it fails.
// Meanwhile each node downloads the packages the plan installs (prefetch.ts): the lists refresh and
// the downloads take place during preflight's listening instead of after it.
import { KadeployError } from '../errors.js';
import type { HostFacts } from '../facts/index.js';
import { DEFAULTS } from '../inventory/defaults.js';
import type { Cluster } from '../inventory/model.js';
import type { SshConnection } from '../ssh/connection.js';
import { pendingChanges, type Plan } from '../types.js';
import { formatPreflight } from './format.js';
import { clusterName } from './judge.js';
import { DEFAULT_LISTEN_S, runPreflight } from './run.js';
import { prefetch, prefetchPlan } from './prefetch.js';
import { timed, type Timings } from '../timings.js';

/**
 * The playbook deploys keepalived.conf (its facts read it) and no node of the cluster has one written
 * by kadeploy yet (its header says so).
 */
export function isFirstDeploy(cluster: Cluster, facts: Map<string, HostFacts>): boolean {
  const path = DEFAULTS.keepalived.config_path;
  const files = cluster.nodes.map((n) => facts.get(n.name)?.files ?? {});
  return files.every((f) => path in f) && !files.some((f) => f[path]?.content.includes('Managed by kadeploy'));
}

/** Preflight the clusters deployed for the first time (the report on stderr); throws when a check fails. */
export async function preflightFirstDeploys(
  clusters: Cluster[],
  session: { facts: Map<string, HostFacts>; conns: Map<string, SshConnection>; plan: Plan; timings?: Timings },
  forks: number,
): Promise<void> {
  const first = clusters.filter((c) => isFirstDeploy(c, session.facts));
  if (!first.length || pendingChanges(session.plan) === 0) return;
  const progress = (line: string) => process.stderr.write(`preflight: ${line}\n`);
  progress(`first deploy of ${first.map(clusterName).join(', ')}: checking the network first (--skip-preflight skips this)`);
  const downloads = prefetchPlan(first, session.plan, session.facts);
  for (const d of downloads) progress(`${d.node}: downloading ${d.names.join(', ')} meanwhile (installed only if preflight passes)`);
  const time = (name: string, fn: () => Promise<void>) => timed(session.timings, name, fn);
  const [report] = await Promise.all([
    timed(session.timings, 'preflight', () => runPreflight(first, session.conns, { listenSeconds: DEFAULT_LISTEN_S, install: true, forks, progress })),
    prefetch(downloads, { conns: session.conns, forks, progress, time }),
  ]);
  process.stderr.write(formatPreflight(report));
  // With `firewall: manage` apply opens the nodes' nftables to VRRP itself, before any config change.
  const manages = (name: string) => first.find((c) => clusterName(c) === name)?.firewall === 'manage';
  const blocking = report.checks.filter((c) => c.status === 'fail' && !(c.check === 'vrrp-crossing' && manages(c.cluster)));
  if (blocking.length) {
    throw new KadeployError(`preflight failed before a first deploy (${blocking.length} check(s) above); no package was installed and no configuration or service changed on any node (apt's lists may be refreshed and packages downloaded). --skip-preflight deploys anyway.`);
  }
}
