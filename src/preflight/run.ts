// `kadeploy preflight`: the live checks before a first deploy, over connections already open (the
// session's pool): read each node (one facts round trip; perl is installed only where it lacks, never
// on Debian), then per cluster listen and probe for a few seconds on every node at once, and judge.
import { factsCommand, type HostFacts } from '../facts/index.js';
import type { Cluster, NodeSpec } from '../inventory/model.js';
import { installCommand, lockWaitS } from '../ops/package.js';
import type { SshConnection } from '../ssh/connection.js';
import { mapLimit } from '../ssh/pool.js';
import { arpProbeCommand, arpReplies, MACS_COMMAND, parseMacs } from './arp.js';
import { judgeCrossing, judgeForeign, judgeVips, probePlan, clusterName, type Check, type ForeignRouter, type NodeReading, type VipProbe } from './judge.js';
import { parseProbeOutput, probeScript } from './probe.js';
import { missingTools, TOOL_PACKAGES } from './tools.js';

/** How long each node listens for VRRP adverts by default (seconds): a few advert intervals of 1 s. */
export const DEFAULT_LISTEN_S = 3;

export interface PreflightOptions {
  /** Seconds each node listens (and probes go out). */
  listenSeconds: number;
  /** Install perl where it lacks (default; never needed on Debian); false: skip the checks there. */
  install: boolean;
  forks: number;
  /** Progress lines for long steps. */
  progress: (line: string) => void;
}

export interface PreflightReport {
  ok: boolean;
  listenSeconds: number;
  checks: Check[];
  foreign: ForeignRouter[];
}

const lastLine = (text: string) => text.trim().split('\n').pop() ?? '';
const ipOf = (address: string) => address.replace(/\/\d+$/, '');

/** Read one node, installing the tools when missing: its reading, with `skipped` when it cannot probe. */
async function prepare(node: NodeSpec, conn: SshConnection | undefined, cluster: Cluster, opts: PreflightOptions): Promise<NodeReading> {
  if (!conn) return { addresses: [], macs: [], skipped: `${node.name}: not connected` };
  const read = factsCommand([{ packages: TOOL_PACKAGES, output: [MACS_COMMAND] }]);
  const facts: HostFacts = read.parse((await conn.exec(read.command, { check: false })).stdout);
  const reading: NodeReading = { addresses: Object.values(facts.addresses).flat(), macs: parseMacs(facts.output?.[MACS_COMMAND] ?? '') };
  const missing = missingTools(facts.os, facts.packages);
  if (!missing) return { ...reading, skipped: `${node.name}: cannot install perl on OS "${facts.os.id}"` };
  if (!missing.length) return reading;
  if (!opts.install) return { ...reading, skipped: `${node.name} lacks ${missing.join(', ')} (--no-install)` };
  opts.progress(`${node.name}: installing ${missing.join(', ')}`);
  // The install's own lines (a busy package manager's holder, apt's progress) show as they come.
  const r = await conn.exec(installCommand(facts.os, missing, { aptProxy: cluster.aptProxy, lockTimeoutS: cluster.packageLockTimeoutS }), {
    check: false,
    onLine: (line) => opts.progress(`${node.name}: ${line}`),
    extraTimeoutMs: lockWaitS(cluster.packageLockTimeoutS) * 1000,
  });
  return r.code === 0 ? reading : { ...reading, skipped: `${node.name}: could not install ${missing.join(', ')}: ${lastLine(r.stderr || r.stdout)}` };
}

/** Each IPv4 VIP once, probed from a node that carries it and can probe (one not holding it, if any). */
async function probeVips(cluster: Cluster, readings: Map<string, NodeReading>, conns: Map<string, SshConnection>): Promise<VipProbe[]> {
  const vips = new Map<string, Array<{ node: NodeSpec; iface: string }>>();
  for (const node of cluster.nodes) {
    for (const inst of node.instances) {
      for (const v of inst.vips) vips.set(ipOf(v.address), [...(vips.get(ipOf(v.address)) ?? []), { node, iface: v.dev ?? inst.interface }]);
    }
  }
  return Promise.all([...vips].map(async ([vip, carriers]): Promise<VipProbe> => {
    if (vip.includes(':')) return { vip, skipped: 'IPv6 VIP: ARP does not apply and the NDP probe is not implemented' };
    const able = carriers.filter((c) => !readings.get(c.node.name)?.skipped);
    const prober = able.find((c) => !readings.get(c.node.name)!.addresses.includes(vip)) ?? able[0];
    if (!prober) return { vip, skipped: readings.get(carriers[0]!.node.name)?.skipped ?? 'no node can probe' };
    const r = await conns.get(prober.node.name)!.exec(arpProbeCommand(prober.iface, vip), { check: false });
    const replies = r.code === 0 ? arpReplies(r.stdout) : undefined;
    if (!replies) return { vip, skipped: `the ARP probe on ${prober.node.name} failed: ${lastLine(r.stderr || r.stdout) || `exit ${r.code}`}` };
    return { vip, node: prober.node.name, iface: prober.iface, replies };
  }));
}

async function checkCluster(cluster: Cluster, conns: Map<string, SshConnection>, opts: PreflightOptions, readings: Map<string, NodeReading>) {
  const { scripts, directions, ipv6 } = probePlan(cluster, opts.listenSeconds);
  const able = cluster.nodes.filter((n) => !readings.get(n.name)?.skipped);
  opts.progress(`${clusterName(cluster)}: listening for VRRP for ${opts.listenSeconds} s on ${able.map((n) => n.name).join(', ') || 'no node'}, probing VIPs`);
  // Every node of the cluster at once: each hears the others' probes during its own window.
  const [, vipProbes] = await Promise.all([
    Promise.all(able.map(async (n) => {
      const r = await conns.get(n.name)!.exec(probeScript(scripts.get(n.name)!), { check: false, timeoutMs: (opts.listenSeconds + 30) * 1000 });
      readings.get(n.name)!.listened = parseProbeOutput(r.stdout, r.stderr, r.code);
    })),
    probeVips(cluster, readings, conns),
  ]);
  const name = clusterName(cluster);
  const foreign = judgeForeign(cluster, readings, opts.listenSeconds);
  return {
    foreign: foreign.foreign,
    checks: [
      ...foreign.checks,
      ...judgeVips(cluster, vipProbes, readings),
      ...judgeCrossing(cluster, directions, readings),
      ...ipv6.map((i): Check => ({ cluster: name, check: 'vrrp-crossing', subject: i, status: 'skip', detail: 'IPv6 instance: the probe is IPv4 only' })),
    ],
  };
}

export async function runPreflight(clusters: Cluster[], conns: Map<string, SshConnection>, opts: PreflightOptions): Promise<PreflightReport> {
  const readings = new Map<string, NodeReading>();
  const nodes = clusters.flatMap((c) => c.nodes.map((node) => ({ c, node })));
  opts.progress(`reading ${nodes.length} node(s)`);
  await mapLimit(nodes, opts.forks, async ({ c, node }) => readings.set(node.name, await prepare(node, conns.get(node.name), c, opts)));
  // Clusters side by side as far as --forks allows, counted in nodes (a cluster's nodes run together).
  const widest = Math.max(1, ...clusters.map((c) => c.nodes.length));
  const results = await mapLimit(clusters, Math.max(1, Math.floor(opts.forks / widest)), (c) => checkCluster(c, conns, opts, readings));
  const checks = results.flatMap((r) => r.checks);
  return { ok: !checks.some((c) => c.status === 'fail'), listenSeconds: opts.listenSeconds, checks, foreign: results.flatMap((r) => r.foreign) };
}
