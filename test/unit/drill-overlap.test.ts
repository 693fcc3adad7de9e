// The drill's split-brain judgement: two holders for a moment is VRRP's handover, two holders that
// last longer than one advert interval is a split brain.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overlapWatch } from '../../src/verify/failover.js';

describe('failover drill: overlap of two holders', () => {
  it('one poll with two holders is no overlap at all', () => {
    const w = overlapWatch();
    for (const [n, at] of [[1, 0], [2, 100], [1, 200]] as const) w.see(n, at);
    assert.equal(w.longestMs, 0);
  });

  it('measures the longest run of polls with two holders', () => {
    const w = overlapWatch();
    for (const [n, at] of [[2, 0], [2, 300], [1, 400], [2, 1000], [2, 1200], [2, 2600], [1, 2700]] as const) w.see(n, at);
    assert.equal(w.longestMs, 1600);
  });

  it('an overlap still running counts', () => {
    const w = overlapWatch();
    w.see(2, 5000);
    w.see(3, 6500);
    assert.equal(w.longestMs, 1500);
  });
});
