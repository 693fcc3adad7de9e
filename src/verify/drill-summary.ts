// `verify --failover --repeat N`: the drill's figures over N runs (median / min / max).
import type { DrillReport } from './failover.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many runs had this figure (a run where the VIP never moved has no failover time). */
  n: number;
}

export interface DrillSummary {
  runs: number;
  passed: number;
  /** Until another node held the VIP. */
  failoverMs?: Spread;
  /** Until HAProxy answered through the VIP. */
  serviceMs?: Spread;
}

export function spread(values: readonly number[]): Spread | undefined {
  if (!values.length) return undefined;
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

const defined = (xs: Array<number | undefined>) => xs.filter((x): x is number => x !== undefined);

export function summariseDrills(reports: readonly DrillReport[]): DrillSummary {
  return {
    runs: reports.length,
    passed: reports.filter((r) => r.ok).length,
    failoverMs: spread(defined(reports.map((r) => r.failoverMs))),
    serviceMs: spread(defined(reports.map((r) => r.serviceMs))),
  };
}

export function formatDrillSummary(s: DrillSummary): string {
  const show = (x: Spread | undefined) => (x ? `median ${x.median} ms, min ${x.min} ms, max ${x.max} ms${x.n < s.runs ? ` (${x.n} of ${s.runs} runs)` : ''}` : 'none');
  return [
    `Failover drill × ${s.runs}: ${s.passed} passed`,
    `  VIP on another node:          ${show(s.failoverMs)}`,
    `  HAProxy answering via the VIP: ${show(s.serviceMs)}`,
  ].join('\n') + '\n';
}
