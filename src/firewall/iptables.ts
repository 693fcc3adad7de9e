// iptables (legacy, or the nf_tables backend): kadeploy reads `iptables -S INPUT`. A rule dropping
// VRRP, or an unconditional DROP/REJECT, before any rule accepting VRRP, or policy DROP, blocks it.
// `manage` inserts one rule per peer (comment "kadeploy-vrrp") and saves the rules with
// netfilter-persistent when it is installed; otherwise the rules last until the next reboot.
import { sh } from '../shell/quote.js';
import type { Step } from '../types.js';
import { RULE_COMMENT, sameAddress, sourceHolds, type ManagerPlan } from './manager.js';

/** `iptables -V` (backend), the INPUT chain, and whether netfilter-persistent can save it. */
export const IPTABLES_RULES = 'command -v iptables >/dev/null && iptables -V && iptables -S INPUT && echo "persistent: $(command -v netfilter-persistent)"';

export interface IptablesInput {
  backend: string;
  policy: string;
  /** `-A INPUT …` lines, in order. */
  rules: string[];
  persistent: boolean;
}

export function parseIptables(text: string): IptablesInput | undefined {
  const backend = text.match(/^iptables v\S+ \((\S+)\)/m)?.[1];
  if (!backend) return undefined;
  return {
    backend,
    policy: text.match(/^-P INPUT (\S+)/m)?.[1] ?? 'ACCEPT',
    rules: text.split('\n').filter((l) => l.startsWith('-A INPUT ')),
    persistent: /^persistent: \S+/m.test(text),
  };
}

/** Has rules of its own: a policy other than ACCEPT or any rule. */
export const iptablesActive = (t: IptablesInput | undefined) => t !== undefined && (t.policy !== 'ACCEPT' || t.rules.length > 0);

const isVrrp = (rule: string) => /\s-p (vrrp|112)\b/.test(rule);
const target = (rule: string) => rule.match(/\s-j (\S+)/)?.[1];
const SOURCE = /\s(! )?-s (\S+)/;
const sourceOf = (rule: string) => rule.match(SOURCE)?.[2];

/**
 * Does the rule apply to VRRP from `peer`: a VRRP rule whose source (`-s`, maybe negated) matches; any
 * other rule only when a source is its one condition (`-A INPUT -s 10.0.0.0/24 -j ACCEPT`, `-j DROP`).
 */
function appliesTo(rule: string, peer: string): boolean {
  const m = rule.match(SOURCE);
  const source = m ? sourceHolds(m[2]!, peer) !== Boolean(m[1]) : true;
  if (isVrrp(rule)) return source;
  const conditions = rule.replace(/^-A INPUT/, '').replace(SOURCE, '').replace(/\s-m comment --comment (\"[^"]*\"|\S+)/, '').replace(/\s-j \S+.*$/, '').trim();
  return !conditions && source;
}

/** Why INPUT blocks VRRP from `peer`, or undefined when it passes. */
export function iptablesBlocks(t: IptablesInput, peer: string): string | undefined {
  for (const rule of t.rules) {
    if (!appliesTo(rule, peer)) continue;
    const j = target(rule);
    if (j === 'ACCEPT') return undefined;
    if (j === 'DROP' || j === 'REJECT') return `rule "${rule}"`;
  }
  return t.policy === 'DROP' ? 'policy DROP' : undefined;
}

const managed = (t: IptablesInput) => t.rules.filter((r) => r.includes(`--comment ${RULE_COMMENT}`));
const acceptWords = (peer: string) => ['-s', peer, '-p', '112', '-m', 'comment', '--comment', RULE_COMMENT, '-j', 'ACCEPT'];
const insert = (peer: string) => sh('iptables', '-I', 'INPUT', ...acceptWords(peer));
/** The rule as `iptables -S` lists it, deleted by its exact specification. */
const deleteRule = (rule: string) => sh('iptables', '-D', ...rule.replace(/^-A /, '').split(/\s+/));

export function planIptables(peers: string[], t: IptablesInput): ManagerPlan {
  const manager = `iptables (${t.backend})`;
  const blocked: string[] = [];
  const steps: Step[] = [];
  for (const rule of managed(t).filter((r) => !peers.some((p) => sameAddress(sourceOf(r) ?? '', p)))) {
    steps.push({ title: `remove the VRRP rule of a former peer from iptables INPUT`, command: deleteRule(rule) });
  }
  for (const peer of peers) {
    const why = iptablesBlocks(t, peer);
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
