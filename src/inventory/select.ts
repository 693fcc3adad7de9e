// --limit: the clusters and nodes a command works on, by name or shell-style glob (`*`, `?`), comma
// separated (`edge-*,lb3`). A cluster name selects all its nodes. Every pattern must select something:
// a typo never silently narrows a run to nothing.
import { KadeployError } from '../errors.js';
import { matchPattern } from '../ssh/pattern.js';
import type { Cluster, Fleet, NodeSpec } from './model.js';

/** One cluster and the nodes of it selected (the others are still read, e.g. to know the VIP holder). */
export interface Selected {
  cluster: Cluster;
  targets: NodeSpec[];
}

const matches = (name: string, pattern: string) => matchPattern(name, pattern, false);

/** The clusters with at least one selected node; every cluster, whole, without a limit. */
export function selectFleet(fleet: Fleet, limit: readonly string[] | undefined): Selected[] {
  if (!limit?.length) return fleet.clusters.map((cluster) => ({ cluster, targets: cluster.nodes }));
  const picks = (cluster: Cluster, node: NodeSpec, p: string) => (cluster.name !== '' && matches(cluster.name, p)) || matches(node.name, p);
  const unmatched = limit.filter((p) => !fleet.clusters.some((c) => c.nodes.some((n) => picks(c, n, p))));
  if (unmatched.length) {
    const named = fleet.clusters.filter((c) => c.name);
    const what = named.length ? 'cluster or node' : 'node';
    const verb = unmatched.some((p) => /[*?]/.test(p)) ? 'matches' : 'named';
    const known = `${named.length ? `clusters: ${named.map((c) => c.name).join(', ')}; ` : ''}nodes: ${fleet.clusters.flatMap((c) => c.nodes.map((n) => n.name)).join(', ')}`;
    throw new KadeployError(`no ${what} ${verb} ${unmatched.join(', ')} in ${fleet.file} (${known})`);
  }
  return fleet.clusters
    .map((cluster) => ({ cluster, targets: cluster.nodes.filter((n) => limit.some((p) => picks(cluster, n, p))) }))
    .filter((s) => s.targets.length > 0);
}

/** The --limit flag's value as a list of patterns. */
export const parseLimit = (text: string | undefined): string[] | undefined => text?.split(',').map((s) => s.trim()).filter(Boolean);
