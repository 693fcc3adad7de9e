// firewalld: a packet from a peer is judged by one zone — the zone the peer's address is bound to
// (`sources:`), else the zone of the interface it arrives on, else the default zone. kadeploy reads
// every zone, runtime and permanent (`firewall-cmd --list-all-zones`: two calls, whatever the number
// of zones) and judges VRRP from each peer in the zone that will see it, on each VRRP interface.
// VRRP passes when that zone's target is ACCEPT, it allows protocol vrrp, or a rich rule accepts
// protocol vrrp from the peer (or from anywhere). `manage` adds a rich rule per peer to that zone,
// permanent (kept across reloads and reboots) and runtime (now) — through firewall-cmd only: a raw nft
// rule would be lost on firewalld's next reload.
import { contains, parseCidr } from '../inventory/ip.js';
import { sh } from '../shell/quote.js';
import type { Step } from '../types.js';
import { sameAddress, type ManagerPlan } from './manager.js';

export const FIREWALLD_ZONES =
  'command -v firewall-cmd >/dev/null && d=$(firewall-cmd --get-default-zone) && echo "default zone: $d" && ' +
  'firewall-cmd --list-all-zones && echo "@@permanent" && firewall-cmd --permanent --list-all-zones';

export interface ZoneView {
  target: string;
  protocols: string[];
  richRules: string[];
  interfaces: string[];
  sources: string[];
}

export interface FirewalldState {
  /** Runtime zones by name (what firewalld does now), and which is the default. */
  runtime: Map<string, ZoneView>;
  permanent: Map<string, ZoneView>;
  defaultZone: string;
}

function parseZone(text: string): ZoneView {
  const field = (name: string) => text.match(new RegExp(`^\\s*${name}: ?(.*)$`, 'm'))?.[1]?.trim() ?? '';
  const list = (name: string) => field(name).split(/\s+/).filter(Boolean);
  const rich = text.split(/^\s*rich rules:.*$/m)[1] ?? '';
  return {
    target: field('target'),
    protocols: list('protocols'),
    richRules: rich.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('rule ')),
    interfaces: list('interfaces'),
    sources: list('sources'),
  };
}

/** `--list-all-zones`: a header line per zone (`public`, or `public (active)` in some versions), its fields indented below. */
function parseZones(text: string): Map<string, ZoneView> {
  const zones = new Map<string, ZoneView>();
  for (const block of text.split(/^(?=\S)/m)) {
    const name = /^(\S+)(?: \([^)]*\))?[ \t]*$/.exec(block.split('\n')[0] ?? '')?.[1];
    if (name) zones.set(name, parseZone(block));
  }
  return zones;
}

export function parseFirewalld(text: string): FirewalldState | undefined {
  const defaultZone = /^default zone: (\S+)$/m.exec(text)?.[1];
  if (!defaultZone) return undefined;
  const [runtimeText = '', permanentText = ''] = text.split(/^@@permanent$/m);
  return { runtime: parseZones(runtimeText), permanent: parseZones(permanentText), defaultZone };
}

/** The zone firewalld judges a packet from `peer` arriving on `iface` in (source, then interface, then default). */
export function zoneFor(f: FirewalldState, peer: string, iface: string): string {
  const ip = parseCidr(peer);
  // A source is an address, a network, a MAC or an ipset: only the first two can name the peer here.
  const holds = (source: string) => {
    const net = parseCidr(source);
    return sameAddress(source, peer) || (net !== undefined && ip !== undefined && contains(net, ip));
  };
  for (const [name, z] of f.runtime) if (z.sources.some(holds)) return name;
  for (const [name, z] of f.runtime) if (z.interfaces.includes(iface)) return name;
  return f.defaultZone;
}

export const richRule = (peer: string) => `rule family="ipv4" source address="${peer}" protocol value="vrrp" accept`;

const EMPTY: ZoneView = { target: '', protocols: [], richRules: [], interfaces: [], sources: [] };

function accepts(z: ZoneView, peer: string): boolean {
  if (z.target === 'ACCEPT' || z.protocols.some((p) => p === 'vrrp' || p === '112')) return true;
  return z.richRules.some((r) => {
    if (!/protocol value="(vrrp|112)"/.test(r) || !/\saccept\b/.test(r) || /\bnot\b/.test(r)) return false;
    const source = r.match(/source address="([^"]+)"/)?.[1];
    return !source || sameAddress(source, peer);
  });
}

const addCommand = (zone: string, peer: string, permanent: boolean) =>
  sh('firewall-cmd', ...(permanent ? ['--permanent'] : []), `--zone=${zone}`, `--add-rich-rule=${richRule(peer)}`);

/** VRRP from `peers` arriving on `interfaces` (the node's VRRP interfaces), judged zone by zone. */
export function planFirewalld(peers: string[], interfaces: string[], f: FirewalldState): ManagerPlan {
  const blocked: string[] = [];
  const steps: Step[] = [];
  const used = new Set<string>();
  for (const peer of peers) {
    for (const zone of new Set((interfaces.length ? interfaces : ['']).map((i) => zoneFor(f, peer, i)))) {
      used.add(zone);
      const runtime = f.runtime.get(zone) ?? EMPTY;
      const now = accepts(runtime, peer);
      const kept = accepts(f.permanent.get(zone) ?? EMPTY, peer);
      if (now && kept) continue;
      const fix = `${addCommand(zone, peer, true)} && ${addCommand(zone, peer, false)}`;
      blocked.push(
        now
          ? `firewalld zone ${zone} lets VRRP from ${peer} through until its next reload only (not in the permanent configuration): run\n    ${addCommand(zone, peer, true)}`
          : `firewalld zone ${zone} drops VRRP from ${peer} (zone target ${runtime.target || 'default'}, no rule accepts VRRP): run\n    ${fix}`,
      );
      if (!kept) steps.push({ title: `let VRRP from ${peer} through firewalld zone ${zone} (permanent)`, command: addCommand(zone, peer, true) });
      if (!now) steps.push({ title: `let VRRP from ${peer} through firewalld zone ${zone} (now)`, command: addCommand(zone, peer, false) });
    }
  }
  const manager = `firewalld zone ${[...used].join(', ') || f.defaultZone}`;
  return { manager, blocked, steps, notes: [], fine: `${manager} lets VRRP through` };
}
