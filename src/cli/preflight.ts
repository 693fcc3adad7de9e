// `kadeploy preflight`: live checks on the nodes before a first deploy (foreign VRRP routers on our
// vrids, VIPs already in use, VRRP crossing between the nodes). Changes nothing but the tools it needs.
import type { Command } from 'commander';
import { connect, printWarnings, withSession } from '../apply/session.js';
import { KadeployError } from '../errors.js';
import { loadFleet } from '../inventory/load.js';
import type { Cluster } from '../inventory/model.js';
import { formatPreflight } from '../preflight/format.js';
import { DEFAULT_LISTEN_S, runPreflight } from '../preflight/run.js';
import { seconds, wholeNumber } from './numbers.js';

interface PreflightFlags {
  limit?: string;
  json?: boolean;
  listen: number;
  install: boolean;
  forks?: number;
  acceptNewHostKeys?: boolean;
}

export function registerPreflight(program: Command): void {
  program
    .command('preflight')
    .description('Live checks before a first deploy: foreign VRRP routers on our vrids, VIPs already answering, VRRP crossing between the nodes')
    .argument('<inventory>', 'inventory YAML file')
    .option('-l, --limit <nodes>', 'check only these clusters, or the clusters of these nodes (comma-separated names)')
    .option('--json', 'machine-readable output')
    .option('--listen <seconds>', 'how long each node listens for VRRP adverts', seconds(300), DEFAULT_LISTEN_S)
    .option('--no-install', 'do not install socat and arping where missing (the checks needing them are skipped)')
    .option('-f, --forks <n>', 'parallel SSH connections, 1-500 (default: inventory forks, or 10)', wholeNumber(1, 500))
    .option('--accept-new-host-keys', 'trust and record unknown host keys (a changed key is always refused)')
    .addHelpText('after', '\nExit codes: 0 every check passed or was skipped, 1 a check failed or a node could not be reached, 3 invalid inventory.\n\nExamples:\n  $ kadeploy preflight inventories/lab.yaml\n  $ kadeploy preflight inventories/lab.yaml --listen 5 --json')
    .action(async (file: string, flags: PreflightFlags) => {
      const { fleet, warnings } = loadFleet(file);
      const clusters = selectClusters(fleet.clusters, flags.limit, file);
      // One connection pool for every node checked, whichever cluster it belongs to.
      const nodes = { ...clusters[0]!, nodes: clusters.flatMap((c) => c.nodes) };
      const forks = flags.forks ?? clusters[0]!.forks;
      await withSession(() => connect({ inventory: file, forks, acceptNewHostKeys: flags.acceptNewHostKeys }, { cluster: nodes, warnings }), async (session) => {
        printWarnings(session.warnings);
        const report = await runPreflight(clusters, session.conns, {
          listenSeconds: flags.listen,
          install: flags.install,
          forks,
          progress: (line) => process.stderr.write(`preflight: ${line}\n`),
        });
        process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatPreflight(report));
        if (!report.ok) process.exitCode = 1;
      });
    });
}

/** The clusters --limit names, or that hold a node it names (a cluster is always checked whole). */
function selectClusters(clusters: Cluster[], limit: string | undefined, file: string): Cluster[] {
  const names = limit?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names?.length) return clusters;
  const picks = (c: Cluster, name: string) => c.name === name || c.nodes.some((n) => n.name === name);
  const unknown = names.filter((name) => !clusters.some((c) => picks(c, name)));
  if (unknown.length) throw new KadeployError(`--limit: no cluster or node named ${unknown.join(', ')} in ${file}`);
  return clusters.filter((c) => names.some((name) => picks(c, name)));
}
