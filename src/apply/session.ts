// Everything before a change: load the inventory and playbook, connect to every node, read facts,
// build the plan. Fails before touching anything when any node cannot be reached or trusted.
// `withSession` is how every command opens one: Ctrl-C, SIGTERM and SIGHUP abort it the same way
// (the node being changed is rolled back), and the locks and connections are always released.
import { ApplyInterrupted, ConnectError, KadeployError, formatIssue, type Issue } from '../errors.js';
import { factsCommand, keepalivedVersionOf, type HostFacts } from '../facts/index.js';
import { readinessOf } from '../facts/system.js';
import { loadFleet } from '../inventory/load.js';
import type { Cluster, NodeSpec } from '../inventory/model.js';
import { selectFleet, type Selected } from '../inventory/select.js';
import { buildPlan } from '../plan/build.js';
import { desiredFor } from '../plan/desired.js';
import { withDrained } from '../plan/drain.js';
import type { Desired, Plan } from '../types.js';
import { loadPlaybook } from '../playbook/playbook.js';
import { createRenderer } from '../render/render.js';
import { readsNewestSpellings } from '../render/keepalived-versions.js';
import { acquireLocks, acquireLocksWith } from './lock.js';
import { sshProbe, waitUntilUp } from './node-wait.js';
import type { SshConnection } from '../ssh/connection.js';
import { mapLimit, SshPool } from '../ssh/pool.js';
import { targetFromSettings } from '../ssh/target.js';
import { needsOf } from '../tasks/registry.js';
import { timed, type Timings } from '../timings.js';

export interface SessionOptions {
  inventory: string;
  playbook?: string;
  /** Only these clusters and nodes (names or globs) are changed (all of a cluster's nodes are still read, to know who holds the VIP). */
  limit?: string[];
  forks?: number;
  acceptNewHostKeys?: boolean;
  /** Go on without nodes that cannot be reached (they are left out of the plan, with a warning). */
  skipUnreachable?: boolean;
  /** Take the per-node lock (apply, rollback) so two runs never interleave; dry-runs do not. */
  lock?: boolean;
  /** Keep a plan that has blockers (verify reports them) instead of refusing it (apply, plan, rollback). */
  keepBlockers?: boolean;
  /** Recorded in the lock for whoever finds it held. */
  command?: string;
  /** --timings: each phase is recorded here. */
  timings?: Timings;
  /** Plan this node as drained (true) or not (false), whatever its marker says: drain and undrain. */
  drain?: { node: string; drained: boolean };
  /** Called once connected, before the facts (verify starts its advert window there, to overlap them). */
  onConnected?: (c: Connected) => void;
}

/** Connected to the nodes (and locked when asked): what `status` needs, no templates, no facts. */
export interface Connected {
  cluster: Cluster;
  warnings: Issue[];
  pool: SshPool;
  conns: Map<string, SshConnection>;
  /** Nodes the plan may change (after --limit and --skip-unreachable). */
  targets: NodeSpec[];
  /** Unreachable nodes left out with --skip-unreachable, with the reason. */
  skipped: string[];
  /** Release the locks and close every connection. */
  close(): Promise<void>;
}

export interface Session extends Connected {
  /** The --timings being recorded (the options' own), if any. */
  timings?: Timings;
  desired: Map<string, Desired[]>;
  facts: Map<string, HostFacts>;
  plan: Plan;
}

/** One cluster a command works on: its nodes selected by --limit, and the inventory's warnings. */
export interface Scope extends Selected {
  warnings: Issue[];
}

/** The clusters a command works on, after --limit (the inventory's warnings go with the first). */
export function scopesOf(opts: SessionOptions): Scope[] {
  const { fleet, warnings } = loadFleet(opts.inventory);
  return selectFleet(fleet, opts.limit).map((s, k) => ({ ...s, warnings: k === 0 ? warnings : [] }));
}

