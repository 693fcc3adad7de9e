// `lab up`: rootfs, bridge, apt proxy, then every node booted in parallel. Idempotent: a lab that
// is fully up is left alone; a partly-up one (crash, stopped node) is torn down and rebuilt.
import { mkdirSync, writeFileSync } from 'node:fs';
import { LabError } from '../errors.js';
import { DEFAULT_RELEASE, labConfig, type LabOptions } from './config.js';
import { labDown } from './down.js';
import { checkHost, ensurePrerequisites } from './host.js';
import { labInventory } from './inventory.js';
import { ensureClientKey, writeKnownHosts } from './keys.js';
import { bridgeUp } from './network.js';
import { writeNodeFiles } from './nodefiles.js';
import { bootNode, nodeDir, waitNodeReady } from './nodes.js';
import { mountOverlay } from './overlay.js';
import { spawnProxy, waitProxy } from './proxy.js';
import { ensureRootfs } from './rootfs.js';
import { readState, writeState, type LabState } from './state.js';
import { labStatus, type LabStatus } from './status.js';

export interface LabUpOptions extends LabOptions {
  log?: (msg: string) => void;
}

export interface LabUpResult {
  status: LabStatus;
  /** True when the lab was already up and nothing was started. */
  alreadyUp: boolean;
  seconds: number;
  /** `systemctl is-system-running` per node at the end of boot (empty when already up). */
  systems: Record<string, string>;
}

export async function labUp(opts: LabUpOptions = {}): Promise<LabUpResult> {
  const started = Date.now();
  const elapsed = (): number => Math.round((Date.now() - started) / 100) / 10;
  const log = opts.log ?? (() => {});
  checkHost();
  const cfg = labConfig(opts);
  const existing = readState(cfg.statePath);
  if (existing) {
    const status = await labStatus({ name: cfg.name });
    if (status.up) {
      const differs =
        (opts.nodes !== undefined && opts.nodes !== existing.nodes.length) ||
        (opts.clusters !== undefined && opts.clusters !== (existing.config.clusters ?? 1)) ||
        (opts.subnet !== undefined && opts.subnet !== existing.config.subnet) ||
        (opts.release !== undefined && opts.release !== (existing.config.release ?? DEFAULT_RELEASE));
      if (differs) {
        throw new LabError(
          `lab "${cfg.name}" is up with ${existing.nodes.length} ${existing.config.release ?? DEFAULT_RELEASE} nodes on ${existing.config.subnet}: run \`kadeploy lab down\` first`,
        );
      }
      return { status, alreadyUp: true, seconds: elapsed(), systems: {} };
    }
    log(`lab "${cfg.name}" is partly up (crash or stopped node): tearing it down first`);
    await labDown({ name: cfg.name, log });
  }

  await ensurePrerequisites(log);
  const rootfs = await ensureRootfs(cfg.release, log);
  mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
  // Recorded before anything starts, so `lab down` can always clean up after a crash.
  const state: LabState = { version: 1, config: cfg, rootfs, nodes: cfg.nodes.map((n) => ({ ...n })) };
  writeState(state);
  try {
    const clientKey = await ensureClientKey(cfg.keyPath, `kadeploy-lab-${cfg.name}`);
    await bridgeUp(cfg);
    log(`starting apt-cacher-ng on ${cfg.proxyUrl}`);
    state.proxy = await spawnProxy(cfg);
    writeState(state);
    await waitProxy(cfg, state.proxy);
    log(`booting ${cfg.nodes.length} nodes`);
    const hostKeys = await Promise.all(
      state.nodes.map(async (node, i) => {
        const dirs = await mountOverlay(rootfs, nodeDir(cfg, node.name));
        const hostKey = await writeNodeFiles(dirs.root, node, cfg, clientKey);
        state.nodes[i] = await bootNode(cfg, node, (nspawn) => {
          state.nodes[i] = { ...node, nspawn };
          writeState(state);
        }, log);
        writeState(state);
        return { ip: node.ip, hostKey };
      }),
    );
    writeKnownHosts(cfg.knownHostsPath, hostKeys);
    writeFileSync(cfg.inventoryPath, labInventory(cfg));
    const systems = await Promise.all(state.nodes.map((n) => waitNodeReady(n)));
    return {
      status: await labStatus({ name: cfg.name }),
      alreadyUp: false,
      seconds: elapsed(),
      systems: Object.fromEntries(state.nodes.map((n, i) => [n.name, systems[i]!])),
    };
  } catch (err) {
    log(`lab up failed, tearing down (logs kept in ${cfg.logDir})`);
    await labDown({ name: cfg.name, log }).catch((e: Error) => log(`lab down: ${e.message}`));
    throw err;
  }
}
