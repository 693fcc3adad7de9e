// Cluster-wide keepalived rules that a schema cannot express (see design.md). Each check returns
// problems with the field path that caused them, so the loader can point at the exact YAML line.
import { DEFAULTS } from './defaults.js';
import { contains, parseCidr } from './ip.js';
import { checkKeepalivedLimits } from './keepalived-rules.js';
import { addressOn, instanceFamily, instanceView } from './node-view.js';
import type { RawInventory, RawNode, RawTracked, RawVip } from './schema.js';
import type { FieldPath } from './source.js';

export interface RuleIssue {
  path: FieldPath;
  message: string;
  severity: 'error' | 'warning';
}

interface Sourced<T> {
  value: T;
  path: FieldPath;
}

/** A node's value for one instance field: node.instances.NAME.field, else node.field, else fallback. */
function nodeValue<T>(
  node: RawNode,
  index: number,
  instance: string,
  field: 'state' | 'priority' | 'interface',
  fallback: Sourced<T | undefined>,
): Sourced<T | undefined> {
  const own = node.instances?.[instance]?.[field];
  if (own !== undefined) return { value: own as T, path: ['nodes', index, 'instances', instance, field] };
  if (node[field] !== undefined) return { value: node[field] as T, path: ['nodes', index, field] };
  return fallback;
}

const DEPRECATED_LVS =
  'deprecated in keepalived (keepalived -t rejects it in vrrp_instance); rendered as global_defs lvs_sync_daemon IFACE INSTANCE';

export const vipAddress = (vip: RawVip): string => (typeof vip === 'string' ? vip : vip.address);
const vipDev = (vip: RawVip): string | undefined => (typeof vip === 'string' ? undefined : vip.dev);

