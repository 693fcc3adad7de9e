// Issue 14, a node rebooting while a run starts. lb1 gets two test units: one slow to stop, ordered to
// stop before sshd (so during the shutdown sshd still answers and systemd says `stopping`), and a slow
// oneshot at boot (sshd is up while systemd still says `starting`). The lab reboots lb1 (orderly
// poweroff, boot again); apply started during the shutdown says it waits, reconnects through the
// reboot, waits for the boot to finish, then deploys (its changes on lb1 come after the boot finished),
// the VIP ends on lb1 and a re-apply changes nothing. With node_wait_timeout shorter than the shutdown,
// apply stops with an error naming the node, what it saw and how long it waited, and changes no node.
// A reboot after changes started on lb1 (the run held between writing keepalived.conf and the reload):
// the run fails as any lost connection does, its error says lb1 may be rebooting and that the next run
// converges, and it does. SIGINT while waiting stops the run at once (exit 130). diff started while lb1 boots (sshd up, systemd `starting`) waits for the boot.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument } from 'yaml';
import { startNode, stopNode } from '../../src/lab/index.js';
import { CLI, kadeploy, type CliResult } from '../support/cli.js';
import { clusterState, HELD, HOLD, holdingPlaybook, waitHolders, withLab, type Lab } from './lab-helper.js';

const STOP_S = 16;
const BOOT_S = 15;
const BOOTED = '/run/kadeploy-test-booted';
const UNITS: Record<string, string> = {
  'kadeploy-test-slow-stop.service': `[Unit]
Description=test: slow to stop, stopped before sshd and user sessions
After=ssh.service systemd-user-sessions.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/sleep ${STOP_S}
[Install]
WantedBy=multi-user.target
`,
  'kadeploy-test-slow-boot.service': `[Unit]
Description=test: a slow oneshot at boot (systemd says starting while sshd is up)
After=ssh.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'sleep ${BOOT_S}; date +%%s > ${BOOTED}'
[Install]
WantedBy=multi-user.target
`,
};

const text = (r: CliResult) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

async function out(lab: Lab, node: string, cmd: string): Promise<string> {
  const r = await lab.exec(node, cmd);
  assert.equal(r.code, 0, `${node}: ${cmd} -> exit ${r.code}\n${r.stderr}`);
  return r.stdout.trim();
}

/** Reboot lb1 the lab's way (orderly poweroff, boot again); resolves once it is up, with the shutdown under way. */
async function rebootLb1(lab: Lab): Promise<{ done: Promise<void> }> {
  const done = (async () => {
    await stopNode('lb1', { name: lab.name });
    await startNode('lb1', { name: lab.name });
  })();
  done.catch(() => {});
  let state = '';
  for (let i = 0; i < 100 && state !== 'stopping'; i++, await sleep(100)) state = (await lab.exec('lb1', 'systemctl is-system-running')).stdout.trim();
  assert.equal(state, 'stopping', 'lb1 is shutting down, sshd still up');
  return { done };
}

/** Start the CLI in the background, its stderr collected (for a signal, or a node rebooted meanwhile). */
function startCli(args: string[]): { stderr: () => string; exited: Promise<number>; kill(signal: NodeJS.Signals): void } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  return { stderr: () => stderr, exited: new Promise((resolve) => child.on('close', (code) => resolve(code ?? -1))), kill: (signal) => child.kill(signal) };
}

