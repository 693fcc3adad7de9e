import type { Command } from 'commander';
import { wholeNumber } from './numbers.js';
import { executePlan, formatRecap } from '../apply/execute.js';
import { openSession, printWarnings } from '../apply/session.js';
import { formatPlan, planToJson } from '../plan/format.js';
import { pendingChanges } from '../plan/types.js';

interface ApplyFlags {
  dryRun?: boolean;
  json?: boolean;
  playbook?: string;
  limit?: string;
  forks?: number;
  detailedExitcode?: boolean;
  acceptNewHostKeys?: boolean;
  skipUnreachable?: boolean;
  color?: boolean;
}

const EXIT_CODES = `
Exit codes:
  0  success (with --detailed-exitcode: success and nothing to change)
  1  failure: unreachable or untrusted node, node locked by another run, failed step
     (the recap says what was rolled back)
  2  with --detailed-exitcode: changes are pending (dry-run) or were made (apply)
  3  invalid inventory (nothing contacted)
  130 interrupted (Ctrl-C): the node being changed was rolled back, no further node touched`;

async function run(file: string, flags: ApplyFlags, dryRun: boolean): Promise<void> {
  const session = await openSession({
    inventory: file,
    playbook: flags.playbook,
    limit: flags.limit?.split(',').map((s) => s.trim()).filter(Boolean),
    forks: flags.forks,
    acceptNewHostKeys: flags.acceptNewHostKeys,
    skipUnreachable: flags.skipUnreachable,
    lock: !dryRun,
    command: `apply ${file}`,
  });
  const abort = new AbortController();
  const onSigint = () => {
    if (!abort.signal.aborted) process.stderr.write('\nkadeploy: interrupt: finishing the current step, rolling back the node being changed…\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    for (const s of session.skipped) process.stderr.write(`kadeploy: warning: skipped unreachable node ${s}\n`);
    printWarnings(session.warnings);
    const pending = pendingChanges(session.plan);
    const color = flags.color !== false && !process.env.NO_COLOR && process.stdout.isTTY === true;
    if (dryRun) {
      process.stdout.write(flags.json ? planToJson(session.plan, session.cluster.secrets) : formatPlan(session.plan, session.cluster.secrets, { color }));
    } else {
      if (!flags.json) process.stdout.write(formatPlan(session.plan, session.cluster.secrets, { color }));
      const renderer = flags.json ? 'silent' : process.stdout.isTTY ? 'default' : 'simple';
      const { recaps, error } = await executePlan(session, { renderer, signal: abort.signal });
      process.stdout.write(flags.json ? `${JSON.stringify({ recap: recaps, error: error?.message }, null, 2)}\n` : formatRecap(recaps));
      if (error) throw error;
    }
    if (flags.detailedExitcode && pending > 0) process.exitCode = 2;
  } finally {
    process.off('SIGINT', onSigint);
    await session.close();
  }
}

function addOptions(cmd: Command): Command {
  return cmd
    .argument('<inventory>', 'inventory YAML file')
    .option('--playbook <file>', 'run this playbook instead of playbooks/keepalived.yaml')
    .option('-l, --limit <nodes>', 'change only these nodes (comma-separated); all are still read')
    .option('-f, --forks <n>', 'parallel SSH connections, 1-500 (default: inventory forks, or 10)', wholeNumber(1, 500))
    .option('--json', 'machine-readable output (plan for a dry-run, recap for an apply)')
    .option('--detailed-exitcode', 'exit 2 when changes are pending or were made')
    .option('--accept-new-host-keys', 'trust and record unknown host keys (a changed key is always refused)')
    .option('--skip-unreachable', 'go on without nodes that cannot be reached (default: stop before any change)')
    .option('--no-color', 'no colours in diffs');
}

export function registerApply(program: Command): void {
  addOptions(
    program
      .command('apply')
      .description('Deploy keepalived to every node of the inventory (the checklist playbook), or show what would change')
      .option('-n, --dry-run', 'show what would change, change nothing'),
  )
    .addHelpText(
      'after',
      `${EXIT_CODES}

Examples:
  $ kadeploy apply inventories/lab.yaml
  $ kadeploy apply inventories/lab.yaml --dry-run
  $ kadeploy apply prod.yaml --limit lb2 --detailed-exitcode`,
    )
    .action((file: string, flags: ApplyFlags) => run(file, flags, flags.dryRun === true));

  addOptions(program.command('diff').description('Same as apply --dry-run: print what would change on each node, change nothing'))
    .addHelpText('after', `${EXIT_CODES}\n\nExample:\n  $ kadeploy diff inventories/lab.yaml --json`)
    .action((file: string, flags: ApplyFlags) => run(file, flags, true));
}
