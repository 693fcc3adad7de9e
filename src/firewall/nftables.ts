// nftables (Debian's default firewall): kadeploy reads the ruleset's input base chains. A chain whose
// policy is drop, or with a rule dropping VRRP, before any rule accepting it, blocks VRRP — judged for
// each peer, as rules name sources (an address, a network, a range, a set of them). `manage`
// inserts an accepting rule first in the chain (comment "kadeploy-vrrp": found again, replaced when
// the peers change) and persists it the Debian way: nftables.service loads /etc/nftables.conf, which
// gets one include line for a kadeploy-owned file inserting the same rule at boot or restart.
import type { HostFacts } from '../facts/index.js';
import { pruneStep } from '../ops/backups.js';
import { sh } from '../shell/quote.js';
import type { PlanContext } from '../tasks/kind.js';
import type { Step } from '../types.js';
import { RULE_COMMENT, sourceHolds, type ManagerPlan } from './manager.js';

/** The ruleset with rule handles; empty when nft is missing. */
export const NFT_RULESET = 'command -v nft >/dev/null && nft -a list ruleset';
/** What nftables.service loads at boot and on restart (Debian). */
export const NFT_CONF = '/etc/nftables.conf';
/** kadeploy's own file, included at the end of NFT_CONF. */
export const NFT_KADEPLOY_CONF = '/etc/nftables.kadeploy.conf';
export const NFT_INCLUDE = `include "${NFT_KADEPLOY_CONF}"`;

export interface InputChain {
  family: string;
  table: string;
  chain: string;
  policy: string;
  /** Rule lines, in order, `# handle N` included. */
  rules: string[];
}

/** The base chains on the input hook of an `nft -a list ruleset` listing. */
export function inputChains(ruleset: string): InputChain[] {
  const chains: InputChain[] = [];
  let table: { family: string; name: string } | undefined;
  let chain: InputChain | undefined;
  let hook = false;
  for (const raw of ruleset.split('\n')) {
    const line = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^table (\S+) (\S+) \{/))) table = { family: m[1]!, name: m[2]! };
    else if ((m = line.match(/^chain (\S+) \{/)) && table) {
      chain = { family: table.family, table: table.name, chain: m[1]!, policy: 'accept', rules: [] };
      hook = false;
    } else if (chain && (m = line.match(/^type filter hook (\S+) .*?(?:policy (\w+);)?$/))) {
      hook = m[1] === 'input' && ['ip', 'inet'].includes(chain.family);
      chain.policy = m[2] ?? 'accept';
    } else if (chain && line === '}') {
      if (hook) chains.push(chain);
      chain = undefined;
    } else if (chain && line) chain.rules.push(line);
  }
  return chains;
}

/** iptables-nft's own chains (`ip filter INPUT`): read through iptables, never changed with nft. */
export const isIptablesChain = (c: InputChain) => c.family === 'ip' && c.table === 'filter' && c.chain === 'INPUT';

