// Where the VIPs are, and where they should be: checklist step 10 ("ip a" on every node).
import { addressesFact, vipHolder, type AddressesFact } from '../facts/addresses.js';
import { expectedHolder, vipsOf } from '../plan/expected.js';
import type { NodeSpec, VrrpScript } from '../inventory/model.js';
import type { VipCheck } from '../types.js';
import type { Runner } from '../shell/runner.js';
import type { SshConnection } from '../ssh/connection.js';

export { expectedHolder, type Health } from '../plan/expected.js';

export interface VipPlacement {
  vip: string;
  holders: string[];
  /** Node that should hold it (see expectedHolder). */
  expected?: string;
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

/** The plan's VIP check against addresses read now: each VIP on exactly its expected node (any single one with nopreempt). */
export function judgeVipCheck(check: VipCheck, addresses: Array<{ node: string; addrs: AddressesFact }>): { ok: boolean; placements: VipPlacement[] } {
  const placements = check.vips.map(({ vip, expected, anyHolder }) => {
    const holders = addresses.filter((a) => vipHolder(a.addrs, vip) !== undefined).map((a) => a.node);
    return { vip, holders, expected: anyHolder && holders.length === 1 ? holders[0] : expected };
  });
  return { ok: placements.every(placementOk), placements };
}

/**
 * Between two reads of the VIP check: short on a few nodes (a first deploy's check ends with an
 * election; 500 ms cost 250 ms on average after it), longer on many (each read is a command per node).
 */
export const vipPollMs = (nodes: number): number => Math.min(500, Math.max(100, 5 * nodes));

/** Poll `ip -o addr` on every node until the plan's VIP check passes, or its timeout passes. */
export async function waitForVipCheck(check: VipCheck, conns: Map<string, Runner>): Promise<{ ok: boolean; placements: VipPlacement[] }> {
  const deadline = Date.now() + check.timeoutS * 1000;
  const pause = vipPollMs(conns.size);
  for (;;) {
    const addresses = await Promise.all(
      [...conns].map(async ([node, conn]) => {
        const r = await conn.exec(addressesFact.command, { check: false });
        return { node, addrs: addressesFact.parse(r.stdout, r.code) };
      }),
    );
    const result = judgeVipCheck(check, addresses);
    if (result.ok || Date.now() > deadline) return result;
    await new Promise((r) => setTimeout(r, pause));
  }
}
