// The failover part of the benchmark on its own (issue 15): a fresh 2-node lab, BENCH_DRILLS drills
// with the lab's default profile, then as many with `failover: fast`; prints both and the targets.
// `npm run bench` runs the same part on its bench lab. Run as root:
//   node --import tsx bench/failover.ts          (BENCH_LAB_NAME / BENCH_LAB_SUBNET: a lab of your own)
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { labDown, labUp } from '../src/lab/index.js';
import { failoverBench, failoverTable, failoverVerdict } from './lib/failover.js';
import { run } from './lib/measure.js';

const env = process.env;
const CLI = env.BENCH_CLI ?? join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const lab = { name: env.BENCH_LAB_NAME ?? 'bench', subnet: env.BENCH_LAB_SUBNET ?? '10.79.0.0/24' };
const drills = Number(env.BENCH_DRILLS ?? 10);
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

async function main() {
  if (process.getuid?.() !== 0) throw new Error('the failover bench needs root (lab)');
  const work = mkdtempSync(join(tmpdir(), 'kadeploy-bench-failover-'));
  const started = Date.now();
  const before = loadavg().map((l) => l.toFixed(2)).join(' ');
  try {
    await labDown({ name: lab.name });
    const up = await labUp({ ...lab, nodes: 2, log });
    const kadeploy = (args: string[]) => run(process.execPath, [CLI, ...args], { env: { ...env, NO_COLOR: '1' } });
    const figures = await failoverBench(kadeploy, up.status.inventoryPath, work, drills, log);
    const verdict = failoverVerdict(figures);
    process.stdout.write(
      [
        `load before: ${before}`,
        failoverTable(figures, 2),
        '',
        `${verdict.met ? 'MET   ' : 'MISSED'}  ${verdict.text}`,
        `load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}; took ${((Date.now() - started) / 1000).toFixed(0)} s`,
        '',
      ].join('\n'),
    );
  } finally {
    await labDown({ name: lab.name });
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
