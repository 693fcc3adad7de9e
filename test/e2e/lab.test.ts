// Issue 3 "done when": a real 2-node lab (systemd, sshd with strict host keys, HAProxy, apt through
// the proxy), fault injection, and a teardown that leaves no process, mount or bridge behind.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { cutLink, DEFAULT_LAB, labDown, labStatus, restoreLink, startNode, startService, stopNode, stopService } from '../../src/lab/index.js';
import { runResult } from '../../src/lab/exec.js';
import { kadeploy } from '../support/cli.js';
import { assertLabGone, labFootprint, withLab, type Lab, type LabFootprint } from './lab-helper.js';

async function sshOk(lab: Lab, node: string, cmd: string): Promise<string> {
  const r = await lab.ssh(node, cmd);
  assert.equal(r.code, 0, `${node}: ${cmd} -> exit ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

test('2-node lab: systemd, HAProxy and apt through the proxy over strict SSH; faults; clean teardown', async (t) => {
  let footprint: LabFootprint | undefined;
  const lab = await withLab(t, { nodes: 2 }, async (lab) => {
    t.diagnostic(`lab up (2 nodes): ${lab.upSeconds.toFixed(1)} s`);
    if (lab.name === DEFAULT_LAB && !process.env.KADEPLOY_TEST_SUBNET) {
      assert.deepEqual(lab.nodes.map((n) => n.address), ['10.77.0.11/24', '10.77.0.12/24']);
      assert.equal(readFileSync(lab.inventoryPath, 'utf8'), readFileSync('inventories/lab.yaml', 'utf8'), 'inventory matches the committed inventories/lab.yaml');
    }

    for (const node of lab.nodes) {
      const system = (await lab.ssh(node.name, 'systemctl is-system-running')).stdout.trim();
      if (system !== 'running') {
        t.diagnostic(`${node.name} is ${system}; failed units: ${await sshOk(lab, node.name, 'systemctl --failed --no-legend --plain')}`);
      }
      assert.ok(['running', 'degraded'].includes(system), `${node.name}: systemctl is-system-running -> ${system}`);
      assert.equal(await sshOk(lab, node.name, 'hostname'), node.name);
      assert.equal(await sshOk(lab, node.name, 'systemctl is-active haproxy'), 'active');
      assert.equal(await sshOk(lab, node.name, 'command -v keepalived || echo none'), 'none', 'no keepalived in a fresh node');
      assert.equal(await (await fetch(`http://${node.ip}/`)).text(), `${node.name}\n`, 'HAProxy frontend answers with the node name');
    }

    // An unknown host key must be refused: strict checking is really on.
    const wrongKnownHosts = await runResult('ssh', [
      ...lab.sshArgs('lb1').map((a) => (a.startsWith('UserKnownHostsFile=') ? 'UserKnownHostsFile=/dev/null' : a)), 'true',
    ]);
    assert.notEqual(wrongKnownHosts.code, 0, 'ssh without the lab known_hosts fails');

    const started = Date.now();
    const apt = await sshOk(lab, 'lb1', 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends hello >/dev/null && hello');
    assert.equal(apt, 'Hello, world!');
    t.diagnostic(`apt-get update + install hello through the proxy: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const ref = { name: lab.name };
    await t.test('fault injection', async () => {
      await cutLink('lb2', ref);
      assert.notEqual((await lab.ssh('lb2', 'true')).code, 0, 'lb2 unreachable with its link cut');
      assert.equal((await labStatus(ref)).nodes.find((n) => n.name === 'lb2')?.link, false);
      assert.equal((await lab.exec('lb2', 'hostname')).stdout.trim(), 'lb2', 'nsenter still reaches it');
      await restoreLink('lb2', ref);
      assert.equal(await sshOk(lab, 'lb2', 'hostname'), 'lb2');

      await stopService('lb2', 'haproxy', ref);
      assert.equal((await lab.ssh('lb2', 'systemctl is-active haproxy')).stdout.trim(), 'inactive');
      await startService('lb2', 'haproxy', ref);
      assert.equal(await sshOk(lab, 'lb2', 'systemctl is-active haproxy'), 'active');

      // `lab exec`: the command's own options are its words, not lab exec's.
      const exec = await kadeploy(['lab', 'exec', '--name', lab.name, 'lb2', 'systemctl', 'show', '-p', 'Id', '--value', 'haproxy']);
      assert.equal(exec.code, 0, exec.stderr);
      assert.equal(exec.stdout.trim(), 'haproxy.service');
      // Several words are one program's arguments (sh -c gets its script whole); one word is a shell command line.
      for (const words of [['sh', '-c', 'echo a; echo b'], ['echo a; echo b']]) {
        const r = await kadeploy(['lab', 'exec', '--name', lab.name, 'lb2', '--', ...words]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, 'a\nb\n', `lab exec lb2 -- ${words.join(' ')}`);
      }

      for (const hard of [false, true]) {
        await stopNode('lb2', { ...ref, hard });
        const status = await labStatus(ref);
        assert.equal(status.nodes.find((n) => n.name === 'lb2')?.running, false, `lb2 stopped (hard=${hard})`);
        assert.equal(status.up, false);
        await startNode('lb2', ref);
        // Same overlay, same host key: strict checking still passes after the restart.
        assert.equal(await sshOk(lab, 'lb2', 'systemctl is-active haproxy'), 'active');
      }
      assert.equal((await labStatus(ref)).up, true);
    });

    footprint = labFootprint(lab.stateDir);
    return lab;
  });
  if (!lab || !footprint) return;
  await assertLabGone(footprint);
  await labDown({ name: lab.name }); // safe twice
  await assertLabGone(footprint);
});

test('3-node lab with a cached rootfs comes up quickly; lab down cleans up after a crash', async (t) => {
  let footprint: LabFootprint | undefined;
  const lab = await withLab(t, { nodes: 3 }, async (lab) => {
    const msg = `lab up (3 nodes, cached rootfs): ${lab.upSeconds.toFixed(1)} s (goal: under 60 s)`;
    t.diagnostic(msg);
    process.stderr.write(`  ${msg}\n`);
    assert.equal(lab.nodes.length, 3);
    assert.equal(await sshOk(lab, 'lb3', 'hostname'), 'lb3');
    footprint = labFootprint(lab.stateDir);
    // Simulate a crash: kill the proxy and one node behind the lab's back.
    for (const p of footprint.procs.filter((p) => p.cmdline.includes('apt-cacher-ng') || p.cmdline.includes('/nodes/lb3/'))) {
      process.kill(p.pid, 'SIGKILL');
    }
    return lab;
  });
  if (!lab || !footprint) return;
  await assertLabGone(footprint);
});
