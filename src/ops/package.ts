// Package installation command for the node's OS family. Only called with packages that are missing.
import { KadeployError } from '../errors.js';
import type { OsFact } from '../facts/os.js';
import { sh } from '../shell/quote.js';

export function installCommand(os: OsFact, names: string[], aptProxy?: string): string {
  if (os.family === 'debian') {
    const proxy = aptProxy ? ['-o', `Acquire::http::Proxy=${aptProxy}`] : [];
    // --force-confold: never let a package prompt about, or replace, a config file we manage.
    return [
      'export DEBIAN_FRONTEND=noninteractive',
      sh('apt-get', ...proxy, '-q', 'update'),
      sh('apt-get', ...proxy, '-y', '-q', '-o', 'Dpkg::Options::=--force-confold', 'install', '--no-install-recommends', ...names),
    ].join(' && ');
  }
  if (os.family === 'redhat') {
    return `if command -v dnf >/dev/null; then ${sh('dnf', '-y', 'install', ...names)}; else ${sh('yum', '-y', 'install', ...names)}; fi`;
  }
  throw new KadeployError(`unsupported OS "${os.id}": kadeploy installs packages on Debian/Ubuntu (apt) and the RHEL family (dnf/yum)`);
}
