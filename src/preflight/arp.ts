// "Does anything already answer for this VIP?" as an ARP duplicate-address probe (`arping -D`, iputils:
// the probe's sender address is 0.0.0.0, so it works whatever the prober's own subnet). Pure text.
import { sh } from '../shell/quote.js';

export const arpProbeCommand = (iface: string, ip: string): string => sh('arping', '-D', '-c', '2', '-w', '3', '-I', iface, ip);

/** The MAC addresses (lower case) that answered, from arping's "Unicast reply from IP [MAC]" lines. */
export function arpReplies(stdout: string): string[] {
  const macs = [...stdout.matchAll(/reply from \S+ \[([0-9a-f:]{17})\]/gi)].map((m) => m[1]!.toLowerCase());
  return [...new Set(macs)];
}

/** Every MAC of the node's interfaces (a VMAC interface included): to recognise the cluster's own answers. */
export const MACS_COMMAND = 'cat /sys/class/net/*/address';
export const parseMacs = (stdout: string): string[] =>
  stdout.split('\n').map((l) => l.trim().toLowerCase()).filter((m) => /^[0-9a-f:]{17}$/.test(m) && m !== '00:00:00:00:00:00');
