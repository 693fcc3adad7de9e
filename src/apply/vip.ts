// Where the VIPs are, and where they should be: checklist step 10 ("ip a" on every node).
import { addressesFact, vipHolder, type AddressesFact } from '../facts/addresses.js';
import { vipsOf } from '../plan/build.js';
import type { NodeSpec, VrrpScript } from '../inventory/model.js';
import type { SshConnection } from '../ssh/connection.js';

export interface VipPlacement {
  vip: string;
  holders: string[];
  /** Node that should hold it (see expectedHolder). */
  expected?: string;
}

/** What is known of a node's health; a node missing from the map counts as healthy. */
export type Health = Map<string, { active: boolean; scripts: Record<string, number> }>;

/**
 * The node that should hold a VIP: the highest effective priority among healthy nodes (keepalived
 * active; a failing track script lowers the priority by its weight or, without weight, puts the
 * node in FAULT). With nopreempt, a single current holder keeps it while healthy.
 */
export function expectedHolder(nodes: NodeSpec[], scripts: VrrpScript[], vip: string, holders: string[], health: Health = new Map()): string | undefined {
  const weights = new Map(scripts.map((s) => [s.name, s.weight ?? 0]));
  const candidates: Array<{ node: string; priority: number; nopreempt: boolean }> = [];
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
    if (!fault) candidates.push({ node: n.name, priority, nopreempt: inst.nopreempt });
  }
  const holder = holders.length === 1 ? candidates.find((c) => c.node === holders[0]) : undefined;
  if (holder?.nopreempt) return holder.node;
  return candidates.sort((a, b) => b.priority - a.priority)[0]?.node;
}

export async function readPlacement(nodes: NodeSpec[], scripts: VrrpScript[], conns: Map<string, SshConnection>): Promise<VipPlacement[]> {
  const addresses = await Promise.all(
    nodes.map(async (n) => {
      const r = await conns.get(n.name)!.exec(addressesFact.command, { check: false });
      return { node: n.name, addrs: addressesFact.parse(r.stdout, r.code) };
    }),
  );
  return placementFrom(nodes, scripts, addresses);
}

/** Placement from addresses already read (e.g. with this run's facts). */
export function placementFrom(nodes: NodeSpec[], scripts: VrrpScript[], addresses: Array<{ node: string; addrs: AddressesFact }>): VipPlacement[] {
  const vips = [...new Set(nodes.flatMap(vipsOf))];
  return vips.map((vip) => {
    const holders = addresses.filter((a) => vipHolder(a.addrs, vip) !== undefined).map((a) => a.node);
    return { vip, holders, expected: expectedHolder(nodes, scripts, vip, holders) };
  });
}

export const placementOk = (p: VipPlacement): boolean => p.holders.length === 1 && p.holders[0] === p.expected;

export function describePlacement(p: VipPlacement): string {
  const where = p.holders.length ? p.holders.join(' and ') : 'no node';
  return `VIP ${p.vip} on ${where}${p.expected ? ` (expected ${p.expected})` : ''}`;
}

/** Poll until every VIP is on exactly its expected node, or the timeout passes. */
export async function waitForPlacement(
  nodes: NodeSpec[],
  scripts: VrrpScript[],
  conns: Map<string, SshConnection>,
  timeoutS: number,
): Promise<{ ok: boolean; placements: VipPlacement[] }> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const placements = await readPlacement(nodes, scripts, conns);
    if (placements.every(placementOk)) return { ok: true, placements };
    if (Date.now() > deadline) return { ok: false, placements };
    await new Promise((r) => setTimeout(r, 500));
  }
}
