// The advert windows of one verify: every node's window open at once (they are compared with each
// other) and closed early once every expected advert has been heard, so a healthy cluster does not
// wait the full window. Anything missing keeps every window open to its end: a loss is still
// measured over the full window, and the verdicts keep their meaning.
import { heardAll, type AdvertWindow, type ExpectedAdvert } from './adverts.js';
import { parseWindowLine, readAdvertWindow, stopListenerCommand } from './probe.js';

type Conn = Parameters<typeof readAdvertWindow>[0];

export interface AdvertWindows {
  /** Close every window once each of `expected` has been heard; undefined: let them run their full length. */
  closeWhenHeard(expected: ExpectedAdvert[] | undefined): void;
  /** Each node's readings, once every window has ended; `early`: closed before its full length. */
  done: Promise<{ windows: Map<string, AdvertWindow | undefined>; early: boolean }>;
}

export function openAdvertWindows(conns: Map<string, Conn>, seconds: number): AdvertWindows {
  const listeners = new Map<string, string>(); // node → its listener's PID, once READY
  // Only adverts heard once every listener is ready count: each node's first counter reading was taken
  // before its listener started, so every sender's counters cover the adverts its peers heard.
  const heard = new Map<string, Set<string>>();
  let expected: ExpectedAdvert[] | undefined;
  const stops: Array<Promise<unknown>> = [];
  const check = () => {
    if (stops.length || !expected || listeners.size < conns.size || !heardAll(expected, heard)) return;
    for (const [node, pid] of listeners) stops.push(conns.get(node)!.exec(stopListenerCommand(pid), { check: false }).catch(() => undefined));
  };
  const onLine = (node: string) => (line: string) => {
    const event = parseWindowLine(line);
    if (!event) return;
    if ('ready' in event) listeners.set(node, event.ready);
    else if (listeners.size === conns.size) {
      let set = heard.get(node);
      if (!set) heard.set(node, (set = new Set()));
      set.add(event.heard);
    }
    check();
  };
  const runs = [...conns].map(async ([node, conn]) => [node, await readAdvertWindow(conn, seconds, onLine(node))] as const);
  const done = Promise.all(runs).then(async (windows) => {
    await Promise.all(stops);
    return { windows: new Map(windows), early: stops.length > 0 };
  });
  return {
    closeWhenHeard: (e) => {
      expected = e;
      check();
    },
    done,
  };
}
