// The wait for a node booting or shutting down (src/apply/node-wait.ts), on a fake node and clock:
// what it waits for, what it says while waiting, when it gives up and what the error says.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NodeWaitError, waitUntilUp, type NodeProbe } from '../../src/apply/node-wait.js';
import { ApplyInterrupted, InventoryError } from '../../src/errors.js';
import { loadFleet } from '../../src/inventory/load.js';
import { BASE } from '../support/inventory.js';
import { readinessOf, systemFact } from '../../src/facts/system.js';

/** A node whose state follows a timeline (seconds → state, 'down' = no connection), on a fake clock. */
function fakeNode(timeline: Array<[number, string]>) {
  let clock = 0;
  const calls: string[] = [];
  const at = () => [...timeline].reverse().find(([t]) => clock >= t * 1000)![1];
  const answer = (what: string) => {
    calls.push(what);
    const s = at();
    if (s === 'down') throw new Error('lb1: connect ECONNREFUSED 10.0.0.1:22');
    return s;
  };
  const probe: NodeProbe = {
    state: async () => answer('state'),
    waitBooted: async (ms) => {
      answer('wait');
      // systemd returns when the boot is done, or the bound ends it.
      const done = timeline.find(([t, s]) => t * 1000 > clock && readinessOf(s) === 'up');
      clock = done ? Math.min(done[0] * 1000, clock + ms) : clock + ms;
      return answer('state');
    },
    drop: async () => void calls.push('drop'),
  };
  const lines: string[] = [];
  const opts = (timeoutS: number) => ({ timeoutS, progress: (l: string) => lines.push(l), now: () => clock, sleep: async (ms: number) => void (clock += ms) });
  return { probe, calls, lines, opts, elapsedS: () => clock / 1000 };
}

describe('systemd state fact', () => {
  it('reads the state printed, whatever the exit code; nothing printed is unknown', () => {
    assert.equal(systemFact.parse('degraded\n', 1), 'degraded');
    assert.equal(systemFact.parse('', 127), 'unknown');
  });
  it('what each state means for a run', () => {
    assert.deepEqual(
      ['running', 'degraded', 'offline', 'unknown', undefined, 'initializing', 'starting', 'stopping', 'maintenance'].map(readinessOf),
      ['up', 'up', 'up', 'up', 'up', 'booting', 'booting', 'stopping', 'maintenance'],
    );
  });
});

