// Task kind `firewall`: VRRP (IP protocol 112, to 224.0.0.18 or the unicast peers) must pass between the
// cluster's nodes, or each node becomes MASTER alone (split brain). kadeploy finds the node's active
// firewall manager — firewalld, else ufw, else nftables and/or iptables (legacy or nf_tables) — and
// asks it (src/firewall/). Inventory `firewall:` says what then: `check` (default) fails before any
// change, naming what drops VRRP and the exact fix; `manage` applies that fix with the manager's own
// persistent mechanism (never a raw nft rule under firewalld or ufw, which would be overwritten);
// `off` removes what kadeploy added (its rules are found by their comment "kadeploy-vrrp", firewalld's
// in the record kadeploy keeps on the node) and leaves the rest alone. IPv6 instances (VRRPv3) are
// judged and let through alike, from link-local sources on their interfaces (src/firewall/vrrp.ts).
import { z } from 'zod';
import type { HostFacts } from '../facts/index.js';
import { FIREWALLD_ZONES, parseFirewalld, planFirewalld, removeFirewalld } from '../firewall/firewalld.js';
import { IP6TABLES_RULES, IPTABLES_RULES, iptablesActive, parseIptables, planIptables, removeIptables, withOneSave } from '../firewall/iptables.js';
import { type ManagerPlan } from '../firewall/manager.js';
import { isExplicitIpv6Source, LINK_LOCAL, sourcesText, type Vrrp } from '../firewall/vrrp.js';
import { NFT_CONF, NFT_KADEPLOY_CONF, NFT_RULESET, planNftables, removeNftables } from '../firewall/nftables.js';
import { parseUfw, planUfw, removeUfw, UFW_STATUS } from '../firewall/ufw.js';
import { parseCidr } from '../inventory/ip.js';
import type { NodeInstance } from '../inventory/model.js';
import type { DesiredBase } from '../types.js';
import { noop, type PlanContext, type TaskKind } from './kind.js';

export { RULE_COMMENT } from '../firewall/manager.js';
export { acceptRule, blocksVrrp, inputChains, NFT_RULESET } from '../firewall/nftables.js';

/** Which manager runs the firewall: firewalld and ufw own the rules when they are active. */
export const FIREWALL_MANAGER = 'if systemctl is-active --quiet firewalld; then echo firewalld; elif command -v ufw >/dev/null && ufw status | grep -q "^Status: active"; then echo ufw; fi';

interface Want extends DesiredBase {
  node: string;
  mode: 'manage' | 'check' | 'off';
  /** The other nodes' IPv4 addresses: VRRP of the IPv4 instances comes from them. */
  peers: string[];
  /** The IPv4 instances' interfaces: VRRP arrives there (firewalld judges it in their zone). */
  interfaces: string[];
  /** The IPv6 instances' interfaces, when the node has peers: their VRRPv3 comes from link-local addresses there. */
  ipv6Interfaces?: string[];
  /** The peers' IPv6 instances told to send from another address (unicast_src_ip, mcast_src_ip): those addresses. */
  ipv6Sources?: string[];
  /** The families whose instances here all advertise by multicast: a rule may accept them by destination. */
  multicast?: Array<4 | 6>;
}

/** keepalived runs an instance over IPv6 when its first VIP is IPv6, or with native_ipv6. */
export const isIpv6Instance = (i: Pick<NodeInstance, 'vips' | 'nativeIpv6'>) => i.nativeIpv6 || parseCidr(i.vips[0]?.address ?? '')?.family === 6;

/** The VRRP the node must hear, per IP family it has instances of. */
export function wantedVrrp(w: Pick<Want, 'peers' | 'interfaces' | 'ipv6Interfaces' | 'ipv6Sources' | 'multicast'>): Vrrp[] {
  const multicast = (family: 4 | 6) => (w.multicast?.includes(family) ? { multicast: true } : {});
  return [
    ...(w.peers.length ? [{ family: 4 as const, sources: w.peers, interfaces: w.interfaces, ...multicast(4) }] : []),
    ...(w.ipv6Interfaces?.length ? [{ family: 6 as const, sources: [LINK_LOCAL, ...(w.ipv6Sources ?? [])], interfaces: w.ipv6Interfaces, ...multicast(6) }] : []),
  ];
}

/** What the active manager(s) say about the VRRP of `wanted`. */
export function managerPlans(wanted: Vrrp[], mode: 'manage' | 'check', facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>): ManagerPlan[] {
  const out = (command: string) => facts.output?.[command] ?? '';
  const manager = out(FIREWALL_MANAGER).trim();
  if (manager === 'firewalld') {
    const f = parseFirewalld(out(FIREWALLD_ZONES));
    return f ? [planFirewalld(wanted, f)] : [{ manager: 'firewalld', blocked: ['firewalld is active but `firewall-cmd --list-all-zones` could not list its zones'], steps: [], notes: [], fine: '' }];
  }
  if (manager === 'ufw') {
    const u = parseUfw(out(UFW_STATUS));
    return u ? [planUfw(wanted, u)] : [];
  }
  const plans = [planNftables(wanted, mode, facts, ctx)];
  for (const command of [IPTABLES_RULES, IP6TABLES_RULES]) {
    const ipt = parseIptables(out(command));
    const v = wanted.find((w) => w.family === ipt?.family);
    // A family without instances here: only kadeploy's former rules of it are its business.
    if (ipt && iptablesActive(ipt) && (v || removeIptables(ipt).length)) plans.push(planIptables(v, ipt));
  }
  const kept = new Set(withOneSave(plans.flatMap((p) => p.steps)));
  return plans.map((p) => ({ ...p, steps: p.steps.filter((s) => kept.has(s)) }));
}

