// Where the VIPs should be: pure rules shared by the plan (its VIP check), apply and verify.
import type { NodeSpec, VrrpScript } from '../inventory/model.js';

/** VIPs (bare IPs) of a node's instances. */
export const vipsOf = (node: NodeSpec): string[] =>
  [...new Set(node.instances.flatMap((i) => i.vips.map((v) => v.address.split('/')[0]!)))];

/** What is known of a node's health; a node missing from the map counts as healthy. */
export type Health = Map<string, { active: boolean; scripts: Record<string, number> }>;

/**
 * The node that should hold a VIP: the highest effective priority among healthy nodes (keepalived
 * active; a failing track script lowers the priority by its weight or, without weight, puts the
 * node in FAULT). With nopreempt, a single current holder keeps it while healthy, unless drained.
 */
export function expectedHolder(nodes: NodeSpec[], scripts: VrrpScript[], vip: string, holders: string[], health: Health = new Map()): string | undefined {
  const weights = new Map(scripts.map((s) => [s.name, s.weight ?? 0]));
  const candidates: Array<{ node: string; priority: number; nopreempt: boolean; drained: boolean }> = [];
  for (const n of nodes) {
    const inst = n.instances.find((i) => i.vips.some((v) => v.address.split('/')[0] === vip));
    const h = health.get(n.name) ?? { active: true, scripts: {} };
    if (!inst || !h.active) continue;
    let priority = inst.priority;
    let fault = false;
    for (const s of inst.trackScripts) {
      if ((h.scripts[s] ?? 0) === 0) continue;
      const w = weights.get(s) ?? 0;
      if (w === 0) fault = true;
      else priority += w;
    }
    if (!fault) candidates.push({ node: n.name, priority, nopreempt: inst.nopreempt, drained: inst.drained !== undefined });
  }
  const holder = holders.length === 1 ? candidates.find((c) => c.node === holders[0]) : undefined;
  if (holder?.nopreempt && !holder.drained) return holder.node;
  return candidates.sort((a, b) => b.priority - a.priority)[0]?.node;
}