export function checkRules(inv: RawInventory): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const error = (path: FieldPath, message: string) => issues.push({ path, message, severity: 'error' });
  const warn = (path: FieldPath, message: string) => issues.push({ path, message, severity: 'warning' });

  checkUnique(inv.nodes.map((n, i) => ({ value: n.name, path: ['nodes', i, 'name'] })), 'node name', error);
  checkUnique(
    inv.nodes.map((n, i) => ({ value: parseCidr(n.address)?.ip ?? n.address, path: ['nodes', i, 'address'] })),
    'node address',
    error,
  );

  const instances = Object.entries(inv.vrrp_instances);
  const allVips: Array<Sourced<string>> = [];

  inv.nodes.forEach((node, i) => {
    for (const name of Object.keys(node.instances ?? {})) {
      if (!inv.vrrp_instances[name]) {
        error(['nodes', i, 'instances', name], `no vrrp_instance named "${name}" (known: ${Object.keys(inv.vrrp_instances).join(', ')})`);
      }
    }
    if (node.lvs_sync_daemon_interface !== undefined) {
      warn(['nodes', i, 'lvs_sync_daemon_interface'], DEPRECATED_LVS);
    }
  });

  for (const [name, inst] of instances) {
    const at: FieldPath = ['vrrp_instances', name];
    const version = inv.global_defs?.vrrp_version ?? 2;
    const advert = inst.advert_int ?? DEFAULTS.instance.advert_int;
    if ((inst.version ?? version) === 2 && (!Number.isInteger(advert) || advert < 1 || advert > 255)) {
      error([...at, 'advert_int'], 'with VRRPv2, advert_int is whole seconds from 1 to 255 (sub-second adverts need VRRPv3: vrrp_version 3 or failover: fast)');
    } else if ((inst.version ?? version) === 3 && (advert < 0.01 || advert > 40.95)) {
      error([...at, 'advert_int'], 'with VRRPv3, advert_int is 0.01 to 40.95 seconds');
    } else if ((inst.version ?? version) === 3 && Math.abs(advert * 100 - Math.round(advert * 100)) > 1e-9) {
      error([...at, 'advert_int'], 'with VRRPv3, advert_int is in hundredths of a second (keepalived -t refuses e.g. 0.015)');
    }
    if (inst.nopreempt && inst.preempt_delay !== undefined) {
      error([...at, 'preempt_delay'], 'preempt_delay cannot be combined with nopreempt (keepalived ignores one of them)');
    }
    const pass = inst.authentication?.auth_pass;
    if (typeof pass === 'string' && pass.length > 8) {
      error([...at, 'authentication', 'auth_pass'], `is ${pass.length} characters; keepalived uses only the first 8 (silent truncation)`);
    }
    checkTracked(inv, [...at], inst, error);
    if (inst.authentication && (inst.version ?? version) === 3) {
      const why = inv.failover === 'fast' ? 'failover: fast uses VRRPv3, which has' : 'VRRPv3 has';
      error([...at, 'authentication'], `${why} no authentication (keepalived -t rejects it): remove it — what replaces it is unicast: true (adverts only to the peers) with the nodes' firewall accepting IP protocol 112 only from the peers' addresses (see README, "Fast failover") — or keep it with vrrp_version 2 (whole-second advert_int)`);
    }
    if (inst.lvs_sync_daemon_interface !== undefined) {
      warn([...at, 'lvs_sync_daemon_interface'], DEPRECATED_LVS);
    }
    inst.virtual_ipaddresses.forEach((vip, k) => {
      const path = [...at, 'virtual_ipaddresses', k, ...(typeof vip === 'string' ? [] : ['address'])];
      allVips.push({ value: parseCidr(vipAddress(vip))?.ip ?? vipAddress(vip), path });
    });

    // Per-node view of this instance: state, priority, interface after overrides.
    const views = inv.nodes.map((node, i) => ({
      node,
      i,
      view: instanceView(inv, node, name),
      state: nodeValue<string>(node, i, name, 'state', { value: undefined, path: ['nodes', i] }),
      priority: nodeValue<number>(node, i, name, 'priority', { value: undefined, path: ['nodes', i] }),
      iface: nodeValue<string>(node, i, name, 'interface', {
        value: inst.interface ?? DEFAULTS.instance.interface,
        path: [...at, 'interface'],
      }),
    }));

    for (const v of views) {
      const iface = v.iface.value!;
      if (v.state.value === undefined) error(v.state.path, `state (MASTER or BACKUP) is not set for instance ${name}`);
      if (v.priority.value === undefined) error(v.priority.path, `priority is not set for instance ${name}`);
      if (inst.nopreempt && v.state.value === 'MASTER') {
        error(v.state.path, `nopreempt on ${name} requires state BACKUP on every node (keepalived drops it on a MASTER)`);
      }
      if (inst.preempt_delay !== undefined && v.state.value === 'MASTER') {
        error(v.state.path, `preempt_delay on ${name} requires state BACKUP on every node (keepalived clears it on a MASTER)`);
      }
      if (inst.authentication?.auth_type === 'AH' && v.state.value === 'MASTER') {
        error(v.state.path, `AH authentication on ${name} requires state BACKUP (keepalived -t rejects AH with an initial MASTER)`);
      }
      (v.view.track_interfaces ?? []).forEach((t, k) => {
        if (trackedName(t) === iface) {
          error([...at, 'track_interfaces', k], `${name} runs on ${iface} already (keepalived -t rejects tracking the instance's own interface)`);
        }
      });
      // A VIP lies in the subnet of the node's address on the VIP's interface (same family only).
      inst.virtual_ipaddresses.forEach((vip, k) => {
        const addr = parseCidr(vipAddress(vip));
        const net = addressOn(inv, v.node, vipDev(vip) ?? iface);
        if (addr && net?.prefix !== undefined && net.family === addr.family && !contains(net, addr)) {
          error([...at, 'virtual_ipaddresses', k], `VIP ${addr.ip} is outside node ${v.node.name}'s subnet ${net.ip}/${net.prefix} on ${vipDev(vip) ?? iface}`);
        }
      });
      // unicast: true derives unicast_src_ip and the peers from each node's address on this interface.
      if (v.view.unicast && v.view.unicast_src_ip === undefined && !addressOn(inv, v.node, iface)) {
        error(['nodes', v.i], `${name} is unicast on ${iface}, but node ${v.node.name} has no address there: add addresses.${iface} to the node (or set unicast_src_ip)`);
      }
      const families = new Set(inst.virtual_ipaddresses.map((x) => parseCidr(vipAddress(x))?.family));
      if (families.size > 1) {
        error([...at, 'virtual_ipaddresses'], 'mixes IPv4 and IPv6: keepalived needs one family per instance (put the others in virtual_ipaddress_excluded or another instance)');
      }
    }

    const prios = views.filter((v) => v.priority.value !== undefined);
    // keepalived breaks a priority tie by the higher address, and real clusters rely on it: a warning.
    checkUnique(prios.map((v) => ({ value: String(v.priority.value), path: v.priority.path })), `priority in instance ${name} (keepalived breaks the tie by the higher address)`, warn);
    const masters = views.filter((v) => v.state.value === 'MASTER');
    if (masters.length > 1) {
      for (const m of masters.slice(1)) {
        error(m.state.path, `more than one MASTER for instance ${name} (${masters.map((x) => x.node.name).join(', ')}); use one MASTER, or all BACKUP`);
      }
    }
    const master = masters[0];
    if (masters.length === 1 && master?.priority.value !== undefined) {
      for (const v of prios) {
        if (v !== master && (v.priority.value ?? 0) > master.priority.value) {
          error(v.priority.path, `priority ${v.priority.value} of ${v.node.name} is above the MASTER ${master.node.name}'s ${master.priority.value} in ${name}`);
        }
      }
    }
  }

  checkUnique(allVips, 'VIP', error);
  checkVridPerInterface(inv, error);
  checkSyncGroups(inv, error);
  checkKeepalivedLimits(inv, error);
  return issues;
}