describe('waitUntilUp', () => {
  it('a node that is up: returns at once, asks nothing', async () => {
    const n = fakeNode([[0, 'running']]);
    await waitUntilUp('lb1', 'degraded', n.probe, n.opts(300));
    assert.deepEqual(n.calls, []);
    assert.deepEqual(n.lines, []);
  });

  it('booting: one progress line, waits on the node until systemd is done', async () => {
    const n = fakeNode([[0, 'starting'], [14, 'running']]);
    await waitUntilUp('lb1', 'starting', n.probe, n.opts(300));
    assert.deepEqual(n.lines, ['lb1 is still booting (systemd: starting) — waiting up to 300 s']);
    assert.deepEqual(n.calls, ['wait', 'state']);
    assert.equal(n.elapsedS(), 14);
  });

  it('shutting down: drops the connection, retries with backoff through the reboot, then waits for the boot', async () => {
    const n = fakeNode([[0, 'stopping'], [3, 'down'], [20, 'starting'], [35, 'degraded']]);
    await waitUntilUp('lb1', 'stopping', n.probe, n.opts(300));
    assert.equal(n.calls[0], 'drop', 'the connection to a node going down is dropped first');
    assert.match(n.lines[0]!, /^lb1 is shutting down — waiting for it to come back \(0 s of 300 s\)$/);
    assert.ok(n.lines.some((l) => /\(\d+ s of 300 s\)/.test(l) && !l.includes('(0 s')), `the elapsed time goes up:\n${n.lines.join('\n')}`);
    assert.match(n.lines.at(-1)!, /^lb1 is still booting \(systemd: starting\) — waiting up to \d+ s$/);
    assert.equal(n.elapsedS(), 35, 'returns when the boot is done');
    // Backoff: 1, 2, 4, 5, 5… s between attempts, not a busy loop.
    const attempts = n.calls.filter((c) => c === 'state').length;
    assert.ok(attempts <= 8, `${attempts} attempts in 35 s`);
  });

  it('progress while shutting down: every 5 s at most', async () => {
    const n = fakeNode([[0, 'stopping'], [60, 'running']]);
    await waitUntilUp('lb1', 'stopping', n.probe, n.opts(300));
    assert.ok(n.lines.length >= 8 && n.lines.length <= 13, `${n.lines.length} lines in 60 s`);
  });

  it('does not come back within the bound: the error names the node, what it saw, how long, and that nothing changed', async () => {
    const n = fakeNode([[0, 'stopping'], [2, 'down']]);
    await assert.rejects(waitUntilUp('lb2', 'stopping', n.probe, n.opts(12)), (e: Error) => {
      assert.ok(e instanceof NodeWaitError);
      assert.match(e.message, /^lb2 did not come back after shutting down: seen systemd: stopping → unreachable \(connect ECONNREFUSED 10\.0\.0\.1:22\); waited 12 s \(node_wait_timeout: 12 s\)\. Nothing was changed on any node/);
      return true;
    });
    assert.equal(n.elapsedS(), 12);
  });

  it('still booting at the bound: says so', async () => {
    const n = fakeNode([[0, 'initializing'], [1, 'starting']]);
    await assert.rejects(waitUntilUp('lb1', 'initializing', n.probe, n.opts(30)), /^NodeWaitError: lb1 is still booting: seen systemd: initializing → systemd: starting; waited 30 s \(node_wait_timeout: 30 s\); `systemctl list-jobs` on lb1 shows what its boot waits for\. Nothing was changed/);
  });

  it('node_wait_timeout 0: no wait at all, the error at once', async () => {
    const n = fakeNode([[0, 'starting'], [5, 'running']]);
    await assert.rejects(waitUntilUp('lb1', 'starting', n.probe, n.opts(0)), /lb1 is still booting: seen systemd: starting; waited 0 s/);
    assert.deepEqual(n.calls, []);
  });

  it('maintenance (rescue mode): refused at once, nothing waited for', async () => {
    const n = fakeNode([[0, 'maintenance']]);
    await assert.rejects(waitUntilUp('lb1', 'maintenance', n.probe, n.opts(300)), /lb1 is in maintenance mode .*nothing was changed on any node/);
    assert.equal(n.elapsedS(), 0);
  });

  it('a systemd without --wait (answers at once, still starting) is polled once a second, not spun', async () => {
    let clock = 0;
    let waits = 0;
    const probe: NodeProbe = { state: async () => 'starting', waitBooted: async () => (waits++, clock >= 10_000 ? 'running' : 'starting'), drop: async () => {} };
    await waitUntilUp('lb1', 'starting', probe, { timeoutS: 60, progress: () => {}, now: () => clock, sleep: async (ms) => void (clock += ms) });
    assert.equal(waits, 11);
  });

  it('a signal stops the wait: interrupted, nothing changed', async () => {
    const abort = new AbortController();
    let clock = 0;
    const probe: NodeProbe = { state: async () => (clock > 3000 && abort.abort(), 'stopping'), waitBooted: async () => 'starting', drop: async () => {} };
    await assert.rejects(
      waitUntilUp('lb1', 'stopping', probe, { timeoutS: 300, progress: () => {}, signal: abort.signal, now: () => clock, sleep: async (ms) => void (clock += ms) }),
      (e: Error) => e instanceof ApplyInterrupted && e.message === 'interrupted while waiting for lb1 to come back (it was shutting down): nothing was changed on any node',
    );
  });

  it('a signal during a boot wait (the wait on the node ends unreachable): says it waited for the boot', async () => {
    const abort = new AbortController();
    const probe: NodeProbe = {
      state: async () => 'starting',
      // The caller drops the connections on a signal: the wait on the node fails.
      waitBooted: async () => {
        abort.abort();
        throw new Error('lb1: connection closed');
      },
      drop: async () => {},
    };
    await assert.rejects(
      waitUntilUp('lb1', 'starting', probe, { timeoutS: 300, progress: () => {}, signal: abort.signal, now: () => 0, sleep: async () => {} }),
      (e: Error) => e instanceof ApplyInterrupted && e.message === 'interrupted while waiting for lb1 to boot: nothing was changed on any node',
    );
  });

  it('a signal after the shutdown, once the node boots again: says it waited for the boot', async () => {
    const abort = new AbortController();
    let clock = 0;
    const probe: NodeProbe = { state: async () => (clock > 3000 ? (abort.abort(), 'starting') : 'stopping'), waitBooted: async () => 'starting', drop: async () => {} };
    await assert.rejects(
      waitUntilUp('lb1', 'stopping', probe, { timeoutS: 300, progress: () => {}, signal: abort.signal, now: () => clock, sleep: async (ms) => void (clock += ms) }),
      /interrupted while waiting for lb1 to boot: nothing was changed/,
    );
  });
});

describe('waitUntilUp: the bound while still shutting down', () => {
  it('a node still answering `stopping` at the bound: "is still shutting down"', async () => {
    const n = fakeNode([[0, 'stopping']]);
    await assert.rejects(waitUntilUp('lb1', 'stopping', n.probe, n.opts(4)), /^NodeWaitError: lb1 is still shutting down: seen systemd: stopping; waited 4 s \(node_wait_timeout: 4 s\)\. Nothing was changed on any node/);
  });
});

describe('node_wait_timeout in the inventory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-nodewait-'));
  const load = (name: string, text: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, text);
    return loadFleet(file).fleet.clusters.map((c) => [c.name, c.nodeWaitTimeoutS]);
  };
  it('default 300 s; set at the top', () => {
    assert.deepEqual(load('default', BASE), [['', 300]]);
    assert.deepEqual(load('set', `node_wait_timeout: 45\n${BASE}`), [['', 45]]);
  });
  it("a fleet: the shared value is inherited, a cluster's own wins", () => {
    const cluster = (name: string, vrid: number, net: number, own = '') =>
      `  ${name}:\n${own}    vrrp_instances:\n      VI_1: {virtual_router_id: ${vrid}, virtual_ipaddresses: [10.0.${net}.100/32]}\n` +
      `    nodes:\n      - {name: ${name}1, address: 10.0.${net}.11/24, state: MASTER, priority: 100}\n`;
    const fleet = `node_wait_timeout: 60\nclusters:\n${cluster('a', 51, 1)}${cluster('b', 52, 2, '    node_wait_timeout: 0\n')}`;
    assert.deepEqual(load('fleet', fleet), [['a', 60], ['b', 0]]);
  });
  it('out of range: refused naming file, line and field', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `node_wait_timeout: -1\n${BASE}`);
    assert.throws(() => loadFleet(file), (e: Error) => e instanceof InventoryError && e.message.includes(`${file}:1:`) && /error: node_wait_timeout: /.test(e.message));
  });
});
