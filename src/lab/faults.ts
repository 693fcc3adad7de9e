// Fault injection for tests: stop/start a node, cut/restore its link, stop/start a unit in it,
// and run commands inside it (nsenter, so it works even when its network or sshd is down).
import { LabError } from '../errors.js';
import { sh } from '../shell/quote.js';
import { DEFAULT_LAB } from './config.js';
import type { RunResult } from './exec.js';
import { setLink } from './network.js';
import { bootNode, execInNode, killNode, shutdownNode, waitNodeReady } from './nodes.js';
import { isAlive } from './procs.js';
import { findNode, requireState, writeState, type LabState, type NodeState } from './state.js';

export interface LabRef {
  /** Lab name (default "default"). */
  name?: string;
}

function load(node: string, lab: LabRef): { state: LabState; n: NodeState } {
  const state = requireState(lab.name ?? DEFAULT_LAB);
  return { state, n: findNode(state, node) };
}

function running(n: NodeState): NodeState & Required<Pick<NodeState, 'init' | 'hostVeth'>> {
  if (!isAlive(n.nspawn) || !isAlive(n.init) || !n.init || !n.hostVeth) {
    throw new LabError(`node ${n.name} is not running (start it with \`kadeploy lab node-start ${n.name}\`)`);
  }
  return n as NodeState & Required<Pick<NodeState, 'init' | 'hostVeth'>>;
}

function replaceNode(state: LabState, n: NodeState): void {
  state.nodes = state.nodes.map((m) => (m.name === n.name ? n : m));
  writeState(state);
}

/** Stop a node: an orderly poweroff, or with `hard` an instant kill (like pulling the plug). Its disk (overlay) is kept. */
export async function stopNode(node: string, lab: LabRef & { hard?: boolean } = {}): Promise<void> {
  const { state, n } = load(node, lab);
  await (lab.hard ? killNode(n) : shutdownNode(n));
  replaceNode(state, { name: n.name, machine: n.machine, ip: n.ip });
}

/** Boot a stopped node again on its kept overlay (same host keys) and wait until it is ready. */
export async function startNode(node: string, lab: LabRef = {}): Promise<string> {
  const { state, n } = load(node, lab);
  if (isAlive(n.nspawn)) return waitNodeReady(n);
  const spec = { name: n.name, machine: n.machine, ip: n.ip };
  const booted = await bootNode(state.config, spec, (nspawn) => replaceNode(state, { ...spec, nspawn }));
  replaceNode(state, booted);
  return waitNodeReady(booted);
}

/** Cut a node's network link (host end of its veth down): the node sees its carrier drop. */
export async function cutLink(node: string, lab: LabRef = {}): Promise<void> {
  await setLink(running(load(node, lab).n).hostVeth, false);
}

export async function restoreLink(node: string, lab: LabRef = {}): Promise<void> {
  await setLink(running(load(node, lab).n).hostVeth, true);
}

/** Run a shell command line inside a node; quote values in `cmd` with `sh`/`quote`. */
export async function nodeExec(node: string, cmd: string, lab: LabRef = {}): Promise<RunResult> {
  return execInNode(running(load(node, lab).n).init, cmd);
}

async function systemctl(node: string, verb: 'start' | 'stop', unit: string, lab: LabRef): Promise<void> {
  const r = await nodeExec(node, sh('systemctl', verb, unit), lab);
  if (r.code !== 0) throw new LabError(`${node}: systemctl ${verb} ${unit} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
}

export function stopService(node: string, unit: string, lab: LabRef = {}): Promise<void> {
  return systemctl(node, 'stop', unit, lab);
}

export function startService(node: string, unit: string, lab: LabRef = {}): Promise<void> {
  return systemctl(node, 'start', unit, lab);
}