function inventory(lab: Lab, edit: (doc: ReturnType<typeof parseDocument>) => void, name: string): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  edit(doc);
  const file = lab.inventoryPath.replace(/\.yaml$/, `-${name}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

describe('a node rebooting when a run starts', { timeout: 900_000 }, () => {
  it('apply waits through the shutdown and the boot with progress, then deploys; too short a bound: a clear error, nothing changed; a reboot mid-node: the error says so, the next run converges', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      for (const [unit, body] of Object.entries(UNITS)) await out(lab, 'lb1', `cat > /etc/systemd/system/${unit} <<'EOF'\n${body}EOF`);
      await out(lab, 'lb1', 'systemctl daemon-reload && systemctl enable --now kadeploy-test-slow-stop.service && systemctl enable kadeploy-test-slow-boot.service');

      // The first deploy, started while lb1 is shutting down.
      const first = await rebootLb1(lab);
      const t0 = Date.now();
      const r = await kadeploy(['apply', lab.inventoryPath]);
      const took = (Date.now() - t0) / 1000;
      await first.done;
      assert.equal(r.code, 0, text(r));
      const shutting = r.stderr.split('\n').filter((l) => /^lb1 is shutting down — waiting for it to come back \(\d+ s of 300 s\)$/.test(l));
      // One line at once, then one per retry at most every 5 s (how many depends on when the run started).
      assert.ok(shutting.length >= 1, `progress lines while lb1 is away:\n${r.stderr}`);
      assert.ok(r.stderr.indexOf(shutting[0]!) < r.stderr.search(/^lb1 is still booting/m), 'shutting down, then booting');
      assert.match(r.stderr, /^lb1 is still booting \(systemd: (starting|initializing)\) — waiting up to \d+ s$/m, 'then the boot');
      assert.doesNotMatch(r.stderr, /^lb2 is/m, 'lb2 was up all along');
      const booted = Number(await out(lab, 'lb1', `cat ${BOOTED}`));
      const written = Number(await out(lab, 'lb1', 'stat -c %Y /etc/keepalived/keepalived.conf'));
      assert.ok(written >= booted, `keepalived.conf written on lb1 (${written}) after its boot finished (${booted})`);
      assert.deepEqual(await waitHolders(lab, ['lb1'], 30), ['lb1'], 'the VIP on lb1 (MASTER)');
      t.diagnostic(`apply during lb1's reboot: ${took.toFixed(1)} s; ${shutting.length} "shutting down" lines, first: ${shutting[0]}`);

      const again = await kadeploy(['apply', lab.inventoryPath, '--detailed-exitcode']);
      assert.equal(again.code, 0, `re-apply changes nothing\n${text(again)}`);

      // diff (no lock) while lb1 boots: sshd answers, systemd still `starting`.
      await stopNode('lb1', { name: lab.name });
      const boot = startNode('lb1', { name: lab.name });
      boot.catch(() => {});
      let reachable = false;
      for (let i = 0; i < 300 && !reachable; i++, await sleep(100)) reachable = (await lab.ssh('lb1', 'true')).code === 0;
      assert.ok(reachable, 'sshd on lb1 answers');
      assert.match(await out(lab, 'lb1', "systemctl is-system-running; true"), /^(starting|initializing)$/, 'lb1 still booting');
      const diff = await kadeploy(['diff', lab.inventoryPath, '--detailed-exitcode']);
      await boot;
      assert.equal(diff.code, 0, `nothing to change once lb1 is up\n${text(diff)}`);
      assert.match(diff.stderr, /^lb1 is still booting \(systemd: (starting|initializing)\) — waiting up to 300 s$/m, text(diff));
      assert.doesNotMatch(diff.stderr, /shutting down/);

      // Too short a bound, with a change pending on both nodes (advert_int): nothing changes anywhere.
      const short = inventory(lab, (doc) => {
        doc.set('node_wait_timeout', 4);
        doc.setIn(['vrrp_instances', 'VI_1', 'advert_int'], 2);
      }, 'short-wait');
      const changed = inventory(lab, (doc) => doc.setIn(['vrrp_instances', 'VI_1', 'advert_int'], 2), 'changed');
      const pending = await kadeploy(['diff', short, '--detailed-exitcode']);
      assert.equal(pending.code, 2, `a change is pending\n${text(pending)}`);
      const before = await clusterState(lab);
      const second = await rebootLb1(lab);
      // Ctrl-C (SIGINT) while waiting: stops at once, exit 130.
      const interrupted = startCli(['apply', changed]);
      for (let i = 0; i < 100 && !interrupted.stderr().includes('shutting down'); i++) await sleep(100);
      interrupted.kill('SIGINT');
      const t1 = Date.now();
      assert.equal(await interrupted.exited, 130, interrupted.stderr());
      assert.ok(Date.now() - t1 < 3000, 'stopped at once');
      assert.match(interrupted.stderr(), /^lb1 is shutting down — waiting for it to come back \(\d+ s of 300 s\)$/m, interrupted.stderr());
      assert.match(interrupted.stderr(), /^kadeploy: interrupted while waiting for lb1 to come back \(it was shutting down\): nothing was changed on any node$/m, interrupted.stderr());
      assert.doesNotMatch(interrupted.stderr(), /rolling back/, 'nothing was being changed: no rollback announced');
      const refused = await kadeploy(['apply', short]);
      const lb2After = (await clusterState(lab)).nodes.lb2;
      await second.done;
      assert.equal(refused.code, 1, text(refused));
      assert.match(refused.stderr, /lb1 is still shutting down: seen systemd: stopping; waited [45] s \(node_wait_timeout: 4 s\)\. Nothing was changed on any node/, text(refused));
      assert.match(refused.stderr, /^lb1 is shutting down — waiting for it to come back \([01] s of 4 s\)$/m, 'the wait counted from the first read');
      assert.deepEqual(lb2After, before.nodes.lb2, 'lb2 unchanged (and keepalived still running)');
      assert.equal((await clusterState(lab)).nodes.lb1!.sum, before.nodes.lb1!.sum, 'lb1 unchanged');
      assert.deepEqual(await waitHolders(lab, ['lb1'], 30), ['lb1'], 'the VIP back on lb1');
      t.diagnostic(`bound too short: ${refused.stderr.trim().split('\n').at(-1)}`);

      // Rebooted mid-node, after changes started on it.
      await out(lab, 'lb1', `touch ${HOLD}; rm -f ${HELD}`);
      const run = startCli(['apply', changed, '--playbook', holdingPlaybook()]);
      let held = false;
      for (let i = 0; i < 600 && !held; i++, await sleep(100)) held = (await lab.exec('lb1', `test -e ${HELD}`)).code === 0;
      assert.ok(held, 'the run is changing lb1 (keepalived.conf written, reload not yet)');
      await stopNode('lb1', { name: lab.name });
      const code = await run.exited;
      await startNode('lb1', { name: lab.name });
      const stderr = run.stderr();
      assert.equal(code, 1, stderr);
      assert.match(stderr, /^kadeploy: lb1: connection closed[^\n]*\nlb1 may be rebooting or shutting down: once it is up again, run again \(the next run converges/m, stderr);
      const converged = await kadeploy(['apply', changed]);
      assert.equal(converged.code, 0, text(converged));
      const steady = await kadeploy(['apply', changed, '--detailed-exitcode']);
      assert.equal(steady.code, 0, `converged: nothing left to change\n${text(steady)}`);
      assert.match(await out(lab, 'lb1', 'grep advert_int /etc/keepalived/keepalived.conf'), /advert_int 2/);
      assert.deepEqual(await waitHolders(lab, ['lb1'], 30), ['lb1'], 'the VIP on lb1 after the next run');
      t.diagnostic(`lost mid-node: ${stderr.trim().split('\n').slice(-2).join(' / ')}`);
    });
  });
});
