// `lab status`: what runs, read from recorded state and checked against the live system.
import { DEFAULT_LAB, DEFAULT_RELEASE, labConfig, type Release } from './config.js';
import { hostLinkStates, linkExists } from './network.js';
import { systemState } from './nodes.js';
import { isAlive } from './procs.js';
import { readState, type LabState } from './state.js';

export interface NodeStatus {
  name: string;
  machine: string;
  /** Address with prefix, as in the inventory. */
  address: string;
  ip: string;
  running: boolean;
  /** `systemctl is-system-running` inside the node (running nodes, root only). */
  system?: string;
  /** Whether the node's link is up (false after `cutLink`). */
  link?: boolean;
  pid?: number;
}

export interface LabStatus {
  name: string;
  /** Bridge, proxy and every node running. */
  up: boolean;
  /** Debian release of the nodes. */
  release: Release;
  bridge: string;
  bridgePresent: boolean;
  hostIp: string;
  vip: string;
  proxyUrl: string;
  proxyRunning: boolean;
  stateDir: string;
  keyPath: string;
  knownHostsPath: string;
  inventoryPath: string;
  nodes: NodeStatus[];
}

async function nodeStatuses(state: LabState): Promise<NodeStatus[]> {
  const links = await hostLinkStates();
  const asRoot = process.getuid?.() === 0;
  return Promise.all(
    state.nodes.map(async (n) => {
      const running = isAlive(n.nspawn) && isAlive(n.init);
      return {
        name: n.name,
        machine: n.machine,
        address: `${n.ip}/${state.config.prefix}`,
        ip: n.ip,
        running,
        ...(running && asRoot ? { system: await systemState(n) } : {}),
        ...(running && n.hostVeth ? { link: links.get(n.hostVeth) ?? false } : {}),
        ...(running ? { pid: n.init?.pid } : {}),
      };
    }),
  );
}

export async function labStatus(opts: { name?: string } = {}): Promise<LabStatus> {
  const name = opts.name ?? DEFAULT_LAB;
  const defaults = labConfig({ name });
  const state = readState(defaults.statePath);
  const cfg = state?.config ?? defaults;
  const nodes = state ? await nodeStatuses(state) : [];
  const bridgePresent = await linkExists(cfg.bridge);
  const proxyRunning = isAlive(state?.proxy);
  return {
    name,
    up: !!state && bridgePresent && proxyRunning && nodes.every((n) => n.running),
    // Labs started before releases existed recorded none: they are bookworm.
    release: cfg.release ?? DEFAULT_RELEASE,
    bridge: cfg.bridge,
    bridgePresent,
    hostIp: cfg.hostIp,
    vip: cfg.vip,
    proxyUrl: cfg.proxyUrl,
    proxyRunning,
    stateDir: cfg.stateDir,
    keyPath: cfg.keyPath,
    knownHostsPath: cfg.knownHostsPath,
    inventoryPath: cfg.inventoryPath,
    nodes,
  };
}
