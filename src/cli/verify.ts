import type { Command } from 'commander';
import { fleetForks, isFleet, openFleet } from '../apply/fleet.js';
import { openSession, printWarnings, scopesOf, withSession, type Connected } from '../apply/session.js';
import { parseLimit } from '../inventory/select.js';
import { KadeployError } from '../errors.js';
import { wholeNumber } from './numbers.js';
import { formatChecks, runChecks, startAdvertWindows, startReadings, type NodeReadings } from '../verify/checks.js';
import type { AdvertWindows } from '../verify/window.js';
import { DrillAborted } from '../errors.js';
import { failoverDrill, formatDrill, type DrillReport, type DrillTarget } from '../verify/failover.js';
import { formatDrillSummary, summariseDrills } from '../verify/drill-summary.js';
import { timed, Timings } from '../timings.js';

interface VerifyFlags {
  json?: boolean;
  failover?: string | boolean;
  probePort: number;
  repeat: number;
  timings?: boolean;
  limit?: string;
  adverts?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('Check the deployed cluster: keepalived and HAProxy up, config as rendered, track scripts, VIP placement, VRRP traffic')
    .argument('<inventory>', 'inventory YAML file')
    .option('--json', 'machine-readable results')
    .option('--failover [service]', 'then run the failover drill: stop haproxy (default) or keepalived on the VIP holder, time the move, restore')
    .option('--probe-port <port>', 'HAProxy port probed through the VIP during the drill (0: no probe)', wholeNumber(0, 65535), 80)
    .option('--repeat <n>', 'with --failover: run the drill N times and print median / min / max', wholeNumber(1, 1000), 1)
    .option('--adverts', "always measure VRRP adverts over a window (rates, who hears whom), also when the nodes' states already show them flowing")
    .option('-l, --limit <names>', 'only these clusters (or the clusters of these nodes): comma-separated names or globs')
    .option('--timings', 'print where the time went (start-up, connect, facts, checks, each drill) on stderr; with --json, in the JSON')
    .addHelpText(
      'after',
      `
VRRP adverts: by default verify infers them from keepalived's own guarantee. A BACKUP that hears no
advert for its master-down interval (down_timer_adverts × advert_int + skew) becomes MASTER, so with
the VIP on the expected holder, that holder MASTER and every other node BACKUP for longer than that
interval, the holder's adverts reached each of them within it. This shows no rates, and a loss that
began less than one master-down interval ago is not seen yet. Whenever the states do not show it (a
recent transition or reload, FAULT, two MASTERs, the VIP elsewhere, an unreadable journal), verify
measures adverts over a window instead, as --adverts always does: keepalived's counters and a
listener on each node for up to 3 × advert_int (at least 2 s, closed once every sender was heard),
naming each lost direction, split brain and likely cause.

verify changes nothing. The drill stops one service on the VIP holder and always starts it again,
also on failure or Ctrl-C; it takes the per-node lock, like apply and rollback.
Exit codes: 0 all passed, 1 a check or the drill failed, 3 invalid inventory.

Examples:
  $ kadeploy verify inventories/lab.yaml
  $ kadeploy verify inventories/lab.yaml --adverts
  $ kadeploy verify inventories/lab.yaml --failover
  $ kadeploy verify inventories/lab.yaml --failover=keepalived --json
  $ kadeploy verify inventories/lab.yaml --failover --repeat 10`,
    )
    .action(async (file: string, flags: VerifyFlags) => {
      const stop: DrillTarget | undefined = flags.failover === undefined ? undefined : flags.failover === true ? 'haproxy' : (flags.failover as DrillTarget);
      if (stop && stop !== 'haproxy' && stop !== 'keepalived') throw new KadeployError(`--failover: expected haproxy or keepalived, got "${stop}"`);
      const repeat = flags.repeat;
      if (repeat > 1 && !stop) throw new KadeployError('--repeat: only with --failover (it repeats the drill)');
      const timings = flags.timings ? new Timings() : undefined;
      // The drill stops services: it takes the lock, so it never interleaves with an apply or a rollback.
      const lock = { lock: stop !== undefined, command: `verify --failover ${file}` };
      // Each cluster's readings start as soon as its nodes are connected: they overlap the facts. With
      // --adverts its advert windows start there instead (the readings then run during the window, as
      // before inference: the listeners start with nothing more competing on the nodes than the facts).
      const windows = new Map<string, AdvertWindows>();
      const readings = new Map<string, Promise<NodeReadings>>();
      const onConnected = (c: Connected) => {
        if (flags.adverts) windows.set(c.cluster.name, startAdvertWindows(c));
        else readings.set(c.cluster.name, startReadings(c, timings));
      };
      const opts = { inventory: file, timings, keepBlockers: true, limit: parseLimit(flags.limit), onConnected, ...lock };
      const scopes = scopesOf(opts);
      if (stop && scopes.length > 1) throw new KadeployError(`--failover: the drill runs on one cluster; --limit one of ${scopes.map((s) => s.cluster.name).join(', ')}`);
      await withSession(() => openFleet(scopes, fleetForks(opts, scopes), (scope, forks) => openSession({ ...opts, forks }, scope)), async (fleet, signal) => {
        const session = fleet.sessions[0]!;
        try {
          for (const s of fleet.sessions) printWarnings(s.warnings);
          // A fleet: every cluster's checks in one table, each result naming its cluster.
          const checked = await timed(timings, 'checks', () => Promise.all(fleet.sessions.map(async (s) => (await runChecks(s, { readings: readings.get(s.cluster.name), windows: windows.get(s.cluster.name) })).results.map((r) => (isFleet(scopes) ? { cluster: s.cluster.name, ...r } : r)))));
          const results = checked.flat();
          const drills: DrillReport[] = [];
          for (let k = 1; stop && k <= repeat; k++) {
            const drill = () =>
              failoverDrill(session, {
                stop,
                probePort: flags.probePort,
                signal,
                log: flags.json ? undefined : (l) => process.stderr.write(`  drill${repeat > 1 ? ` ${k}/${repeat}` : ''}: ${l}\n`),
              });
            drills.push(await timed(timings, repeat > 1 ? `failover drill ${k}` : 'failover drill', drill));
          }
          const summary = repeat > 1 ? summariseDrills(drills) : undefined;
          if (flags.json) {
            const out = { checks: results, failover: drills[0], ...(summary ? { failover_runs: drills, failover_summary: summary } : {}), ...(timings ? { timings } : {}) };
            process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
          } else {
            process.stdout.write(formatChecks(results) + drills.map(formatDrill).join('') + (summary ? formatDrillSummary(summary) : ''));
            if (timings) process.stderr.write(timings.format());
          }
          if (results.some((r) => !r.ok) || drills.some((d) => !d.ok)) process.exitCode = 1;
        } catch (e) {
          if (e instanceof DrillAborted) process.stderr.write('kadeploy: drill interrupted; every stopped service was started again\n');
          throw e;
        }
      });
    });

}
