// Planned maintenance: a drained node keeps the VIPs off on purpose. The drain is a marker file on
// the node (read as a fact by every run), so every plan renders the node with its lowered priority
// until `kadeploy undrain`: a later apply keeps the drain, and an interrupted drain is still visible.
import type { Fact } from '../facts/fact.js';
import type { Cluster, NodeInstance, NodeSpec } from '../inventory/model.js';

/** Beside keepalived.conf, where an operator looks; /etc, so a reboot keeps the drain. */
export const DRAIN_MARKER = '/etc/keepalived/kadeploy-drained';

/** The lowest VRRP priority: any other node running the instance outranks a drained node. */
export const DRAINED_PRIORITY = 1;

/** What the marker records: when, and which command made it. */
export interface DrainMark {
  since: string;
  by: string;
}

/** The marker's text: readable by an operator who finds it, parsed back by drainedFact. */
export const drainMarkerText = (mark: DrainMark): string =>
  `# This node is drained by kadeploy: its VRRP priority is ${DRAINED_PRIORITY} in keepalived.conf, so it holds no VIP\n` +
  '# while another node can. Every apply keeps it so; `kadeploy undrain INVENTORY NODE` restores it.\n' +
  `since ${mark.since}\nby ${mark.by}\n`;

/** The line keepalived.conf.njk writes in each instance of a drained node (a rollback looks for it in backups). */
export const DRAINED_CONFIG_LINE = '# drained by kadeploy';

/** The marker, if present (undefined: the node is not drained). */
export const drainedFact: Fact<DrainMark | undefined> = {
  name: 'drained',
  command: `cat -- ${DRAIN_MARKER}`,
  parse(out, rc) {
    if (rc !== 0) return undefined;
    const field = (key: string) => out.split('\n').find((l) => l.startsWith(`${key} `))?.slice(key.length + 1).trim() ?? '';
    return { since: field('since'), by: field('by') };
  },
};

/**
 * A node as it runs while drained: every instance BACKUP at the lowest priority, remembering the
 * configured values (keepalived.conf says both, and expectedHolder passes over a drained holder).
 */
export function drainedNode(node: NodeSpec): NodeSpec {
  const drain = (i: NodeInstance): NodeInstance => ({ ...i, state: 'BACKUP', priority: DRAINED_PRIORITY, drained: { state: i.state, priority: i.priority } });
  return { ...node, instances: node.instances.map(drain) };
}

/** The cluster with these nodes drained (unknown names are ignored). */
export function withDrained(cluster: Cluster, drained: ReadonlySet<string>): Cluster {
  if (!drained.size) return cluster;
  return { ...cluster, nodes: cluster.nodes.map((n) => (drained.has(n.name) ? drainedNode(n) : n)) };
}

/**
 * Why `node` cannot be drained when `drained` already are, or undefined: every instance it runs
 * needs another node, not drained, to move to. A nopreempt instance whose VIP the node holds (`holds`:
 * the VIPs it has now) cannot be moved by priority: its peers never take over from a lower one.
 */
export function drainRefusal(cluster: Cluster, node: string, drained: ReadonlySet<string>, holds: readonly string[] = []): string | undefined {
  const spec = cluster.nodes.find((n) => n.name === node);
  if (!spec) return `no node named ${node} (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`;
  for (const inst of spec.instances) {
    const others = cluster.nodes.filter((n) => n.name !== node && n.instances.some((i) => i.name === inst.name));
    const free = others.filter((n) => !drained.has(n.name));
    if (!others.length) return `${node} is the only node running ${inst.name}: there is nowhere to move its VIPs`;
    if (!free.length) return `every other node running ${inst.name} (${others.map((n) => n.name).join(', ')}) is drained: there would be nowhere for its VIPs to go (undrain one first)`;
    const held = inst.vips.map((v) => v.address.split('/')[0]!).filter((vip) => holds.includes(vip));
    if (inst.nopreempt && held.length) {
      return `${inst.name} uses nopreempt and ${node} holds its VIP ${held.join(', ')}: the other nodes never take over from a lower priority, ` +
        `so only a failover moves it (run \`systemctl stop keepalived\` on ${node}, then drain: the VIP moves once and stays away)`;
    }
  }
  return undefined;
}
