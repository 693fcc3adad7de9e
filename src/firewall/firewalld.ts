// firewalld: a packet from a peer is judged by one zone — the zone the peer's address is bound to
// (`sources:`), else the zone of the interface it arrives on, else the default zone. kadeploy reads
// every zone, runtime and permanent (`firewall-cmd --list-all-zones`: two calls, whatever the number
// of zones) and judges VRRP from each peer in the zone that will see it, on each VRRP interface.
// VRRP passes when that zone's target is ACCEPT, it allows protocol vrrp, or a rich rule accepts
// protocol vrrp from the peer (or from anywhere). IPv6 instances: VRRP from link-local sources
// (fe80::/10), judged in the zone of each IPv6 instance's interface, with a family="ipv6" rich rule
// (a rich rule cannot name an interface: the zone is what ties it to one). `manage` adds a rich rule per peer to that zone,
// permanent (kept across reloads and reboots) and runtime (now) — through firewall-cmd only: a raw nft
// rule would be lost on firewalld's next reload. Rich rules have no comment to mark them as kadeploy's,
// so each rule kadeploy adds is recorded, with its zone and layer, in FIREWALLD_RECORD on the node:
// only recorded rules are ever removed (a former peer's, one in a zone no longer used, all of them
// with `firewall: off`); an identical rule the user added stays, since kadeploy then added none.
import { sh } from '../shell/quote.js';
import type { Step } from '../types.js';
import { sourceHolds, type ManagerPlan } from './manager.js';
import { probesOf, vrrpName, type Probe, type Vrrp } from './vrrp.js';

/** The rich rules kadeploy added: `LAYER<TAB>ZONE<TAB>RULE` lines, LAYER `permanent` or `runtime`. */
export const FIREWALLD_RECORD = '/var/lib/kadeploy/firewalld-rules';

export const FIREWALLD_ZONES =
  'command -v firewall-cmd >/dev/null && d=$(firewall-cmd --get-default-zone) && echo "default zone: $d" && ' +
  'firewall-cmd --list-all-zones && echo "@@permanent" && firewall-cmd --permanent --list-all-zones && ' +
  `echo "@@recorded" && { cat ${FIREWALLD_RECORD} 2>/dev/null; true; }`;

export type Layer = 'permanent' | 'runtime';

/** A rich rule kadeploy added to one layer of a zone. */
export interface RecordedRule {
  layer: Layer;
  zone: string;
  rule: string;
}

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
  /** The rules kadeploy added (FIREWALLD_RECORD). */
  recorded: RecordedRule[];
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
  const [zonesText = '', recordText = ''] = text.split(/^@@recorded$/m);
  const [runtimeText = '', permanentText = ''] = zonesText.split(/^@@permanent$/m);
  return { runtime: parseZones(runtimeText), permanent: parseZones(permanentText), defaultZone, recorded: parseRecord(recordText) };
}

const recordLine = (r: RecordedRule) => `${r.layer}\t${r.zone}\t${r.rule}`;

function parseRecord(text: string): RecordedRule[] {
  return text.split('\n').flatMap((line) => {
    const [layer, zone, rule] = line.split('\t');
    return (layer === 'permanent' || layer === 'runtime') && zone && rule ? [{ layer, zone, rule }] : [];
  });
}

/** The zone firewalld judges a packet from `peer` arriving on `iface` in (source, then interface, then default). */
export function zoneFor(f: FirewalldState, peer: string, iface: string): string {
  // A source is an address, a network, a MAC or an ipset: only the first two can name the peer here.
  for (const [name, z] of f.runtime) if (z.sources.some((source) => sourceHolds(source, peer))) return name;
  for (const [name, z] of f.runtime) if (z.interfaces.includes(iface)) return name;
  return f.defaultZone;
}

/** kadeploy's rich rule for a probe: from the peer (IPv4) or from link-local sources (IPv6; the zone is the interface's). */
export const richRule = ({ allow }: Pick<Probe, 'allow'>) => `rule family="${allow.source.includes(':') ? 'ipv6' : 'ipv4'}" source address="${allow.source}" protocol value="vrrp" accept`;

const EMPTY: ZoneView = { target: '', protocols: [], richRules: [], interfaces: [], sources: [] };

function accepts(z: ZoneView, peer: string): boolean {
  if (z.target === 'ACCEPT' || z.protocols.some((p) => p === 'vrrp' || p === '112')) return true;
  const family = peer.includes(':') ? 'ipv6' : 'ipv4';
  return z.richRules.some((r) => {
    if (!/protocol value="(vrrp|112)"/.test(r) || !/\saccept\b/.test(r) || /\bnot\b/.test(r)) return false;
    // A rule of the other family never matches (one without family="…" matches both).
    if (new RegExp(`family="(?!${family}")`).test(r)) return false;
    const source = r.match(/source address="([^"]+)"/)?.[1];
    return !source || sourceHolds(source, peer);
  });
}

const ruleCommand = (verb: 'add' | 'remove', zone: string, rule: string, permanent: boolean) =>
  sh('firewall-cmd', ...(permanent ? ['--permanent'] : []), `--zone=${zone}`, `--${verb}-rich-rule=${rule}`);
/** The fix a user runs by hand (theirs, not recorded). */
const addCommand = (zone: string, p: Probe, permanent: boolean) => ruleCommand('add', zone, richRule(p), permanent);

