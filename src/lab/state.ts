// state.json: what `lab up` started, so `lab down`, `lab status` and fault injection find it again.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { LabError } from '../errors.js';
import { labStatePath, type LabConfig, type NodeSpec } from './config.js';
import type { ProcRef } from './procs.js';

export interface NodeState extends NodeSpec {
  /** The systemd-nspawn process. */
  nspawn?: ProcRef;
  /** The node's PID 1 (child of nspawn): the target of nsenter. */
  init?: ProcRef;
  /** Host side of the node's veth pair, on the bridge. */
  hostVeth?: string;
}

export interface LabState {
  version: 1;
  config: LabConfig;
  rootfs: string;
  proxy?: ProcRef;
  nodes: NodeState[];
}

export function readState(statePath: string): LabState | undefined {
  if (!existsSync(statePath)) return undefined;
  try {
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as LabState;
    if (state.version !== 1) throw new Error(`unknown version ${String(state.version)}`);
    return state;
  } catch (err) {
    throw new LabError(`unreadable lab state ${statePath}: ${(err as Error).message} (remove it and run \`kadeploy lab down\`)`);
  }
}

/** Write atomically: a crash mid-write must not lose the PIDs needed by `lab down`. */
export function writeState(state: LabState): void {
  const tmp = `${state.config.statePath}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, state.config.statePath);
}

export function findNode(state: LabState, node: string): NodeState {
  const found = state.nodes.find((n) => n.name === node || n.machine === node || n.ip === node);
  if (!found) {
    throw new LabError(`lab "${state.config.name}" has no node "${node}" (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
  }
  return found;
}

/** The state of a lab that `lab up` started, or a LabError saying it is not up. */
export function requireState(name: string): LabState {
  const state = readState(labStatePath(name));
  if (!state) throw new LabError(`lab "${name}" is not up (run \`kadeploy lab up${name === 'default' ? '' : ` --name ${name}`}\`)`);
  return state;
}
