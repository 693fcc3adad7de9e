// Task kind `firewall`: VRRP (IP protocol 112, to 224.0.0.18 or the unicast peers) must pass between the
// cluster's nodes, or each node becomes MASTER alone (split brain). kadeploy finds the node's active
// firewall manager — firewalld, else ufw, else nftables and/or iptables (legacy or nf_tables) — and
// asks it (src/firewall/). Inventory `firewall:` says what then: `check` (default) fails before any
// change, naming what drops VRRP and the exact fix; `manage` applies that fix with the manager's own
// persistent mechanism (never a raw nft rule under firewalld or ufw, which would be overwritten);
// `off` removes what kadeploy added (its rules are found by their comment "kadeploy-vrrp", firewalld's
// in the record kadeploy keeps on the node) and leaves the rest alone.
import { z } from 'zod';
import type { HostFacts } from '../facts/index.js';
import { FIREWALLD_ZONES, parseFirewalld, planFirewalld, removeFirewalld } from '../firewall/firewalld.js';
import { IPTABLES_RULES, iptablesActive, parseIptables, planIptables, removeIptables } from '../firewall/iptables.js';
import type { ManagerPlan } from '../firewall/manager.js';
import { NFT_CONF, NFT_KADEPLOY_CONF, NFT_RULESET, planNftables, removeNftables } from '../firewall/nftables.js';
import { parseUfw, planUfw, removeUfw, UFW_STATUS } from '../firewall/ufw.js';
import type { DesiredBase } from '../types.js';
import { noop, type PlanContext, type TaskKind } from './kind.js';

export { RULE_COMMENT } from '../firewall/manager.js';
export { acceptRule, blocksVrrp, inputChains, NFT_RULESET } from '../firewall/nftables.js';

/** Which manager runs the firewall: firewalld and ufw own the rules when they are active. */
export const FIREWALL_MANAGER = 'if systemctl is-active --quiet firewalld; then echo firewalld; elif command -v ufw >/dev/null && ufw status | grep -q "^Status: active"; then echo ufw; fi';

interface Want extends DesiredBase {
  node: string;
  mode: 'manage' | 'check' | 'off';
  /** The other nodes' IPv4 addresses: VRRP comes from them. */
  peers: string[];
  /** The node's VRRP interfaces: VRRP arrives there (firewalld judges it in their zone). */
  interfaces: string[];
}

/** What the active manager(s) say about VRRP from `peers`. */
export function managerPlans(peers: string[], interfaces: string[], mode: 'manage' | 'check', facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>): ManagerPlan[] {
  const out = (command: string) => facts.output?.[command] ?? '';
  const manager = out(FIREWALL_MANAGER).trim();
  if (manager === 'firewalld') {
    const f = parseFirewalld(out(FIREWALLD_ZONES));
    return f ? [planFirewalld(peers, interfaces, f)] : [{ manager: 'firewalld', blocked: ['firewalld is active but `firewall-cmd --list-all-zones` could not list its zones'], steps: [], notes: [], fine: '' }];
  }
  if (manager === 'ufw') {
    const u = parseUfw(out(UFW_STATUS));
    return u ? [planUfw(peers, u)] : [];
  }
  const plans = [planNftables(peers, interfaces, mode, facts, ctx)];
  const ipt = parseIptables(out(IPTABLES_RULES));
  if (ipt && iptablesActive(ipt)) plans.push(planIptables(peers, interfaces, ipt));
  return plans;
}

/** `firewall: off` after `manage`: every rule and file kadeploy added, out again. */
function removals(facts: HostFacts, ctx: Pick<PlanContext, 'backupSuffix' | 'runId'>) {
  const out = (command: string) => facts.output?.[command] ?? '';
  const ufw = parseUfw(out(UFW_STATUS));
  const ipt = parseIptables(out(IPTABLES_RULES));
  const fwd = parseFirewalld(out(FIREWALLD_ZONES));
  return [...removeNftables(facts, ctx), ...(ufw ? removeUfw(ufw) : []), ...(ipt ? removeIptables(ipt) : []), ...(fwd ? removeFirewalld(fwd) : [])];
}

export const firewallKind: TaskKind<Record<string, never>, Want> = {
  key: 'firewall',
  args: z.strictObject({}),
  // With the other packages: every node lets VRRP through before any node's keepalived changes.
  phase: 'packages',
  want: (_, task, { cluster, node }) => [
    {
      kind: 'firewall',
      task,
      node: node.name,
      mode: cluster.firewall,
      peers: cluster.nodes.filter((n) => n.name !== node.name && !n.ip.includes(':')).map((n) => n.ip),
      interfaces: [...new Set(node.instances.map((i) => i.interface))],
    },
  ],
  needs: () => ({ output: [FIREWALL_MANAGER, NFT_RULESET, IPTABLES_RULES, UFW_STATUS, FIREWALLD_ZONES], files: [NFT_CONF, NFT_KADEPLOY_CONF] }),
  plan(w, facts: HostFacts, ctx) {
    if (w.mode === 'off') {
      const steps = removals(facts, ctx);
      if (!steps.length) return noop(w, 'firewall: off (nothing of kadeploy in the firewall)');
      return { task: w.task, kind: 'firewall', actions: ['remove'], summary: "firewall: off — remove kadeploy's VRRP rules", desired: w as never, steps };
    }
    if (!w.peers.length) {
      // A cluster shrunk to this node: rules kadeploy added for former peers go (manage only, as with
      // a peer removed from a larger cluster).
      const steps = w.mode === 'manage' ? removals(facts, ctx) : [];
      if (!steps.length) return noop(w, 'no peer: nothing to let through');
      return { task: w.task, kind: 'firewall', actions: ['remove'], summary: "no peer: remove kadeploy's VRRP rules no longer needed", desired: w as never, steps };
    }
    const plans = managerPlans(w.peers, w.interfaces, w.mode, facts, ctx);
    const blocked = plans.flatMap((p) => p.blocked);
    const steps = plans.flatMap((p) => p.steps);
    const names = plans.map((p) => p.manager).join(' and ') || 'no firewall';
    const notes = plans.flatMap((p) => p.notes).map((n) => `; ${n}`).join('');
    if (w.mode === 'check' && blocked.length) {
      const blocker =
        `${w.node}: VRRP from the other nodes would be dropped, so each node would hold the VIPs (split brain).\n  ${blocked.join('\n  ')}\n` +
        `  Add that rule to the node's firewall (and its saved configuration), or set "firewall: manage" in the inventory to let kadeploy add it.`;
      return { task: w.task, kind: 'firewall', actions: ['check'], summary: `${names} drops VRRP from the other nodes`, desired: w as never, steps: [], blocker };
    }
    if (w.mode === 'check' || !steps.length) return noop(w, `${plans.map((p) => p.fine).join(', ') || 'no firewall'}${notes}`);
    // Rules of kadeploy no longer needed (a former peer's) go too: the summary says which of the two it does.
    const removing = steps.filter((s) => /^(remove|forget) /.test(s.title)).length;
    const doing = [...(removing < steps.length ? [`let VRRP from ${w.peers.join(', ')} through`] : []), ...(removing ? ["remove kadeploy's VRRP rules no longer needed"] : [])];
    return { task: w.task, kind: 'firewall', actions: ['update'], summary: `${names}: ${doing.join('; ')}${notes}`, desired: w as never, steps };
  },
};
