// Issue 15 on the real lab: --timings (text and JSON) of apply, diff and verify; the lock taken with
// the facts and released; apt-get update skipped when the lists are fresh and run when they are old
// (seen by an APT hook on the node); verify --failover --repeat N with median / min / max.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kadeploy } from '../support/cli.js';
import { withLab } from './lab-helper.js';

type Timing = { name: string; ms: number };
const names = (json: { timings: { entries: Timing[] } }) => json.timings.entries.map((e) => e.name);

function expectCode(r: { code: number; stdout: string; stderr: string }, code: number, what: string) {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

describe('speed features on a 2-node lab', { timeout: 900_000 }, () => {
  it('timings, lock with the facts, apt-get update skipping, drill --repeat', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const inv = lab.inventoryPath;
      const first = await kadeploy(['apply', inv, '--json', '--timings']);
      expectCode(first, 0, 'first deploy');
      const fj = JSON.parse(first.stdout);
      assert.ok(Array.isArray(fj.recap));
      for (const n of ['start-up', 'inventory, playbook, render', 'connect', 'lock + facts', 'plan', 'VIP check']) assert.ok(names(fj).includes(n), `${n} in ${names(fj)}`);
      assert.ok(names(fj).some((n) => /^lb1: install /.test(n)), 'each step is timed');
      // Steps of a parallel phase overlap: the total is wall time, at least the sequential phases.
      const ms = (n: string) => fj.timings.entries.find((e: Timing) => e.name === n).ms;
      assert.ok(fj.timings.total_ms >= ms('start-up') + ms('connect') + ms('lock + facts') + ms('VIP check'));

      const diff = await kadeploy(['diff', inv, '--json', '--timings']);
      expectCode(diff, 0, 'diff');
      const dj = JSON.parse(diff.stdout);
      assert.equal(dj.changes_pending, 0);
      assert.ok(names(dj).includes('facts') && !names(dj).includes('lock + facts'), 'a dry-run takes no lock');

      const noop = await kadeploy(['apply', inv, '--timings']);
      expectCode(noop, 0, 'no-op');
      assert.match(noop.stderr, /^timings:\n  start-up +\d+\.\d ms\n/m);
      assert.match(noop.stderr, /^  lock \+ facts +\d+\.\d ms$/m);
      assert.match(noop.stderr, /^  total +\d+\.\d ms$/m);
      for (const n of lab.nodes) assert.equal((await lab.ssh(n.name, 'test -e /run/kadeploy.lock && echo held || echo free')).stdout.trim(), 'free', `${n.name}: lock released`);

      // apt-get update: an APT hook on lb1 records every update.
      const ran = '/tmp/kadeploy-update-ran';
      const setup = await lab.ssh('lb1',
        `echo 'APT::Update::Pre-Invoke {"touch ${ran}";};' > /etc/apt/apt.conf.d/99kadeploy-test && ` +
        `apt-get -o Acquire::http::Proxy=${lab.proxyUrl} -q update >/dev/null && touch /var/lib/apt/lists && rm -f ${ran}`);
      assert.equal(setup.code, 0, setup.stderr);
      const dir = mkdtempSync(join(tmpdir(), 'kadeploy-speed-'));
      const playbook = join(dir, 'hello.yaml');
      writeFileSync(playbook, 'name: hello\ntasks:\n  - name: hello\n    package: { names: [hello] }\n');
      expectCode(await kadeploy(['apply', inv, '--playbook', playbook]), 0, 'install with fresh lists');
      assert.equal((await lab.ssh('lb1', `test -e ${ran} && echo updated || echo skipped; dpkg-query -W -f '\${Status}' hello`)).stdout.trim(), 'skipped\ninstall ok installed');

      const age = await lab.ssh('lb1', `apt-get -y -q remove hello >/dev/null && touch -d '2 hours ago' /var/lib/apt/lists && rm -f /var/lib/apt/periodic/update-success-stamp ${ran}`);
      assert.equal(age.code, 0, age.stderr);
      expectCode(await kadeploy(['apply', inv, '--playbook', playbook]), 0, 'install with old lists');
      assert.equal((await lab.ssh('lb1', `test -e ${ran} && echo updated || echo skipped; dpkg-query -W -f '\${Status}' hello`)).stdout.trim(), 'updated\ninstall ok installed');

      // The drill twice, with figures over both runs.
      const drill = await kadeploy(['verify', inv, '--failover', '--repeat', '2', '--json', '--timings']);
      expectCode(drill, 0, 'verify --failover --repeat 2');
      const vj = JSON.parse(drill.stdout);
      assert.equal(vj.failover_runs.length, 2);
      assert.equal(vj.failover_summary.runs, 2);
      assert.equal(vj.failover_summary.passed, 2);
      const f = vj.failover_summary.failoverMs;
      assert.equal(f.n, 2);
      assert.ok(f.min <= f.median && f.median <= f.max);
      assert.deepEqual([f.min, f.max], [Math.min(...vj.failover_runs.map((r: { failoverMs: number }) => r.failoverMs)), Math.max(...vj.failover_runs.map((r: { failoverMs: number }) => r.failoverMs))]);
      assert.ok(names(vj).includes('checks') && names(vj).includes('failover drill 1') && names(vj).includes('failover drill 2'));

      const text = await kadeploy(['verify', inv, '--failover', '--repeat', '2']);
      expectCode(text, 0, 'verify --failover --repeat 2 (text)');
      assert.match(text.stdout, /Failover drill × 2: 2 passed\n  VIP on another node: +median \d+(\.\d+)? ms, min \d+ ms, max \d+ ms\n/);
      const bad = await kadeploy(['verify', inv, '--repeat', '3']);
      expectCode(bad, 1, '--repeat without --failover');
      assert.match(bad.stderr, /--repeat: only with --failover/);
    });
  });
});
