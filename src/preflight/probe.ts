// The node side of the VRRP checks, as pure text: one shell script per node that listens for IP
// protocol 112 for a few seconds while sending marked probes to the node's VRRP peers, and the parser
// of what it heard. The listener is a raw IP socket (socat IP4-RECVFROM:112), like keepalived's own:
// it receives after netfilter's input chain, so a firewall dropping VRRP hides the probe from it.
// (A packet capture such as tcpdump sees packets before netfilter and would say they arrived.)
import { sh } from '../shell/quote.js';

/**
 * Our probes' payload: version 0 and vrid 0 (no VRRP router takes it for an advert, and a keepalived
 * already running finds no instance for it and ignores it), then a mark.
 */
export const PROBE_MARK = 'kadeploy-preflight';
const PROBE_PAYLOAD = `\0\0${PROBE_MARK}`;
export const VRRP_GROUP4 = '224.0.0.18';
const LISTEN_END = '@@kadeploy-listen-rc';

/** Where one node sends its probes: the multicast group on an interface, or a unicast peer. */
export type ProbeDestination = { multicast: string } | { unicast: string; from?: string };

export interface ProbeScript {
  /** Listen this long (seconds); probes go out from 1 s after the start, three times. */
  seconds: number;
  /** Interfaces to join the VRRP multicast group on. */
  groups: string[];
  destinations: ProbeDestination[];
}

/** The node's script: the listener in the background, the probes, then the listener's exit status. */
export function probeScript(p: ProbeScript): string {
  const membership = p.groups.map((iface) => `,ip-add-membership=${VRRP_GROUP4}:${iface}`).join('');
  // One line per packet: the sender's address, then the payload in hex (socat strips the IP header).
  const listen = `timeout ${p.seconds} ${sh('socat', '-u', `IP4-RECVFROM:112${membership},fork`, 'SYSTEM:echo $SOCAT_PEERADDR $(od -An -tx1 -v)')}`;
  const send = p.destinations.map((d) => {
    const address = 'multicast' in d
      ? `IP4-SENDTO:${VRRP_GROUP4}:112,so-bindtodevice=${d.multicast},ip-multicast-ttl=255`
      : `IP4-SENDTO:${d.unicast}:112${d.from ? `,bind=${d.from}` : ''}`;
    return `printf ${sh(`\\000\\000${PROBE_MARK}`)} | ${sh('socat', '-u', '-', address)}`;
  });
  const gap = Math.max(0.2, Math.min(1, (p.seconds - 1.5) / 3));
  const probes = send.length ? `sleep 1; for i in 1 2 3; do ${send.join('; ')}; sleep ${gap.toFixed(1)}; done; ` : '';
  return `${listen} & ${probes}wait $!; echo ${LISTEN_END} $?`;
}

/** One packet heard: who sent it and its VRRP payload (IP header stripped). */
export interface Heard {
  source: string;
  payload: Buffer;
}

/** A VRRP advertisement's header fields (RFC 3768 / RFC 5798). */
export interface Advert {
  version: number;
  vrid: number;
  priority: number;
  /** The virtual addresses it carries (IPv4). */
  addresses: string[];
}

export interface Listened {
  heard: Heard[];
  /** Why the listener did not run its whole window (socat missing, no permission…), if it did not. */
  error?: string;
}

/** Parse the script's output. `timeout` ending the listener (124) is the normal end. */
export function parseProbeOutput(stdout: string, stderr: string): Listened {
  const heard: Heard[] = [];
  let rc: number | undefined;
  for (const line of stdout.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === LISTEN_END) rc = Number(words[1]);
    else if (words.length > 1 && /^[0-9a-f.:]+$/i.test(words[0]!)) {
      heard.push({ source: words[0]!, payload: Buffer.from(words.slice(1).join(''), 'hex') });
    }
  }
  if (rc === 124) return { heard };
  return { heard, error: stderr.trim().split('\n').slice(-2).join(' ') || `the listener ended with status ${rc ?? 'unknown'}` };
}

export const isProbe = (h: Heard): boolean => h.payload.toString('latin1') === PROBE_PAYLOAD;

/** The advert a payload carries, or undefined when it is no VRRP advertisement. */
export function parseAdvert(payload: Buffer): Advert | undefined {
  if (payload.length < 8) return undefined;
  const version = payload[0]! >> 4;
  const type = payload[0]! & 0x0f;
  if (type !== 1 || (version !== 2 && version !== 3)) return undefined;
  const count = payload[3]!;
  const addresses: string[] = [];
  for (let k = 0; k < count && 8 + 4 * k + 4 <= payload.length; k++) addresses.push([...payload.subarray(8 + 4 * k, 12 + 4 * k)].join('.'));
  return { version, vrid: payload[1]!, priority: payload[2]!, addresses };
}
