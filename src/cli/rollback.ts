// `kadeploy rollback`: undo the last apply with the backups it left on the nodes. Only the files of
// the newest backup run (among the selected nodes) are restored, so every node goes back to the same
// apply; nodes holding a VIP go last, one node at a time, and the first failure stops the rest.
import type { Command } from 'commander';
import { clusterHeading, eachCluster, isFleet, throwIfFailed } from '../apply/fleet.js';
import { openSession, printWarnings, scopesOf, withSession, type Session } from '../apply/session.js';
import { parseLimit } from '../inventory/select.js';
import { KadeployError } from '../errors.js';
import { DEFAULTS } from '../inventory/defaults.js';
import { maskSecrets } from '../mask.js';
import { DEFAULT_KEEP_BACKUPS, lastRun, listBackups, type Backup } from '../ops/backups.js';
import { describeUnitAction, restoreNode, ROLLBACK_SUFFIX, RollbackError } from '../ops/rollback.js';
import { mapLimit } from '../ssh/pool.js';
import { DRAINED_CONFIG_LINE } from '../plan/drain.js';
import { quote } from '../shell/quote.js';

interface RollbackFlags {
  node?: string;
  limit?: string;
  dryRun?: boolean;
  playbook?: string;
}

const describe = (b: Backup) => `${b.of} (from ${b.path})`;

async function run(file: string, flags: RollbackFlags): Promise<void> {
  // The session of an apply: every node reached (or nothing happens), the lock taken unless this
  // is a dry run, and the plan's order, which puts the nodes holding a VIP last.
  const limit = [...(parseLimit(flags.node) ?? []), ...(parseLimit(flags.limit) ?? [])];
  const opts = { inventory: file, playbook: flags.playbook, limit, lock: !flags.dryRun, command: `rollback ${file}` };
  const scopes = scopesOf(opts);
  if (!isFleet(scopes)) return withSession(() => openSession(opts, scopes[0]), (session, signal) => restore(session, flags, signal));
  // A fleet: one cluster after the other (their output stays readable); a failed one stops only itself.
  const results = await eachCluster(scopes, 1, (scope) => {
    process.stdout.write(clusterHeading(scope.cluster.name));
    return withSession(() => openSession(opts, scope), (session, signal) => restore(session, flags, signal));
  });
  throwIfFailed(results);
}

async function restore(session: Session, flags: RollbackFlags, signal: AbortSignal): Promise<void> {
  {
    printWarnings(session.warnings);
    const { cluster, conns, plan, desired } = session;
    const mask = (s: string) => maskSecrets(s, cluster.secrets);
    const order = plan.nodes;
    // Exactly the files an apply of this playbook writes on each node.
    const pathsOf = (node: string) => desired.get(node)!.flatMap((d) => (d.kind === 'file' ? [d.path] : []));

    const found = new Map<string, Backup[]>();
    await mapLimit(order, cluster.forks, async (n) => void found.set(n.node, await listBackups(conns.get(n.node)!, pathsOf(n.node))));
    const latest = lastRun([...found.values()].flat());
    if (!latest.length) throw new KadeployError(`no kadeploy backups on ${order.map((n) => n.node).join(', ')}: nothing to roll back`);
    const stamp = latest[0]!.stamp;
    process.stdout.write(
      `${flags.dryRun ? 'Would restore' : 'Restoring'} the files replaced by the apply of ${stamp} ` +
        `on ${order.map((n) => `${n.node}${n.holds.length ? ' (holds a VIP: last)' : ''}`).join(', ')}\n`,
    );

    await refuseUndrainingRestore(session, found, stamp);
    const done: string[] = [];
    for (const [k, n] of order.entries()) {
      if (signal.aborted) throw new RollbackError(`interrupted; already rolled back: ${done.join(', ') || 'none'}; not touched: ${order.slice(k).map((x) => x.node).join(', ')}`);
      const backups = (found.get(n.node) ?? []).filter((b) => b.stamp === stamp);
      if (!backups.length) {
        process.stdout.write(`${n.node}: no backup from that apply: unchanged\n`);
        continue;
      }
      try {
        const options = { configPath: DEFAULTS.keepalived.config_path, unit: DEFAULTS.keepalived.service, dryRun: flags.dryRun };
        const r = await restoreNode(n.node, conns.get(n.node)!, backups, options);
        const what = r.restored.map(describe).join(', ');
        process.stdout.write(
          flags.dryRun
            ? `${n.node}: would restore ${what}\n`
            : `${n.node}: restored ${what}; ${describeUnitAction(options.unit, r)} and active (replaced files kept as *${ROLLBACK_SUFFIX})\n`,
        );
        done.push(n.node);
      } catch (e) {
        const rest = order.slice(k + 1).map((x) => x.node);
        const tail = `${done.length ? `; already rolled back: ${done.join(', ')}` : ''}${rest.length ? `; not touched: ${rest.join(', ')}` : ''}`;
        throw new RollbackError(mask(`${(e as Error).message}${tail}`));
      }
    }
  }
}

/**
 * A drained node keeps its drain mark through a rollback (the mark is not a file an apply replaces):
 * restoring a keepalived.conf written before the drain would give the node its VIPs back while every
 * other command still takes it for drained. Refused before anything is restored.
 */
async function refuseUndrainingRestore(session: Session, found: Map<string, Backup[]>, stamp: string): Promise<void> {
  const config = DEFAULTS.keepalived.config_path;
  for (const [node, f] of session.facts) {
    const backup = f.drained && found.get(node)?.find((b) => b.stamp === stamp && b.of === config);
    if (!backup) continue;
    const r = await session.conns.get(node)!.exec(`grep -q -F -- ${quote(DRAINED_CONFIG_LINE)} ${quote(backup.path)}`, { check: false });
    if (r.code === 0) continue;
    throw new KadeployError(
      `${node} is drained (since ${f.drained!.since}), but its keepalived.conf from the apply of ${stamp} is not: restoring it would give ${node} ` +
        `its VIPs back while it is marked drained. Run \`kadeploy undrain\` first, or leave ${node} out (--limit). Nothing was restored.`,
    );
  }
}

export function registerRollback(program: Command): void {
  program
    .command('rollback')
    .description("Undo the last apply: restore the files it replaced (its backups on each node), then reload keepalived")
    .argument('<inventory>', 'inventory YAML file')
    .option('-l, --limit <names>', 'only these clusters and nodes (comma-separated names or globs like \'edge-*\')')
    .option('--node <names>', 'only these nodes (comma-separated; same as --limit)')
    .option('-n, --dry-run', 'show what would be restored (the config backup is still checked with keepalived -t), change nothing')
    .option('--playbook <file>', 'the playbook the apply ran, for the files it manages (default playbooks/keepalived.yaml)')
    .addHelpText(
      'after',
      `
apply keeps the replaced files as PATH.kadeploy-bak.<time of the run> (the last ${DEFAULT_KEEP_BACKUPS} per file). rollback
restores the newest run's files on every selected node: the keepalived.conf backup must pass
keepalived -t first, then keepalived is reloaded (restarted if it was not running) and must be active;
if not, that node's files are put back and the rollback stops. Nodes holding a VIP go last. A restored
backup is used up, so running rollback again goes one apply further back.
The lock taken by apply is taken too (not by --dry-run).
Exit codes: 0 restored, 1 failure, a node locked or unreachable, or nothing to restore, 3 invalid inventory.

Examples:
  $ kadeploy rollback inventories/lab.yaml --dry-run
  $ kadeploy rollback inventories/lab.yaml --node lb2`,
    )
    .action((file: string, flags: RollbackFlags) => run(file, flags));
}
