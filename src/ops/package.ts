// Package installation command for the node's OS family. Only called with packages that are missing.
import { KadeployError } from '../errors.js';
import type { OsFact } from '../facts/os.js';
import { sh } from '../shell/quote.js';

/** How long an install waits for a busy package manager (default of the inventory's `package_lock_timeout`); the install's time limit is command_timeout plus this. */
export const APT_LOCK_TIMEOUT_S = 180;

/**
 * How long an install may wait for those locks (the inventory's `package_lock_timeout`, else the
 * default): every caller of installCommand runs it with this much added to its command_timeout.
 */
export const lockWaitS = (setting: number | undefined): number => setting ?? APT_LOCK_TIMEOUT_S;

/** apt's lists lock (`apt-get update`) and dpkg's locks (`apt-get install`): all taken with fcntl(2). */
export const APT_LISTS_LOCK = '/var/lib/apt/lists/lock';
export const DPKG_LOCKS = ['/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock', '/var/cache/apt/archives/lock'];

/** What the wait prints every few seconds while a lock is held (the progress line shows it). */
export const LOCK_WAIT_PREFIX = 'waiting for the package manager:';

/**
 * Shell functions: `kd_holder LOCK...` prints which lock is held and by whom, read from /proc/locks
 * (device and inode of the file; no extra tool on the node); `kd_wait LOCK...` waits while one is held,
 * saying so every 5 s, until the run's deadline (package_lock_timeout, shared by update and install).
 * apt's DPkg::Lock::Timeout covers only dpkg's locks and says nothing while it waits.
 */
export function lockWaitFunctions(timeoutS: number): string {
  const holder =
    `kd_holder() { for f in "$@"; do d=$(stat -c %d "$f" 2>/dev/null) && i=$(stat -c %i "$f") || continue; ` +
    // st_dev → the kernel's MAJ:MIN as /proc/locks prints them (hex).
    `k=$(printf '%02x:%02x:%s' $(( (d >> 8) & 4095 )) $(( (d & 255) | ((d >> 12) & 1048320) )) "$i"); ` +
    `p=$(awk -v k="$k" '$2 != "->" && $6 == k { print $5; exit }' /proc/locks); ` +
    `[ -n "$p" ] || continue; ` +
    `if [ "$p" -gt 0 ] 2>/dev/null; then echo "$f is held by $(cat /proc/$p/comm 2>/dev/null || echo 'a process') (pid $p)"; else echo "$f is held"; fi; return; done; }`;
  const wait =
    `kd_wait() { n=0; while h=$(kd_holder "$@"); [ -n "$h" ]; do ` +
    `if [ "$(date +%s)" -ge "$kd_deadline" ]; then echo "kadeploy: $h, still after ${timeoutS} s (package_lock_timeout)" >&2; return 1; fi; ` +
    `[ $((n % 5)) -eq 0 ] && echo "${LOCK_WAIT_PREFIX} $h ($n s)"; n=$((n + 1)); sleep 1; done; }`;
  return `kd_deadline=$(( $(date +%s) + ${timeoutS} )); ${holder}; ${wait}`;
}

/** How old apt's package lists may be before an install refreshes them first (seconds; the default of `package: {cache_valid_time}`). */
export const APT_CACHE_VALID_S = 3600;

/**
 * apt's update-success stamp, else the lists' directory. apt's periodic job (and Ubuntu's hook) write the
 * stamp after a successful `apt-get update`, and so does kadeploy's update: the directory alone is not
 * touched by an update that finds nothing new, which would make every later install refresh again.
 */
const UPDATE_STAMP = '/var/lib/apt/periodic/update-success-stamp';
const APT_STAMPS = [UPDATE_STAMP, '/var/lib/apt/lists'];

export interface InstallOptions {
  aptProxy?: string;
  /** Skip `apt-get update` when the lists are younger than this (seconds) and every package has a candidate; 0: always update. */
  cacheValidS?: number;
  /** How long to wait for apt's and dpkg's locks (seconds; default APT_LOCK_TIMEOUT_S). */
  lockTimeoutS?: number;
  /**
   * Only fetch the packages into apt's cache (/var/cache/apt/archives), install nothing (Debian family):
   * what a first deploy does while preflight listens, so that the install finds them there.
   */
  downloadOnly?: boolean;
}

export function installCommand(os: OsFact, names: string[], opts: InstallOptions = {}): string {
  if (os.family === 'debian') {
    const proxy = opts.aptProxy ? ['-o', `Acquire::http::Proxy=${opts.aptProxy}`] : [];
    const lockS = lockWaitS(opts.lockTimeoutS);
    // apt-get update does not wait for its lists lock (apt 2.2 to 3.0): kd_wait does, saying who holds it.
    const lists = sh(APT_LISTS_LOCK);
    const aptUpdate = `${sh('apt-get', ...proxy, '-q', 'update')} && { touch ${sh(UPDATE_STAMP)} 2>/dev/null || true; }`;
    // Taken between kd_wait and apt-get (apt-get then fails at once): wait again, once.
    const update = `kd_wait ${lists} && { ${aptUpdate} || { [ -n "$(kd_holder ${lists})" ] && kd_wait ${lists} && ${aptUpdate}; }; }`;
    // --force-confold: never let a package prompt about, or replace, a config file we manage.
    // DPkg::Lock::Timeout: a lock taken between kd_wait and apt-get is waited for too (apt 2.2+, Debian 11+).
    const install =
      `kd_wait ${DPKG_LOCKS.map((l) => sh(l)).join(' ')} && ` +
      sh('apt-get', ...proxy, '-y', '-q', '-o', `DPkg::Lock::Timeout=${lockS}`, '-o', 'Dpkg::Options::=--force-confold', 'install', ...(opts.downloadOnly ? ['--download-only'] : []), '--no-install-recommends', ...names);
    const env = `export DEBIAN_FRONTEND=noninteractive; ${lockWaitFunctions(lockS)}`;
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
    const only = opts.downloadOnly ? ['--downloadonly'] : [];
    return `if command -v dnf >/dev/null; then ${sh('dnf', '-y', 'install', ...only, ...names)}; else ${sh('yum', '-y', 'install', ...only, ...names)}; fi`;
  }
  throw new KadeployError(`unsupported OS "${os.id}": kadeploy installs packages on Debian/Ubuntu (apt) and the RHEL family (dnf/yum)`);
}
