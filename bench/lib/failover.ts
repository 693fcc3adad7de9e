// The failover figures (issue 15): the lab's default profile and `failover: fast` on the same lab, each
// drilled N times with `verify --failover --repeat N` (HAProxy stopped on the VIP holder), median /
// min / max of the time until another node holds the VIP and until HAProxy answers through it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labFastInventory } from '../../src/lab/inventory.js';
import type { DrillSummary, Spread } from '../../src/verify/drill-summary.js';
import { table } from './stats.js';

/** Issue 15's targets for the fast profile (medians). */
export const FAST_TARGETS = { failoverMs: 500, serviceMs: 800 };

export interface FailoverFigures {
  normal: DrillSummary;
  fast: DrillSummary;
  drills: number;
}

type Cli = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

async function drill(kadeploy: Cli, inventory: string, drills: number, what: string): Promise<DrillSummary> {
  const applied = await kadeploy(['apply', inventory]);
  if (applied.code !== 0) throw new Error(`kadeploy apply (${what}) failed (exit ${applied.code}): ${(applied.stderr || applied.stdout).slice(-2000)}`);
  const d = await kadeploy(['verify', inventory, '--failover', '--repeat', String(drills), '--json']);
  if (d.code !== 0) throw new Error(`kadeploy verify --failover --repeat ${drills} (${what}) failed (exit ${d.code}): ${(d.stderr || d.stdout).slice(-2000)}`);
  return (JSON.parse(d.stdout) as { failover_summary: DrillSummary }).failover_summary;
}

/** Both profiles on the lab whose inventory is `inventoryPath` (the fast one is written into `work`). */
export async function failoverBench(kadeploy: Cli, inventoryPath: string, work: string, drills: number, log: (m: string) => void): Promise<FailoverFigures> {
  const fastPath = join(work, 'inventory-fast.yaml');
  writeFileSync(fastPath, labFastInventory(readFileSync(inventoryPath, 'utf8')));
  log(`failover: ${drills} drills with the lab's default profile`);
  const normal = await drill(kadeploy, inventoryPath, drills, 'default profile');
  log(`failover: ${drills} drills with failover: fast`);
  const fast = await drill(kadeploy, fastPath, drills, 'failover: fast');
  // Leave the lab as its own inventory describes it.
  log('failover: back to the default profile');
  const back = await kadeploy(['apply', inventoryPath]);
  if (back.code !== 0) throw new Error(`kadeploy apply (back to the default profile) failed: ${(back.stderr || back.stdout).slice(-2000)}`);
  return { normal, fast, drills };
}

const show = (x?: Spread) => (x ? `${x.median} / ${x.min} / ${x.max} ms` : '-');

export function failoverTable(f: FailoverFigures, nodes: number): string {
  return [
    `Failover drill on the ${nodes}-node lab (verify --failover --repeat ${f.drills}: HAProxy stopped on the VIP holder; median / min / max):`,
    table(['profile', 'VIP on another node', 'HAProxy answering through the VIP', 'drills passed'], [
      ['default (lab inventory: killall -0 every 1 s, fall 2; VRRPv2, advert_int 1)', show(f.normal.failoverMs), show(f.normal.serviceMs), `${f.normal.passed} / ${f.normal.runs}`],
      ['failover: fast (watcher script, fall 1; VRRPv3, advert_int 0.1)', show(f.fast.failoverMs), show(f.fast.serviceMs), `${f.fast.passed} / ${f.fast.runs}`],
    ]),
  ].join('\n');
}

/** The verdict line: whether the fast profile meets both targets (medians), with the default's figures beside. */
export function failoverVerdict(f: FailoverFigures | undefined): { met?: boolean; text: string } {
  if (!f) return { text: 'failover, fast profile: VIP on another node <= 0.5 s, HAProxy through the VIP <= 0.8 s (drills not run)' };
  const vip = f.fast.failoverMs?.median;
  const svc = f.fast.serviceMs?.median;
  const met = vip !== undefined && svc !== undefined && vip <= FAST_TARGETS.failoverMs && svc <= FAST_TARGETS.serviceMs && f.fast.passed === f.fast.runs;
  return {
    met,
    text:
      `failover, fast profile: VIP on another node ${vip ?? '-'} ms (target <= ${FAST_TARGETS.failoverMs}), HAProxy through the VIP ${svc ?? '-'} ms (target <= ${FAST_TARGETS.serviceMs}), ` +
      `${f.fast.passed}/${f.fast.runs} drills passed; default profile ${f.normal.failoverMs?.median ?? '-'} ms / ${f.normal.serviceMs?.median ?? '-'} ms (medians of ${f.drills})`,
  };
}
