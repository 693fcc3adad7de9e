// Mount bookkeeping from /proc/mounts, so cleanup finds mounts even when no state recorded them.
import { readFileSync } from 'node:fs';
import { run } from './exec.js';

/** Mount points listed in /proc/mounts (octal escapes such as \040 decoded). */
export function mountPoints(): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (line.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Unmount everything mounted under `dir`, deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const under = mountPoints()
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of under) await run('umount', [m]);
}
