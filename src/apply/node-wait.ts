// A node booting or shutting down (a reboot) when a run starts: before any change, wait for it with a
// progress line, bounded by the inventory's node_wait_timeout, instead of reading facts of units not
// started yet or failing on a connection the shutdown drops. The decisions are here, over a NodeProbe
// (fakes in unit tests); sshProbe is the real one.
import { ApplyInterrupted, KadeployError } from '../errors.js';
import { readinessOf } from '../facts/system.js';
import type { SshPool } from '../ssh/pool.js';
import type { SshTarget } from '../ssh/target.js';

/** How the wait sees a node. Each call may open a new connection; each throws when the node cannot be reached. */
export interface NodeProbe {
  /** `systemctl is-system-running` now. */
  state(): Promise<string>;
  /** Wait on the node until it finished booting, at most `ms`; returns the state then. */
  waitBooted(ms: number): Promise<string>;
  /** Close the connection: a node shutting down drops it anyway, and comes back as a new host. */
  drop(): Promise<void>;
}

export interface NodeWaitOptions {
  /** node_wait_timeout, seconds. */
  timeoutS: number;
  /** When the wait started (all nodes of a run share one bound); default now. */
  startedMs?: number;
  progress(line: string): void;
  /** Ctrl-C and the like: stop waiting (the caller also drops the connections, ending a wait on the node). */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** A node did not come up within node_wait_timeout, or is in rescue mode: the run stops before any change. */
export class NodeWaitError extends KadeployError {}

const REPORT_EVERY_MS = 5_000;
const MAX_BACKOFF_MS = 5_000;
const UNREACHABLE = 'unreachable';

const seconds = (ms: number) => Math.round(ms / 1000);
const shortError = (e: unknown) => (e as Error).message.split('\n')[0]!.replace(/^[^:]+: /, '');

/**
 * Returns once `node` is up (its state is neither booting nor stopping), `first` being the state its
 * facts showed. Throws NodeWaitError naming the node, what it saw and how long it waited.
 */
export async function waitUntilUp(node: string, first: string, probe: NodeProbe, opts: NodeWaitOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => {
    const timer = setTimeout(r, ms);
    opts.signal?.addEventListener('abort', () => (clearTimeout(timer), r()), { once: true });
  }));
  const started = opts.startedMs ?? now();
  const deadline = started + opts.timeoutS * 1000;
  const seen: string[] = [];
  const see = (state: string) => {
    if (seen[seen.length - 1] !== state) seen.push(state);
  };
  let state = first;
  let lastError = '';
  let reported = -Infinity;
  let backoff = 1000;
  let booting = false;
  for (;;) {
    if (opts.signal?.aborted) {
      // A wait on the node ended by the signal leaves it unreachable: `booting` says what was awaited.
      const awaited = booting || readinessOf(state) === 'booting' ? 'to boot' : 'to come back (it was shutting down)';
      throw new ApplyInterrupted(`interrupted while waiting for ${node} ${awaited}: nothing was changed on any node`);
    }
    see(state === UNREACHABLE ? `unreachable (${lastError})` : `systemd: ${state}`);
    const readiness = state === UNREACHABLE ? 'stopping' : readinessOf(state);
    if (readiness === 'up') return;
    if (readiness === 'maintenance') {
      throw new NodeWaitError(`${node} is in maintenance mode (systemd: maintenance: the rescue or emergency target); nothing was changed on any node. Boot it normally, then run again.`);
    }
    const left = deadline - now();
    if (left <= 0) {
      const what = readiness === 'booting' ? 'is still booting' : state === UNREACHABLE ? 'did not come back after shutting down' : 'is still shutting down';
      throw new NodeWaitError(
        `${node} ${what}: seen ${seen.join(' → ')}; waited ${seconds(now() - started)} s (node_wait_timeout: ${opts.timeoutS} s)` +
          `${readiness === 'booting' ? `; \`systemctl list-jobs\` on ${node} shows what its boot waits for` : ''}. ` +
          'Nothing was changed on any node; run again once it is up, or raise node_wait_timeout.',
      );
    }
    if (readiness === 'booting') {
      // One line per boot seen: systemd itself says when the boot is done.
      if (!booting) opts.progress(`${node} is still booting (systemd: ${state}) — waiting up to ${seconds(left)} s`);
      booting = true;
      try {
        const before = now();
        state = await probe.waitBooted(left);
        // A systemd without `--wait` answers at once: do not spin.
        if (readinessOf(state) === 'booting' && now() - before < 1000) await sleep(1000);
      } catch (e) {
        lastError = shortError(e);
        state = UNREACHABLE;
      }
      continue;
    }
    // Shutting down (or gone since): drop the connection, try again with a growing pause until it answers.
    booting = false;
    if (state !== UNREACHABLE) await probe.drop();
    if (now() - reported >= REPORT_EVERY_MS) {
      reported = now();
      opts.progress(`${node} is shutting down — waiting for it to come back (${seconds(now() - started)} s of ${opts.timeoutS} s)`);
    }
    await sleep(Math.min(backoff, Math.max(0, deadline - now())));
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    try {
      state = await probe.state();
    } catch (e) {
      lastError = shortError(e);
      state = UNREACHABLE;
    }
  }
}

const STATE_COMMAND = 'systemctl is-system-running';
const lastLine = (out: string) => out.trim().split('\n').pop()?.trim() || 'unknown';

/** The real probe: a connection of its own from `pool` (closed by drop), commands without sudo. */
export function sshProbe(pool: SshPool, target: SshTarget): NodeProbe {
  const run = async (command: string, timeoutMs: number) => lastLine((await (await pool.get(target)).exec(command, { check: false, sudo: false, timeoutMs })).stdout);
  return {
    state: () => run(STATE_COMMAND, 15_000),
    // `timeout` ends the wait on the node; the state is read again after it either way.
    waitBooted: (ms) => run(`timeout ${Math.max(1, Math.ceil(ms / 1000))} ${STATE_COMMAND} --wait >/dev/null 2>&1; ${STATE_COMMAND}`, ms + 15_000),
    drop: () => pool.closeAll(),
  };
}
