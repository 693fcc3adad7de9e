// The tools preflight runs on a node, installed like keepalived (the same install command, apt proxy
// included) when missing. A node without them is skipped by the checks that need them, with the reason.
import type { OsFact } from '../facts/os.js';
import type { PackagesFact } from '../facts/packages.js';

/** socat: a raw IP socket for protocol 112 (listen and send); arping: the ARP duplicate-address probe. */
const PACKAGES: Partial<Record<OsFact['family'], string[]>> = {
  debian: ['socat', 'iputils-arping'],
  redhat: ['socat', 'iputils'],
};

/** Every name any family uses: what the packages fact asks about before the OS is known. */
export const TOOL_PACKAGES = [...new Set(Object.values(PACKAGES).flat() as string[])];

/** The tool packages this node lacks; undefined when its OS family is not one we install on. */
export function missingTools(os: OsFact, installed: PackagesFact): string[] | undefined {
  const wanted = PACKAGES[os.family];
  return wanted?.filter((name) => installed[name] === undefined);
}
