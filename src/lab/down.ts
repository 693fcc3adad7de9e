// `lab down`: stop what `lab up` recorded, unmount, remove the bridge. Safe to repeat and after a
// crash: dead or reused PIDs are recognised, and mounts are found from /proc/mounts, not the state.
import { rmSync } from 'node:fs';
import { DEFAULT_LAB, labBridge, labConfig } from './config.js';
import { checkHost } from './host.js';
import { bridgeDown } from './network.js';
import { shutdownNode } from './nodes.js';
import { unmountUnder } from './mounts.js';
import { stopProxy } from './proxy.js';
import { readState, type LabState } from './state.js';

export interface LabDownOptions {
  name?: string;
  log?: (msg: string) => void;
}

export async function labDown(opts: LabDownOptions = {}): Promise<void> {
  checkHost();
  const log = opts.log ?? (() => {});
  const cfg = labConfig({ name: opts.name ?? DEFAULT_LAB });
  let state: LabState | undefined;
  try {
    state = readState(cfg.statePath);
  } catch (err) {
    // A corrupt state file must not block cleanup of mounts and the bridge.
    log(`${(err as Error).message}: cleaning up without it`);
  }
  if (state) {
    await Promise.all(state.nodes.map((n) => shutdownNode(n)));
    await stopProxy(state.proxy);
  }
  await unmountUnder(cfg.stateDir);
  rmSync(cfg.nodesDir, { recursive: true, force: true });
  await bridgeDown(state?.config.bridge ?? labBridge(cfg.name));
  for (const f of [cfg.knownHostsPath, cfg.inventoryPath, cfg.statePath]) rmSync(f, { force: true });
  log(`lab "${cfg.name}" is down`);
}
