// --timings' record (src/timings.ts) and verify --repeat's summary (src/verify/drill-summary.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { timed, Timings } from '../../src/timings.js';
import { formatDrillSummary, spread, summariseDrills } from '../../src/verify/drill-summary.js';
import type { DrillReport } from '../../src/verify/failover.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Timings', () => {
  it('starts with the start-up (process start to now), records phases in order, also a failing one', async () => {
    const t = new Timings();
    assert.equal(t.entries[0]!.name, 'start-up');
    assert.ok(t.entries[0]!.ms > 0);
    await t.time('connect', () => sleep(30));
    await assert.rejects(timed(t, 'facts', async () => {
      await sleep(10);
      throw new Error('lost');
    }));
    assert.deepEqual(t.entries.map((e) => e.name), ['start-up', 'connect', 'facts']);
    assert.ok(t.entries[1]!.ms >= 25, `connect ${t.entries[1]!.ms} ms`);
    const json = JSON.parse(JSON.stringify({ timings: t })) as { timings: { entries: unknown[]; total_ms: number } };
    assert.equal(json.timings.entries.length, 3);
    assert.ok(json.timings.total_ms >= t.entries[0]!.ms + 35);
    assert.match(t.format(), /^timings:\n  start-up +\d+\.\d ms\n  connect +\d+\.\d ms\n  facts +\d+\.\d ms\n  total +\d+\.\d ms\n$/);
  });

  it('timed without a Timings just runs', async () => {
    assert.equal(await timed(undefined, 'x', () => 4), 4);
  });
});

describe('drill summary (--repeat)', () => {
  it('median (odd and even counts), min, max', () => {
    assert.deepEqual(spread([900, 300, 500]), { median: 500, min: 300, max: 900, n: 3 });
    assert.deepEqual(spread([400, 100, 300, 200]), { median: 250, min: 100, max: 400, n: 4 });
    assert.equal(spread([]), undefined);
  });

  it('runs without a figure are left out of it and counted', () => {
    const r = (ok: boolean, failoverMs?: number, serviceMs?: number) => ({ ok, failoverMs, serviceMs }) as DrillReport;
    const s = summariseDrills([r(true, 400, 700), r(false, undefined, undefined), r(true, 600, 800)]);
    assert.deepEqual(s, { runs: 3, passed: 2, failoverMs: { median: 500, min: 400, max: 600, n: 2 }, serviceMs: { median: 750, min: 700, max: 800, n: 2 } });
    assert.match(formatDrillSummary(s), /× 3: 2 passed\n.*VIP on another node: +median 500 ms, min 400 ms, max 600 ms \(2 of 3 runs\)\n/);
  });
});
