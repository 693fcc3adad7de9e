// nftables (Debian's default firewall): kadeploy reads the ruleset's input base chains. A chain whose
// policy is drop, or with a rule dropping VRRP, before any rule accepting it, blocks VRRP — judged for
// each peer, as rules name sources (an address, a network, a range, a set of them). `manage`
// inserts an accepting rule first in the chain (comment "kadeploy-vrrp": found again, replaced when
// the peers change) and persists it the Debian way: nftables.service loads /etc/nftables.conf, which
// gets one include line for a kadeploy-owned file inserting the same rule at boot or restart.
// IPv6 instances: the `ip6` and `inet` chains are judged alike for VRRP from link-local sources on the
// instances' interfaces (rules of one family are read as such: `ip6 …` never drops IPv4 VRRP), and
// kadeploy's IPv6 rule sits next to its IPv4 one, told apart by `ip6 saddr`.
import type { HostFacts } from '../facts/index.js';
import { pruneStep } from '../ops/backups.js';
import { sh } from '../shell/quote.js';
import type { PlanContext } from '../tasks/kind.js';
import type { Step } from '../types.js';
import { RULE_COMMENT, sourceHolds, walkChains, type ManagerPlan, type RuleAction } from './manager.js';
import { probesOf, sourcesText, vrrpName, type Vrrp } from './vrrp.js';

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
  /** The table's other chains (name → rules) and named sets (name → elements): what rules jump to or name. */
  scope?: TableScope;
}

export interface TableScope {
  chains: Map<string, string[]>;
  sets: Map<string, string[]>;
}

/** The base chains on the input hook of an `nft -a list ruleset` listing, each with its table's chains and sets. */
export function inputChains(ruleset: string): InputChain[] {
  const chains: InputChain[] = [];
  let table: { family: string; name: string; scope: TableScope } | undefined;
  let chain: InputChain | undefined;
  let set: { name: string; text: string } | undefined;
  let hook = false;
  for (const raw of ruleset.split('\n')) {
    const line = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^table (\S+) (\S+) \{/))) table = { family: m[1]!, name: m[2]!, scope: { chains: new Map(), sets: new Map() } };
    else if ((m = line.match(/^(?:set|map) (\S+) \{/)) && table && !chain) set = { name: m[1]!, text: '' };
    else if (set) {
      if (line === '}') {
        const elements = set.text.match(/elements = \{([^}]*)\}/)?.[1] ?? '';
        table!.scope.sets.set(set.name, elements.split(',').map((e) => e.trim()).filter(Boolean));
        set = undefined;
      } else set.text += ` ${line}`;
    } else if ((m = line.match(/^chain (\S+) \{/)) && table) {
      chain = { family: table.family, table: table.name, chain: m[1]!, policy: 'accept', rules: [], scope: table.scope };
      table.scope.chains.set(chain.chain, chain.rules);
      hook = false;
    } else if (chain && (m = line.match(/^type filter hook (\S+) .*?(?:policy (\w+);)?$/))) {
      hook = m[1] === 'input' && ['ip', 'ip6', 'inet'].includes(chain.family);
      chain.policy = m[2] ?? 'accept';
    } else if (chain && line === '}') {
      if (hook) chains.push(chain);
      chain = undefined;
    } else if (chain && line) chain.rules.push(line);
  }
  return chains;
}

/** iptables-nft's own chains (`ip filter INPUT`, ip6tables' `ip6 filter INPUT`): read through iptables, never changed with nft. */
export const isIptablesChain = (c: InputChain) => ['ip', 'ip6'].includes(c.family) && c.table === 'filter' && c.chain === 'INPUT';

/** The chains that see packets of the family: `inet` ones see both. */
export const chainsOf = (chains: InputChain[], family: 4 | 6) => chains.filter((c) => c.family === 'inet' || c.family === (family === 4 ? 'ip' : 'ip6'));