const trackedName = (t: RawTracked): string => (typeof t === 'string' ? t : t.name);

type Trackers = { track_scripts?: RawTracked[]; track_processes?: RawTracked[]; track_files?: RawTracked[] };

/** Names a verbatim block defines with `KEYWORD NAME {` (e.g. a vrrp_script kadeploy keeps as written). */
function verbatimNames(inv: RawInventory, keywords: string[]): string[] {
  const texts = [inv.verbatim, ...inv.nodes.map((n) => n.verbatim)].filter((t): t is string => !!t);
  const re = new RegExp(`^\\s*(?:${keywords.join('|')})\\s+(\\S+)\\s*\\{`, 'gm');
  return texts.flatMap((t) => [...t.matchAll(re)].map((m) => m[1]!));
}

/** track_script / track_process / track_file name objects that exist (typed, or in a verbatim block). */
function checkTracked(inv: RawInventory, at: FieldPath, owner: Trackers, error: (p: FieldPath, m: string) => void): void {
  const kinds: Array<[keyof Trackers, string, Record<string, unknown> | undefined, string[]]> = [
    ['track_scripts', 'vrrp_script', inv.vrrp_scripts, ['vrrp_script']],
    ['track_processes', 'vrrp_track_process', inv.vrrp_track_processes, ['vrrp_track_process', 'track_process']],
    ['track_files', 'vrrp_track_file', inv.vrrp_track_files, ['vrrp_track_file', 'track_file']],
  ];
  for (const [field, what, defined, keywords] of kinds) {
    const known = new Set([...Object.keys(defined ?? {}), ...verbatimNames(inv, keywords)]);
    owner[field]?.forEach((t, k) => {
      const n = trackedName(t);
      if (!known.has(n)) error([...at, field, k], `no ${what} named "${n}"${hint(n, known)}`);
    });
  }
}

/** Sync groups name existing instances, each instance in one group at most. */
function checkSyncGroups(inv: RawInventory, error: (p: FieldPath, m: string) => void): void {
  const member = new Map<string, string>();
  for (const [name, g] of Object.entries(inv.vrrp_sync_groups ?? {})) {
    const at = ['vrrp_sync_groups', name];
    checkTracked(inv, at, g, error);
    g.group.forEach((m, k) => {
      if (!inv.vrrp_instances[m]) error([...at, 'group', k], `no vrrp_instance named "${m}"${hint(m, Object.keys(inv.vrrp_instances))}`);
      else if (member.has(m)) error([...at, 'group', k], `${m} is already in sync group ${member.get(m)} (an instance belongs to one group)`);
      else member.set(m, name);
    });
  }
}

/** Two instances of one family sharing an interface must not share a virtual_router_id (same L2
 * segment); an IPv4 and an IPv6 instance may (VRRP for IPv6 is a separate protocol instance). */
function checkVridPerInterface(inv: RawInventory, error: (p: FieldPath, m: string) => void): void {
  const reported = new Set<string>();
  for (const node of inv.nodes) {
    const seen = new Map<string, string>();
    for (const [name, inst] of Object.entries(inv.vrrp_instances)) {
      const iface = instanceView(inv, node, name).interface;
      const key = `${iface}/${inst.virtual_router_id}/${instanceFamily(inst)}`;
      const other = seen.get(key);
      if (other && !reported.has(name)) {
        reported.add(name);
        error(['vrrp_instances', name, 'virtual_router_id'], `virtual_router_id ${inst.virtual_router_id} is also used by ${other} on ${iface} of node ${node.name}; it must be unique per interface`);
      } else if (!other) seen.set(key, name);
    }
  }
}

function checkUnique(items: Array<Sourced<string>>, what: string, error: (p: FieldPath, m: string) => void): void {
  const first = new Map<string, FieldPath>();
  for (const item of items) {
    if (first.has(item.value)) error(item.path, `duplicate ${what} "${item.value}"`);
    else first.set(item.value, item.path);
  }
}

/** " (did you mean X?)" when a close known name exists. */
export function hint(word: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}
