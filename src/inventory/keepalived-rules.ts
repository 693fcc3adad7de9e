// What keepalived 2.2.7 itself refuses: every combination below makes `keepalived -t` report a problem
// (exit 5) or silently change the configuration, so validation refuses it first, with the reason.
// Found and kept honest by the property test (test/unit/property.test.ts) against the real keepalived.
import { parseCidr } from './ip.js';
import { instanceFamily, instanceView, type InstanceView } from './node-view.js';
import type { RawInventory, RawTracked, RawVip } from './schema.js';
import type { FieldPath } from './source.js';

type Report = (path: FieldPath, message: string) => void;

const RULE_PREFERENCE = /(^| )(priority|preference|pref|order) \d+( |$)/;
const ROUTE_TRACKED = /(^| )(dev [^ ]+|no_track)( |$)/;
const name = (t: RawTracked) => (typeof t === 'string' ? t : t.name);
const entryWeight = (t: RawTracked) => (typeof t === 'string' ? undefined : t.weight);
const vipText = (v: RawVip) => (typeof v === 'string' ? v : v.address);

export function checkKeepalivedLimits(inv: RawInventory, error: Report): void {
  const gd = inv.global_defs ?? {};
  if (gd.vrrp_iptables !== undefined) {
    error(['global_defs', 'vrrp_iptables'], "keepalived on Debian 12 is built without iptables (keepalived -t refuses it): use nftables");
  }
  const rulesNeedPreference = (lines: string[] | undefined, at: FieldPath) =>
    lines?.forEach((l, k) => {
      if (!RULE_PREFERENCE.test(l)) error([...at, k], 'needs a preference ("priority N"): keepalived -t refuses a rule without one');
    });
  rulesNeedPreference(inv.static_rules, ['static_rules']);

  const strict = gd.vrrp_strict === true;
  const groupOf = new Map<string, string>();
  for (const [g, group] of Object.entries(inv.vrrp_sync_groups ?? {})) {
    for (const m of group.group) groupOf.set(m, g);
    const owner = inv.nodes.find((n) => group.group.some((m) => inv.vrrp_instances[m] && instanceView(inv, n, m).priority === 255));
    if (owner) checkWeights(inv, group as unknown as InstanceView, ['vrrp_sync_groups', g], `a member has priority 255 on node ${owner.name} (address owner)`, error);
    if (group.global_tracking) {
      error(['vrrp_sync_groups', g, 'global_tracking'], 'is deprecated in keepalived 2.2 (keepalived -t refuses it): track on the group itself, or set sync_group_tracking_weight');
    }
  }

  for (const [iname, inst] of Object.entries(inv.vrrp_instances)) {
    const at: FieldPath = ['vrrp_instances', iname];
    const six = instanceFamily(inst) === 6;
    const version = inst.version ?? gd.vrrp_version ?? 2;
    rulesNeedPreference(inst.virtual_rules, [...at, 'virtual_rules']);
    inst.virtual_routes?.forEach((l, k) => {
      if (!ROUTE_TRACKED.test(l)) error([...at, 'virtual_routes', k], 'needs "dev IFACE" (or no_track): keepalived -t refuses to track a route without an interface');
    });
    if (six && inst.authentication) error([...at, 'authentication'], 'IPv6 uses VRRPv3, which has no authentication (keepalived -t refuses it)');
    inst.virtual_ipaddresses.forEach((v, k) => {
      if (typeof v !== 'string' && v.scope && parseCidr(v.address)?.family === 6) {
        error([...at, 'virtual_ipaddresses', k, 'scope'], 'keepalived cannot set a scope on an IPv6 address (keepalived -t refuses it)');
      }
    });

    const group = groupOf.get(iname);
    const groupDef = group ? inv.vrrp_sync_groups![group]! : undefined;
    for (const [i, node] of inv.nodes.entries()) {
      const view = instanceView(inv, node, iname);
      const where: FieldPath = node.instances?.[iname] ? ['nodes', i, 'instances', iname] : at;
      checkWeights(inv, view, where, groupDef && !groupDef.sync_group_tracking_weight ? `it is in sync group ${group}` : undefined, error);
      const hasPeers = view.unicast_peers !== undefined ? view.unicast_peers.length > 0 : view.unicast === true && inv.nodes.length > 1;
      if ((view.unicast || view.unicast_src_ip) && !hasPeers) {
        error(where, `${iname} on node ${node.name} is unicast without any peer (keepalived -t refuses it): add unicast_peers or another node`);
      }
      if (view.use_vmac && (view.unicast || view.unicast_peers?.length) && !view.vmac_xmit_base) {
        error(where, `${iname}: use_vmac with unicast needs vmac_xmit_base (keepalived -t refuses it otherwise)`);
      }
      groupDef?.track_interfaces?.forEach((t) => {
        if ((view.track_interfaces ?? []).some((x) => name(x) === name(t))) {
          error(where, `${iname} tracks ${name(t)}, which its sync group ${group} tracks too (keepalived -t refuses it)`);
        }
      });
      if (strict) checkStrict(inv, view, where, six, version, node.name, error);
    }
  }
}

