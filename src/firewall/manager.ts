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
 * through; a goto replaces the current chain, so falling through it goes back to the current chain's
 * caller. Undefined: nothing decided (the base chain's policy does).
 */
export function walkChains(chain: string, rulesOf: (chain: string) => readonly string[] | undefined, actionOf: (rule: string) => RuleAction | undefined): Walked {
  const walk = (name: string, depth: number): Walked => {
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
      if (inner || 'goto' in action) return inner;
    }
    return undefined;
  };
  return walk(chain, 0);
}
