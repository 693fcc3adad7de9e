// Package installation command for the node's OS family. Only called with packages that are missing.
import { KadeployError } from '../errors.js';
import type { OsFact } from '../facts/os.js';
import { sh } from '../shell/quote.js';

/** How long apt waits for a busy dpkg lock: a few minutes, well under the default command_timeout (300 s). */
export const APT_LOCK_TIMEOUT_S = 180;

export function installCommand(os: OsFact, names: string[], aptProxy?: string): string {
  if (os.family === 'debian') {
    const proxy = aptProxy ? ['-o', `Acquire::http::Proxy=${aptProxy}`] : [];
    // --force-confold: never let a package prompt about, or replace, a config file we manage.
    // DPkg::Lock::Timeout: wait for a dpkg lock another process (unattended-upgrades) holds (apt 2.2+, Debian 11+).
    return [
      'export DEBIAN_FRONTEND=noninteractive',
      sh('apt-get', ...proxy, '-q', 'update'),
      sh('apt-get', ...proxy, '-y', '-q', '-o', `DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_S}`, '-o', 'Dpkg::Options::=--force-confold', 'install', '--no-install-recommends', ...names),
    ].join(' && ');
  }
  if (os.family === 'redhat') {
    return `if command -v dnf >/dev/null; then ${sh('dnf', '-y', 'install', ...names)}; else ${sh('yum', '-y', 'install', ...names)}; fi`;
  }
  throw new KadeployError(`unsupported OS "${os.id}": kadeploy installs packages on Debian/Ubuntu (apt) and the RHEL family (dnf/yum)`);
}
