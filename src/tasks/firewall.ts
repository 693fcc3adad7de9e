// Task kind `firewall`: VRRP (IP protocol 112, to 224.0.0.18 or the unicast peers) must pass between the
// cluster's nodes, or each node becomes MASTER alone (split brain). When a node runs nftables (Debian's
// default; iptables-nft and firewalld rules show in its ruleset too), kadeploy reads the ruleset's
// input chains: a chain whose policy is drop, or with a rule dropping VRRP, before any rule accepting
// it, blocks VRRP. Inventory `firewall:` says what then: `check` (default) fails before any change,
// naming the chain, the rule and the exact rule to add; `manage` inserts that rule (comment
// "kadeploy-vrrp", so it is found again: idempotent, updated when the peers change, removable by
// handle); `off` leaves the firewall alone. Only nftables is read and managed (README: firewalls).
import { z } from 'zod';
import type { HostFacts } from '../facts/index.js';
import { sh } from '../shell/quote.js';
import type { DesiredBase, Step } from '../types.js';
import { noop, type TaskKind } from './kind.js';

export const RULE_COMMENT = 'kadeploy-vrrp';
/** The ruleset with rule handles; empty when nft is missing. */
export const NFT_RULESET = 'command -v nft >/dev/null && nft -a list ruleset';

interface Want extends DesiredBase {
  node: string;
  mode: 'manage' | 'check' | 'off';
  /** The other nodes' IPv4 addresses: VRRP comes from them. */
  peers: string[];
}

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

const isVrrp = (rule: string) => /\b(ip protocol|meta l4proto) (vrrp|112)\b/.test(rule);
const handleOf = (rule: string) => rule.match(/# handle (\d+)\s*$/)?.[1];
const withoutHandle = (rule: string) => rule.replace(/\s*# handle \d+\s*$/, '');

/** Why the chain blocks VRRP (the dropping rule or the policy), or undefined when VRRP passes. */
export function blocksVrrp(c: InputChain): string | undefined {
  for (const rule of c.rules) {
    if (!isVrrp(rule) && !/^(counter )?(drop|reject)\b/.test(rule)) continue;
    if (/\baccept\b/.test(rule)) return undefined;
    if (/\b(drop|reject)\b/.test(rule)) return `rule "${withoutHandle(rule)}"`;
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

export const firewallKind: TaskKind<Record<string, never>, Want> = {
  key: 'firewall',
  args: z.strictObject({}),
  // With the other packages: every node lets VRRP through before any node's keepalived changes.
  phase: 'packages',
  want: (_, task, { cluster, node }) => [
    { kind: 'firewall', task, node: node.name, mode: cluster.firewall, peers: cluster.nodes.filter((n) => n.name !== node.name && !n.ip.includes(':')).map((n) => n.ip) },
  ],
  needs: (w) => (w.mode === 'off' ? {} : { output: [NFT_RULESET] }),
  plan(w, facts: HostFacts) {
    if (w.mode === 'off') return noop(w, 'firewall: off (not read)');
    if (!w.peers.length) return noop(w, 'no peer: nothing to let through');
    const chains = inputChains(facts.output?.[NFT_RULESET] ?? '');
    const steps: Step[] = [];
    const blocked: string[] = [];
    for (const c of chains) {
      const managed = c.rules.find((r) => r.includes(`comment "${RULE_COMMENT}"`));
      if (managed && w.mode === 'manage' && saddrsOf(managed).join() !== [...w.peers].sort().join()) {
        // The peers changed: replace the managed rule (same place: first in the chain).
        steps.push({ title: `remove the old VRRP rule from nftables chain ${chainWords(c).join(' ')}`, command: sh('nft', 'delete', 'rule', ...chainWords(c), 'handle', handleOf(managed)!) });
        steps.push({ title: `let VRRP from ${w.peers.join(', ')} through nftables chain ${chainWords(c).join(' ')}`, command: insertCommand(c, w.peers) });
        continue;
      }
      const why = blocksVrrp(c);
      if (!why) continue;
      blocked.push(`nftables chain ${chainWords(c).join(' ')} drops VRRP (${why}): add before it\n    ${insertCommand(c, w.peers)}`);
      steps.push({ title: `let VRRP from ${w.peers.join(', ')} through nftables chain ${chainWords(c).join(' ')}`, command: insertCommand(c, w.peers) });
    }
    if (!steps.length) return noop(w, chains.length ? 'nftables lets VRRP through' : 'no nftables input chain');
    if (w.mode === 'check') {
      const blocker =
        `${w.node}: VRRP from the other nodes would be dropped, so each node would hold the VIPs (split brain).\n  ${blocked.join('\n  ')}\n` +
        `  Add that rule to the node's firewall (and its saved ruleset), or set "firewall: manage" in the inventory to let kadeploy add it.`;
      return { task: w.task, kind: 'firewall', actions: ['check'], summary: 'nftables drops VRRP from the other nodes', desired: w as never, steps: [], blocker };
    }
    return { task: w.task, kind: 'firewall', actions: ['update'], summary: `nftables: let VRRP from ${w.peers.join(', ')} through`, desired: w as never, steps };
  },
};
