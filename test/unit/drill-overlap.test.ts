// The drill's split-brain judgement: two holders for a moment is VRRP's handover, two holders that
// last longer than one advert interval is a split brain. The drill feeds each change of the holder
// count (from `ip monitor` events), so each stretch with two or more holders is measured exactly.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overlapWatch } from '../../src/verify/failover.js';
import { holdersAfter, parseWatcherLine, type VipEvent } from '../../src/verify/vip-events.js';

describe('failover drill: overlap of two holders', () => {
  it('a handover: two holders from the add to the delete', () => {
    const w = overlapWatch();
    for (const [n, at] of [[1, 0], [2, 100], [1, 103]] as const) w.see(n, at);
    assert.equal(w.longestMs, 3);
  });

  it('measures the longest stretch with two holders', () => {
    const w = overlapWatch();
    for (const [n, at] of [[2, 0], [2, 300], [1, 400], [2, 1000], [3, 1200], [2, 2600], [1, 2700]] as const) w.see(n, at);
    assert.equal(w.longestMs, 1700);
  });

  it('an overlap still running counts', () => {
    const w = overlapWatch();
    w.see(2, 5000);
    w.see(3, 6500);
    assert.equal(w.longestMs, 1500);
  });

  it('never two holders: no overlap', () => {
    const w = overlapWatch();
    for (const [n, at] of [[1, 0], [0, 50], [1, 60]] as const) w.see(n, at);
    assert.equal(w.longestMs, 0);
  });
});

describe('failover drill: VIP events', () => {
  it('reads ip -o monitor address lines about the VIP only', () => {
    const vip = '10.86.0.100';
    assert.equal(parseWatcherLine('2: eth0    inet 10.86.0.100/32 scope global eth0\\       valid_lft forever preferred_lft forever', vip), 'add');
    assert.equal(parseWatcherLine('Deleted 2: eth0    inet 10.86.0.100/32 scope global eth0\\       valid_lft forever', vip), 'del');
    assert.equal(parseWatcherLine('2: eth0    inet 10.86.0.101/32 scope global eth0', vip), undefined);
    assert.equal(parseWatcherLine('2: eth0    inet 10.86.0.1000/32 scope global eth0', vip), undefined);
    assert.equal(parseWatcherLine('Deleted 2: eth0    inet6 fe80::1/64 scope link', vip), undefined);
    assert.deepEqual(parseWatcherLine('READY 4242', vip), { ready: ['4242'] });
  });

  it('follows the holders through the events', () => {
    const ev = (node: string, kind: VipEvent['kind'], at: number): VipEvent => ({ node, kind, at });
    const events = [ev('lb1', 'ready', 0), ev('lb2', 'add', 50), ev('lb1', 'del', 52), ev('lb1', 'add', 2000), ev('lb2', 'del', 2001)];
    assert.deepEqual(holdersAfter(['lb1'], events, 0), ['lb1']);
    assert.deepEqual(holdersAfter(['lb1'], events, 1), ['lb1', 'lb2']);
    assert.deepEqual(holdersAfter(['lb1'], events, 2), ['lb2']);
    assert.deepEqual(holdersAfter(['lb1'], events, 4), ['lb1']);
  });
});
