// Who holds each VIP now, and each node's VRRP state with its last transition (ip a + journal).
import type { Connected } from '../apply/session.js';
import { placementFrom, type VipPlacement } from '../apply/vip.js';
import { addressesFact, type AddressesFact } from '../facts/addresses.js';
import { factScript, parseFacts, type Fact } from '../facts/fact.js';
import { failedUnitsFact, systemFact } from '../facts/system.js';
import { sh } from '../shell/quote.js';
import { mapLimit } from '../ssh/pool.js';
import { readVrrp } from './probe.js';
import { drainedFact, withDrained, type DrainMark } from '../plan/drain.js';

export interface NodeStatus {
  node: string;
  /** In a fleet: the node's cluster. */
  cluster?: string;
  keepalived: boolean;
  instances: Array<{ name: string; state: string; since?: string }>;
  /** Drained by `kadeploy drain` (its marker), when it is. */
  drained?: DrainMark;
  /** systemd's state of the node (`systemctl is-system-running`): running, degraded, starting, stopping, maintenance… */
  system: string;
  /** The failed units, when systemd says degraded. */
  failed?: string[];
}

const keepalivedActive: Fact<boolean> = { name: 'keepalived', command: 'systemctl is-active keepalived', parse: (out) => out.trim() === 'active' };
/** What status reads on a node besides VRRP, in one round trip (the addresses: where the VIPs are). */
const nodeFacts = [keepalivedActive, drainedFact, systemFact, failedUnitsFact, addressesFact] as Array<Fact<unknown>>;

export interface ClusterStatus {
  at: string;
  /** In a fleet, each VIP names its cluster. */
  vips: Array<VipPlacement & { cluster?: string }>;
  nodes: NodeStatus[];
}

/** A fleet's status: the clusters' VIPs and nodes in one table, each named with its cluster. */
export async function readFleetStatus(sessions: Array<Pick<Connected, 'cluster' | 'conns'>>): Promise<ClusterStatus> {
  const parts = await Promise.all(sessions.map(async (s) => ({ name: s.cluster.name, status: await readStatus(s) })));
  return {
    at: new Date().toISOString(),
    vips: parts.flatMap(({ name, status }) => status.vips.map((v) => ({ cluster: name, ...v }))),
    nodes: parts.flatMap(({ name, status }) => status.nodes.map((n) => ({ cluster: name, ...n }))),
  };
}

export async function readStatus(session: Pick<Connected, 'cluster' | 'conns'>): Promise<ClusterStatus> {
  const { cluster, conns } = session;
  const nodes: NodeStatus[] = [];
  const addresses: Array<{ node: string; addrs: AddressesFact }> = [];
  await mapLimit(cluster.nodes, cluster.forks, async (n) => {
    const conn = conns.get(n.name)!;
    const [reading, read] = await Promise.all([readVrrp(conn, cluster), conn.exec(sh('sh', '-c', factScript(nodeFacts)), { check: false })]);
    const f = parseFacts(nodeFacts, read.stdout) as { keepalived?: boolean; drained?: DrainMark; system?: string; failed?: string[]; addresses?: AddressesFact };
    addresses.push({ node: n.name, addrs: f.addresses ?? {} });
    const { drained, failed } = f;
    const running = f.keepalived === true;
    const system = f.system ?? 'unknown';
    nodes.push({
      node: n.name,
      keepalived: running,
      instances: n.instances.map((i) => {
        const t = reading.transitions[i.name];
        return { name: i.name, state: running ? (t?.state ?? 'UNKNOWN') : 'STOPPED', since: running ? t?.at : undefined };
      }),
      ...(drained ? { drained } : {}),
      system,
      ...(system === 'degraded' && failed?.length ? { failed } : {}),
    });
  });
  nodes.sort((a, b) => cluster.nodes.findIndex((n) => n.name === a.node) - cluster.nodes.findIndex((n) => n.name === b.node));
  // Where the VIPs should be counts the drained nodes at their lowered priority.
  const placed = withDrained(cluster, new Set(nodes.filter((n) => n.drained).map((n) => n.node)));
  return { at: new Date().toISOString(), vips: placementFrom(placed.nodes, cluster.vrrpScripts, addresses), nodes };
}

export function formatStatus(s: ClusterStatus): string {
  const out = [`Status at ${s.at}`];
  // A fleet: a CLUSTER column, and the VIPs as a table too (one line per VIP).
  const wc = Math.max(7, ...s.nodes.map((n) => n.cluster?.length ?? 0));
  const fleet = s.vips.some((v) => v.cluster) || s.nodes.some((n) => n.cluster);
  const col = (cluster: string | undefined) => (fleet ? `${(cluster ?? '').padEnd(wc)}  ` : '');
  const held = (v: VipPlacement) => `${v.holders.length ? v.holders.join(' and ') : 'NOT HELD'}${v.holders.length > 1 ? '  ← SPLIT BRAIN' : ''}`;
  if (fleet) {
    const wv = Math.max(3, ...s.vips.map((v) => v.vip.length));
    out.push(`  ${col('CLUSTER')}${'VIP'.padEnd(wv)}  HOLDER`);
    for (const v of s.vips) out.push(`  ${col(v.cluster)}${v.vip.padEnd(wv)}  ${held(v)}`);
  } else {
    for (const v of s.vips) out.push(`  VIP ${v.vip}: ${held(v)}`);
  }
  const w = Math.max(4, ...s.nodes.map((n) => n.node.length));
  const ws = Math.max(6, ...s.nodes.map((n) => n.system.length));
  out.push(`  ${col('CLUSTER')}${'NODE'.padEnd(w)}  ${'SYSTEM'.padEnd(ws)}  INSTANCE  STATE    SINCE`);
  for (const n of s.nodes) {
    for (const i of n.instances) out.push(`  ${col(n.cluster)}${n.node.padEnd(w)}  ${n.system.padEnd(ws)}  ${i.name.padEnd(8)}  ${i.state.padEnd(7)}  ${i.since ?? ''}`);
  }
  for (const n of s.nodes.filter((m) => m.failed)) out.push(`  ${n.node} is degraded: failed units: ${n.failed!.join(', ')} (systemctl --failed)`);
  for (const n of s.nodes.filter((m) => m.drained)) out.push(`  ${n.node} is DRAINED since ${n.drained!.since}: it takes no VIP while another node can (kadeploy undrain restores it)`);
  return `${out.join('\n')}\n`;
}
