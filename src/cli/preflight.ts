// `kadeploy preflight`: live checks on the nodes before a first deploy (foreign VRRP routers on our
// vrids, VIPs already in use, VRRP crossing between the nodes). Changes nothing on Debian (perl-base
// does the probing); installs perl where a node lacks it (RHEL family).
import type { Command } from 'commander';
import { connect, printWarnings, scopesOf, withSession } from '../apply/session.js';
import { parseLimit } from '../inventory/select.js';
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
    .option('-l, --limit <nodes>', 'check only these clusters, or the clusters of these nodes (comma-separated names or globs, e.g. \'edge-*,lb3\')')
    .option('--json', 'machine-readable output')
    .option('--listen <seconds>', 'how long each node listens for VRRP adverts', seconds(300), DEFAULT_LISTEN_S)
    .option('--no-install', 'do not install perl where a node lacks it (never needed on Debian: perl-base is Essential); the checks are skipped there')
    .option('-f, --forks <n>', 'parallel SSH connections, 1-500 (default: inventory forks, or 10)', wholeNumber(1, 500))
    .option('--accept-new-host-keys', 'trust and record unknown host keys (a changed key is always refused)')
    .addHelpText('after', '\nExit codes: 0 every check passed or was skipped, 1 a check failed or a node could not be reached, 3 invalid inventory.\n\nExamples:\n  $ kadeploy preflight inventories/lab.yaml\n  $ kadeploy preflight inventories/lab.yaml --listen 5 --json')
    .action(async (file: string, flags: PreflightFlags) => {
      const scopes = scopesOf({ inventory: file, limit: parseLimit(flags.limit) });
      const clusters = scopes.map((s) => s.cluster);
      // One connection pool for every node checked, whichever cluster it belongs to.
      const all = { ...clusters[0]!, nodes: clusters.flatMap((c) => c.nodes) };
      const forks = flags.forks ?? Math.max(...clusters.map((c) => c.forks));
      const opts = { inventory: file, forks, acceptNewHostKeys: flags.acceptNewHostKeys };
      await withSession(() => connect(opts, { cluster: all, targets: all.nodes, warnings: scopes[0]!.warnings }), async (session) => {
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