/** The one cluster selected: commands that handle one cluster at a time (a saved plan, the failover drill). */
export function onlyScope(opts: SessionOptions, what = 'this command'): Scope {
  const scopes = scopesOf(opts);
  if (scopes.length !== 1) {
    throw new KadeployError(`${what} works on one cluster at a time; ${scopes.length} are selected: --limit one of ${scopes.map((s) => s.cluster.name).join(', ')}`);
  }
  return scopes[0]!;
}

/** Connect to every node of the scope's cluster (and take the locks). */
export async function connect(opts: SessionOptions, scope = onlyScope(opts)): Promise<Connected> {
  const { cluster, warnings, targets } = scope;
  const forks = opts.forks ?? cluster.forks;
  const pool = new SshPool({ forks });
  const conns = new Map<string, SshConnection>();
  const failures: Array<{ node: string; message: string }> = [];
  await mapLimit(cluster.nodes, forks, async (node) => {
    const ssh = opts.acceptNewHostKeys ? { ...node.ssh, hostKeyPolicy: 'accept-new' as const } : node.ssh;
    try {
      conns.set(node.name, await pool.get(targetFromSettings(node.name, ssh)));
    } catch (e) {
      const message = e instanceof ConnectError ? e.message : `${node.name}: ${(e as Error).message}`;
      failures.push({ node: node.name, message });
    }
  });
  failures.sort((a, b) => a.node.localeCompare(b.node));
  if (failures.length && (!opts.skipUnreachable || failures.length === cluster.nodes.length)) {
    await pool.closeAll();
    throw new ConnectError(
      failures.map((f) => f.node).join(', '),
      `cannot connect; nothing was changed on any node:\n  ${failures.map((f) => f.message).join('\n  ')}` +
        (opts.skipUnreachable ? '' : '\n(--skip-unreachable goes on without unreachable nodes)'),
    );
  }
  const planned = targets.filter((n) => conns.has(n.name));
  let release = async (): Promise<void> => {};
  if (opts.lock) {
    try {
      release = await acquireLocks(lockConns(planned, conns), lockOptions(opts));
    } catch (e) {
      await pool.closeAll();
      throw e;
    }
  }
  const close = async () => {
    await release();
    await pool.closeAll();
  };
  return { cluster, warnings, pool, conns, targets: planned, skipped: failures.map((f) => f.message), close };
}

const lockConns = (planned: NodeSpec[], conns: Map<string, SshConnection>) => new Map(planned.map((n) => [n.name, conns.get(n.name)!]));
const lockOptions = (opts: SessionOptions) => ({
  command: opts.command,
  onWait: (node: string, holder: string) => process.stderr.write(`${node}: waiting for the lock held by ${holder}\n`),
  onTakeOver: (node: string, holder: string) => process.stderr.write(`${node}: took over a stale lock of ${holder}\n`),
  onLost: (node: string) => process.stderr.write(`${node}: warning: this run's lock was taken over by another run (no sign of life reached the node)\n`),
});

