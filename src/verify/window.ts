// The advert windows of one verify: every node's window open at once (they are compared with each
// other) and closed early once every expected advert has been heard, so a healthy cluster does not
// wait the full window. Anything missing keeps every window open to its end: a loss is still
// measured over the full window, and the verdicts keep their meaning.
import { performance } from 'node:perf_hooks';
import type { AdvertWindow, ExpectedAdvert } from './adverts.js';
import { parseWindowLine, readAdvertWindow, stopListenerCommand } from './probe.js';

type Conn = Parameters<typeof readAdvertWindow>[0];

export interface AdvertWindows {
  /** Close every window once each of `expected` has been heard; undefined: let them run their full length. */
  closeWhenHeard(expected: ExpectedAdvert[] | undefined): void;
  /** Each node's readings, once every window has ended; `early`: closed before its full length of `seconds`; `ms`: from opening to the end. */
  done: Promise<{ windows: Map<string, AdvertWindow | undefined>; early: boolean; seconds: number; ms: number }>;
}

export function openAdvertWindows(conns: Map<string, Conn>, seconds: number): AdvertWindows {
  const opened = performance.now();
  const listeners = new Map<string, string>(); // node → its listener's PID, once READY
  const readyAt = new Map<string, number>();
  const heardAt = new Map<string, Map<string, number>>(); // receiver → key → when it last heard it
  // An advert counts once its sender's listener was ready: that node's first counter reading was taken
  // before, so its counters cover the advert its peers heard (not just the peers' own).
  const counted = (e: ExpectedAdvert) => (heardAt.get(e.receiver)?.get(e.key) ?? -1) > (readyAt.get(e.sender) ?? Infinity);
  let expected: ExpectedAdvert[] | undefined;
  const stops: Array<Promise<unknown>> = [];
  const check = () => {
    if (stops.length || !expected || listeners.size < conns.size || !expected.every(counted)) return;
    for (const [node, pid] of listeners) stops.push(conns.get(node)!.exec(stopListenerCommand(pid), { check: false }).catch(() => undefined));
  };
  const onLine = (node: string) => (line: string) => {
    const event = parseWindowLine(line);
    if (!event) return;
    const now = performance.now();
    if ('ready' in event) {
      listeners.set(node, event.ready);
      readyAt.set(node, now);
    } else {
      let keys = heardAt.get(node);
      if (!keys) heardAt.set(node, (keys = new Map()));
      keys.set(event.heard, now);
    }
    check();
  };
  const runs = [...conns].map(async ([node, conn]) => [node, await readAdvertWindow(conn, seconds, onLine(node))] as const);
  const done = Promise.all(runs).then(async (windows) => {
    await Promise.all(stops);
    return { windows: new Map(windows), early: stops.length > 0, seconds, ms: performance.now() - opened };
  });
  // Opened before the session is (verify): if opening it fails, nobody awaits this; not an unhandled rejection.
  done.catch(() => undefined);
  return {
    closeWhenHeard: (e) => {
      expected = e;
      check();
    },
    done,
  };
}
