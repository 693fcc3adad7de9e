// iptables (legacy, or the nf_tables backend): kadeploy reads `iptables -S` (the filter table). A rule
// dropping VRRP from a peer, or an unconditional DROP/REJECT, before any rule accepting it, or policy
// DROP, blocks it; jumps to the user's chains are followed.
// `manage` inserts one rule per peer (comment "kadeploy-vrrp") and saves the rules with
// netfilter-persistent when it is installed; otherwise the rules last until the next reboot.
import { sh } from '../shell/quote.js';
import type { Step } from '../types.js';
import { RULE_COMMENT, sameAddress, sourceHolds, walkChains, type ManagerPlan, type RuleAction } from './manager.js';

/** `iptables -V` (backend), the filter table's chains, and whether netfilter-persistent can save them. */
export const IPTABLES_RULES = 'command -v iptables >/dev/null && iptables -V && iptables -S && echo "persistent: $(command -v netfilter-persistent)"';

export interface IptablesInput {
  backend: string;
  policy: string;
  /** `-A INPUT …` lines, in order. */
  rules: string[];
  /** Every chain's `-A CHAIN …` lines (INPUT's too): what jumps lead to. */
  chains: Map<string, string[]>;
  persistent: boolean;
}

export function parseIptables(text: string): IptablesInput | undefined {
  const backend = text.match(/^iptables v\S+ \((\S+)\)/m)?.[1];
  if (!backend) return undefined;
  const chains = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const chain = line.match(/^-A (\S+) /)?.[1];
    if (chain) chains.set(chain, [...(chains.get(chain) ?? []), line]);
  }
  return { backend, policy: text.match(/^-P INPUT (\S+)/m)?.[1] ?? 'ACCEPT', rules: chains.get('INPUT') ?? [], chains, persistent: /^persistent: \S+/m.test(text) };
}

/** Has rules of its own: a policy other than ACCEPT or any rule. */
export const iptablesActive = (t: IptablesInput | undefined) => t !== undefined && (t.policy !== 'ACCEPT' || t.rules.length > 0);

const isVrrp = (rule: string) => /\s-p (vrrp|112)\b/.test(rule);
const target = (rule: string) => rule.match(/\s-[jg] (\S+)/)?.[1];
const SOURCE = /\s(! )?-s (\S+)/;
const IN = /\s(! )?-i (\S+)/;
const sourceOf = (rule: string) => rule.match(SOURCE)?.[2];
/** iptables' interface names: exact, or a prefix ending in `+`. */
const nameHolds = (pattern: string, name: string) => (pattern.endsWith('+') ? name.startsWith(pattern.slice(0, -1)) : pattern === name);

/**
 * Does the rule apply to VRRP from `peer` arriving on one of `interfaces`: its source (`-s`) and input
 * interface (`-i`), maybe negated, are read; a VRRP rule takes other conditions as matching; any other
 * rule applies only when those two are all it tests (`-s 10.0.0.0/24 -j ACCEPT`, `-i eth0 -j lan`, `-j DROP`).
 */
function appliesTo(rule: string, peer: string, interfaces: readonly string[]): boolean {
  const s = rule.match(SOURCE);
  const i = rule.match(IN);
  if (s && sourceHolds(s[2]!, peer) === Boolean(s[1])) return false;
  if (i && (!interfaces.length || interfaces.some((n) => nameHolds(i[2]!, n)) === Boolean(i[1]))) return false;
  if (isVrrp(rule)) return true;
  const conditions = rule.replace(/^-A \S+/, '').replace(SOURCE, '').replace(IN, '').replace(/\s-m comment --comment ("[^"]*"|\S+)/, '').replace(/\s-[jg] \S+.*$/, '').trim();
  return !conditions;
}

/** What the rule does to VRRP from `peer` arriving on one of `interfaces` (undefined: it does not apply). */
function actionOf(rule: string, peer: string, interfaces: readonly string[]): RuleAction | undefined {
  if (!appliesTo(rule, peer, interfaces)) return undefined;
  const j = target(rule);
  if (j === 'ACCEPT') return 'accept';
  if (j === 'DROP' || j === 'REJECT') return 'drop';
  if (j === 'RETURN') return 'return';
  if (!j) return undefined;
  // Any other target: a user chain is walked into, a non-terminating target (LOG, MARK) is no chain.
  return /\s-g \S+/.test(rule) ? { goto: j } : { jump: j };
}

/** Why INPUT blocks VRRP from `peer` arriving on one of `interfaces`, or undefined when it passes. */
export function iptablesBlocks(t: IptablesInput, peer: string, interfaces: readonly string[] = []): string | undefined {
  const outcome = walkChains('INPUT', (name) => t.chains.get(name), (rule) => actionOf(rule, peer, interfaces));
  if (outcome?.verdict === 'accept') return undefined;
  if (outcome?.verdict === 'drop') return `rule "${outcome.rule}"`;
  return t.policy === 'DROP' ? 'policy DROP' : undefined;
}

const managed = (t: IptablesInput) => t.rules.filter((r) => r.includes(`--comment ${RULE_COMMENT}`));
const acceptWords = (peer: string) => ['-s', peer, '-p', '112', '-m', 'comment', '--comment', RULE_COMMENT, '-j', 'ACCEPT'];
const insert = (peer: string) => sh('iptables', '-I', 'INPUT', ...acceptWords(peer));
/** The rule as `iptables -S` lists it, deleted by its exact specification. */
const deleteRule = (rule: string) => sh('iptables', '-D', ...rule.replace(/^-A /, '').split(/\s+/));

export function planIptables(peers: string[], interfaces: readonly string[], t: IptablesInput): ManagerPlan {
  const manager = `iptables (${t.backend})`;
  const blocked: string[] = [];
  const steps: Step[] = [];
  for (const rule of managed(t).filter((r) => !peers.some((p) => sameAddress(sourceOf(r) ?? '', p)))) {
    steps.push({ title: `remove the VRRP rule of a former peer from iptables INPUT`, command: deleteRule(rule) });
  }
  for (const peer of peers) {
    const why = iptablesBlocks(t, peer, interfaces);
    if (!why) continue;
    blocked.push(`iptables INPUT (${t.backend}) drops VRRP from ${peer} (${why}): add before it\n    ${insert(peer)}`);
    steps.push({ title: `let VRRP from ${peer} through iptables INPUT`, command: insert(peer) });
  }
  const notes: string[] = [];
  if (steps.length && t.persistent) steps.push({ title: 'save the iptables rules (netfilter-persistent)', command: sh('netfilter-persistent', 'save') });
  if (!t.persistent && (steps.length || managed(t).length)) notes.push('not persisted: netfilter-persistent is not installed (a reboot drops the rule; the next apply adds it again)');
  return { manager, blocked, steps, notes, fine: `${manager} lets VRRP through` };
}

/** `firewall: off`: kadeploy's rules out again (saved when netfilter-persistent is there). */
export function removeIptables(t: IptablesInput): Step[] {
  const steps: Step[] = managed(t).map((r) => ({ title: "remove kadeploy's VRRP rule from iptables INPUT", command: deleteRule(r) }));
  if (steps.length && t.persistent) steps.push({ title: 'save the iptables rules (netfilter-persistent)', command: sh('netfilter-persistent', 'save') });
  return steps;
}