/** Open a session on one cluster: by default the inventory's only one (or the one --limit selects). */
export async function openSession(opts: SessionOptions, scope?: Scope): Promise<Session> {
  const t = opts.timings;
  const rendered = await timed(t, 'inventory, playbook, render', () => {
    const loaded = scope ?? onlyScope(opts);
    const { cluster } = loaded;
    const playbook = loadPlaybook(opts.playbook);
    // Render everything before connecting: a template error must not cost a connection, or a change.
    const renderer = createRenderer(cluster);
    return { loaded, playbook, desired: new Map(cluster.nodes.map((n) => [n.name, desiredFor(playbook, cluster, renderer, n)])) };
  });
  const { loaded, desired, playbook } = rendered;
  let { cluster } = loaded;

  const reads = new Map(cluster.nodes.map((n) => [n.name, factsCommand(needsOf(desired.get(n.name)!))]));
  let { c, facts } = await readNodes(opts, loaded, reads);
  try {
    // A node booting or shutting down: wait for it (locks and connections given back meanwhile), read again.
    const waitStarted = Date.now();
    for (let waiting = notUp(facts); waiting.length; waiting = notUp(facts)) {
      await c.close();
      await timed(t, 'wait for booting or rebooting nodes', () => waitForNodes(waiting, cluster, opts, waitStarted));
      ({ c, facts } = await readNodes(opts, loaded, reads));
    }
    const reachable = cluster.nodes.filter((n) => c.conns.has(n.name));
    // Rendered again where the facts change it: a drained node (its marker) at its lowered priority,
    // an older keepalived with directives spelled the way it reads them.
    cluster = withDrained(cluster, drainedNodes(facts, opts.drain));
    const versionOf = (node: string) => (facts.has(node) ? keepalivedVersionOf(facts.get(node)!) : undefined);
    const versioned = createRenderer(cluster, versionOf);
    for (const n of cluster.nodes) {
      if (n.instances.some((i) => i.drained) || !readsNewestSpellings(versionOf(n.name))) desired.set(n.name, desiredFor(playbook, cluster, versioned, n));
    }
    const specOf = (n: NodeSpec) => cluster.nodes.find((d) => d.name === n.name)!;
    c = { ...c, cluster, targets: c.targets.map(specOf) };
    // A task kind may refuse to plan (the firewall's `check`): the connections are closed then too.
    const input = (spec: NodeSpec) => ({ spec, desired: desired.get(spec.name)!, facts: facts.get(spec.name)! });
    const plan = await timed(t, 'plan', () => buildPlan(c.targets.map(input), { all: reachable.map(specOf).map(input), scripts: cluster.vrrpScripts, aptProxy: cluster.aptProxy, packageLockTimeoutS: cluster.packageLockTimeoutS, secrets: cluster.secrets }));
    const blockers = plan.nodes.flatMap((n) => n.changes.flatMap((ch) => (ch.blocker ? [ch.blocker] : [])));
    if (blockers.length && !opts.keepBlockers) throw new KadeployError(`${blockers.join('\n')}\nNothing was changed on any node.`);
    return { ...c, timings: t, desired, facts, plan };
  } catch (e) {
    await c.close();
    throw e;
  }
}

/** Connect (and lock, when asked: in the facts' round trip) and read every reachable node's facts. */
async function readNodes(opts: SessionOptions, scope: Scope, reads: Map<string, ReturnType<typeof factsCommand>>): Promise<{ c: Connected; facts: Map<string, HostFacts> }> {
  const t = opts.timings;
  let c = await timed(t, 'connect', () => connect({ ...opts, lock: false }, scope));
  // verify starts its advert window here, to overlap the facts (after a wait for a rebooting node,
  // again on the new connections: the first window's end is ignored).
  opts.onConnected?.(c);
  const facts = new Map<string, HostFacts>();
  const reachable = scope.cluster.nodes.filter((n) => c.conns.has(n.name));
  try {
    if (opts.lock) {
      const { release, outputs } = await timed(t, 'lock + facts', () => acquireLocksWith(lockConns(c.targets, c.conns), (node) => reads.get(node)!.command, lockOptions(opts), opts.forks ?? scope.cluster.forks));
      const close = c.close;
      c = { ...c, close: async () => { await release(); await close(); } };
      for (const [node, out] of outputs ?? []) facts.set(node, reads.get(node)!.parse(out));
    }
    const rest = reachable.filter((n) => !facts.has(n.name));
    if (rest.length) {
      await timed(t, 'facts', () => mapLimit(rest, opts.forks ?? scope.cluster.forks, async (node) => {
        const read = reads.get(node.name)!;
        facts.set(node.name, read.parse((await c.conns.get(node.name)!.exec(read.command, { check: false })).stdout));
      }));
    }
    return { c, facts };
  } catch (e) {
    await c.close();
    throw e;
  }
}

