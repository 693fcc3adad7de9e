// Issue 14: `lab down` returns only when every process, namespace, link and mount of the lab is
// gone, so `lab down && lab up` works every time (it used to fail with "Failed to add new veth
// interfaces (vb-lb1:host0): File exists" when the kernel had not yet destroyed the node's veth).
// Every other cycle, a process entered from the host into the node's network namespace outlives the
// node's PID 1 and keeps its veth alive: the race made certain.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { labConfig, labDown } from '../../src/lab/index.js';
import { processesIn } from '../../src/lab/procs.js';
import type { LabState } from '../../src/lab/state.js';
import { kadeploy } from '../support/cli.js';
import { assertLabGone, labFootprint, labSkipReason, testLabOptions } from './lab-helper.js';

const CYCLES = 10;

test(`lab down && lab up, ${CYCLES} times in a row (1 node): nothing of the lab is left after each down`, { timeout: 1_200_000 }, async (t) => {
  const skip = labSkipReason();
  if (skip) return t.skip(skip);
  const opts = testLabOptions({ nodes: 1 });
  const cfg = labConfig(opts);
  const args = ['--name', cfg.name, ...(opts.subnet ? ['--subnet', opts.subnet] : [])];
  await labDown({ name: cfg.name });
  try {
    for (let i = 1; i <= CYCLES; i++) {
      const t0 = Date.now();
      const up = await kadeploy(['lab', 'up', '--nodes', '1', ...args]);
      assert.equal(up.code, 0, `cycle ${i}: lab up failed:\n${up.stdout}${up.stderr}`);
      assert.match(up.stdout, /lb1 +\S+ +running/, `cycle ${i}: lb1 running`);
      if (i % 2 === 1) {
        const init = (JSON.parse(readFileSync(cfg.statePath, 'utf8')) as LabState).nodes[0]!.init!.pid;
        const netns = readlinkSync(`/proc/${init}/ns/net`);
        const lingering = spawn('nsenter', ['-t', String(init), '-n', 'sleep', '600'], { detached: true, stdio: 'ignore' });
        lingering.unref();
        const inNetns = (): boolean => processesIn([netns]).some((p) => p.pid === lingering.pid);
        for (let n = 0; n < 50 && !inNetns(); n++) await sleep(100);
        assert.ok(inNetns(), `cycle ${i}: a process lingers in lb1's network namespace`);
      }
      const footprint = labFootprint(cfg.stateDir);
      const t1 = Date.now();
      // No pause between up and down, nor between down and the next up.
      const down = await kadeploy(['lab', 'down', '--name', cfg.name]);
      assert.equal(down.code, 0, `cycle ${i}: lab down failed:\n${down.stdout}${down.stderr}`);
      await assertLabGone(footprint);
      t.diagnostic(`cycle ${i}: up ${((t1 - t0) / 1000).toFixed(1)} s, down ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    }
  } finally {
    await labDown({ name: cfg.name });
  }
});
