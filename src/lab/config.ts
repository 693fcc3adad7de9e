// A lab's fixed layout: names, addresses and paths, all derived from (name, node count, subnet).
import { join } from 'node:path';
import { LabError } from '../errors.js';

export const LAB_ROOT = '/var/lib/kadeploy/lab';
export const CACHE_ROOT = '/var/cache/kadeploy';
export const DEFAULT_LAB = 'default';
export const DEFAULT_SUBNET = '10.77.0.0/24';
export const PROXY_PORT = 3142;
// Priorities step down by 10 from 150 and must stay valid VRRP priorities.
export const MAX_NODES = 12;
// Debian releases a lab's nodes can run (11, 12, 13): each has its own cached rootfs and keepalived.
export const RELEASES = ['bullseye', 'bookworm', 'trixie'] as const;
export type Release = (typeof RELEASES)[number];
export const DEFAULT_RELEASE: Release = 'bookworm';

// Short names keep bridge and veth names within the kernel's 15-character limit.
const NAME_RE = /^[a-z][a-z0-9]{0,9}$/;

export interface LabOptions {
  name?: string;
  nodes?: number;
  /** Clusters the nodes are split into in the lab's inventory (default 1: one cluster, no `clusters:`). */
  clusters?: number;
  subnet?: string;
  /** Debian release of the nodes (default bookworm). */
  release?: string;
}

export interface NodeSpec {
  /** Inventory name and hostname: lb1, lb2, ... */
  name: string;
  /** systemd-nspawn machine name, unique per host (also names the host-side veth). */
  machine: string;
  ip: string;
}

export interface LabConfig {
  name: string;
  subnet: string;
  prefix: number;
  release: Release;
  bridge: string;
  hostIp: string;
  vip: string;
  proxyUrl: string;
  nodes: NodeSpec[];
  /** Clusters in the inventory; absent (1) in labs recorded before fleets. */
  clusters?: number;
  stateDir: string;
  statePath: string;
  keyPath: string;
  knownHostsPath: string;
  inventoryPath: string;
  nodesDir: string;
  logDir: string;
  proxyDir: string;
  proxyCacheDir: string;
}

export function checkLabName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new LabError(`invalid lab name "${name}": use 1-10 lowercase letters or digits, starting with a letter`);
  }
  return name;
}

export function checkRelease(release: string): Release {
  if (!(RELEASES as readonly string[]).includes(release)) {
    throw new LabError(`invalid lab release "${release}": expected one of ${RELEASES.join(', ')}`);
  }
  return release as Release;
}

export function labStateDir(name: string): string {
  return join(LAB_ROOT, checkLabName(name));
}

export function labStatePath(name: string): string {
  return join(labStateDir(name), 'state.json');
}

export function labBridge(name: string): string {
  return name === DEFAULT_LAB ? 'kabr0' : `kabr-${name}`;
}

function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function parseSubnet(cidr: string): { base: number; prefix: number } {
  const m = /^([\d.]+)\/(\d+)$/.exec(cidr);
  const base = m ? ipToInt(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  // /24 or larger: the layout uses host offsets .1, .11.. and .100.
  if (base === undefined || !(prefix >= 8 && prefix <= 24)) {
    throw new LabError(`invalid lab subnet "${cidr}": expected an IPv4 network such as 10.77.0.0/24 (prefix 8..24)`);
  }
  if (base % 2 ** (32 - prefix) !== 0) {
    throw new LabError(`invalid lab subnet "${cidr}": host bits are set (did you mean ${intToIp(base - (base % 2 ** (32 - prefix)))}/${prefix}?)`);
  }
  return { base, prefix };
}

export function labConfig(opts: LabOptions = {}): LabConfig {
  const name = checkLabName(opts.name ?? DEFAULT_LAB);
  const count = opts.nodes ?? 2;
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
    throw new LabError(`invalid node count ${count}: a lab has 1 to ${MAX_NODES} nodes`);
  }
  const clusters = opts.clusters ?? 1;
  if (!Number.isInteger(clusters) || clusters < 1 || clusters > count) {
    throw new LabError(`invalid cluster count ${clusters}: 1 to the number of nodes (${count})`);
  }
  const subnet = opts.subnet ?? DEFAULT_SUBNET;
  const release = checkRelease(opts.release ?? DEFAULT_RELEASE);
  const { base, prefix } = parseSubnet(subnet);
  const hostIp = intToIp(base + 1);
  const stateDir = labStateDir(name);
  const nodes = Array.from({ length: count }, (_, i) => {
    const nodeName = `lb${i + 1}`;
    return { name: nodeName, machine: name === DEFAULT_LAB ? nodeName : `${name}-${nodeName}`, ip: intToIp(base + 11 + i) };
  });
  return {
    name,
    subnet,
    prefix,
    release,
    bridge: labBridge(name),
    hostIp,
    vip: intToIp(base + 100),
    proxyUrl: `http://${hostIp}:${PROXY_PORT}`,
    nodes,
    clusters,
    stateDir,
    statePath: labStatePath(name),
    keyPath: join(stateDir, 'id_ed25519'),
    knownHostsPath: join(stateDir, 'known_hosts'),
    inventoryPath: join(stateDir, 'inventory.yaml'),
    nodesDir: join(stateDir, 'nodes'),
    logDir: join(stateDir, 'logs'),
    proxyDir: join(stateDir, 'apt-cacher-ng'),
    proxyCacheDir: join(CACHE_ROOT, `apt-cacher-ng-${name}`),
  };
}
