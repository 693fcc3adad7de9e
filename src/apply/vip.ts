// Where the VIPs are, and where they should be: checklist step 10 ("ip a" on every node).
import { addressesFact, vipHolder } from '../facts/addresses.js';
import { vipsOf } from '../plan/build.js';
import type { NodeSpec } from '../inventory/model.js';
import type { SshConnection } from '../ssh/connection.js';

export interface VipPlacement {
  vip: string;
  holders: string[];
  /** Node that should hold it; undefined when any single holder is right (nopreempt). */
  expected?: string;
}

/** Highest priority wins, unless the instance is nopreempt: then whoever holds it keeps it. */
export function expectedHolder(nodes: NodeSpec[], vip: string): string | undefined {
  const withVip = nodes.flatMap((n) => n.instances.filter((i) => vipsOf({ ...n, instances: [i] }).includes(vip)).map((i) => ({ node: n.name, i })));
  if (withVip.some(({ i }) => i.nopreempt)) return undefined;
  return withVip.sort((a, b) => b.i.priority - a.i.priority)[0]?.node;
}

export async function readPlacement(nodes: NodeSpec[], conns: Map<string, SshConnection>): Promise<VipPlacement[]> {
  const addresses = await Promise.all(
    nodes.map(async (n) => {
      const r = await conns.get(n.name)!.exec(addressesFact.command, { check: false });
      return { node: n.name, addrs: addressesFact.parse(r.stdout, r.code) };
    }),
  );
  const vips = [...new Set(nodes.flatMap(vipsOf))];
  return vips.map((vip) => ({
    vip,
    holders: addresses.filter((a) => vipHolder(a.addrs, vip) !== undefined).map((a) => a.node),
    expected: expectedHolder(nodes, vip),
  }));
}

export const placementOk = (p: VipPlacement): boolean =>
  p.holders.length === 1 && (p.expected === undefined || p.holders[0] === p.expected);

export function describePlacement(p: VipPlacement): string {
  const where = p.holders.length ? p.holders.join(' and ') : 'no node';
  return `VIP ${p.vip} on ${where}${p.expected ? ` (expected ${p.expected})` : ''}`;
}

/** Poll until every VIP is on exactly its expected node, or the timeout passes. */
export async function waitForPlacement(
  nodes: NodeSpec[],
  conns: Map<string, SshConnection>,
  timeoutS: number,
): Promise<{ ok: boolean; placements: VipPlacement[] }> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const placements = await readPlacement(nodes, conns);
    if (placements.every(placementOk)) return { ok: true, placements };
    if (Date.now() > deadline) return { ok: false, placements };
    await new Promise((r) => setTimeout(r, 500));
  }
}
