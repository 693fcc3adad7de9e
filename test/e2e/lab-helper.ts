// Shared by e2e tests that need real nodes: bring a lab up, hand its addresses and SSH material to
// the test, and always tear it down. Tests skip (visibly) on hosts that cannot run the lab, unless
// KADEPLOY_REQUIRE_LAB=1 (set by .ci/run), where such a host is a failure.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parseDocument } from 'yaml';
import { labDown, labUnsupportedReason, labUp, nodeExec, type LabOptions, type RunResult } from '../../src/lab/index.js';
import { runResult } from '../../src/lab/exec.js';
import { CLI } from '../support/cli.js';
import { isAlive, namespacesOf, processesIn, type ProcRef } from '../../src/lab/procs.js';
import type { LabState } from '../../src/lab/state.js';

export interface LabNode {
  name: string;
  ip: string;
  /** Address with prefix, as in the inventory. */
  address: string;
}

export interface Lab {
  name: string;
  nodes: LabNode[];
  hostIp: string;
  vip: string;
  proxyUrl: string;
  stateDir: string;
  inventoryPath: string;
  keyPath: string;
  knownHostsPath: string;
  /** How long `lab up` took (seconds). */
  upSeconds: number;
  /** Arguments for the system `ssh` client to reach a node with strict host-key checking. */
  sshArgs(node: string): string[];
  /** Run a command line on a node over SSH (system client, strict host-key checking). */
  ssh(node: string, cmd: string): Promise<RunResult>;
  /** Run a command line inside a node through nsenter (works with its network cut). */
  exec(node: string, cmd: string): Promise<RunResult>;
}

/** Why lab tests cannot run here, or undefined when they can. Throws when KADEPLOY_REQUIRE_LAB=1. */
export function labSkipReason(): string | undefined {
  const reason = labUnsupportedReason();
  if (!reason) return undefined;
  if (process.env.KADEPLOY_REQUIRE_LAB === '1') {
    throw new Error(`KADEPLOY_REQUIRE_LAB=1 but lab tests cannot run here: ${reason}`);
  }
  return `lab tests need root on Linux: ${reason}`;
}

/**
 * The lab the e2e tests use: the default one, or KADEPLOY_TEST_LAB / KADEPLOY_TEST_SUBNET so that
 * several test runs (parallel work trees) can each have a lab of their own on one machine.
 */
export function testLabOptions(opts: LabOptions = {}): LabOptions {
  const name = opts.name ?? process.env.KADEPLOY_TEST_LAB;
  const subnet = opts.subnet ?? process.env.KADEPLOY_TEST_SUBNET;
  return { ...opts, ...(name ? { name } : {}), ...(subnet ? { subnet } : {}) };
}

/** Bring up a fresh lab (an existing one of the same name is torn down first). */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const opts = testLabOptions(options);
  await labDown({ name: opts.name });
  const up = await labUp({ ...opts, log: (msg) => process.stderr.write(`  lab: ${msg}\n`) });
  const s = up.status;
  process.stderr.write(`  lab "${s.name}" up with ${s.nodes.length} nodes in ${up.seconds.toFixed(1)} s\n`);
  const ipOf = (node: string): string => {
    const n = s.nodes.find((m) => m.name === node || m.ip === node);
    if (!n) throw new Error(`lab has no node ${node}`);
    return n.ip;
  };
  const sshArgs = (node: string): string[] => [
    '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${s.knownHostsPath}`, '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR',
    '-i', s.keyPath, `root@${ipOf(node)}`,
  ];
  return {
    name: s.name,
    nodes: s.nodes.map((n) => ({ name: n.name, ip: n.ip, address: n.address })),
    hostIp: s.hostIp,
    vip: s.vip,
    proxyUrl: s.proxyUrl,
    stateDir: s.stateDir,
    inventoryPath: s.inventoryPath,
    keyPath: s.keyPath,
    knownHostsPath: s.knownHostsPath,
    upSeconds: up.seconds,
    sshArgs,
    ssh: (node, cmd) => runResult('ssh', [...sshArgs(node), cmd]),
    exec: (node, cmd) => nodeExec(node, cmd, { name: s.name }),
  };
}

export async function stopLab(lab: Lab | undefined): Promise<void> {
  if (lab) await labDown({ name: lab.name });
}

