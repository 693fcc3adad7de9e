// The cached Debian rootfs every node's overlay sits on: one per release, built once with
// debootstrap, keyed by a hash of its recipe (release included) so a recipe change builds a new one,
// and built aside then renamed into place so a crash never leaves a half-built cache behind.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_ROOT, LAB_ROOT, type Release } from './config.js';
import { run } from './exec.js';
import { unmountUnder } from './mounts.js';
import { startTimeOf } from './procs.js';
import { readState } from './state.js';

const MIRROR = 'http://deb.debian.org/debian';
// psmisc: `killall -0 haproxy` track scripts; curl: check scripts. No keepalived: installing it is kadeploy's job.
const PACKAGES = [
  'systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'procps', 'sudo',
  'python3', 'haproxy', 'psmisc', 'curl', 'ca-certificates',
];

// Root logs in by key only; each node gets its own ed25519 host key in its overlay.
const SSHD_CONF = `# kadeploy lab
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
`;

// Bump when customize() changes: the hash below cannot see code.
const CUSTOMIZE_REVISION = 1;

function debootstrapArgs(release: Release, target: string): string[] {
  return ['--variant=minbase', `--include=${PACKAGES.join(',')}`, release, target, MIRROR];
}

/** Hash of everything that shapes the rootfs: debootstrap arguments (the release too) and the files written into it. */
function rootfsHash(release: Release): string {
  const recipe = JSON.stringify({ debootstrap: debootstrapArgs(release, 'ROOTFS'), sshd: SSHD_CONF, customize: CUSTOMIZE_REVISION });
  return createHash('sha256').update(recipe).digest('hex').slice(0, 16);
}

export function rootfsPath(release: Release): string {
  return join(CACHE_ROOT, `rootfs-${rootfsHash(release)}`);
}

/** The Debian codename a built rootfs holds (its /etc/os-release), or undefined when unreadable. */
export function rootfsRelease(root: string): string | undefined {
  try {
    return /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync(join(root, 'etc/os-release'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Make the image node-neutral: no shared host keys, machine id or package downloads. */
function customize(root: string): void {
  for (const f of readdirSync(join(root, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) rmSync(join(root, 'etc/ssh', f));
  }
  writeFileSync(join(root, 'etc/ssh/sshd_config.d/kadeploy-lab.conf'), SSHD_CONF);
  writeFileSync(join(root, 'etc/machine-id'), '');
  const archives = join(root, 'var/cache/apt/archives');
  for (const f of readdirSync(archives)) {
    if (f.endsWith('.deb')) rmSync(join(archives, f));
  }
  mkdirSync(join(root, 'root/.ssh'), { recursive: true, mode: 0o700 });
}

/** Remove a build directory, first unmounting what debootstrap may have left mounted in it (/proc...). */
async function removeBuild(dir: string): Promise<void> {
  await unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Remove build directories left by crashed builds (their builder PID is gone). */
async function removeStaleBuilds(): Promise<void> {
  for (const f of readdirSync(CACHE_ROOT)) {
    const m = /^rootfs-.*\.build-(\d+)-(\d+)$/.exec(f);
    if (m && startTimeOf(Number(m[1])) !== m[2]) await removeBuild(join(CACHE_ROOT, f));
  }
}

/** Rootfs paths that some lab's recorded state still mounts. */
function rootfsInUse(): Set<string> {
  const names = existsSync(LAB_ROOT) ? readdirSync(LAB_ROOT) : [];
  return new Set(
    names.map((name) => {
      try {
        return readState(join(LAB_ROOT, name, 'state.json'))?.rootfs;
      } catch {
        return undefined;
      }
    }).filter((p): p is string => !!p),
  );
}

/**
 * Caches that an older recipe of the same release left and that no lab uses any more (each is a few
 * hundred MB). Another release's rootfs, or one whose release cannot be read, is never a candidate.
 */
export function staleRootfs(cacheRoot: string, current: string, release: Release, inUse: Set<string>): string[] {
  return readdirSync(cacheRoot)
    .filter((f) => /^rootfs-[0-9a-f]+$/.test(f))
    .map((f) => join(cacheRoot, f))
    .filter((path) => path !== current && !inUse.has(path) && rootfsRelease(path) === release);
}

/** The cached rootfs path of `release`, building it first when its current recipe has no cache yet. */
export async function ensureRootfs(release: Release, log: (msg: string) => void): Promise<string> {
  const path = rootfsPath(release);
  if (existsSync(path)) return path;
  mkdirSync(CACHE_ROOT, { recursive: true });
  await removeStaleBuilds();
  const tmp = `${path}.build-${process.pid}-${startTimeOf(process.pid) ?? 0}`;
  log(`building the ${release} rootfs ${path} with debootstrap (a few minutes, once)`);
  const started = Date.now();
  try {
    await run('debootstrap', debootstrapArgs(release, tmp));
    customize(tmp);
    renameSync(tmp, path);
  } catch (err) {
    await removeBuild(tmp);
    // Another lab finished building the same recipe first: use its cache.
    if (existsSync(path)) return path;
    throw err;
  }
  log(`${release} rootfs built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  for (const old of staleRootfs(CACHE_ROOT, path, release, rootfsInUse())) rmSync(old, { recursive: true, force: true });
  return path;
}
