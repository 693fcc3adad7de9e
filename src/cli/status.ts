// `kadeploy status`: who holds each VIP now, and each node's VRRP state. It reads only what it shows:
// no templates, no facts, no plan.
import type { Command } from 'commander';
import { fleetForks, openFleet } from '../apply/fleet.js';
import { connect, scopesOf, withSession } from '../apply/session.js';
import { parseLimit } from '../inventory/select.js';
import { formatStatus, readFleetStatus, readStatus } from '../verify/status.js';
import { seconds } from './numbers.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('Who holds each VIP now, and each node\'s VRRP state with its last transition')
    .argument('<inventory>', 'inventory YAML file')
    .option('--json', 'machine-readable output')
    .option('-w, --watch [seconds]', 'refresh every N seconds (default 2) until Ctrl-C', seconds(86_400))
    .option('-l, --limit <names>', 'only these clusters and nodes\' clusters (comma-separated names or globs)')
    .addHelpText('after', '\nExamples:\n  $ kadeploy status inventories/lab.yaml\n  $ kadeploy status inventories/lab.yaml --watch 1')
    .action(async (file: string, flags: { json?: boolean; watch?: number | boolean; limit?: string }) => {
      const opts = { inventory: file, limit: parseLimit(flags.limit) };
      const scopes = scopesOf(opts);
      await withSession(() => openFleet(scopes, fleetForks(opts, scopes), (scope, forks) => connect({ ...opts, forks }, scope)), async (fleet, signal) => {
        const every = flags.watch === undefined ? 0 : flags.watch === true ? 2 : flags.watch;
        const [only] = fleet.sessions;
        do {
          const s = fleet.sessions.length === 1 && only && !only.cluster.name ? await readStatus(only) : await readFleetStatus(fleet.sessions);
          const text = flags.json ? `${JSON.stringify(s)}\n` : formatStatus(s);
          process.stdout.write(every && process.stdout.isTTY && !flags.json ? `\x1b[2J\x1b[H${text}` : text);
          if (every) await new Promise((r) => setTimeout(r, every * 1000));
        } while (every && !signal.aborted);
      });
    });
}
