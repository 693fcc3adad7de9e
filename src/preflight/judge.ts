// Preflight verdicts from what the nodes heard and answered. Pure: the cluster and the readings in,
// checks out (tested as data in test/unit/preflight.test.ts).
import type { Cluster, NodeInstance, NodeSpec } from '../inventory/model.js';
import { isProbe, parseAdvert, type Listened, type ProbeDestination, type ProbeScript } from './probe.js';

export type CheckName = 'foreign-vrrp' | 'vip-free' | 'vrrp-crossing';

export interface Check {
  cluster: string;
  check: CheckName;
  /** What was checked: a vrid, a VIP, a direction such as "lb1 → lb2". */
  subject: string;
  status: 'pass' | 'fail' | 'skip';
  detail: string;
}

/** A router heard advertising one of the cluster's vrids that is not one of its nodes. */
export interface ForeignRouter {
  cluster: string;
  source: string;
  vrid: number;
  priority: number;
  version: number;
  /** The virtual addresses its adverts carry. */
  addresses: string[];
  /** Our instances using that vrid. */
  instances: string[];
  heardBy: string[];
}

/** One node's readings: its addresses and MACs, what it heard; `skipped` says why it has none. */
export interface NodeReading {
  addresses: string[];
  macs: string[];
  listened?: Listened;
  skipped?: string;
}

