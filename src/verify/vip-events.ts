// What the drill times, as events instead of polls: each node streams `ip monitor address` (the kernel
// tells it the moment the VIP is added or deleted). Each line is timestamped when it reaches kadeploy,
// like the line the drill's stop command prints on the node just before it stops the service, so both
// ends of a measured interval carry the same one-way SSH delay and no clock needs to agree with another.
import { sh } from '../shell/quote.js';

export interface VipEvent {
  node: string;
  kind: 'add' | 'del' | 'ready';
  /** performance.now() when the line arrived. */
  at: number;
}

interface Streaming {
  exec(command: string, opts: { check?: boolean; timeoutMs?: number; onLine?: (line: string) => void }): Promise<unknown>;
}

/**
 * The watcher run on each node: `ip -o monitor address` in the background, then READY with its process
 * group (the remote `timeout` wrapper's or the SSH session's: only this command's processes) to stop
 * it by. The short sleep lets ip monitor subscribe before kadeploy acts on READY.
 */
export const WATCHER_COMMAND = 'ip -o monitor address & read -r _ _ _ _ g _ < /proc/$$/stat; sleep 0.1; echo "READY $g"; wait';

/** One line of the watcher's output, as an event about `vip` (undefined: about something else). */
export function parseWatcherLine(line: string, vip: string): Exclude<VipEvent['kind'], 'ready'> | { ready: string[] } | undefined {
  if (line.startsWith('READY')) return { ready: line.split(/\s+/).slice(1).filter(Boolean) };
  const m = line.match(/^(Deleted\s+)?\d+:\s+\S+\s+inet6?\s+([^\s/]+)/);
  if (!m || m[2] !== vip) return undefined;
  return m[1] ? 'del' : 'add';
}

export interface VipWatch {
  events: VipEvent[];
  /** Resolves with the first event (already seen or to come) matching `test`, or undefined at `deadline` (performance.now()). */
  until(test: (e: VipEvent) => boolean, deadline: number): Promise<VipEvent | undefined>;
  /** Re-check every pending `until` now (e.g. on an interrupt, which no event announces). */
  poke(): void;
  stop(): Promise<void>;
}

/** Start a watcher on every node; resolves once each is READY (throws if one is not within `readyMs`). */
export async function watchVip(
  conns: Map<string, Streaming>,
  vip: string,
  lifetimeMs: number,
  readyMs = 10_000,
): Promise<VipWatch> {
  const events: VipEvent[] = [];
  const waiters = new Set<() => void>();
  const pids = new Map<string, string[]>();
  const push = (e: VipEvent) => {
    events.push(e);
    for (const w of waiters) w();
  };
  const runs = [...conns].map(([node, conn]) => {
    return conn
      .exec(WATCHER_COMMAND, {
        check: false,
        timeoutMs: lifetimeMs,
        onLine: (line) => {
          const at = performance.now();
          const p = parseWatcherLine(line.trim(), vip);
          if (p === undefined) return;
          if (typeof p === 'object') {
            pids.set(node, p.ready);
            push({ node, kind: 'ready', at });
          } else push({ node, kind: p, at });
        },
      })
      .catch(() => undefined);
  });
  const until: VipWatch['until'] = (test, deadline) =>
    new Promise((resolve) => {
      const check = () => {
        const hit = events.find(test);
        if (hit || performance.now() >= deadline) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(check, Math.max(0, deadline - performance.now()));
      waiters.add(check);
      check();
    });
  const stop = async () => {
    await Promise.all(
      [...conns].map(([node, conn]) => {
        const group = pids.get(node)?.[0];
        return group && Number(group) > 1 ? conn.exec(sh('kill', '--', `-${group}`), { check: false }).catch(() => undefined) : undefined;
      }),
    );
    await Promise.all(runs);
  };
  const readyBy = performance.now() + readyMs;
  for (const node of conns.keys()) {
    if (!(await until((e) => e.node === node && e.kind === 'ready', readyBy))) {
      await stop();
      throw new Error(`the VIP watcher on ${node} did not start within ${readyMs} ms`);
    }
  }
  const poke = () => {
    for (const w of waiters) w();
  };
  return { events, until, poke, stop };
}

/** Nodes holding the VIP after the events up to `index`, from the holders at the start. */
export function holdersAfter(start: readonly string[], events: readonly VipEvent[], index: number): string[] {
  const holders = new Set(start);
  for (const e of events.slice(0, index + 1)) {
    if (e.kind === 'add') holders.add(e.node);
    else if (e.kind === 'del') holders.delete(e.node);
  }
  return [...holders].sort();
}
