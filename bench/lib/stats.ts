// Summaries of repeated runs and plain-text tables.
import type { Sample } from './measure.js';

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const median = n % 2 ? v[(n - 1) / 2]! : (v[n / 2 - 1]! + v[n / 2]!) / 2;
  return { n, median, min: v[0]!, max: v[n - 1]! };
}

export interface Series {
  samples: Sample[];
}

export const wall = (s: Sample[]): Summary => summarize(s.map((x) => x.wallMs / 1000));
export const cpu = (s: Sample[]): Summary => summarize(s.map((x) => x.cpuMs / 1000));
/** Peak memory over the runs, MiB: the sampled tree sum when sampled, else GNU time's max RSS. */
export const peakRssMiB = (s: Sample[]): number => Math.max(0, ...s.map((x) => Math.max(x.maxRssKiB, x.treeRssKiB))) / 1024;
export const peakPssMiB = (s: Sample[]): number => Math.max(0, ...s.map((x) => x.treePssKiB)) / 1024;

export const secs = (x: number): string => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '-');
export const triple = (s: Summary): string => (s.n ? `${secs(s.median)} / ${secs(s.min)} / ${secs(s.max)}` : '-');

/** A table with a header row; columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