/** `firewall: off` after `manage`: every rule and file kadeploy added, out again. */
function removals(facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>) {
  const out = (command: string) => facts.output?.[command] ?? '';
  const ufw = parseUfw(out(UFW_STATUS));
  const ipt = [IPTABLES_RULES, IP6TABLES_RULES].flatMap((command) => parseIptables(out(command)) ?? []);
  const fwd = parseFirewalld(out(FIREWALLD_ZONES));
  return withOneSave([...removeNftables(facts, ctx), ...(ufw ? removeUfw(ufw) : []), ...ipt.flatMap(removeIptables), ...(fwd ? removeFirewalld(fwd) : [])]);
}

/**
 * What the node's instances need let through: IPv4 VRRP from the other nodes' IPv4 addresses when it
 * has an IPv4 instance; IPv6 VRRP on the IPv6 instances' interfaces when it has an IPv6 instance
 * (`ipv6Interfaces` only then, so an IPv4-only cluster's plans stay as they were).
 */
function wantOf(instances: NodeInstance[], others: Array<{ ip: string; instances: NodeInstance[] }>): Pick<Want, 'peers' | 'interfaces' | 'ipv6Interfaces' | 'ipv6Sources' | 'multicast'> {
  const v4 = instances.filter((i) => !isIpv6Instance(i));
  const v6 = instances.filter(isIpv6Instance);
  const ifaces = (list: NodeInstance[]) => [...new Set(list.map((i) => i.interface))];
  // Only the peers' instances this node runs too: VRRP of an instance it does not have is not its to hear.
  const names = new Set(v6.map((i) => i.name));
  const explicit = others.flatMap((n) => n.instances.filter((i) => names.has(i.name)).flatMap((i) => [i.unicast?.srcIp, i.mcastSrcIp]));
  const ipv6Sources = [...new Set(explicit.filter((ip): ip is string => ip !== undefined && isExplicitIpv6Source(ip)))];
  const multicast = ([[4, v4], [6, v6]] as const).flatMap(([family, list]) => (list.length && list.every((i) => !i.unicast) ? [family] : []));
  return {
    peers: v4.length ? others.filter((n) => !n.ip.includes(':')).map((n) => n.ip) : [],
    interfaces: ifaces(v4),
    ...(v6.length && others.length ? { ipv6Interfaces: ifaces(v6) } : {}),
    ...(v6.length && ipv6Sources.length ? { ipv6Sources } : {}),
    ...(multicast.length ? { multicast } : {}),
  };
}

export const firewallKind: TaskKind<Record<string, never>, Want> = {
  key: 'firewall',
  args: z.strictObject({}),
  // With the other packages: every node lets VRRP through before any node's keepalived changes.
  phase: 'packages',
  want: (_, task, { cluster, node }) => [
    {
      kind: 'firewall',
      task,
      node: node.name,
      mode: cluster.firewall,
      ...wantOf(node.instances, cluster.nodes.filter((n) => n.name !== node.name)),
    },
  ],
  needs: () => ({ output: [FIREWALL_MANAGER, NFT_RULESET, IPTABLES_RULES, IP6TABLES_RULES, UFW_STATUS, FIREWALLD_ZONES], files: [NFT_CONF, NFT_KADEPLOY_CONF] }),
  plan(w, facts: HostFacts, ctx) {
    if (w.mode === 'off') {
      const steps = removals(facts, ctx);
      if (!steps.length) return noop(w, 'firewall: off (nothing of kadeploy in the firewall)');
      return { task: w.task, kind: 'firewall', actions: ['remove'], summary: "firewall: off — remove kadeploy's VRRP rules", desired: w as never, steps };
    }
    const wanted = wantedVrrp(w);
    if (!wanted.length) {
      // A cluster shrunk to this node: rules kadeploy added for former peers go (manage only, as with
      // a peer removed from a larger cluster).
      const steps = w.mode === 'manage' ? removals(facts, ctx) : [];
      if (!steps.length) return noop(w, 'no peer: nothing to let through');
      return { task: w.task, kind: 'firewall', actions: ['remove'], summary: "no peer: remove kadeploy's VRRP rules no longer needed", desired: w as never, steps };
    }
    const plans = managerPlans(wanted, w.mode, facts, ctx);
    const blocked = plans.flatMap((p) => p.blocked);
    const steps = plans.flatMap((p) => p.steps);
    const names = plans.map((p) => p.manager).join(' and ') || 'no firewall';
    const notes = plans.flatMap((p) => p.notes).map((n) => `; ${n}`).join('');
    if (w.mode === 'check' && blocked.length) {
      const blocker =
        `${w.node}: VRRP from the other nodes would be dropped, so each node would hold the VIPs (split brain).\n  ${blocked.join('\n  ')}\n` +
        `  Add that rule to the node's firewall (and its saved configuration), or set "firewall: manage" in the inventory to let kadeploy add it.`;
      return { task: w.task, kind: 'firewall', actions: ['check'], summary: `${names} drops VRRP from the other nodes`, desired: w as never, steps: [], blocker };
    }
    if (w.mode === 'check' || !steps.length) return noop(w, `${plans.map((p) => p.fine).join(', ') || 'no firewall'}${notes}`);
    // Rules of kadeploy no longer needed (a former peer's) go too: the summary says which of the two it does.
    const removing = steps.filter((s) => /^(remove|forget) /.test(s.title)).length;
    const doing = [...(removing < steps.length ? [`let ${wanted.map(sourcesText).join(' and ')} through`] : []), ...(removing ? ["remove kadeploy's VRRP rules no longer needed"] : [])];
    return { task: w.task, kind: 'firewall', actions: ['update'], summary: `${names}: ${doing.join('; ')}${notes}`, desired: w as never, steps };
  },
};
