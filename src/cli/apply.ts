// `kadeploy apply`, `diff`, `plan` and `show`: build the plan (or read a saved one), print it, and
// for apply execute it exactly.
import { rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { wholeNumber } from './numbers.js';
import { executePlan, formatRecap, type NodeRecap } from '../apply/execute.js';
import { fleetProgress } from '../apply/fleet-progress.js';
import { clusterHeading, eachCluster, fleetForks, isFleet, throwIfFailed } from '../apply/fleet.js';
import { onlyScope, openSession, printWarnings, scopesOf, withSession, type Scope, type Session, type SessionOptions } from '../apply/session.js';
import { KadeployError } from '../errors.js';
import { parseLimit } from '../inventory/select.js';
import { formatPlan, planToJson } from '../plan/format.js';
import { preflightFirstDeploys } from '../preflight/first-deploy.js';
import { attachContents, checkFingerprints, readSavedPlan, serialisePlan } from '../plan/saved.js';
import { pendingChanges, type Plan } from '../types.js';
import { Timings } from '../timings.js';

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
  commands?: boolean;
  plan?: string;
  out?: string;
  timings?: boolean;
  skipPreflight?: boolean;
}

const EXIT_CODES = `
Exit codes:
  0  success (with --detailed-exitcode: success and nothing to change)
  1  failure: unreachable or untrusted node, node locked by another run, failed step, stale plan
     (the recap says what was rolled back)
  2  with --detailed-exitcode: changes are pending (dry-run) or were made (apply)
  3  invalid inventory (nothing contacted)
  130 interrupted (Ctrl-C, SIGTERM, SIGHUP): the node being changed was rolled back, no further node touched`;

const colorOf = (flags: ApplyFlags) => flags.color !== false && !process.env.NO_COLOR && process.stdout.isTTY === true;
const limitOf = (flags: ApplyFlags) => parseLimit(flags.limit);

function sessionOptions(file: string, flags: ApplyFlags, lock: boolean): SessionOptions {
  const forks = flags.forks ? Number(flags.forks) : undefined;
  return {
    inventory: file,
    playbook: flags.playbook,
    limit: limitOf(flags),
    forks: forks && forks > 0 ? forks : undefined,
    acceptNewHostKeys: flags.acceptNewHostKeys,
    skipUnreachable: flags.skipUnreachable,
    lock,
    command: `apply ${file}`,
    timings: flags.timings ? new Timings() : undefined,
  };
}

/** --json output, with the timings when asked for. */
const jsonOut = (value: object, timings: Timings | undefined) => `${JSON.stringify(timings ? { ...value, timings } : value, null, 2)}\n`;
const planJson = (plan: Plan, secrets: readonly string[], timings: Timings | undefined) =>
  timings ? jsonOut(JSON.parse(planToJson(plan, secrets)) as object, timings) : planToJson(plan, secrets);
/** Human output: the timings go to stderr, after everything else. */
const printTimings = (timings: Timings | undefined, json: boolean | undefined) => {
  if (timings && !json) process.stderr.write(timings.format());
};

const interrupted = () => process.stderr.write('\nkadeploy: interrupt: finishing the current step, rolling back the node being changed…\n');

async function execute(session: Session, plan: Plan, flags: ApplyFlags, signal: AbortSignal): Promise<void> {
  if (!flags.skipPreflight) await preflightFirstDeploys([session.cluster], session, session.cluster.forks);
  const renderer = flags.json ? 'silent' : process.stdout.isTTY ? 'default' : 'simple';
  const addresses = [...session.facts].map(([node, f]) => ({ node, addrs: f.addresses }));
  const timings = session.timings;
  const { recaps, error } = await executePlan(plan, { conns: session.conns, secrets: session.cluster.secrets, forks: session.cluster.forks, renderer, signal, addresses, timings });
  process.stdout.write(flags.json ? jsonOut({ recap: recaps, error: error?.message }, timings) : formatRecap(recaps));
  if (error) {
    printTimings(timings, flags.json);
    throw error;
  }
}

async function run(file: string | undefined, flags: ApplyFlags, dryRun: boolean): Promise<void> {
  if (flags.plan) return applySaved(file, flags, dryRun);
  if (!file) throw new KadeployError('apply: an inventory is required (or --plan PLAN)');
  const opts = sessionOptions(file, flags, !dryRun);
  const scopes = scopesOf(opts);
  if (isFleet(scopes)) return runFleet(opts, scopes, flags, dryRun);
  await withSession(
    () => openSession(opts, scopes[0]),
    async (session, signal) => {
      for (const s of session.skipped) process.stderr.write(`kadeploy: warning: skipped unreachable node ${s}\n`);
      printWarnings(session.warnings);
      const { plan, cluster } = session;
      const style = { color: colorOf(flags), commands: flags.commands };
      if (dryRun) process.stdout.write(flags.json ? planJson(plan, cluster.secrets, session.timings) : formatPlan(plan, cluster.secrets, style));
      else {
        if (!flags.json) process.stdout.write(formatPlan(plan, cluster.secrets, style));
        await execute(session, plan, flags, signal);
      }
      printTimings(session.timings, flags.json);
      if (flags.detailedExitcode && pendingChanges(plan) > 0) process.exitCode = 2;
    },
    interrupted,
  );
}