/** The name a cluster goes by in reports (a fleet names its clusters; a single inventory is its file). */
export const clusterName = (c: Cluster): string => c.name || c.file.replace(/^.*\//, '');

const isIpv6 = (i: NodeInstance) => (i.vips[0]?.address ?? '').includes(':');

/** A VRRP direction the cluster relies on: `from` sends, `to` must receive. */
export interface Direction {
  from: string;
  to: string;
  via: string;
}

/** What each node sends where, and the directions that must work (IPv4 instances: the probe is IPv4). */
export function probePlan(cluster: Cluster, seconds: number): { scripts: Map<string, ProbeScript>; directions: Direction[]; ipv6: string[] } {
  const scripts = new Map<string, ProbeScript>();
  const directions = new Map<string, Direction>();
  const ipv6 = new Set<string>();
  const byIp = (ip: string) => cluster.nodes.find((n) => n.ip === ip || n.instances.some((i) => i.unicast?.srcIp === ip));
  for (const node of cluster.nodes) {
    const groups = new Set<string>();
    const destinations = new Map<string, ProbeDestination>();
    for (const inst of node.instances) {
      if (isIpv6(inst)) {
        ipv6.add(inst.name);
        continue;
      }
      if (inst.unicast?.peers.length) {
        for (const peer of inst.unicast.peers) {
          destinations.set(`u ${peer}`, { unicast: peer, ...(inst.unicast.srcIp ? { from: inst.unicast.srcIp } : {}) });
          const to = byIp(peer);
          if (to && to !== node) directions.set(`${node.name} ${to.name} u`, { from: node.name, to: to.name, via: `unicast to ${peer}` });
        }
        continue;
      }
      groups.add(inst.interface);
      destinations.set(`m ${inst.interface}`, { multicast: inst.interface });
      for (const other of cluster.nodes) {
        const theirs = other.instances.find((i) => i.name === inst.name);
        if (other === node || !theirs || theirs.unicast?.peers.length) continue;
        directions.set(`${node.name} ${other.name} m`, { from: node.name, to: other.name, via: `multicast 224.0.0.18 on ${inst.interface}` });
      }
    }
    scripts.set(node.name, { seconds, groups: [...groups], destinations: [...destinations.values()] });
  }
  return { scripts, directions: [...directions.values()], ipv6: [...ipv6] };
}

/** The cluster's node that owns `address` (its inventory address or any address it has now). */
function ownerOf(cluster: Cluster, readings: Map<string, NodeReading>): (address: string) => NodeSpec | undefined {
  return (address) => cluster.nodes.find((n) => n.ip === address || readings.get(n.name)?.addresses.includes(address));
}

export function judgeCrossing(cluster: Cluster, directions: Direction[], readings: Map<string, NodeReading>): Check[] {
  const name = clusterName(cluster);
  const owner = ownerOf(cluster, readings);
  const arrived = (d: Direction) => readings.get(d.to)?.listened?.heard.some((h) => isProbe(h) && owner(h.source)?.name === d.from);
  const unusable = (node: string) => {
    const r = readings.get(node);
    return r?.skipped ?? (r?.listened?.error ? `the listener on ${node} failed: ${r.listened.error}` : undefined);
  };
  return directions.map((d): Check => {
    const subject = `${d.from} → ${d.to}`;
    const skipped = unusable(d.to) ?? unusable(d.from);
    if (skipped) return { cluster: name, check: 'vrrp-crossing', subject, status: 'skip', detail: skipped };
    if (arrived(d)) return { cluster: name, check: 'vrrp-crossing', subject, status: 'pass', detail: `VRRP arrives (${d.via})` };
    const back = directions.find((o) => o.from === d.to && o.to === d.from);
    const reverse = back && !unusable(back.from) ? `; ${d.to} → ${d.from} ${arrived(back) ? 'works' : 'is lost too'}` : '';
    return {
      cluster: name, check: 'vrrp-crossing', subject, status: 'fail',
      detail: `VRRP from ${d.from} does not arrive at ${d.to} (${d.via})${reverse} — likely a firewall on ${d.to} (or between them) dropping IP protocol 112`,
    };
  });
}

export function judgeForeign(cluster: Cluster, readings: Map<string, NodeReading>, seconds: number): { checks: Check[]; foreign: ForeignRouter[] } {
  const name = clusterName(cluster);
  const owner = ownerOf(cluster, readings);
  const ours = new Map<number, string[]>();
  for (const inst of cluster.nodes.flatMap((n) => n.instances)) {
    const names = ours.get(inst.virtualRouterId) ?? [];
    if (!names.includes(inst.name)) ours.set(inst.virtualRouterId, [...names, inst.name]);
  }
  const listeners = cluster.nodes.filter((n) => readings.get(n.name)?.listened && !readings.get(n.name)?.listened?.error);
  const found = new Map<string, ForeignRouter>();
  for (const node of listeners) {
    for (const h of readings.get(node.name)!.listened!.heard) {
      const advert = isProbe(h) ? undefined : parseAdvert(h.payload);
      if (!advert || !ours.has(advert.vrid) || owner(h.source)) continue;
      const key = `${h.source} ${advert.vrid}`;
      const router = found.get(key) ?? { cluster: name, source: h.source, ...advert, instances: ours.get(advert.vrid)!, heardBy: [] };
      if (!router.heardBy.includes(node.name)) router.heardBy.push(node.name);
      found.set(key, router);
    }
  }
  const foreign = [...found.values()];
  const vrids = [...ours.keys()].sort((a, b) => a - b).join(', ');
  if (!listeners.length) {
    const why = cluster.nodes.map((n) => readings.get(n.name)?.skipped ?? readings.get(n.name)?.listened?.error).find(Boolean);
    return { checks: [{ cluster: name, check: 'foreign-vrrp', subject: `vrid ${vrids}`, status: 'skip', detail: `no node could listen: ${why ?? 'unknown'}` }], foreign };
  }
  if (!foreign.length) {
    const where = listeners.map((n) => n.name).join(', ');
    return { checks: [{ cluster: name, check: 'foreign-vrrp', subject: `vrid ${vrids}`, status: 'pass', detail: `no other router uses them (listened ${seconds} s on ${where})` }], foreign };
  }
  const checks = foreign.map((f): Check => ({
    cluster: name, check: 'foreign-vrrp', subject: `vrid ${f.vrid} (${f.instances.join(', ')})`, status: 'fail',
    detail: `foreign router ${f.source} advertises vrid ${f.vrid} with priority ${f.priority} (VRRPv${f.version}` +
      `${f.addresses.length ? `, VIPs ${f.addresses.join(' ')}` : ''}), heard by ${f.heardBy.join(', ')}`,
  }));
  return { checks, foreign };
}

/** One VIP's ARP probe: from which node, on which interface, and the MACs that answered. */
export interface VipProbe {
  vip: string;
  node?: string;
  iface?: string;
  replies?: string[];
  /** Why it was not probed. */
  skipped?: string;
}

export function judgeVips(cluster: Cluster, probes: VipProbe[], readings: Map<string, NodeReading>): Check[] {
  const name = clusterName(cluster);
  const macOwner = (mac: string) => cluster.nodes.find((n) => readings.get(n.name)?.macs.includes(mac))?.name;
  return probes.map((p): Check => {
    const check = { cluster: name, check: 'vip-free' as const, subject: p.vip };
    const holders = cluster.nodes.filter((n) => readings.get(n.name)?.addresses.includes(p.vip)).map((n) => n.name);
    const own = holders.length ? `; held by ${holders.join(', ')} of this cluster (not a conflict)` : '';
    if (p.skipped || !p.replies) return { ...check, status: 'skip', detail: p.skipped ?? 'not probed' };
    const foreign = p.replies.filter((mac) => !macOwner(mac));
    if (foreign.length) {
      return { ...check, status: 'fail', detail: `already answers on the network: ARP reply from ${foreign.join(', ')} (no node of this cluster) to a probe from ${p.node} on ${p.iface}${own}` };
    }
    const answered = p.replies.map((mac) => macOwner(mac)!);
    const ownAnswer = answered.length ? `; answered by ${[...new Set(answered)].join(', ')} of this cluster (not a conflict)` : own;
    return { ...check, status: 'pass', detail: `no other machine answers an ARP probe from ${p.node} on ${p.iface}${ownAnswer}` };
  });
}