/** How nft names VRRP and the source in each family; `other` marks a rule only for the other family. */
const SYNTAX = {
  4: { vrrp: /\b(ip protocol|meta l4proto) (vrrp|112)\b/, saddr: /\bip saddr (!= )?(\{[^}]*\}|\S+)/, other: /\b(ip6 \w+|meta nfproto ipv6)\b/ },
  6: { vrrp: /\b(ip6 nexthdr|meta l4proto) (vrrp|112)\b/, saddr: /\bip6 saddr (!= )?(\{[^}]*\}|\S+)/, other: /\b(ip (protocol|saddr|daddr)|meta nfproto ipv4)\b/ },
} as const;
const IIF = /\biif(?:name)? (!= )?(\{[^}]*\}|"[^"]*"|\S+)/;
const DADDR = /\bip6? daddr (!= )?(\{[^}]*\}|\S+)/;
const PKTTYPE = /\b(?:meta )?pkttype (!= )?(\{[^}]*\}|\S+)/;
const COUNTER = /\bcounter( packets \d+ bytes \d+)?/;
/** The statement that ends a rule's matches: a verdict, a jump, or what a rule does besides. */
const ACTION = /\b(accept|drop|reject|return|(?:jump|goto) (\S+))/;
const handleOf = (rule: string) => rule.match(/# handle (\d+)\s*$/)?.[1];
const withoutHandle = (rule: string) => rule.replace(/\s*# handle \d+\s*$/, '');

/** `{ a, b }`, `a` or `@set` as a list (a named set through the table's scope; undefined when unknown). */
function listOf(value: string, scope: TableScope | undefined): string[] | undefined {
  if (value.startsWith('@')) return scope?.sets.get(value.slice(1));
  return value.replace(/[{}]/g, '').split(',').map((s) => s.trim().replace(/^"|"$/g, '')).filter(Boolean);
}

/** Does a `SELECTOR [!=] VALUE` match hold: true, false, or undefined when it cannot be read here. */
function matchHolds(m: RegExpMatchArray | null, holds: (item: string) => boolean, scope: TableScope | undefined): boolean | undefined {
  if (!m) return true;
  const items = listOf(m[2]!, scope);
  if (!items) return undefined;
  const held = items.some(holds);
  return m[1] ? !held : held;
}

/** nft's interface names: exact, or a prefix ending in `*`. */
const nameHolds = (pattern: string, name: string) => (pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name);

/**
 * Does the rule apply to VRRP from `peer` arriving on one of `interfaces` (sent to `destination`, the
 * multicast group, when known): true, false, or undefined when it tests what is not read here (`ct
 * state`, ports, marks…): such a rule is passed over. Its source (address, network, range, set, `!=`),
 * input interface and destination (`ip daddr 224.0.0.18`, `pkttype multicast`) are read; on a rule
 * naming VRRP any other condition is taken as matching, as an operator writes those for their VRRP.
 */
function applies(text: string, bare: string, peer: string, interfaces: readonly string[], scope: TableScope | undefined, family: 4 | 6, destination?: string): boolean | undefined {
  const { vrrp: VRRP, saddr: SADDR, other } = SYNTAX[family];
  if (other.test(bare)) return false;
  const source = matchHolds(text.match(SADDR), (s) => sourceHolds(s, peer), scope);
  const iif = interfaces.length ? matchHolds(text.match(IIF), (p) => interfaces.some((i) => nameHolds(p, i)), scope) : IIF.test(text) ? undefined : true;
  const toGroup = (re: RegExp, holds: (item: string) => boolean) => (!re.test(text) ? true : destination ? matchHolds(text.match(re), holds, scope) : undefined);
  const dest = toGroup(DADDR, (d) => sourceHolds(d, destination!));
  const pkttype = toGroup(PKTTYPE, (t) => t === 'multicast');
  if (source === false || iif === false || dest === false || pkttype === false) return false;
  if (VRRP.test(text)) return true;
  const action = bare.match(ACTION);
  const rest = (action ? bare.slice(0, action.index) : bare).replace(SADDR, '').replace(IIF, '').replace(DADDR, '').replace(PKTTYPE, '').replace(COUNTER, '').trim();
  return rest || [source, iif, dest, pkttype].includes(undefined) ? undefined : true;
}

/** What the rule does to VRRP from `peer` arriving on one of `interfaces` (undefined: it does not apply). */
function actionOf(rule: string, peer: string, interfaces: readonly string[], scope: TableScope | undefined, family: 4 | 6, destination?: string): RuleAction | undefined {
  const text = withoutHandle(rule);
  // Actions are read with quoted strings blanked: a log prefix or comment may name a verdict.
  const bare = text.replace(/"[^"]*"/g, '""');
  if (applies(text, bare, peer, interfaces, scope, family, destination) !== true) return undefined;
  const action = bare.match(ACTION);
  if (!action) return undefined;
  if (action[1] === 'accept' || action[1] === 'return') return action[1];
  if (action[1] === 'drop' || action[1] === 'reject') return 'drop';
  return action[1]!.startsWith('jump') ? { jump: action[2]! } : { goto: action[2]! };
}

/**
 * Why the chain blocks VRRP from `peer` arriving on one of `interfaces` (the dropping rule or the
 * policy), or undefined when it passes. Jumps and gotos to the table's chains are followed.
 */
export function blocksVrrp(c: InputChain, peer: string, interfaces: readonly string[] = [], family: 4 | 6 = 4, destination?: string): string | undefined {
  const rulesOf = (name: string) => (name === c.chain ? c.rules : c.scope?.chains.get(name));
  const outcome = walkChains(c.chain, rulesOf, (rule) => actionOf(rule, peer, interfaces, c.scope, family, destination));
  if (outcome?.verdict === 'accept') return undefined;
  if (outcome?.verdict === 'drop') return `rule "${withoutHandle(outcome.rule)}"${outcome.chain === c.chain ? '' : ` (chain ${outcome.chain})`}`;
  return c.policy === 'drop' ? 'policy drop' : undefined;
}

const nftSet = (items: readonly string[]) => `{ ${items.join(', ')} }`;
/** A rule's sources and input interfaces, as nft lists them (`ip saddr 10.0.0.1`, `iifname { "eth0", "eth1" }`). */
const listed = (rule: string, re: RegExp) => (listOf(rule.match(re)?.[2] ?? '', undefined) ?? []).sort();
/**
 * kadeploy's rule. IPv4: from the peers. IPv6: from link-local sources (where keepalived sends VRRPv3
 * from), on the instances' interfaces only: any host on a link has a link-local address there, so
 * the interface is what keeps other links' out. 112, not `vrrp`: nft resolves protocol names through
 * /etc/protocols, which a minimal node may lack.
 */
export const acceptRule = (v: Vrrp) => [
  ...(v.family === 4 ? ['ip', 'protocol', '112', 'ip', 'saddr', nftSet(v.sources)] : ['meta', 'l4proto', '112', 'ip6', 'saddr', nftSet(v.sources), 'iifname', nftSet(v.interfaces.map((i) => `"${i}"`))]),
  'accept', 'comment', `"${RULE_COMMENT}"`,
];
/** What kadeploy's rule (or the one it would write) lets through: its sources, and for IPv6 its interfaces. */
const ruleKey = (rule: string, family: 4 | 6) => `${listed(rule, SYNTAX[family].saddr).join()}|${family === 6 ? listed(rule, IIF).join() : ''}`;
const wantedKey = (v: Vrrp) => `${[...v.sources].sort().join()}|${v.family === 6 ? [...v.interfaces].sort().join() : ''}`;
/** What a rule of kadeploy lets through, as messages say it. */
const ruleText = (rule: string, family: 4 | 6) => (family === 6 ? `IPv6 VRRP on ${listed(rule, IIF).join(', ')}` : `VRRP from ${listed(rule, SYNTAX[4].saddr).join(', ')}`);
const chainWords = (c: InputChain) => [c.family, c.table, c.chain];
const chainName = (c: InputChain) => `nftables chain ${chainWords(c).join(' ')}`;
const insertCommand = (c: InputChain, v: Vrrp) => sh('nft', 'insert', 'rule', ...chainWords(c), ...acceptRule(v));
const deleteCommand = (c: InputChain, rule: string) => sh('nft', 'delete', 'rule', ...chainWords(c), 'handle', handleOf(rule)!);
/** kadeploy's rule of the family in the chain (an inet chain may hold one per family). */
const managedRule = (c: InputChain, family: 4 | 6) => c.rules.find((r) => r.includes(`comment "${RULE_COMMENT}"`) && SYNTAX[family].saddr.test(r));
const managedRules = (c: InputChain) => c.rules.filter((r) => r.includes(`comment "${RULE_COMMENT}"`));

/**
 * kadeploy's file for nftables.service: the same rules inserted into each chain. `add table`/`add chain`
 * do nothing when they exist, and keep the load from failing when the chain was only ever made at
 * runtime (a failing file would leave the node with no ruleset at all).
 */
export function kadeployConf(rules: Array<{ chain: InputChain; vrrp: Vrrp }>): string {
  const lines = ['# Written by kadeploy (inventory "firewall: manage"): lets VRRP from the cluster\'s other nodes', `# through. Included by ${NFT_CONF}; removed with "firewall: off".`];
  for (const { chain, vrrp } of rules) {
    const words = chainWords(chain).join(' ');
    lines.push(`add table ${chain.family} ${chain.table}`, `add chain ${words}`, `insert rule ${words} ${acceptRule(vrrp).join(' ')}`);
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

/**
 * nftables' view of the VRRP this node must hear (`wanted`: one entry per IP family it has instances
 * of); kadeploy's rules of a family not wanted any more go (manage).
 */
export function planNftables(wanted: Vrrp[], mode: 'manage' | 'check', facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>): ManagerPlan {
  const chains = inputChains(facts.output?.[NFT_RULESET] ?? '').filter((c) => !isIptablesChain(c));
  const steps: Step[] = [];
  const blocked: string[] = [];
  const kept: Array<{ chain: InputChain; vrrp: Vrrp }> = [];
  for (const family of [4, 6] as const) {
    const v = wanted.find((w) => w.family === family);
    for (const c of chainsOf(chains, family)) {
      const managed = managedRule(c, family);
      if (!v) {
        if (managed) steps.push({ title: `remove kadeploy's ${vrrpName({ family })} rule, no longer needed, from ${chainName(c)}`, command: deleteCommand(c, managed) });
        continue;
      }
      const insert = { title: `let ${sourcesText(v)} through ${chainName(c)}`, command: insertCommand(c, v) };
      const why = (chain: InputChain) =>
        probesOf(v).flatMap((p) => {
          const reason = blocksVrrp(chain, p.source, p.interfaces, family, p.destination);
          return reason ? [`${p.label} (${reason})`] : [];
        });
      if (managed && ruleKey(managed, family) !== wantedKey(v)) {
        // The peers (or IPv6 interfaces) changed: replace the managed rule (same place: first in the chain).
        kept.push({ chain: c, vrrp: v });
        steps.push({ title: `remove the old ${vrrpName(v)} rule from ${chainName(c)}`, command: deleteCommand(c, managed) }, insert);
        const missing = why(c);
        if (missing.length) blocked.push(`${chainName(c)}: kadeploy's rule lets ${ruleText(managed, family)} through, not ${missing.join(', ')}: replace it\n    ${deleteCommand(c, managed)} && ${insert.command}`);
        continue;
      }
      if (managed) {
        kept.push({ chain: c, vrrp: v });
        continue;
      }
      const dropped = why(c);
      if (!dropped.length) continue;
      kept.push({ chain: c, vrrp: v });
      blocked.push(`${chainName(c)} drops ${vrrpName(v)} ${dropped.join(', ')}: add before it\n    ${insert.command}`);
      steps.push(insert);
    }
  }
  const notes: string[] = [];
  if (mode === 'manage' && (kept.length || steps.length)) {
    steps.push(...persistSteps(kept.length ? kadeployConf(kept) : undefined, facts, ctx));
    if (kept.length && !facts.files[NFT_CONF]) notes.push(`not persisted: no ${NFT_CONF} (a restart of nftables or a reboot drops the rule; the next apply adds it again)`);
  }
  return { manager: 'nftables', blocked, steps, notes, fine: chains.length ? 'nftables lets VRRP through' : 'no nftables input chain' };
}

/** `firewall: off`: what undoes a persisted kadeploy rule (the running rules are deleted by handle). */
export function removeNftables(facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>): Step[] {
  const steps = inputChains(facts.output?.[NFT_RULESET] ?? '').flatMap((c) =>
    managedRules(c).map((r) => ({ title: `remove kadeploy's VRRP rule from ${chainName(c)}`, command: deleteCommand(c, r) })),
  );
  return [...steps, ...persistSteps(undefined, facts, ctx)];
}