/**
 * Run `fn` against a fresh lab and tear it down afterwards, even when `fn` fails.
 * Skips `t` (returns undefined) on hosts that cannot run the lab.
 */
export async function withLab<T>(t: TestContext, options: LabOptions, fn: (lab: Lab) => Promise<T>): Promise<T | undefined> {
  const opts = testLabOptions(options);
  const skip = labSkipReason();
  if (skip) {
    t.skip(skip);
    return undefined;
  }
  try {
    return await fn(await startLab(opts));
  } finally {
    // Also when startLab failed half-way: labDown finds whatever was recorded.
    await labDown({ name: opts.name });
  }
}

/** What a running lab consists of, read from its state.json: to check later that all of it is gone. */
export interface LabFootprint {
  stateDir: string;
  bridge: string;
  /** apt proxy, nspawn and node PID 1s. */
  procs: ProcRef[];
  /** Every process in the nodes' net, pid or mnt namespaces now (e.g. one entered from the host). */
  nsProcs: ProcRef[];
  /** Host ends of the nodes' veths. */
  links: string[];
}

/**
 * Take while the lab runs: namespace ids only name the lab's namespaces while they exist (freed ids
 * are soon reused by other containers), so the processes in them are listed now, checked later by PID.
 */
export function labFootprint(stateDir: string): LabFootprint {
  const state = JSON.parse(readFileSync(`${stateDir}/state.json`, 'utf8')) as LabState;
  const namespaces = state.nodes.flatMap((n) => (n.init && isAlive(n.init) ? (namespacesOf(n.init.pid) ?? []) : []));
  return {
    stateDir,
    bridge: state.config.bridge,
    procs: [state.proxy, ...state.nodes.flatMap((n) => [n.nspawn, n.init])].filter((p): p is ProcRef => !!p),
    nsProcs: processesIn(namespaces),
    links: state.nodes.flatMap((n) => (n.hostVeth ? [n.hostVeth] : [])),
  };
}

/** Assert that no process, link or mount of the lab is left. */
export async function assertLabGone(f: LabFootprint): Promise<void> {
  assert.ok(f.procs.length > 0 && f.nsProcs.length > 0, 'state.json recorded processes; the nodes\' namespaces had some');
  // isAlive also compares the start time and command line: a reused PID does not count.
  assert.deepEqual(f.procs.filter(isAlive).map((p) => `${p.pid} ${p.cmdline}`), [], 'no recorded process alive');
  assert.deepEqual(f.nsProcs.filter(isAlive).map((p) => `${p.pid} ${p.cmdline}`), [], 'no process of the nodes\' namespaces alive');
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(`${f.stateDir}/`));
  assert.deepEqual(mounts, [], 'no mount under the state dir');
  for (const link of [...f.links, f.bridge]) {
    assert.notEqual((await runResult('ip', ['link', 'show', 'dev', link])).code, 0, `link ${link} removed`);
  }
}

/**
 * Interrupting a run at a chosen step: the step's command first touches STEP_MARKER on the node
 * (`markStep('sleep 3')`), and the test waits for it before signalling, instead of guessing a delay
 * that a loaded machine overruns.
 */
export const STEP_MARKER = '/run/kadeploy-e2e-step';
export const markStep = (run: string): string => `touch ${STEP_MARKER} && ${run}`;

export async function clearStepMarkers(lab: Lab): Promise<void> {
  for (const n of lab.nodes) await lab.exec(n.name, `rm -f ${STEP_MARKER}`);
}

export async function waitForStep(lab: Lab, node: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await lab.exec(node, `test -e ${STEP_MARKER}`)).code !== 0) {
    if (Date.now() > deadline) throw new Error(`${node}: the marked step did not start within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The nodes holding the lab's VIP now, read through nsenter (works whatever a fault did to the network). */
export async function vipHolders(lab: Lab): Promise<string[]> {
  const holders: string[] = [];
  for (const n of lab.nodes) if ((await lab.exec(n.name, 'ip -o addr show')).stdout.includes(` ${lab.vip}/`)) holders.push(n.name);
  return holders;
}

/** The VIP's holders once they are `want` (polled every 250 ms for up to `seconds`), else the last seen. */
export async function waitHolders(lab: Lab, want: string[], seconds = 15): Promise<string[]> {
  let h = await vipHolders(lab);
  for (let i = 0; i < seconds * 4 && h.join() !== want.join(); i++, await new Promise((r) => setTimeout(r, 250))) h = await vipHolders(lab);
  return h;
}

/** Waits until the VIP is on `node` alone (VRRP takes a few adverts), or fails saying `what`. */
export async function waitHolder(lab: Lab, node: string, what: string): Promise<void> {
  let h: string[] = [];
  for (let i = 0; i < 60; i++) {
    h = await vipHolders(lab);
    if (h.length === 1 && h[0] === node) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}: VIP on [${h}], expected ${node}`);
}