/**
 * apply / diff on a fleet: every cluster in its own session (its own safe order, VIP holder last), in
 * parallel. A failing cluster rolls back its failing node and stops; the others finish. Each cluster's
 * plan is printed as one block; the recap, grouped by cluster, at the end.
 */
async function runFleet(opts: SessionOptions, scopes: Scope[], flags: ApplyFlags, dryRun: boolean): Promise<void> {
  const style = { color: colorOf(flags), commands: flags.commands };
  const progress = dryRun || flags.json ? undefined : fleetProgress(scopes.length);
  const runs = await eachCluster(scopes, fleetForks(opts, scopes), (scope, forks) => {
    const name = scope.cluster.name;
    const run = withSession(
      () => openSession({ ...opts, forks }, scope),
      async (session, signal) => {
        for (const s of session.skipped) process.stderr.write(`kadeploy: warning: cluster ${scope.cluster.name}: skipped unreachable node ${s}\n`);
        printWarnings(session.warnings);
        const { plan, cluster } = session;
        if (!flags.json) {
          progress?.end(); // the status line, if any, is drawn again by the next step
          process.stdout.write(clusterHeading(cluster.name) + formatPlan(plan, cluster.secrets, style));
        }
        if (dryRun) return { plan, recaps: [] as NodeRecap[] };
        if (!flags.skipPreflight) await preflightFirstDeploys([cluster], session, forks);
        const onProgress = progress && ((node: string, text: string, kind: 'step' | 'line') => progress.step(name, node, text, kind));
        return { plan, ...(await executePlan(plan, { conns: session.conns, secrets: cluster.secrets, forks, renderer: 'silent', signal, timings: session.timings, onProgress })) };
      },
      interrupted,
    );
    // Reported as each cluster ends (the recap waits for all of them).
    run.then(
      (r) => progress?.done(name, r.error?.message.split('\n')[0]),
      (e: Error) => progress?.done(name, String(e.message ?? e).split('\n')[0]),
    );
    return run;
  });
  progress?.end();
  // A failed step is the cluster's failure (its recap says what was rolled back).
  const results = runs.map((r) => (r.value?.error ? { ...r, error: r.value.error } : r));
  const recapsOf = (r: (typeof results)[number]) => r.value?.recaps ?? [];
  if (flags.json) {
    const clusters = results.map((r) => ({
      cluster: r.scope.cluster.name,
      ...(dryRun && r.value ? { plan: JSON.parse(planToJson(r.value.plan, r.scope.cluster.secrets)) as object } : { recap: recapsOf(r) }),
      ...(r.error ? { error: r.error.message } : {}),
    }));
    process.stdout.write(jsonOut({ clusters }, opts.timings));
  } else if (!dryRun) {
    // A cluster that never got to run (unreachable node, lock held) says so instead of an empty recap.
    const recap = (r: (typeof results)[number]) => (recapsOf(r).length ? formatRecap(recapsOf(r)).replace(/^RECAP\n/, '') : `not run: ${r.error?.message.split('\n')[0]!.replace(/:$/, '') ?? 'nothing to do'}\n`);
    process.stdout.write(`RECAP\n${results.map((r) => clusterHeading(r.scope.cluster.name) + recap(r)).join('')}`);
  }
  printTimings(opts.timings, flags.json);
  throwIfFailed(results);
  if (flags.detailedExitcode && results.some((r) => r.value && pendingChanges(r.value.plan) > 0)) process.exitCode = 2;
}

/** apply --plan: the saved plan, exactly, on nodes that still match the facts it was built on. */
async function applySaved(file: string | undefined, flags: ApplyFlags, dryRun: boolean): Promise<void> {
  const saved = readSavedPlan(flags.plan!);
  const inventory = file ?? saved.inventory;
  await withSession(
    () => {
      const opts = { ...sessionOptions(inventory, { ...flags, limit: saved.limit?.join(',') }, !dryRun), playbook: flags.playbook ?? saved.playbook };
      return openSession(opts, onlyScope(opts, 'apply --plan'));
    },
    async (session, signal) => {
      printWarnings(session.warnings);
      checkFingerprints(saved, session.facts, flags.plan!);
      const plan = attachContents(saved.plan, session.desired, flags.plan!);
      // --dry-run: the plan still matches the nodes; print it, change nothing.
      if (dryRun || !flags.json) process.stdout.write(flags.json ? planJson(plan, session.cluster.secrets, session.timings) : formatPlan(plan, session.cluster.secrets, { color: colorOf(flags), commands: flags.commands }));
      if (!dryRun) await execute(session, plan, flags, signal);
      printTimings(session.timings, flags.json);
      if (flags.detailedExitcode && pendingChanges(plan) > 0) process.exitCode = 2;
    },
    interrupted,
  );
}