/** Nodes whose systemd is not up yet (booting), going down (stopping) or in rescue mode, with that state. */
const notUp = (facts: Map<string, HostFacts>) => [...facts].filter(([, f]) => readinessOf(f.system) !== 'up').map(([node, f]) => ({ node, state: f.system! }));

/** Wait for each of these nodes (in parallel, over connections of their own) until it is up; progress on stderr. */
async function waitForNodes(waiting: Array<{ node: string; state: string }>, cluster: Cluster, opts: SessionOptions, startedMs: number): Promise<void> {
  const pool = new SshPool({ forks: opts.forks ?? cluster.forks });
  // A signal ends the wait at once (dropping the connections ends a wait on a node too).
  const abort = new AbortController();
  const stopListening = onSignals(() => {
    abort.abort();
    void pool.closeAll();
  });
  try {
    await Promise.all(waiting.map(({ node, state }) => {
      const spec = cluster.nodes.find((n) => n.name === node)!;
      const ssh = opts.acceptNewHostKeys ? { ...spec.ssh, hostKeyPolicy: 'accept-new' as const } : spec.ssh;
      const progress = (line: string) => process.stderr.write(`${line}\n`);
      return waitUntilUp(node, state, sshProbe(pool, targetFromSettings(node, ssh)), { timeoutS: cluster.nodeWaitTimeoutS, startedMs, progress, signal: abort.signal });
    }));
  } finally {
    stopListening();
    await pool.closeAll();
  }
}

/** Nodes whose facts show the drain marker, with drain/undrain's own node as it asks. */
export function drainedNodes(facts: Map<string, HostFacts>, override?: SessionOptions['drain']): Set<string> {
  const drained = new Set([...facts].filter(([, f]) => f.drained).map(([node]) => node));
  if (override?.drained) drained.add(override.node);
  else if (override) drained.delete(override.node);
  return drained;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The open sessions' handlers, behind one process listener per signal (a fleet opens one session per cluster). */
const sessionHandlers = new Set<(name: NodeJS.Signals) => void>();
const dispatchSignal = (name: NodeJS.Signals) => {
  for (const handler of sessionHandlers) handler(name);
};

function onSignals(handler: (name: NodeJS.Signals) => void): () => void {
  if (sessionHandlers.size === 0) for (const s of SIGNALS) process.on(s, dispatchSignal);
  sessionHandlers.add(handler);
  return () => {
    sessionHandlers.delete(handler);
    if (sessionHandlers.size === 0) for (const s of SIGNALS) process.off(s, dispatchSignal);
  };
}

/**
 * Open a session (or a bare connection), run `fn`, always close. SIGINT, SIGTERM and SIGHUP abort
 * `signal` (and are kept from killing the process): `fn` finishes its current step and undoes it.
 * A signal before `fn` starts (while connecting, reading facts or waiting for a booting node) ends the
 * run before any change: `onSignal` (which announces a rollback) is then not called, the error says so.
 */
export async function withSession<S extends { close(): Promise<void> }, T>(
  open: () => Promise<S>,
  fn: (session: S, signal: AbortSignal) => Promise<T>,
  onSignal?: (name: string) => void,
): Promise<T> {
  const abort = new AbortController();
  let running = false;
  const handler = (name: NodeJS.Signals) => {
    if (!abort.signal.aborted && running) onSignal?.(name);
    abort.abort();
  };
  const stopListening = onSignals(handler);
  try {
    const session = await open();
    try {
      if (abort.signal.aborted) throw new ApplyInterrupted('interrupted before any change');
      running = true;
      return await fn(session, abort.signal);
    } finally {
      await session.close();
    }
  } finally {
    stopListening();
  }
}

export const printWarnings = (warnings: Issue[]): void => {
  for (const w of warnings) process.stderr.write(`${formatIssue(w)}\n`);
};
