// The lab's layer 2: one host bridge holding the host address, and each node's veth
// (renamed eth0 inside the node and addressed from the host through the node's network namespace).
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../errors.js';
import type { LabConfig } from './config.js';
import { run, runResult } from './exec.js';

interface IpLink {
  ifindex: number;
  ifname: string;
  link_index?: number;
  flags?: string[];
}

interface IpAddr {
  ifname: string;
  addr_info?: Array<{ family: string; local: string }>;
}

async function hostLinks(): Promise<IpLink[]> {
  return JSON.parse(await run('ip', ['-j', 'link', 'show'])) as IpLink[];
}

export async function linkExists(name: string): Promise<boolean> {
  return (await runResult('ip', ['link', 'show', 'dev', name])).code === 0;
}

/** Create the bridge with the host address (idempotent); refuse an address already used elsewhere. */
export async function bridgeUp(cfg: LabConfig): Promise<void> {
  const addrs = JSON.parse(await run('ip', ['-j', '-4', 'addr', 'show'])) as IpAddr[];
  const owner = addrs.find((a) => a.addr_info?.some((i) => i.local === cfg.hostIp));
  if (owner && owner.ifname !== cfg.bridge) {
    throw new LabError(`${cfg.hostIp} is already on interface ${owner.ifname}: choose another --subnet for lab "${cfg.name}"`);
  }
  if (!(await linkExists(cfg.bridge))) await run('ip', ['link', 'add', cfg.bridge, 'type', 'bridge']);
  if (!owner) await run('ip', ['addr', 'add', `${cfg.hostIp}/${cfg.prefix}`, 'dev', cfg.bridge]);
  await run('ip', ['link', 'set', cfg.bridge, 'up']);
}

/** Poll until a host link is absent; false when it is still there after `ms`. */
async function waitLinkGone(name: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (await linkExists(name)) {
    if (Date.now() > until) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Make sure a host link is gone, not merely going: the kernel destroys a node's veth with its network
 * namespace, asynchronously, after the node's processes exit; until then its name is taken (the next
 * `systemd-nspawn` of that node fails with "File exists"). Delete it if it lingers.
 */
export async function removeLink(name: string): Promise<void> {
  if (await waitLinkGone(name, 2000)) return;
  await runResult('ip', ['link', 'del', 'dev', name]); // it may vanish on its own meanwhile
  if (!(await waitLinkGone(name, 15_000))) throw new LabError(`host link ${name} is still present 15 s after deleting it`);
}

/** Host links enslaved to the bridge (the nodes' veths); none when the bridge is absent. */
export async function bridgePorts(bridge: string): Promise<string[]> {
  if (!(await linkExists(bridge))) return [];
  return (JSON.parse(await run('ip', ['-j', 'link', 'show', 'master', bridge])) as IpLink[]).map((l) => l.ifname);
}

/** Remove the bridge and whatever veth is still attached to it. */
export async function bridgeDown(bridge: string): Promise<void> {
  for (const port of await bridgePorts(bridge)) await removeLink(port);
  if (await linkExists(bridge)) await run('ip', ['link', 'del', bridge]);
  await removeLink(bridge);
}

/** Run `ip ARGS` inside a node's network namespace. */
function nodeIp(initPid: number, args: string[]): Promise<string> {
  return run('nsenter', ['-t', String(initPid), '-n', 'ip', ...args]);
}

/**
 * Give a freshly booted node its address: rename nspawn's `host0` to `eth0` (what inventories name),
 * add the address and a default route via the host. Returns the host-side veth name.
 */
export async function configureNodeLink(initPid: number, ip: string, cfg: LabConfig): Promise<string> {
  const nic = await waitForNic(initPid);
  if (nic === 'host0') {
    await nodeIp(initPid, ['link', 'set', 'host0', 'down']);
    await nodeIp(initPid, ['link', 'set', 'host0', 'name', 'eth0']);
  }
  await nodeIp(initPid, ['addr', 'replace', `${ip}/${cfg.prefix}`, 'dev', 'eth0']);
  await nodeIp(initPid, ['link', 'set', 'eth0', 'up']);
  await nodeIp(initPid, ['route', 'replace', 'default', 'via', cfg.hostIp]);
  return hostVethOf(initPid);
}

/** nspawn moves the veth into the node while it boots: wait for it (or for eth0 after a restart of the link setup). */
async function waitForNic(initPid: number): Promise<string> {
  const until = Date.now() + 10_000;
  for (;;) {
    const links = JSON.parse(await nodeIp(initPid, ['-j', 'link', 'show'])) as IpLink[];
    const nic = links.find((l) => l.ifname === 'host0' || l.ifname === 'eth0');
    if (nic) return nic.ifname;
    if (Date.now() > until) throw new LabError(`node PID ${initPid} has no host0 interface (is --network-bridge working?)`);
    await sleep(100);
  }
}

/** The host end of the node's veth, found by its peer index (nspawn may shorten long names). */
async function hostVethOf(initPid: number): Promise<string> {
  const links = JSON.parse(await nodeIp(initPid, ['-j', 'link', 'show', 'eth0'])) as IpLink[];
  const peer = links[0]?.link_index;
  const host = (await hostLinks()).find((l) => l.ifindex === peer);
  if (!host) throw new LabError(`cannot find the host side of the veth of node PID ${initPid}`);
  return host.ifname;
}

/** Cut or restore a node's link by taking the host end of its veth down or up. */
export async function setLink(hostVeth: string, up: boolean): Promise<void> {
  await run('ip', ['link', 'set', 'dev', hostVeth, up ? 'up' : 'down']);
}

/** Administrative state of host links by name (absent when the link does not exist). */
export async function hostLinkStates(): Promise<Map<string, boolean>> {
  return new Map((await hostLinks()).map((l) => [l.ifname, l.flags?.includes('UP') ?? false]));
}
