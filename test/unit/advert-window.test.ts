// The advert windows of one verify, coordinated across nodes: closed early only once every expected
// advert has been heard after every listener was ready; otherwise they run their full length.
// Fake connections play the node side (its listener's lines, then the stats readings).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openAdvertWindows } from '../../src/verify/window.js';

const section = (name: string, body: string, rc = 0) => `@@kadeploy-fact ${name}\n${body}\n@@kadeploy-fact-rc ${rc}\n`;
const stats = (received: number, sent: number) => `VRRP Instance: VI_1\n  Advertisements:\n    Received: ${received}\n    Sent: ${sent}\n`;

interface Script {
  /** ms after the start → the listener's line (its READY comes at `readyMs`). */
  lines: Array<[number, string]>;
  readyMs?: number;
  pid: string;
}

/** A node whose window runs `fullMs` unless its listener is stopped; records the stop commands. */
function fakeNode(script: Script, fullMs: number) {
  const stops: string[] = [];
  let stop: () => void = () => undefined;
  const conn = {
    exec(command: string, opts?: { onLine?: (line: string) => void }) {
      if (command.includes('kill -USR1')) {
        stops.push(command);
        stop();
        return Promise.resolve({ stdout: '', code: 0 });
      }
      const started = Date.now();
      const timers: NodeJS.Timeout[] = [];
      const heard = new Map<string, number>();
      if (script.readyMs !== undefined) timers.push(setTimeout(() => opts?.onLine?.(`#kadeploy-window READY ${script.pid}`), script.readyMs));
      for (const [ms, line] of script.lines) {
        timers.push(
          setTimeout(() => {
            const key = line.replace('#kadeploy-window HEARD ', '');
            heard.set(key, (heard.get(key) ?? 0) + 1);
            opts?.onLine?.(line);
          }, ms),
        );
      }
      return new Promise<{ stdout: string; code: number }>((resolve) => {
        const end = () => {
          timers.forEach(clearTimeout);
          const seconds = (Date.now() - started) / 1000;
          const counts = [...heard].map(([k, n]) => `${k} ${n}`).join('\n');
          const out =
            section('before', stats(0, 0)) + section('t0', '1000.0') + section('heard', counts, script.readyMs === undefined ? 3 : 0) + section('after', stats(1, 1)) + section('t1', String(1000 + seconds));
          resolve({ stdout: out, code: 0 });
        };
        const full = setTimeout(end, fullMs);
        stop = () => {
          clearTimeout(full);
          end();
        };
      });
    },
  };
  return { conn, stops };
}

const HEARD_LB1 = '#kadeploy-window HEARD 10.0.0.11 51';
const expectLb2HearsLb1 = [{ sender: 'lb1', receiver: 'lb2', key: '10.0.0.11 51' }];
const HEARD_LB3 = '#kadeploy-window HEARD 10.0.0.13 51';

