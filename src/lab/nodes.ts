// Node lifecycle: boot a node's overlay with systemd-nspawn (real systemd as PID 1), wait until
// systemd and sshd are up, and shut it down again.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { LabError } from '../errors.js';
import type { LabConfig } from './config.js';
import { detachedExits, runResult, spawnDetached, SYSTEM_PATH, type RunResult } from './exec.js';
import { configureNodeLink, removeLink } from './network.js';
import { overlayDirs } from './overlay.js';
import { tcpGreeting, waitFor } from './probe.js';
import {
  childPids, holdNamespaces, isAlive, isNamespaceInit, processesIn, procRef, releaseNamespaces, startTimeOf, terminate,
  type HeldNamespaces, type ProcRef,
} from './procs.js';
import type { NodeState } from './state.js';

const BOOT_TIMEOUT_MS = 90_000;

export function nodeDir(cfg: LabConfig, node: string): string {
  return join(cfg.nodesDir, node);
}

function consoleLog(cfg: LabConfig, node: string): string {
  return join(cfg.logDir, `${node}.console.log`);
}

/** systemd-nspawn ended before the node's init started. */
class NspawnExited extends LabError {}

/** The node's PID 1 once it has exec'd the node's init (nspawn's child, PID 1 of the node's PID namespace). */
async function findInit(nspawn: ProcRef, what: string, logPath: string): Promise<ProcRef> {
  return waitFor(`${what} to start its init`, 20_000, async () => {
    if (!isAlive(nspawn)) {
      const how = detachedExits.get(nspawn.pid) ?? 'gone';
      throw new NspawnExited(`${what}: systemd-nspawn exited (${how}) before the node's init started\n  ${tail(logPath)}`);
    }
    for (const pid of childPids(nspawn.pid)) {
      const ref = procRef(pid);
      if (ref && isNamespaceInit(pid) && !ref.cmdline.includes('nspawn')) return ref;
    }
    return undefined;
  });
}

function tail(path: string): string {
  if (!existsSync(path)) return '';
  return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join('\n  ');
}

/** Start systemd-nspawn on the node's (already mounted and populated) overlay; returns at once. */
export function spawnNode(cfg: LabConfig, node: NodeState): ProcRef {
  mkdirSync(cfg.logDir, { recursive: true });
  const root = overlayDirs(nodeDir(cfg, node.name)).root;
  return spawnDetached(
    'systemd-nspawn',
    // --register=no --keep-unit: the host has no systemd/dbus for machined or scope units.
    ['-b', '-D', root, `--machine=${node.machine}`, '--register=no', '--keep-unit',
      `--network-bridge=${cfg.bridge}`, '--console=passive'],
    consoleLog(cfg, node.name),
  );
}

/** Find the spawned node's PID 1 and give the node its address; returns the node's new state. */
async function attachNode(cfg: LabConfig, node: NodeState, nspawn: ProcRef): Promise<NodeState> {
  const init = await findInit(nspawn, `node ${node.name}`, consoleLog(cfg, node.name));
  const hostVeth = await configureNodeLink(init.pid, node.ip, cfg);
  return { ...node, nspawn, init, hostVeth };
}

/**
 * Start the node's systemd-nspawn (`spawned` records it at once, so `lab down` can stop it after a
 * crash), find its init and give it its address. An nspawn that ends before its init starts is
 * started once more (seen once in a clean-clone CI run, before spawnDetached recorded the command line
 * it started rather than a racy read of /proc: that one was a live nspawn taken for dead).
 */
export async function bootNode(cfg: LabConfig, node: NodeState, spawned: (nspawn: ProcRef) => void, log?: (msg: string) => void): Promise<NodeState> {
  for (let attempt = 1; ; attempt++) {
    const nspawn = spawnNode(cfg, node);
    spawned(nspawn);
    try {
      return await attachNode(cfg, node, nspawn);
    } catch (e) {
      // Never a second nspawn on the same root while the first runs.
      if (!(e instanceof NspawnExited) || attempt > 1 || startTimeOf(nspawn.pid) === nspawn.startTime) throw e;
      log?.(`${e.message.replace(/\n\s*$/, '')}; starting it once more`);
      await sleep(500);
    }
  }
}