const RECORD_DIR = FIREWALLD_RECORD.slice(0, FIREWALLD_RECORD.lastIndexOf('/'));
/**
 * Record the rule (once), then add it: a run killed in between leaves a record whose rule is absent,
 * which the next run forgets or re-adds — never a rule of kadeploy's that nothing knows is kadeploy's.
 */
function addStep(title: string, r: RecordedRule): Step {
  const line = sh(recordLine(r));
  const record = `mkdir -p ${RECORD_DIR} && { grep -qxF -e ${line} ${FIREWALLD_RECORD} 2>/dev/null || printf '%s\\n' ${line} >> ${FIREWALLD_RECORD}; }`;
  return { title, command: `${record} && ${ruleCommand('add', r.zone, r.rule, r.layer === 'permanent')}` };
}
/** Remove a recorded rule from its layer (when `inFirewall`), then forget it. */
function removeStep(title: string, r: RecordedRule, inFirewall: boolean): Step {
  const tmp = `${FIREWALLD_RECORD}.tmp`;
  const forget = `{ grep -vxF -e ${sh(recordLine(r))} ${FIREWALLD_RECORD} || true; } > ${tmp} && mv -f ${tmp} ${FIREWALLD_RECORD}`;
  return { title, command: inFirewall ? `${ruleCommand('remove', r.zone, r.rule, r.layer === 'permanent')} && ${forget}` : forget };
}

const sameRule = (a: string, b: string) => a.replace(/\s+/g, ' ') === b.replace(/\s+/g, ' ');
const zoneHolds = (zones: Map<string, ZoneView>, zone: string, rule: string) => (zones.get(zone)?.richRules ?? []).some((r) => sameRule(r, rule));

/**
 * Steps that take recorded rules out (all of them, or those `keep` does not want): each from the layer
 * it was added to. A runtime rule also in the permanent configuration without kadeploy having added it
 * there is the user's (firewalld loads it at each reload): it stays, only forgotten. Entries whose rule
 * is gone already are only forgotten (so an identical rule added later by hand is never taken for ours).
 */
function removeRecorded(f: FirewalldState, keep: (r: RecordedRule) => boolean): Step[] {
  const ours = (r: RecordedRule, layer: Layer) => f.recorded.some((x) => x.layer === layer && x.zone === r.zone && sameRule(x.rule, r.rule));
  return f.recorded.filter((r) => !keep(r)).map((r) => {
    const zones = r.layer === 'permanent' ? f.permanent : f.runtime;
    const usersToo = r.layer === 'runtime' && zoneHolds(f.permanent, r.zone, r.rule) && !ours(r, 'permanent');
    const present = zoneHolds(zones, r.zone, r.rule) && !usersToo;
    const what = `${r.rule.match(/source address="([^"]+)"/)?.[1] ?? 'a peer'} in firewalld zone ${r.zone} (${r.layer === 'permanent' ? 'permanent' : 'now'})`;
    return removeStep(present ? `remove kadeploy's VRRP rule for ${what}` : `forget kadeploy's VRRP rule for ${what}: no longer in firewalld`, r, present);
  });
}

/** `firewall: off`: every rule kadeploy added, out again (only those). */
export const removeFirewalld = (f: FirewalldState): Step[] => removeRecorded(f, () => false);

/** The VRRP each family needs (`wanted`: IPv4 from the peers, IPv6 from link-local sources), judged zone by zone. */
export function planFirewalld(wanted: Vrrp[], f: FirewalldState): ManagerPlan {
  const blocked: string[] = [];
  const steps: Step[] = [];
  const used = new Set<string>();
  const rules: Array<{ zone: string; rule: string }> = [];
  for (const v of wanted) {
    for (const p of probesOf(v)) {
      const what = `${vrrpName(v)} ${p.label}`;
      for (const zone of new Set((p.interfaces.length ? p.interfaces : ['']).map((i) => zoneFor(f, p.source, i)))) {
        used.add(zone);
        rules.push({ zone, rule: richRule(p) });
        const runtime = f.runtime.get(zone) ?? EMPTY;
        const now = accepts(runtime, p.source);
        const kept = accepts(f.permanent.get(zone) ?? EMPTY, p.source);
        if (now && kept) continue;
        const fix = `${addCommand(zone, p, true)} && ${addCommand(zone, p, false)}`;
        blocked.push(
          now
            ? `firewalld zone ${zone} lets ${what} through until its next reload only (not in the permanent configuration): run\n    ${addCommand(zone, p, true)}`
            : `firewalld zone ${zone} drops ${what} (zone target ${runtime.target || 'default'}, no rule accepts VRRP): run\n    ${fix}`,
        );
        if (!kept) steps.push(addStep(`let ${what} through firewalld zone ${zone} (permanent)`, { layer: 'permanent', zone, rule: richRule(p) }));
        if (!now) steps.push(addStep(`let ${what} through firewalld zone ${zone} (now)`, { layer: 'runtime', zone, rule: richRule(p) }));
      }
    }
  }
  // kadeploy's rules for a former peer, or in a zone that no longer sees a peer's VRRP: out.
  const former = removeRecorded(f, (r) => rules.some((w) => w.zone === r.zone && sameRule(w.rule, r.rule)));
  const manager = `firewalld zone ${[...used].join(', ') || f.defaultZone}`;
  return { manager, blocked, steps: [...former, ...steps], notes: [], fine: `${manager} lets VRRP through` };
}