describe('advert windows across nodes', () => {
  it('close as soon as every expected advert is heard, long before the full window', async () => {
    const lb1 = fakeNode({ pid: '101', readyMs: 5, lines: [] }, 3000);
    const lb2 = fakeNode({ pid: '202', readyMs: 10, lines: [[60, HEARD_LB1]] }, 3000);
    const t0 = Date.now();
    const w = openAdvertWindows(new Map([['lb1', lb1.conn], ['lb2', lb2.conn]]), 3);
    w.closeWhenHeard(expectLb2HearsLb1);
    const { windows, early } = await w.done;
    assert.equal(early, true);
    assert.ok(Date.now() - t0 < 1000, `closed after ${Date.now() - t0} ms`);
    assert.equal(lb1.stops.length, 1);
    assert.match(lb1.stops[0]!, /p='?101'?;/);
    assert.match(lb2.stops[0]!, /p='?202'?;/);
    assert.deepEqual(windows.get('lb2')!.heard, { '10.0.0.11 51': 1 });
    assert.deepEqual(windows.get('lb1')!.after, { VI_1: { received: 1, sent: 1 } });
  });

  it("an advert heard before its sender's listener was ready does not count (the sender's counters may not cover it)", async () => {
    // lb2 hears lb1 at 20 ms, but lb1's listener is ready only at 100 ms: that advert may predate lb1's first reading.
    const lb1 = fakeNode({ pid: '101', readyMs: 100, lines: [] }, 400);
    const lb2 = fakeNode({ pid: '202', readyMs: 5, lines: [[20, HEARD_LB1]] }, 400);
    const w = openAdvertWindows(new Map([['lb1', lb1.conn], ['lb2', lb2.conn]]), 0.4);
    w.closeWhenHeard(expectLb2HearsLb1);
    const { early } = await w.done;
    assert.equal(early, false);
    assert.equal(lb1.stops.length + lb2.stops.length, 0);
    // The next advert, after lb1 is ready, counts.
    const lb1b = fakeNode({ pid: '101', readyMs: 100, lines: [] }, 3000);
    const lb2b = fakeNode({ pid: '202', readyMs: 5, lines: [[20, HEARD_LB1], [150, HEARD_LB1]] }, 3000);
    const w2 = openAdvertWindows(new Map([['lb1', lb1b.conn], ['lb2', lb2b.conn]]), 3);
    w2.closeWhenHeard(expectLb2HearsLb1);
    assert.equal((await w2.done).early, true);
  });

  it('three nodes: each receiver must hear each sender; a one-way loss runs the full window', async () => {
    const expected = [
      { sender: 'lb1', receiver: 'lb2', key: '10.0.0.11 51' },
      { sender: 'lb1', receiver: 'lb3', key: '10.0.0.11 51' },
    ];
    const run = async (lb3Lines: Array<[number, string]>) => {
      const nodes = {
        lb1: fakeNode({ pid: '101', readyMs: 5, lines: [] }, 300),
        lb2: fakeNode({ pid: '202', readyMs: 5, lines: [[20, HEARD_LB1]] }, 300),
        lb3: fakeNode({ pid: '303', readyMs: 5, lines: lb3Lines }, 300),
      };
      const w = openAdvertWindows(new Map(Object.entries(nodes).map(([k, v]) => [k, v.conn])), 0.3);
      w.closeWhenHeard(expected);
      return (await w.done).early;
    };
    assert.equal(await run([[30, HEARD_LB1]]), true);
    assert.equal(await run([[30, HEARD_LB3]]), false, 'lb3 hears another sender, never lb1');
  });

  it('the expectation can arrive after the adverts (the readings take longer): it closes then', async () => {
    const lb1 = fakeNode({ pid: '101', readyMs: 5, lines: [] }, 3000);
    const lb2 = fakeNode({ pid: '202', readyMs: 5, lines: [[20, HEARD_LB1]] }, 3000);
    const w = openAdvertWindows(new Map([['lb1', lb1.conn], ['lb2', lb2.conn]]), 3);
    await new Promise((ok) => setTimeout(ok, 80));
    const t = Date.now();
    w.closeWhenHeard(expectLb2HearsLb1);
    assert.equal((await w.done).early, true);
    assert.ok(Date.now() - t < 500);
  });

  it('runs the full window when an expected advert never comes, when nothing is expected, or a node has no listener', async () => {
    const run = async (lb2Lines: Array<[number, string]>, expected: typeof expectLb2HearsLb1 | undefined, lb1Listens = true) => {
      const lb1 = fakeNode({ pid: '101', ...(lb1Listens ? { readyMs: 5 } : {}), lines: [] }, 300);
      const lb2 = fakeNode({ pid: '202', readyMs: 5, lines: lb2Lines }, 300);
      const t0 = Date.now();
      const w = openAdvertWindows(new Map([['lb1', lb1.conn], ['lb2', lb2.conn]]), 0.3);
      w.closeWhenHeard(expected);
      const { early } = await w.done;
      return { early, ms: Date.now() - t0, stops: lb1.stops.length + lb2.stops.length };
    };
    for (const r of [
      await run([[20, HEARD_LB3]], expectLb2HearsLb1), // heard someone else only
      await run([[20, HEARD_LB1]], undefined), // no expectation: nothing to confirm
      await run([[20, HEARD_LB1]], expectLb2HearsLb1, false), // lb1 without perl: no READY
    ]) {
      assert.deepEqual([r.early, r.stops], [false, 0]);
      assert.ok(r.ms >= 290, `ended after ${r.ms} ms`);
    }
  });
});