/** Run a shell command inside a node (all its namespaces) with a clean environment. */
export function execInNode(init: ProcRef, cmd: string): Promise<RunResult> {
  return runResult('nsenter', ['-t', String(init.pid), '-a', '/bin/sh', '-c', cmd], {
    env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', HOME: '/root', DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** Wait until systemd finished booting (running, or degraded with failed units named) and sshd answers. */
export async function waitNodeReady(node: NodeState): Promise<string> {
  const init = node.init;
  if (!init) throw new LabError(`node ${node.name} is not running`);
  const system = await waitFor(`node ${node.name} to finish booting`, BOOT_TIMEOUT_MS, async () => {
    if (!isAlive(init)) throw new LabError(`node ${node.name} stopped while booting`);
    const state = (await execInNode(init, 'systemctl is-system-running')).stdout.trim();
    return state === 'running' || state === 'degraded' ? state : undefined;
  });
  await waitFor(`sshd on ${node.name} (${node.ip}:22)`, 30_000, async () =>
    (await tcpGreeting(node.ip, 22))?.startsWith('SSH-') ? true : undefined,
  );
  // The lab promises HAProxy on every node: a start job the boot dropped (inactive, not failed: a CI
  // run once found HAProxy not running on a freshly booted node) is started now.
  if (system === 'running' && (await execInNode(init, 'systemctl is-active --quiet haproxy || { systemctl start haproxy; exit 1; }')).code !== 0) {
    return 'running (haproxy.service was not started at boot, started now)';
  }
  if (system === 'degraded') {
    const failed = (await execInNode(init, 'systemctl --failed --no-legend --plain')).stdout.trim();
    const units = failed.split('\n').map((l) => l.split(/\s+/)[0]);
    // The lab promises HAProxy on every node: one that failed to start at boot (seen under load) gets
    // one more start, and the state says so.
    if (units.includes('haproxy.service') && (await execInNode(init, 'systemctl reset-failed haproxy; systemctl start haproxy')).code === 0) {
      const rest = units.filter((u) => u !== 'haproxy.service');
      return rest.length ? `degraded (failed units: ${rest.join(', ')}; haproxy.service started again)` : 'running (haproxy.service failed at boot, started again)';
    }
    return `degraded (failed units: ${units.join(', ')})`;
  }
  return system;
}

/** Wait until no process is in the given namespaces; false when some still are after `ms`. */
async function namespacesEmpty(namespaces: string[], what: string, ms: number): Promise<boolean> {
  return waitFor(what, ms, async () => (processesIn(namespaces).length === 0 ? true : undefined)).catch(() => false);
}

/**
 * Wait until nothing of a stopped node is left: no process in its namespaces (one that entered its
 * network namespace from the host outlives the node's PID 1 and keeps its veth alive: it is killed)
 * and no host end of its veth. Only then can the node boot again. The namespaces were held open
 * (`held`) since before the node was stopped, so their ids still name the node's and no one else's.
 */
async function waitNodeGone(node: NodeState, held: HeldNamespaces | undefined): Promise<void> {
  if (held) {
    try {
      const what = `the processes in node ${node.name}'s namespaces to exit`;
      if (!(await namespacesEmpty(held.ids, what, 3000))) {
        for (const p of processesIn(held.ids)) await terminate(p, 0, 'SIGKILL');
        if (!(await namespacesEmpty(held.ids, what, 10_000))) {
          const left = processesIn(held.ids).map((p) => `${p.pid} ${p.cmdline}`).join('; ');
          throw new LabError(`node ${node.name}: processes still in its namespaces: ${left}`);
        }
      }
    } finally {
      releaseNamespaces(held);
    }
  }
  // Released, the network namespace is destroyed with its veth. nspawn names the host end
  // vb-MACHINE when that fits (it does for lab machine names).
  await removeLink(node.hostVeth ?? `vb-${node.machine}`);
}

/** Orderly shutdown: SIGTERM makes nspawn power the node off; kill what is left after the grace time. */
export async function shutdownNode(node: NodeState): Promise<void> {
  const held = holdNamespaces(node.init);
  await terminate(node.nspawn, 20_000);
  // Killing a PID namespace's init kills every process in the node.
  await terminate(node.init, 5000, 'SIGKILL');
  await waitNodeGone(node, held);
}

/** Pull the plug: SIGKILL the node's PID 1, which kills its whole PID namespace; nspawn then exits. */
export async function killNode(node: NodeState): Promise<void> {
  const held = holdNamespaces(node.init);
  await terminate(node.init, 5000, 'SIGKILL');
  await terminate(node.nspawn, 5000);
  await waitNodeGone(node, held);
}

/** `systemctl is-system-running` of a running node, or undefined when it is down. */
export async function systemState(node: NodeState): Promise<string | undefined> {
  if (!node.init || !isAlive(node.init)) return undefined;
  return (await execInNode(node.init, 'systemctl is-system-running')).stdout.trim() || 'unknown';
}
