// What preflight runs on a node: perl with its Socket module (raw sockets for VRRP, a packet socket
// for the ARP probe). Essential on Debian (perl-base), so never installed there; on the RHEL family,
// where a minimal install may lack it, installed like keepalived (the same install command, apt
// proxy and lock wait included). A node without it is skipped by the checks, with the reason.
import type { OsFact } from '../facts/os.js';
import type { PackagesFact } from '../facts/packages.js';

const PACKAGES: Partial<Record<OsFact['family'], string[]>> = {
  debian: ['perl-base'],
  redhat: ['perl-interpreter', 'perl-Socket'],
};

/** Every name any family uses: what the packages fact asks about before the OS is known. */
export const TOOL_PACKAGES = [...new Set(Object.values(PACKAGES).flat() as string[])];

/** The tool packages this node lacks; undefined when its OS family is not one we install on. */
export function missingTools(os: OsFact, installed: PackagesFact): string[] | undefined {
  const wanted = PACKAGES[os.family];
  return wanted?.filter((name) => installed[name] === undefined);
}
