// What VRRP a node must hear, per IP family, and the packets ("probes") each firewall manager is
// asked about: IPv4 VRRP from each peer's address; IPv6 VRRP (VRRPv3) from link-local sources on each
// IPv6 instance's interface (plus a peer's explicit non-link-local source). Shared by every manager.
import { contains, parseCidr } from '../inventory/ip.js';

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
  /** Every instance of this family here advertises by multicast (no unicast peers): to 224.0.0.18 or ff02::12. */
  multicast?: boolean;
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
  /** Where the adverts go, when known: the family's VRRP multicast group (undefined with unicast peers). */
  destination?: string;
  allow: { source: string; interface?: string };
}

/** VRRP's multicast groups (RFC 5798 5.1.1.2, 5.1.2.2). */
export const VRRP_GROUP = { 4: '224.0.0.18', 6: 'ff02::12' } as const;

/**
 * IPv4: one probe per peer. IPv6: one per interface, from fe80::/64 — the network every link-local
 * address is in (the kernel's), so a rule for `fe80::/64` lets it through as well as one for `fe80::/10`.
 */
export function probesOf(v: Vrrp): Probe[] {
  const to = v.multicast ? { destination: VRRP_GROUP[v.family] } : {};
  const fromPeers = v.sources.filter((s) => s !== LINK_LOCAL).map((p) => ({ label: `from ${p}`, source: p, interfaces: v.interfaces, ...to, allow: { source: p } }));
  if (v.family === 4) return fromPeers;
  return [...v.interfaces.map((i) => ({ label: `on ${i}`, source: 'fe80::/64', interfaces: [i], ...to, allow: { source: LINK_LOCAL, interface: i } })), ...fromPeers];
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