/** While this file exists on a node, the holding playbook's command blocks there; it touches HELD when it starts. */
export const HOLD = '/run/kadeploy-test-hold';
export const HELD = '/run/kadeploy-test-held';

/**
 * The default playbook with, between writing keepalived.conf and reloading keepalived, a command
 * that blocks while HOLD exists: to interrupt a run exactly there. Returns the playbook's path.
 */
export function holdingPlaybook(): string {
  const doc = parseDocument(readFileSync(join(import.meta.dirname, '..', '..', 'playbooks', 'keepalived.yaml'), 'utf8'));
  const tasks = doc.get('tasks') as { items: unknown[] };
  const run = `touch ${HELD}; while [ -e ${HOLD} ]; do sleep 0.2; done`;
  // Right after the task that writes keepalived.conf, wherever the playbook has it.
  const afterTemplate = (doc.toJS() as { tasks: Array<Record<string, unknown>> }).tasks.findIndex((t) => 'template' in t) + 1;
  tasks.items.splice(afterTemplate, 0, doc.createNode({ name: 'Held by the test', command: { run, unless: `test ! -e ${HOLD}` } }));
  const file = join(mkdtempSync(join(tmpdir(), 'kadeploy-hold-')), 'playbook-hold.yaml');
  writeFileSync(file, doc.toString());
  return file;
}

/**
 * Start `kadeploy ARGS --playbook <holding playbook>` and return once it blocks on `node` between
 * writing keepalived.conf and reloading (HOLD is created first; remove it to let the run go on).
 */
export async function spawnHeld(lab: Lab, node: string, args: string[], what: string): Promise<ChildProcess> {
  await lab.exec(node, `touch ${HOLD}; rm -f ${HELD}`);
  const child = spawn(process.execPath, [CLI, ...args, '--playbook', holdingPlaybook()], { env: { ...process.env, NO_COLOR: '1' }, stdio: 'ignore' });
  let held = false;
  for (let i = 0; i < 600 && !held; i++) {
    await new Promise((r) => setTimeout(r, 100));
    held = (await lab.exec(node, `test -e ${HELD}`)).code === 0;
  }
  assert.ok(held, `${what}: the run reached the command between writing keepalived.conf and the reload`);
  return child;
}

/** What a deploy test compares on every node: keepalived.conf's sha256, keepalived's state. */
export interface NodeState {
  sum: string;
  active: string;
}

/** Each node's state and who holds the lab's VIP, read through nsenter (works whatever a fault did to the network). */
export async function clusterState(lab: Lab, conf = '/etc/keepalived/keepalived.conf'): Promise<{ nodes: Record<string, NodeState>; holders: string[] }> {
  const nodes: Record<string, NodeState> = {};
  const holders: string[] = [];
  for (const n of lab.nodes) {
    const r = await lab.exec(n.name, `sha256sum ${conf} | cut -d' ' -f1; systemctl is-active keepalived; ip -o addr show`);
    const [sum = '', active = '', ...addrs] = r.stdout.trim().split('\n');
    nodes[n.name] = { sum, active };
    if (addrs.some((l) => l.includes(` ${lab.vip}/`))) holders.push(n.name);
  }
  return { nodes, holders };
}

/** Every node runs keepalived and exactly one holds the VIP (waits up to 10 s for VRRP to settle). */
export async function settledState(lab: Lab, what: string): Promise<Awaited<ReturnType<typeof clusterState>>> {
  let s = await clusterState(lab);
  for (let i = 0; i < 40 && s.holders.length !== 1; i++) {
    await new Promise((r) => setTimeout(r, 250));
    s = await clusterState(lab);
  }
  for (const [node, st] of Object.entries(s.nodes)) assert.equal(st.active, 'active', `${what}: keepalived on ${node}`);
  assert.equal(s.holders.length, 1, `${what}: VIP on exactly one node, got [${s.holders}]`);
  return s;
}
