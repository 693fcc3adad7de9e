// The benchmark's own lab: name "bench" on 10.79.0.0/24 (bridge kabr-bench), never the default lab
// (kabr0, 10.77.0.0/24) the e2e tests use. Every lab is fresh: torn down, brought up, then prepared
// identically for both tools before anything is timed.
import { labDown, labUp, nodeExec } from '../../src/lab/index.js';
import { sh } from '../../src/shell/quote.js';

// BENCH_LAB_NAME / BENCH_LAB_SUBNET (as for bench/failover.ts): another lab, for a bench beside other labs.
export const BENCH_LAB = { name: process.env.BENCH_LAB_NAME ?? 'bench', subnet: process.env.BENCH_LAB_SUBNET ?? '10.79.0.0/24' } as const;

export interface BenchNode {
  name: string;
  ip: string;
}

export interface BenchLab {
  nodes: BenchNode[];
  vip: string;
  proxyUrl: string;
  keyPath: string;
  knownHostsPath: string;
  inventoryPath: string;
  upSeconds: number;
  prepSeconds: number;
}

/**
 * What both tools find on a fresh node before a timed first deploy:
 * - python3-apt (Ansible's apt module needs it; kadeploy does not use it);
 * - fresh apt lists, and keepalived + psmisc already in the lab's apt-cacher-ng (downloaded once,
 *   then `apt-get clean`, so the node itself has no .deb): every timed install fetches through a warm
 *   proxy, the first run like the last;
 * - apt's update-success stamp (Ubuntu's 15update-stamp hook, absent from Debian minbase) and the
 *   lists' directory, aged 2 h: both tools judge freshness by them (Ansible's `cache_valid_time`,
 *   kadeploy's package `cache_valid_time`, both 1 h here), so both refresh the lists on the first
 *   deploy (as a real first deploy on an idle node would) and neither does on a re-apply.
 */
function prepScript(proxyUrl: string): string {
  const apt = (...args: string[]) => sh('apt-get', '-o', `Acquire::http::Proxy=${proxyUrl}`, '-q', ...args);
  const hook = 'APT::Update::Post-Invoke-Success {"touch /var/lib/apt/periodic/update-success-stamp 2>/dev/null || true";};';
  return [
    'set -e',
    'export DEBIAN_FRONTEND=noninteractive',
    'mkdir -p /var/lib/apt/periodic',
    `printf '%s\\n' ${sh(hook)} > /etc/apt/apt.conf.d/15update-stamp`,
    `${apt('update')} >/dev/null`,
    `${apt('-y', 'install', '--no-install-recommends', 'python3-apt')} >/dev/null`,
    `${apt('-y', 'install', '--download-only', '--no-install-recommends', 'keepalived', 'psmisc')} >/dev/null`,
    'apt-get clean',
    "touch -d '2 hours ago' /var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists",
  ].join('\n');
}

/** Tear down any previous bench lab, bring up a fresh one with `nodes` nodes and prepare them. */
export async function freshLab(nodes: number, log: (msg: string) => void = () => {}): Promise<BenchLab> {
  await labDown({ name: BENCH_LAB.name });
  const up = await labUp({ ...BENCH_LAB, nodes, log });
  const s = up.status;
  const t0 = Date.now();
  const results = await Promise.all(s.nodes.map((n) => nodeExec(n.name, prepScript(s.proxyUrl), { name: BENCH_LAB.name })));
  results.forEach((r, i) => {
    if (r.code !== 0) throw new Error(`preparing ${s.nodes[i]!.name} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  });
  return {
    nodes: s.nodes.map((n) => ({ name: n.name, ip: n.ip })),
    vip: s.vip,
    proxyUrl: s.proxyUrl,
    keyPath: s.keyPath,
    knownHostsPath: s.knownHostsPath,
    inventoryPath: s.inventoryPath,
    upSeconds: up.seconds,
    prepSeconds: (Date.now() - t0) / 1000,
  };
}

export async function benchLabDown(): Promise<void> {
  await labDown({ name: BENCH_LAB.name });
}
