// iptables (legacy, or the nf_tables backend) and, for IPv6 instances, ip6tables: kadeploy reads
// `iptables -S` / `ip6tables -S` (the filter table). A rule dropping VRRP from a peer, or an
// unconditional DROP/REJECT, before any rule accepting it, or policy DROP, blocks it; jumps to the
// user's chains are followed. Both tools list rules alike: one parser and one walk serve both.
// `manage` inserts one rule per peer (IPv6: per interface, from link-local sources; comment
// "kadeploy-vrrp") and saves the rules with netfilter-persistent (rules.v4 and rules.v6) when it is
// installed; otherwise the rules last until the next reboot.
import { sh } from '../shell/quote.js';
import type { Step } from '../types.js';
import { RULE_COMMENT, sameAddress, sourceHolds, walkChains, type ManagerPlan, type RuleAction } from './manager.js';
import { probesOf, vrrpName, type Probe, type Vrrp } from './vrrp.js';

/** `TOOL -V` (backend), the filter table's chains, and whether netfilter-persistent can save them. */
const rulesCommand = (tool: string) => `command -v ${tool} >/dev/null && ${tool} -V && ${tool} -S && echo "persistent: $(command -v netfilter-persistent)"`;
export const IPTABLES_RULES = rulesCommand('iptables');
export const IP6TABLES_RULES = rulesCommand('ip6tables');

export interface IptablesInput {
  /** `iptables` or `ip6tables`: the tool that lists and changes these rules. */
  tool: string;
  family: 4 | 6;
  backend: string;
  policy: string;
  /** `-A INPUT …` lines, in order. */
  rules: string[];
  /** Every chain's `-A CHAIN …` lines (INPUT's too): what jumps lead to. */
  chains: Map<string, string[]>;
  persistent: boolean;
}

export function parseIptables(text: string): IptablesInput | undefined {
  const version = text.match(/^(ip6?tables) v\S+ \((\S+)\)/m);
  if (!version) return undefined;
  const [, tool, backend] = version as [string, string, string];
  const chains = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const chain = line.match(/^-A (\S+) /)?.[1];
    if (chain) chains.set(chain, [...(chains.get(chain) ?? []), line]);
  }
  return { tool, family: tool === 'ip6tables' ? 6 : 4, backend, policy: text.match(/^-P INPUT (\S+)/m)?.[1] ?? 'ACCEPT', rules: chains.get('INPUT') ?? [], chains, persistent: /^persistent: \S+/m.test(text) };
}

/** Has rules of its own: a policy other than ACCEPT or any rule. */
export const iptablesActive = (t: IptablesInput | undefined) => t !== undefined && (t.policy !== 'ACCEPT' || t.rules.length > 0);

const isVrrp = (rule: string) => /\s-p (vrrp|112)\b/.test(rule);
const target = (rule: string) => rule.match(/\s-[jg] (\S+)/)?.[1];
const SOURCE = /\s(! )?-s (\S+)/;
const IN = /\s(! )?-i (\S+)/;
const DEST = /\s(! )?-d (\S+)/;
/** `-m pkttype --pkt-type multicast` and `-m addrtype --dst-type MULTICAST`: a multicast destination. */
const MULTICAST = /\s-m (?:pkttype (! )?--pkt-type|addrtype (! )?--dst-type) (\S+)/;
const sourceOf = (rule: string) => rule.match(SOURCE)?.[2];
/** iptables' interface names: exact, or a prefix ending in `+`. */
const nameHolds = (pattern: string, name: string) => (pattern.endsWith('+') ? name.startsWith(pattern.slice(0, -1)) : pattern === name);

/**
 * Does the rule apply to VRRP from `peer` arriving on one of `interfaces` (sent to `destination`, the
 * multicast group, when known): its source (`-s`), input interface (`-i`) and destination (`-d`, a
 * multicast packet type), maybe negated, are read; a VRRP rule takes other conditions as matching; any
 * other rule applies only when those are all it tests (`-s 10.0.0.0/24 -j ACCEPT`, `-i eth0 -j lan`,
 * `-d 224.0.0.0/8 -j ACCEPT`, `-j DROP`). A destination test on a node whose adverts are unicast is not read.
 */
