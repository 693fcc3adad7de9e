// The preflight report as a table, one line per check.
import type { PreflightReport } from './run.js';

const LABEL = { 'foreign-vrrp': 'foreign VRRP', 'vip-free': 'VIP free', 'vrrp-crossing': 'VRRP crossing' } as const;

export function formatPreflight(r: PreflightReport): string {
  const rows = r.checks.map((c) => [c.cluster, LABEL[c.check], c.subject, c.status.toUpperCase(), c.detail]);
  const head = ['CLUSTER', 'CHECK', 'SUBJECT', 'RESULT', 'DETAIL'];
  const widths = head.map((h, k) => Math.max(h.length, ...rows.map((row) => row[k]!.length)));
  const line = (cells: string[]) => cells.map((c, k) => (k < cells.length - 1 ? c.padEnd(widths[k]!) : c)).join('  ');
  const failed = r.checks.filter((c) => c.status === 'fail').length;
  const skipped = r.checks.filter((c) => c.status === 'skip').length;
  const summary = failed ? `preflight FAILED: ${failed} check(s) failed` : 'preflight passed';
  return `${[line(head), ...rows.map(line)].join('\n')}\n${summary}${skipped ? ` (${skipped} skipped)` : ''}\n`;
}
