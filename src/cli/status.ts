// `kadeploy status`: who holds each VIP now, and each node's VRRP state. It reads only what it shows:
// no templates, no facts, no plan.
import type { Command } from 'commander';
import { connect, withSession } from '../apply/session.js';
import { formatStatus, readStatus } from '../verify/status.js';
import { seconds } from './numbers.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('Who holds each VIP now, and each node\'s VRRP state with its last transition')
    .argument('<inventory>', 'inventory YAML file')
    .option('--json', 'machine-readable output')
    .option('-w, --watch [seconds]', 'refresh every N seconds (default 2) until Ctrl-C', seconds(86_400))
    .addHelpText('after', '\nExamples:\n  $ kadeploy status inventories/lab.yaml\n  $ kadeploy status inventories/lab.yaml --watch 1')
    .action(async (file: string, flags: { json?: boolean; watch?: number | boolean }) => {
      await withSession(() => connect({ inventory: file }), async (session, signal) => {
        const every = flags.watch === undefined ? 0 : flags.watch === true ? 2 : flags.watch;
        do {
          const s = await readStatus(session);
          const text = flags.json ? `${JSON.stringify(s)}\n` : formatStatus(s);
          process.stdout.write(every && process.stdout.isTTY && !flags.json ? `\x1b[2J\x1b[H${text}` : text);
          if (every) await new Promise((r) => setTimeout(r, every * 1000));
        } while (every && !signal.aborted);
      });
    });
}