/** Tracking weights keepalived would ignore: in a sync group (without sync_group_tracking_weight) and on the address owner. */
function checkWeights(inv: RawInventory, view: InstanceView, at: FieldPath, groupReason: string | undefined, error: Report): void {
  const reason = groupReason ?? (view.priority === 255 ? 'it has priority 255 (address owner)' : undefined);
  if (!reason) return;
  const defaults: Array<[keyof InstanceView, (n: string) => number | undefined]> = [
    ['track_interfaces', () => 0],
    ['track_scripts', (n) => inv.vrrp_scripts?.[n]?.weight ?? 0],
    ['track_processes', (n) => inv.vrrp_track_processes?.[n]?.weight ?? 1],
    ['track_files', (n) => inv.vrrp_track_files?.[n]?.weight ?? 1],
  ];
  for (const [field, objectWeight] of defaults) {
    ((view[field] as RawTracked[] | undefined) ?? []).forEach((t, k) => {
      const w = entryWeight(t) ?? objectWeight(name(t));
      if (w) error([...at, field, k], `${name(t)} has weight ${w}, which keepalived ignores because ${reason} (keepalived -t refuses it): give this entry weight 0`);
    });
  }
}

/** vrrp_strict's list (keepalived.conf(5)): each breach makes keepalived -t fail. */
function checkStrict(inv: RawInventory, view: InstanceView, at: FieldPath, six: boolean, version: number, node: string, error: Report): void {
  const bad = (what: string) => error(at, `${what} is not allowed with vrrp_strict (node ${node}; keepalived -t refuses it)`);
  if (view.unicast || view.unicast_src_ip || view.unicast_peers?.length) bad('unicast');
  if (view.authentication) bad('authentication');
  if (view.preempt_delay !== undefined) bad('preempt_delay');
  if (view.accept === true && version === 2) bad('accept with VRRPv2');
  if (view.vmac_xmit_base) bad('vmac_xmit_base');
  if (view.garp_master_repeat !== undefined || view.garp_master_refresh_repeat !== undefined || inv.global_defs?.vrrp_garp_master_repeat !== undefined || inv.global_defs?.vrrp_garp_master_refresh_repeat !== undefined) {
    bad('a gratuitous ARP repeat');
  }
  if ((view.state === 'MASTER') !== (view.priority === 255)) bad(`state ${view.state} with priority ${view.priority} (MASTER if and only if priority 255)`);
  if (six && version !== 3) bad('IPv6 with VRRPv2');
  const first = parseCidr(vipText(view.virtual_ipaddresses[0]!));
  if (six && first && !first.ip.toLowerCase().startsWith('fe80:')) bad('an IPv6 instance whose first VIP is not link-local (fe80::)');
}
