// apt-cacher-ng on the bridge address: the nodes' only way to the Debian archive (they have no
// route out). Runs from a private config directory, never the host's /etc/apt-cacher-ng.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from '../errors.js';
import { PROXY_PORT, type LabConfig } from './config.js';
import { spawnDetached } from './exec.js';
import { isAlive, terminate, type ProcRef } from './procs.js';
import { tcpGreeting, waitFor } from './probe.js';

const ACNG = '/usr/sbin/apt-cacher-ng';

function logPath(cfg: LabConfig): string {
  return join(cfg.logDir, 'apt-cacher-ng.log');
}

function writeConfig(cfg: LabConfig): void {
  mkdirSync(cfg.proxyDir, { recursive: true });
  writeFileSync(join(cfg.proxyDir, 'backends_debian'), 'http://deb.debian.org/debian/\n');
  writeFileSync(
    join(cfg.proxyDir, 'acng.conf'),
    [
      `# apt-cacher-ng for kadeploy lab "${cfg.name}" (written by \`kadeploy lab up\`)`,
      'SupportDir: /usr/lib/apt-cacher-ng',
      'Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian',
      'Remap-secdeb: security.debian.org security.debian.org/debian-security deb.debian.org/debian-security /debian-security ; deb.debian.org/debian-security',
      // The default socket lives in /run/apt-cacher-ng, shared with a host-wide instance.
      `SocketPath: ${join(cfg.proxyDir, 'socket')}`,
      'ExThreshold: 4',
      '',
    ].join('\n'),
  );
}

/** Start apt-cacher-ng; returns once started so the caller records the PID before waiting for it. */
export async function spawnProxy(cfg: LabConfig): Promise<ProcRef> {
  // Something already answering there (a stray proxy?) would be mistaken for ours.
  if ((await tcpGreeting(cfg.hostIp, PROXY_PORT, 500)) !== undefined) {
    throw new LabError(`port ${PROXY_PORT} on ${cfg.hostIp} is already in use: stop what listens there`);
  }
  writeConfig(cfg);
  mkdirSync(cfg.proxyCacheDir, { recursive: true });
  mkdirSync(cfg.logDir, { recursive: true });
  return spawnDetached(
    ACNG,
    ['-c', cfg.proxyDir, 'ForeGround=1', `BindAddress=${cfg.hostIp}`, `Port=${PROXY_PORT}`,
      `CacheDir=${cfg.proxyCacheDir}`, `LogDir=${cfg.logDir}`],
    logPath(cfg),
  );
}

/** Wait until the proxy accepts connections; it exiting first (port taken...) is an error. */
export async function waitProxy(cfg: LabConfig, ref: ProcRef): Promise<void> {
  await waitFor(`apt-cacher-ng on ${cfg.hostIp}:${PROXY_PORT}`, 15_000, async () => {
    if (!isAlive(ref)) {
      const tail = readFileSync(logPath(cfg), 'utf8').trim().split('\n').slice(-5).join('\n  ');
      throw new LabError(`apt-cacher-ng exited (is port ${PROXY_PORT} already in use?)${tail ? `\n  ${tail}` : ''}`);
    }
    return (await tcpGreeting(cfg.hostIp, PROXY_PORT, 500)) !== undefined ? true : undefined;
  });
}

export async function stopProxy(ref: ProcRef | undefined): Promise<void> {
  await terminate(ref, 5000);
}