function appliesTo(rule: string, peer: string, interfaces: readonly string[], destination?: string): boolean {
  const s = rule.match(SOURCE);
  const i = rule.match(IN);
  const d = rule.match(DEST);
  const m = rule.match(MULTICAST);
  if (s && sourceHolds(s[2]!, peer) === Boolean(s[1])) return false;
  if (i && (!interfaces.length || interfaces.some((n) => nameHolds(i[2]!, n)) === Boolean(i[1]))) return false;
  if ((d || m) && !destination && !isVrrp(rule)) return false;
  if (destination && d && sourceHolds(d[2]!, destination) === Boolean(d[1])) return false;
  if (destination && m && (m[3]!.toLowerCase() === 'multicast') === Boolean(m[1] ?? m[2])) return false;
  if (isVrrp(rule)) return true;
  const conditions = rule.replace(/^-A \S+/, '').replace(SOURCE, '').replace(IN, '').replace(DEST, '').replace(MULTICAST, '').replace(/\s-m comment --comment ("[^"]*"|\S+)/, '').replace(/\s-[jg] \S+.*$/, '').trim();
  return !conditions;
}

/** What the rule does to VRRP from `peer` arriving on one of `interfaces` (undefined: it does not apply). */
function actionOf(rule: string, peer: string, interfaces: readonly string[], destination?: string): RuleAction | undefined {
  if (!appliesTo(rule, peer, interfaces, destination)) return undefined;
  const j = target(rule);
  if (j === 'ACCEPT') return 'accept';
  if (j === 'DROP' || j === 'REJECT') return 'drop';
  if (j === 'RETURN') return 'return';
  if (!j) return undefined;
  // Any other target: a user chain is walked into, a non-terminating target (LOG, MARK) is no chain.
  return /\s-g \S+/.test(rule) ? { goto: j } : { jump: j };
}

/** Why INPUT blocks VRRP (of the listing's family) from `peer` arriving on one of `interfaces`, or undefined when it passes. */
export function iptablesBlocks(t: IptablesInput, peer: string, interfaces: readonly string[] = [], destination?: string): string | undefined {
  const outcome = walkChains('INPUT', (name) => t.chains.get(name), (rule) => actionOf(rule, peer, interfaces, destination));
  if (outcome?.verdict === 'accept') return undefined;
  if (outcome?.verdict === 'drop') return `rule "${outcome.rule}"`;
  return t.policy === 'DROP' ? 'policy DROP' : undefined;
}

const managed = (t: IptablesInput) => t.rules.filter((r) => r.includes(`--comment ${RULE_COMMENT}`));
const inOf = (rule: string) => rule.match(IN)?.[2];
const acceptWords = ({ allow }: Probe) => ['-s', allow.source, ...(allow.interface ? ['-i', allow.interface] : []), '-p', '112', '-m', 'comment', '--comment', RULE_COMMENT, '-j', 'ACCEPT'];
const insert = (t: IptablesInput, p: Probe) => sh(t.tool, '-I', 'INPUT', ...acceptWords(p));
/** The rule as `TOOL -S` lists it, deleted by its exact specification. */
const deleteRule = (t: IptablesInput, rule: string) => sh(t.tool, '-D', ...rule.replace(/^-A /, '').split(/\s+/));
/** Is kadeploy's rule `rule` the one it writes for `p`? */
const isRuleFor = (rule: string, p: Probe) => sameAddress(sourceOf(rule) ?? '', p.allow.source) && inOf(rule) === p.allow.interface;
const SAVE_TITLE = 'save the iptables rules (netfilter-persistent)';
const saveStep = (): Step => ({ title: SAVE_TITLE, command: sh('netfilter-persistent', 'save') });
const isSave = (s: Step) => s.title === SAVE_TITLE;
/** netfilter-persistent save writes rules.v4 and rules.v6 at once: of the saves, only the last is kept (after every change). */
export const withOneSave = (steps: Step[]) => steps.filter((s) => !isSave(s) || s === steps.filter(isSave).at(-1));

/** VRRP of the listing's family (`v`; undefined: the node has no instance of it, kadeploy's rules of it go). */
export function planIptables(v: Vrrp | undefined, t: IptablesInput): ManagerPlan {
  const manager = `${t.tool} (${t.backend})`;
  const blocked: string[] = [];
  const steps: Step[] = [];
  const probes = v ? probesOf(v) : [];
  for (const rule of managed(t).filter((r) => !probes.some((p) => isRuleFor(r, p)))) {
    steps.push({ title: `remove kadeploy's ${vrrpName(t)} rule no longer needed (a former peer's) from ${t.tool} INPUT`, command: deleteRule(t, rule) });
  }
  for (const p of probes) {
    const why = iptablesBlocks(t, p.source, p.interfaces, p.destination);
    if (!why) continue;
    blocked.push(`${t.tool} INPUT (${t.backend}) drops ${vrrpName(t)} ${p.label} (${why}): add before it\n    ${insert(t, p)}`);
    steps.push({ title: `let ${vrrpName(t)} ${p.label} through ${t.tool} INPUT`, command: insert(t, p) });
  }
  const notes: string[] = [];
  if (steps.length && t.persistent) steps.push(saveStep());
  if (!t.persistent && (steps.length || managed(t).length)) notes.push(`not persisted: netfilter-persistent is not installed (a reboot drops the ${t.tool} rule; the next apply adds it again)`);
  return { manager, blocked, steps, notes, fine: `${manager} lets ${vrrpName(t)} through` };
}

/** `firewall: off`: kadeploy's rules out again (saved when netfilter-persistent is there). */
export function removeIptables(t: IptablesInput): Step[] {
  const steps: Step[] = managed(t).map((r) => ({ title: `remove kadeploy's VRRP rule from ${t.tool} INPUT`, command: deleteRule(t, r) }));
  if (steps.length && t.persistent) steps.push(saveStep());
  return steps;
}
