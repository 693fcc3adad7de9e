import type { Command } from 'commander';
import { openSession, printWarnings, withSession } from '../apply/session.js';
import { KadeployError } from '../errors.js';
import { seconds, wholeNumber } from './numbers.js';
import { formatChecks, runChecks } from '../verify/checks.js';
import { DrillAborted } from '../errors.js';
import { failoverDrill, formatDrill, type DrillTarget } from '../verify/failover.js';

interface VerifyFlags {
  json?: boolean;
  failover?: string | boolean;
  probePort: number;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('Check the deployed cluster: keepalived and HAProxy up, config as rendered, track scripts, VIP placement, VRRP traffic')
    .argument('<inventory>', 'inventory YAML file')
    .option('--json', 'machine-readable results')
    .option('--failover [service]', 'then run the failover drill: stop haproxy (default) or keepalived on the VIP holder, time the move, restore')
    .option('--probe-port <port>', 'HAProxy port probed through the VIP during the drill (0: no probe)', wholeNumber(0, 65535), 80)
    .addHelpText(
      'after',
      `
verify changes nothing. The drill stops one service on the VIP holder and always starts it again,
also on failure or Ctrl-C; it takes the per-node lock, like apply and rollback.
Exit codes: 0 all passed, 1 a check or the drill failed, 3 invalid inventory.

Examples:
  $ kadeploy verify inventories/lab.yaml
  $ kadeploy verify inventories/lab.yaml --failover
  $ kadeploy verify inventories/lab.yaml --failover=keepalived --json`,
    )
    .action(async (file: string, flags: VerifyFlags) => {
      const stop: DrillTarget | undefined = flags.failover === undefined ? undefined : flags.failover === true ? 'haproxy' : (flags.failover as DrillTarget);
      if (stop && stop !== 'haproxy' && stop !== 'keepalived') throw new KadeployError(`--failover: expected haproxy or keepalived, got "${stop}"`);
      // The drill stops services: it takes the lock, so it never interleaves with an apply or a rollback.
      await withSession(() => openSession({ inventory: file, lock: stop !== undefined, command: `verify --failover ${file}` }), async (session, signal) => {
        try {
        printWarnings(session.warnings);
        const { results } = await runChecks(session);
        const drill = stop
          ? await failoverDrill(session, {
              stop,
              probePort: flags.probePort,
              signal,
              log: flags.json ? undefined : (l) => process.stderr.write(`  drill: ${l}\n`),
            })
          : undefined;
        if (flags.json) process.stdout.write(`${JSON.stringify({ checks: results, failover: drill }, null, 2)}\n`);
        else process.stdout.write(formatChecks(results) + (drill ? formatDrill(drill) : ''));
        if (results.some((r) => !r.ok) || (drill && !drill.ok)) process.exitCode = 1;
      } catch (e) {
        if (e instanceof DrillAborted) process.stderr.write('kadeploy: drill interrupted; every stopped service was started again\n');
        throw e;
        }
      });
    });

}
