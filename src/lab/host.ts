// Host requirements: Linux, root, overlayfs, and the tools the lab drives (installed when missing).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { LabError } from '../errors.js';
import { run, runResult } from './exec.js';

/** Why the lab cannot run on this machine, or undefined when it can. */
export function labUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return `the lab needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the lab needs root (systemd-nspawn, overlay mounts and bridges are privileged)';
  let filesystems = '';
  try {
    filesystems = readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return 'the lab needs /proc (cannot read /proc/filesystems)';
  }
  if (!/\soverlay$/m.test(filesystems)) return 'the lab needs overlayfs in the kernel (try `modprobe overlay`)';
  return undefined;
}

export function checkHost(): void {
  const reason = labUnsupportedReason();
  if (reason) throw new LabError(reason);
}

// Each tool the lab runs, and the Debian package that provides it.
const TOOLS: Array<[path: string, pkg: string]> = [
  ['/usr/sbin/debootstrap', 'debootstrap'],
  ['/usr/bin/systemd-nspawn', 'systemd-container'],
  ['/usr/sbin/apt-cacher-ng', 'apt-cacher-ng'],
  ['/usr/bin/nsenter', 'util-linux'],
  ['/usr/bin/ssh-keygen', 'openssh-client'],
  ['/usr/bin/ssh', 'openssh-client'],
];

function hasAptLists(): boolean {
  try {
    return readdirSync('/var/lib/apt/lists').some((f) => f.endsWith('_Packages'));
  } catch {
    return false;
  }
}

/** `ip` lives in /bin or /sbin depending on usrmerge. */
function hasIp(): boolean {
  return ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some((p) => existsSync(p));
}

/** Install missing host packages; `apt-get update` only runs when the package lists are absent or stale. */
export async function ensurePrerequisites(log: (msg: string) => void): Promise<void> {
  const missing = new Set(TOOLS.filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg));
  if (!hasIp()) missing.add('iproute2');
  if (missing.size === 0) return;
  if (!existsSync('/usr/bin/apt-get')) {
    throw new LabError(`missing host packages (${[...missing].join(', ')}) and no apt-get to install them`);
  }
  const pkgs = [...missing];
  log(`installing host packages: ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['install', '-y', '--no-install-recommends', ...pkgs];
  if (!hasAptLists()) await run('apt-get', ['update'], { env });
  if ((await runResult('apt-get', install, { env })).code === 0) return;
  await run('apt-get', ['update'], { env });
  await run('apt-get', install, { env });
}
