// What each firewall manager module (nftables, iptables, ufw, firewalld) says about one node: what
// drops VRRP from the peers (with the exact fix), and the steps that let it through with the
// manager's own persistent mechanism. The task (src/tasks/firewall.ts) picks the active manager.
import { contains, parseCidr } from '../inventory/ip.js';
import type { Step } from '../types.js';

export const RULE_COMMENT = 'kadeploy-vrrp';

export interface ManagerPlan {
  /** The manager, as the plan names it ("ufw", "firewalld zone public", …). */
  manager: string;
  /** What drops VRRP now, each with the command that fixes it. */
  blocked: string[];
  /** What `manage` runs (also to keep a passing rule persistent or up to date). */
  steps: Step[];
  /** Said in the summary: what is not persisted. */
  notes: string[];
  /** The summary when nothing is to be done ("nftables lets VRRP through", "no nftables input chain"). */
  fine: string;
}

/**
 * The VRRP a node must hear in one IP family. IPv4: from the other nodes' addresses. IPv6 (VRRPv3):
 * keepalived sends from the interface's link-local address (RFC 5798 5.1.2.1) to ff02::12, so the
 * source is fe80::/10 on the IPv6 instances' interfaces, not the inventory's node addresses.
 */
export interface Vrrp {
  family: 4 | 6;
  /** What a rule of kadeploy lets through: the IPv4 peers, or LINK_LOCAL and the peers' explicit IPv6 sources (unicast_src_ip, mcast_src_ip). */
  sources: string[];
  /** The instances' interfaces of this family: VRRP arrives there. */
  interfaces: string[];
}

export const LINK_LOCAL = 'fe80::/10';

/**
 * One packet to judge: VRRP from `source` arriving on one of `interfaces`; `label` names it in
 * messages; `allow` is what kadeploy's rule for it names (a manager writing one rule per probe).
 */
export interface Probe {
  label: string;
  source: string;
  interfaces: readonly string[];
  allow: { source: string; interface?: string };
}

/**
 * IPv4: one probe per peer. IPv6: one per interface, from fe80::/64 — the network every link-local
 * address is in (the kernel's), so a rule for `fe80::/64` lets it through as well as one for `fe80::/10`.
 */
export function probesOf(v: Vrrp): Probe[] {
  const fromPeers = v.sources.filter((s) => s !== LINK_LOCAL).map((p) => ({ label: `from ${p}`, source: p, interfaces: v.interfaces, allow: { source: p } }));
  if (v.family === 4) return fromPeers;
  return [...v.interfaces.map((i) => ({ label: `on ${i}`, source: 'fe80::/64', interfaces: [i], allow: { source: LINK_LOCAL, interface: i } })), ...fromPeers];
}

/** A source keepalived was told to send from (unicast_src_ip, mcast_src_ip) that is not link-local: it must be let through too. */
export const isExplicitIpv6Source = (ip: string) => {
  const a = parseCidr(ip);
  return a?.family === 6 && !contains(parseCidr(LINK_LOCAL)!, a);
};

/** How messages name VRRP of the family. */
export const vrrpName = (v: Pick<Vrrp, 'family'>) => (v.family === 6 ? 'IPv6 VRRP' : 'VRRP');

/** Who a rule of kadeploy lets through, as the plan says it. */
export function sourcesText(v: Vrrp): string {
  if (v.family === 4) return `VRRP from ${v.sources.join(', ')}`;
  const explicit = v.sources.filter((s) => s !== LINK_LOCAL);
  return `IPv6 VRRP from link-local addresses on ${v.interfaces.join(', ')}${explicit.length ? ` and from ${explicit.join(', ')}` : ''}`;
}

/** The addresses as a manager lists them: `10.0.0.1` or `10.0.0.1/32` (`/128` for IPv6). */
export const sameAddress = (a: string, b: string) => a.replace(/\/(32|128)$/, '') === b.replace(/\/(32|128)$/, '');

/**
 * Does a rule's source match packets from `peer`: the same address, a network holding it
 * (`10.0.0.0/24`) or a range holding it (`10.0.0.10-10.0.0.20`, as nft lists them)? A `peer` that is
 * a network (IPv6 link-local) is held only whole: by a network at least as wide that contains it.
 */
export function sourceHolds(source: string, peer: string): boolean {
  if (sameAddress(source, peer)) return true;
  const ip = parseCidr(peer);
  if (!ip) return false;
  if (ip.prefix !== undefined) {
    const net = parseCidr(source);
    return net?.prefix !== undefined && net.prefix <= ip.prefix && contains(net, ip);
  }
  const range = source.split('-');
  if (range.length === 2) {
    const [from, to] = range.map((a) => parseCidr(a.trim()));
    return from !== undefined && to !== undefined && inRange(from.ip, to.ip, ip.ip);
  }
  const net = parseCidr(source);
  return net !== undefined && contains(net, ip);
}

/** IPv4 only (the peers firewall rules are written for); false for anything else. */
function inRange(from: string, to: string, ip: string): boolean {
  const n = (a: string) => (/^\d+\.\d+\.\d+\.\d+$/.test(a) ? a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) : NaN);
  return n(from) <= n(ip) && n(ip) <= n(to);
}

/** What one rule does to the packet asked about; undefined when the rule does not apply to it. */
export type RuleAction = 'accept' | 'drop' | 'return' | { jump: string } | { goto: string };

/** Where a packet's walk through the chains ended: accepted, dropped (by which rule, in which chain), or not decided. */
export type Walked = { verdict: 'accept' } | { verdict: 'drop'; rule: string; chain: string } | undefined;

/**
 * A packet through `chain` as netfilter runs it: the first rule that applies decides (accept, drop),
 * `return` goes back to the caller, a jump runs the other chain and goes on when that one falls
 * through, a goto does not come back. Undefined: nothing decided (the base chain's policy does).
 */
export function walkChains(chain: string, rulesOf: (chain: string) => readonly string[] | undefined, actionOf: (rule: string) => RuleAction | undefined): Walked {
  const walk = (name: string, depth: number): Walked | 'end' => {
    for (const rule of rulesOf(name) ?? []) {
      const action = actionOf(rule);
      if (action === undefined) continue;
      if (action === 'accept') return { verdict: 'accept' };
      if (action === 'drop') return { verdict: 'drop', rule, chain: name };
      if (action === 'return') return undefined;
      const target = 'jump' in action ? action.jump : action.goto;
      // netfilter refuses loops; the depth bound only guards against a listing read wrong.
      if (!rulesOf(target) || depth >= 16) continue;
      const inner = walk(target, depth + 1);
      if (inner) return inner;
      if ('goto' in action) return 'end';
    }
    return undefined;
  };
  const outcome = walk(chain, 0);
  return outcome === 'end' ? undefined : outcome;
}