function addOptions(cmd: Command): Command {
  return cmd
    .option('--playbook <file>', 'run this playbook instead of playbooks/keepalived.yaml')
    .option('-l, --limit <names>', 'change only these clusters and nodes (comma-separated names or globs like \'edge-*\'); all nodes of a cluster are still read')
    .option('-f, --forks <n>', 'parallel SSH connections, 1-500 (default: inventory forks, or 10)', wholeNumber(1, 500))
    .option('--json', 'machine-readable output (plan for a dry-run, recap for an apply)')
    .option('--detailed-exitcode', 'exit 2 when changes are pending or were made')
    .option('--accept-new-host-keys', 'trust and record unknown host keys (a changed key is always refused)')
    .option('--skip-unreachable', 'go on without nodes that cannot be reached (default: stop before any change)')
    .option('--commands', 'also print every command of the plan, with its undo')
    .option('--timings', 'print where the time went (start-up, connect, facts, plan, each step, VIP check) on stderr; with --json, in the JSON')
    .option('--no-color', 'no colours in diffs');
}

export function registerApply(program: Command): void {
  addOptions(
    program
      .command('apply')
      .description('Deploy keepalived to every node of the inventory (the checklist playbook), or show what would change')
      .argument('[inventory]', 'inventory YAML file (with --plan: default, the plan\'s)')
      .option('-n, --dry-run', 'show what would change, change nothing')
      .option('--plan <file>', 'apply exactly this saved plan (kadeploy plan -o); refused when a node changed since')
      .option('--skip-preflight', 'deploy a cluster for the first time without running `kadeploy preflight` first'),
  )
    .addHelpText(
      'after',
      `${EXIT_CODES}

Examples:
  $ kadeploy apply inventories/lab.yaml
  $ kadeploy apply inventories/lab.yaml --dry-run --commands
  $ kadeploy plan inventories/lab.yaml -o lab.plan && kadeploy apply --plan lab.plan
  $ kadeploy apply prod.yaml --limit lb2 --detailed-exitcode`,
    )
    .action((file: string | undefined, flags: ApplyFlags) => run(file, flags, flags.dryRun === true));
}

export function registerDiff(program: Command): void {
  addOptions(program.command('diff').description('Same as apply --dry-run: print what would change on each node, change nothing').argument('<inventory>', 'inventory YAML file'))
    .addHelpText('after', `${EXIT_CODES}\n\nExample:\n  $ kadeploy diff inventories/lab.yaml --json`)
    .action((file: string, flags: ApplyFlags) => run(file, flags, true));
}

/** `plan` (build, print, save) and `show` (print a saved one). */
export function registerPlan(program: Command): void {
  addOptions(
    program
      .command('plan')
      .description('Build the plan and print it (as apply --dry-run); with -o, save it for apply --plan')
      .argument('<inventory>', 'inventory YAML file')
      .option('-o, --out <file>', 'write the plan here (no secrets: contents by sha256, diffs masked)'),
  )
    .addHelpText(
      'after',
      `
The saved plan records, per node, a fingerprint of the facts it was built on. apply --plan reads the
nodes again and refuses, changing nothing, when one no longer matches (naming the node and what
changed), or when a file rendered now does not hash as planned.

Example:
  $ kadeploy plan inventories/lab.yaml -o lab.plan && kadeploy show lab.plan && kadeploy apply --plan lab.plan`,
    )
    .action(async (file: string, flags: ApplyFlags) => {
      await withSession(
        () => {
          const opts = sessionOptions(file, flags, false);
          return openSession(opts, onlyScope(opts, 'plan (a saved plan covers one cluster)'));
        },
        async (session) => {
          printWarnings(session.warnings);
          const { plan, cluster, facts } = session;
          process.stdout.write(flags.json ? planJson(plan, cluster.secrets, session.timings) : formatPlan(plan, cluster.secrets, { color: colorOf(flags), commands: flags.commands }));
          printTimings(session.timings, flags.json);
          if (flags.out) {
            // A new private file (an existing one, or a link in its place, is replaced, never written through).
            rmSync(flags.out, { force: true });
            writeFileSync(flags.out, serialisePlan(plan, facts, cluster.secrets, { inventory: resolve(file), playbook: flags.playbook && resolve(flags.playbook), limit: limitOf(flags) }), { mode: 0o600, flag: 'wx' });
            process.stderr.write(`kadeploy: plan written to ${flags.out}; apply it with: kadeploy apply --plan ${flags.out}\n`);
          }
          if (flags.detailedExitcode && pendingChanges(plan) > 0) process.exitCode = 2;
        },
      );
    });

  program
    .command('show')
    .description('Print a saved plan as apply --dry-run does (no connection)')
    .argument('<plan>', 'a plan written by kadeploy plan -o')
    .option('--json', 'the plan as JSON')
    .option('--commands', 'also print every command of the plan, with its undo')
    .option('--no-color', 'no colours in diffs')
    .action((file: string, flags: ApplyFlags) => {
      const saved = readSavedPlan(file);
      if (flags.json) return void process.stdout.write(planToJson(saved.plan, []));
      process.stdout.write(`Plan of ${saved.inventory}, made ${saved.created}\n`);
      process.stdout.write(formatPlan(saved.plan, [], { color: colorOf(flags), commands: flags.commands }));
    });
}
