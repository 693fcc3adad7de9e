// The live progress of a fleet apply: a line per step and per cluster end in a log, one status line on a terminal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fleetProgress } from '../../src/apply/fleet-progress.js';

const sink = (isTTY: boolean) => {
  const out: string[] = [];
  return { out, stream: { isTTY, columns: 60, write: (s: string) => (out.push(s), true) } };
};

describe('fleet progress', () => {
  it('in a log: each step (not its output lines) and each cluster end, prefixed by the cluster', () => {
    const { out, stream } = sink(false);
    const p = fleetProgress(2, stream);
    p.step('edge-a', 'lb1', 'install keepalived', 'step');
    p.step('edge-a', 'lb1', 'install keepalived: Get:1 http://deb.debian.org …', 'line');
    p.done('edge-a');
    p.done('core', 'lb9: keepalived.conf fails keepalived -t');
    p.end();
    assert.deepEqual(out, ['[edge-a] lb1: install keepalived\n', '[edge-a] done\n', '[core] FAILED: lb9: keepalived.conf fails keepalived -t\n']);
  });

  it('on a terminal: one status line, redrawn, cut to the width, cleared at the end', () => {
    const { out, stream } = sink(true);
    const p = fleetProgress(3, stream);
    p.step('edge-a', 'lb1', 'install keepalived: Get:1 http://deb.debian.org/debian bookworm/main amd64 keepalived', 'line');
    p.done('edge-a');
    p.done('core', 'boom');
    p.end();
    assert.ok(out.every((s) => s.startsWith('\r\x1b[K') && !s.includes('\n')), 'no new line: one line redrawn');
    assert.ok(out.every((s) => s.length <= '\r\x1b[K'.length + 59), 'cut to the terminal width');
    assert.match(out[0]!, /0\/3 clusters done — \[edge-a\] lb1: install keepalived/);
    assert.match(out[2]!, /2\/3 clusters done, 1 failed/);
    assert.equal(out.at(-1), '\r\x1b[K');
  });
});