const VRRP = /\b(ip protocol|meta l4proto) (vrrp|112)\b/;
const SADDR = /\bip saddr (!= )?(\{[^}]*\}|\S+)/;
const handleOf = (rule: string) => rule.match(/# handle (\d+)\s*$/)?.[1];
const withoutHandle = (rule: string) => rule.replace(/\s*# handle \d+\s*$/, '');

/** Does the rule's `ip saddr` match `peer`: true or false; undefined for a named set (`@name`: not read). */
function saddrMatches(rule: string, peer: string): boolean | undefined {
  const m = rule.match(SADDR);
  if (!m) return true;
  if (m[2]!.startsWith('@')) return undefined;
  const held = m[2]!.replace(/[{}]/g, '').split(',').map((s) => s.trim()).filter(Boolean).some((s) => sourceHolds(s, peer));
  return m[1] ? !held : held;
}

/**
 * What the rule does to VRRP from `peer`: its verdict, or undefined when it does not apply. A VRRP rule
 * applies when its source matches (other conditions, e.g. an interface, are taken as matching, as an
 * operator writes them for their VRRP); any other rule only when a source is its one condition
 * (`ip saddr 10.0.0.0/24 accept`, `counter drop`), never when it tests what is not read here
 * (`ct state`, ports, a named set). Rules jumping to chains of their own are not followed.
 */
function verdictFor(rule: string, peer: string): 'accept' | 'drop' | undefined {
  const text = withoutHandle(rule).replace(/"[^"]*"/g, '""');
  const verdict = text.match(/\b(accept|drop|reject)\b/)?.[1];
  if (!verdict) return undefined;
  const source = saddrMatches(text, peer);
  if (VRRP.test(text)) return source === false ? undefined : verdict === 'accept' ? 'accept' : 'drop';
  const conditions = text.slice(0, text.indexOf(verdict)).replace(SADDR, '').replace(/\bcounter( packets \d+ bytes \d+)?/, '').trim();
  if (conditions || source !== true) return undefined;
  return verdict === 'accept' ? 'accept' : 'drop';
}

/** Why the chain blocks VRRP from `peer` (the dropping rule or the policy), or undefined when it passes. */
export function blocksVrrp(c: InputChain, peer: string): string | undefined {
  for (const rule of c.rules) {
    const verdict = verdictFor(rule, peer);
    if (verdict === 'accept') return undefined;
    if (verdict === 'drop') return `rule "${withoutHandle(rule)}"`;
  }
  return c.policy === 'drop' ? 'policy drop' : undefined;
}

const peerSet = (peers: string[]) => `{ ${peers.join(', ')} }`;
/** The source addresses a rule accepts, as nft lists them (`ip saddr 10.0.0.1` or `ip saddr { a, b }`). */
const saddrsOf = (rule: string) => (rule.match(/ip saddr (\{[^}]*\}|\S+)/)?.[1] ?? '').replace(/[{}]/g, '').split(',').map((s) => s.trim()).filter(Boolean).sort();
// 112, not `vrrp`: nft resolves protocol names through /etc/protocols, which a minimal node may lack.
export const acceptRule = (peers: string[]) => ['ip', 'protocol', '112', 'ip', 'saddr', peerSet(peers), 'accept', 'comment', `"${RULE_COMMENT}"`];
const chainWords = (c: InputChain) => [c.family, c.table, c.chain];
const insertCommand = (c: InputChain, peers: string[]) => sh('nft', 'insert', 'rule', ...chainWords(c), ...acceptRule(peers));
const managedRule = (c: InputChain) => c.rules.find((r) => r.includes(`comment "${RULE_COMMENT}"`));

/**
 * kadeploy's file for nftables.service: the same rule inserted into each chain. `add table`/`add chain`
 * do nothing when they exist, and keep the load from failing when the chain was only ever made at
 * runtime (a failing file would leave the node with no ruleset at all).
 */
export function kadeployConf(chains: InputChain[], peers: string[]): string {
  const lines = ['# Written by kadeploy (inventory "firewall: manage"): lets VRRP from the cluster\'s other nodes', `# through. Included by ${NFT_CONF}; removed with "firewall: off".`];
  for (const c of chains) {
    const words = chainWords(c).join(' ');
    lines.push(`add table ${c.family} ${c.table}`, `add chain ${words}`, `insert rule ${words} ${acceptRule(peers).join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

const includeLine = (line: string) => line.trim() === NFT_INCLUDE;

/**
 * The steps that make /etc/nftables.conf load `content` (or no kadeploy rule at all when undefined).
 * Written by commands, not uploads: the text depends on the node's ruleset, and a saved plan only
 * re-renders uploads from the inventory. Each replaced file is kept as a backup for rollback.
 */
function persistSteps(content: string | undefined, facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>): Step[] {
  const conf = facts.files[NFT_CONF];
  const own = facts.files[NFT_KADEPLOY_CONF];
  if (!conf) return [];
  const backedUp = new Set<string>();
  const keep = (path: string) => (backedUp.add(path), sh('cp', '-p', path, path + ctx.backupSuffix));
  const undo = (path: string, existed: boolean) => (existed ? { path, backup: path + ctx.backupSuffix } : { path });
  const steps: Step[] = [];
  const included = conf.content.split('\n').some(includeLine);
  if (content !== undefined) {
    if (own?.content !== content) {
      const tmp = `${NFT_KADEPLOY_CONF}.${ctx.runId}.tmp`;
      const write = `printf '%s' ${sh(content)} > ${sh(tmp)} && ${sh('chmod', '0644', tmp)} && ${sh('mv', '-f', tmp, NFT_KADEPLOY_CONF)}`;
      steps.push({ title: `${own ? 'update' : 'create'} ${NFT_KADEPLOY_CONF}`, command: own ? `${keep(NFT_KADEPLOY_CONF)} && ${write}` : write, undo: undo(NFT_KADEPLOY_CONF, own != null) });
    }
    if (!included) steps.push({ title: `include ${NFT_KADEPLOY_CONF} at the end of ${NFT_CONF}`, command: `${keep(NFT_CONF)} && { [ -z "$(tail -c 1 ${sh(NFT_CONF)})" ] || echo >> ${sh(NFT_CONF)}; } && echo ${sh(NFT_INCLUDE)} >> ${sh(NFT_CONF)}`, undo: undo(NFT_CONF, true) });
    if (steps.length) steps.push({ title: `check that nftables.service can load ${NFT_CONF}`, command: sh('nft', '-c', '-f', NFT_CONF), failure: { message: `${NFT_CONF} would not load with kadeploy's rule`, show: 'output' } });
  } else {
    if (included) steps.push({ title: `remove the include of ${NFT_KADEPLOY_CONF} from ${NFT_CONF}`, command: `${keep(NFT_CONF)} && ${sh('sed', '-i', `\\#^${NFT_INCLUDE}$#d`, NFT_CONF)}`, undo: undo(NFT_CONF, true) });
    if (own) steps.push({ title: `remove ${NFT_KADEPLOY_CONF}`, command: `${keep(NFT_KADEPLOY_CONF)} && ${sh('rm', '-f', NFT_KADEPLOY_CONF)}`, undo: undo(NFT_KADEPLOY_CONF, true) });
  }
  // Backups of a removed file are pruned too: they stay restorable by rollback, but bounded.
  return [...steps, ...[...backedUp].map((path) => pruneStep(path))];
}

/** nftables' view of VRRP from `peers` on this node. */
export function planNftables(peers: string[], mode: 'manage' | 'check', facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>): ManagerPlan {
  const chains = inputChains(facts.output?.[NFT_RULESET] ?? '').filter((c) => !isIptablesChain(c));
  const steps: Step[] = [];
  const blocked: string[] = [];
  const kept: InputChain[] = [];
  for (const c of chains) {
    const managed = managedRule(c);
    if (managed) kept.push(c);
    if (managed && saddrsOf(managed).join() !== [...peers].sort().join()) {
      // The peers changed: replace the managed rule (same place: first in the chain).
      steps.push({ title: `remove the old VRRP rule from nftables chain ${chainWords(c).join(' ')}`, command: sh('nft', 'delete', 'rule', ...chainWords(c), 'handle', handleOf(managed)!) });
      steps.push({ title: `let VRRP from ${peers.join(', ')} through nftables chain ${chainWords(c).join(' ')}`, command: insertCommand(c, peers) });
      const others = { ...c, rules: c.rules.filter((r) => r !== managed) };
      const missing = peers.filter((p) => !saddrsOf(managed).includes(p) && blocksVrrp(others, p));
      if (missing.length) {
        blocked.push(`nftables chain ${chainWords(c).join(' ')}: kadeploy's rule lets VRRP from ${saddrsOf(managed).join(', ')} through, not from ${missing.join(', ')}: replace it\n    ${steps.at(-2)!.command} && ${insertCommand(c, peers)}`);
      }
      continue;
    }
    const why = peers.flatMap((p) => {
      const reason = blocksVrrp(c, p);
      return reason ? [`from ${p} (${reason})`] : [];
    });
    if (!why.length) continue;
    kept.push(c);
    blocked.push(`nftables chain ${chainWords(c).join(' ')} drops VRRP ${why.join(', ')}: add before it\n    ${insertCommand(c, peers)}`);
    steps.push({ title: `let VRRP from ${peers.join(', ')} through nftables chain ${chainWords(c).join(' ')}`, command: insertCommand(c, peers) });
  }
  const notes: string[] = [];
  if (mode === 'manage' && kept.length) {
    steps.push(...persistSteps(kadeployConf(kept, peers), facts, ctx));
    if (!facts.files[NFT_CONF]) notes.push(`not persisted: no ${NFT_CONF} (a restart of nftables or a reboot drops the rule; the next apply adds it again)`);
  }
  return { manager: 'nftables', blocked, steps, notes, fine: chains.length ? 'nftables lets VRRP through' : 'no nftables input chain' };
}

/** `firewall: off`: what undoes a persisted kadeploy rule (the running rule is deleted by handle). */
export function removeNftables(facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>): Step[] {
  const steps: Step[] = [];
  for (const c of inputChains(facts.output?.[NFT_RULESET] ?? '')) {
    const managed = managedRule(c);
    if (managed) steps.push({ title: `remove kadeploy's VRRP rule from nftables chain ${chainWords(c).join(' ')}`, command: sh('nft', 'delete', 'rule', ...chainWords(c), 'handle', handleOf(managed)!) });
  }
  return [...steps, ...persistSteps(undefined, facts, ctx)];
}
