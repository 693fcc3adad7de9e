// Fleets: many clusters in one inventory. The settings at the top are shared; each cluster under
// `clusters:` sees them with its own values over them (a mapping such as ssh, global_defs, vars or
// vrrp_scripts is merged one level deep: a cluster's ssh.user keeps the shared ssh.identity_file).
// The fleet rules are the ones no single cluster can check: a virtual_router_id used twice on one
// network segment (VIPs flap), and VIPs, node addresses and node names used by two clusters.
import { networkOf, parseCidr } from './ip.js';
import { addressOn, instanceFamily, instanceView } from './node-view.js';
import { vipAddress } from './rules.js';
import type { RawCluster, RawFleet, RawInventory } from './schema.js';
import type { FieldPath } from './source.js';

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The inventory one cluster sees: the shared settings, the cluster's own over them. */
export function clusterInventory(fleet: RawFleet, body: RawCluster): RawInventory {
  const { clusters: _clusters, ...shared } = fleet;
  const { segment: _segment, ...own } = body;
  const merged: Record<string, unknown> = { ...shared };
  for (const [key, value] of Object.entries(own)) {
    const base = merged[key];
    merged[key] = isMapping(value) && isMapping(base) ? { ...base, ...value } : value;
  }
  return merged as RawInventory;
}

/** Where a field of a cluster's inventory is written: under clusters.NAME when the cluster sets it, else at the top. */
export function sourcePath(cluster: { name: string; body?: RawCluster }, path: FieldPath): FieldPath {
  if (!cluster.body) return path;
  const [key, sub] = path;
  const own = (cluster.body as Record<string, unknown>)[String(key)];
  if (own === undefined) return path;
  if (typeof sub === 'string' && isMapping(own) && own[sub] === undefined) return path; // an inherited entry of a merged mapping
  return ['clusters', cluster.name, ...path];
}

export interface FleetMember {
  name: string;
  /** The cluster as written under `clusters:` (absent for a plain, one-cluster inventory). */
  body?: RawCluster;
  inv: RawInventory;
}

/** A fleet rule's problem: at `path`, clashing with `other` (both paths as written in the file). */
export interface FleetIssue {
  path: FieldPath;
  other?: FieldPath;
  message: string;
  severity: 'error' | 'warning';
}

interface Owner {
  cluster: string;
  path: FieldPath;
}

/**
 * The rules across clusters (each cluster's own rules already ran); each problem names both places.
 */
export function checkFleet(members: FleetMember[]): FleetIssue[] {
  const issues: FleetIssue[] = [];
  const seen = new Map<string, Owner>();
  /** Record `key` for `cluster`; a clash when another cluster recorded it first. */
  const claim = (cluster: FleetMember, key: string, path: FieldPath, message: (first: Owner) => string) => {
    const at = sourcePath(cluster, path);
    const first = seen.get(key);
    if (!first) seen.set(key, { cluster: cluster.name, path: at });
    else if (first.cluster !== cluster.name) issues.push({ path: at, other: first.path, message: message(first), severity: 'error' });
  };

  for (const m of members) {
    m.inv.nodes.forEach((node, i) => {
      claim(m, `name ${node.name}`, ['nodes', i, 'name'], (f) => `node name "${node.name}" is also used in cluster ${f.cluster}`);
      const ip = parseCidr(node.address)?.ip ?? node.address;
      claim(m, `address ${ip}`, ['nodes', i, 'address'], (f) => `node address ${ip} is also used in cluster ${f.cluster}`);
    });
    for (const [name, inst] of Object.entries(m.inv.vrrp_instances)) {
      const at: FieldPath = ['vrrp_instances', name];
      inst.virtual_ipaddresses.forEach((vip, k) => {
        const ip = parseCidr(vipAddress(vip))?.ip ?? vipAddress(vip);
        const path = [...at, 'virtual_ipaddresses', k, ...(typeof vip === 'string' ? [] : ['address'])];
        claim(m, `vip ${ip}`, path, (f) => `VIP ${ip} is also a VIP of cluster ${f.cluster}`);
      });
      const vrid = inst.virtual_router_id;
      const segments = segmentsOf(m, name);
      if (members.length > 1 && segments.size === 0) {
        const message = 'not compared with the other clusters: no node address here has a /prefix; add one, or name the segment with `segment:` on the cluster';
        issues.push({ path: sourcePath(m, [...at, 'virtual_router_id']), message, severity: 'warning' });
      }
      for (const segment of segments) {
        claim(m, `vrid ${vrid} ${segment}`, [...at, 'virtual_router_id'], (f) =>
          `virtual_router_id ${vrid} is also used by cluster ${f.cluster} on segment ${segment} (two VRRP routers with one id on one segment: VIPs flap); give one of them another id`,
        );
      }
    }
  }
  return issues;
}

/**
 * The network segments an instance runs on: the cluster's `segment:` name, else the subnet of each
 * node's address on the instance's interface. A node address without /prefix names no segment (set
 * `segment:` on the cluster to have its ids checked).
 */
function segmentsOf(m: FleetMember, instance: string): Set<string> {
  const family = instanceFamily(m.inv.vrrp_instances[instance]!);
  if (m.body?.segment) return new Set([`${m.body.segment} (IPv${family})`]);
  const segments = new Set<string>();
  for (const node of m.inv.nodes) {
    const addr = addressOn(m.inv, node, instanceView(m.inv, node, instance).interface);
    if (addr?.prefix !== undefined && addr.family === family) segments.add(networkOf({ ...addr, prefix: addr.prefix }));
  }
  return segments;
}
