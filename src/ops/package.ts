// Package installation command for the node's OS family. Only called with packages that are missing.
import { KadeployError } from '../errors.js';
import type { OsFact } from '../facts/os.js';
import { sh } from '../shell/quote.js';

/** How long apt waits for a busy dpkg lock: a few minutes, well under the default command_timeout (300 s). */
export const APT_LOCK_TIMEOUT_S = 180;

/** How old apt's package lists may be before an install refreshes them first (seconds; the default of `package: {cache_valid_time}`). */
export const APT_CACHE_VALID_S = 3600;

/** apt's update-success stamp (written after every successful `apt-get update`), else the lists' directory. */
const APT_STAMPS = ['/var/lib/apt/periodic/update-success-stamp', '/var/lib/apt/lists'];

export interface InstallOptions {
  aptProxy?: string;
  /** Skip `apt-get update` when the lists are younger than this (seconds) and every package has a candidate; 0: always update. */
  cacheValidS?: number;
}

export function installCommand(os: OsFact, names: string[], opts: InstallOptions = {}): string {
  if (os.family === 'debian') {
    const proxy = opts.aptProxy ? ['-o', `Acquire::http::Proxy=${opts.aptProxy}`] : [];
    const update = sh('apt-get', ...proxy, '-q', 'update');
    // --force-confold: never let a package prompt about, or replace, a config file we manage.
    // DPkg::Lock::Timeout: wait for a dpkg lock another process (unattended-upgrades) holds (apt 2.2+, Debian 11+).
    const install = sh('apt-get', ...proxy, '-y', '-q', '-o', `DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_S}`, '-o', 'Dpkg::Options::=--force-confold', 'install', '--no-install-recommends', ...names);
    const env = 'export DEBIAN_FRONTEND=noninteractive';
    const validS = opts.cacheValidS ?? APT_CACHE_VALID_S;
    if (validS <= 0) return [env, update, install].join(' && ');
    // Fresh lists with a candidate for every package: install at once. Should the install still
    // fail (a mirror that moved on since), refresh and install again.
    const age = `t=$(stat -c %Y ${APT_STAMPS.map((p) => sh(p)).join(' ')} 2>/dev/null | sort -n | tail -n 1)`;
    const fresh = `[ $(( $(date +%s) - \${t:-0} )) -lt ${validS} ]`;
    const candidates = `[ "$(LC_ALL=C ${sh('apt-cache', 'policy', ...names)} 2>/dev/null | grep -c '^  Candidate: [0-9]')" = ${names.length} ]`;
    return `${env} && ${age}; if ${fresh} && ${candidates}; then ${install} || { ${update} && ${install}; }; else ${update} && ${install}; fi`;
  }
  if (os.family === 'redhat') {
    return `if command -v dnf >/dev/null; then ${sh('dnf', '-y', 'install', ...names)}; else ${sh('yum', '-y', 'install', ...names)}; fi`;
  }
  throw new KadeployError(`unsupported OS "${os.id}": kadeploy installs packages on Debian/Ubuntu (apt) and the RHEL family (dnf/yum)`);
}
