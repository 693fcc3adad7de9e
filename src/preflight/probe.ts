// The node side of the VRRP checks, as pure text: one perl program per node that listens for IP
// protocol 112 for a few seconds while sending marked probes to the node's VRRP peers, and the parser
// of what it heard. The listener is a raw IP socket, like keepalived's own: it receives after
// netfilter's input chain, so a firewall dropping VRRP hides the probe from it. (A packet capture such
// as tcpdump sees packets before netfilter and would say they arrived.) perl-base is Essential on
// Debian and its Socket module is all the program uses: nothing to install on the node.
import { sh } from '../shell/quote.js';

/**
 * Our probes' payload: version 0 and vrid 0 (no VRRP router takes it for an advert, and a keepalived
 * already running finds no instance for it and ignores it), then a mark.
 */
export const PROBE_MARK = 'kadeploy-preflight';
const PROBE_PAYLOAD = `\0\0${PROBE_MARK}`;
export const VRRP_GROUP4 = '224.0.0.18';
const LISTEN_END = '@@kadeploy-listen-end';

/** Where one node sends its probes: the multicast group on an interface, or a unicast peer. */
export type ProbeDestination = { multicast: string } | { unicast: string; from?: string };

export interface ProbeScript {
  /** Listen this long (seconds); probes go out from 1 s after the start, three times. */
  seconds: number;
  /** Interfaces to join the VRRP multicast group on. */
  groups: string[];
  destinations: ProbeDestination[];
}

/**
 * argv: SECONDS GAP MARK, then `g:IFACE` (join 224.0.0.18 there), `m:IFACE` (probe the group there,
 * TTL 255 as VRRP sends), `u:PEER` or `u:PEER@SOURCE` (probe a unicast peer). Prints `SOURCE HEX` per
 * packet heard (the IP header stripped), then the end mark once the whole window ran; on an error,
 * the reason on stderr and exit 2. Time is kept with select's time left (Linux updates it): Time::HiRes
 * is not in perl-base. Socket options by number (Linux): IPPROTO_IP 0, IP_ADD_MEMBERSHIP 35, IP_MULTICAST_IF 32,
 * IP_MULTICAST_TTL 33, SO_BINDTODEVICE 25.
 */
const VRRP_PROGRAM = [
  'use strict; use Socket; $| = 1;',
  'my ($secs, $gap, $mark, @args) = @ARGV; my $group = inet_aton("224.0.0.18");',
  'sub fail { print STDERR "$_[0]\\n"; exit 2 }',
  'sub ifindex { open(my $f, "<", "/sys/class/net/$_[0]/ifindex") or fail("no interface $_[0]"); my $i = <$f>; chomp $i; $i }',
  'sub mreqn { pack("a4 a4 i", $_[0], INADDR_ANY, ifindex($_[1])) }',
  'socket(my $l, PF_INET, SOCK_RAW, 112) or fail("raw socket for IP protocol 112: $!");',
  'my @send;',
  'for (@args) {',
  '  if (/^g:(.+)$/) { setsockopt($l, 0, 35, mreqn($group, $1)) or fail("joining 224.0.0.18 on $1: $!") }',
  '  elsif (/^m:(.+)$/) { socket(my $s, PF_INET, SOCK_RAW, 112) or fail("raw socket: $!"); setsockopt($s, SOL_SOCKET, 25, $1) or fail("binding to $1: $!");',
  '    setsockopt($s, 0, 32, mreqn(INADDR_ANY, $1)) or fail("multicast on $1: $!"); setsockopt($s, 0, 33, pack("i", 255)) or fail("multicast TTL: $!");',
  '    push @send, [$s, pack_sockaddr_in(0, $group), "224.0.0.18 on $1"] }',
  '  elsif (/^u:([^@]+)(?:@(.+))?$/) { socket(my $s, PF_INET, SOCK_RAW, 112) or fail("raw socket: $!");',
  '    if (defined $2) { bind($s, pack_sockaddr_in(0, inet_aton($2))) or fail("binding to $2: $!") }',
  '    push @send, [$s, pack_sockaddr_in(0, inet_aton($1)), $1] }',
  '  else { fail("bad argument $_") } }',
  'my @at = (1, 1 + $gap, 1 + 2 * $gap, $secs); my $now = 0;',
  'for my $k (0 .. $#at) { my $left = $at[$k] - $now; $left = 0 if $left < 0;',
  '  while ($left > 0) { my $r = ""; vec($r, fileno($l), 1) = 1; (my $n, $left) = select($r, undef, undef, $left);',
  '    last unless $n > 0; defined recv($l, my $buf, 4096, 0) or next; my $ihl = (ord($buf) & 15) * 4; next if length($buf) < $ihl;',
  '    print join(".", unpack("C4", substr($buf, 12, 4))), " ", unpack("H*", substr($buf, $ihl)), "\\n" }',
  '  $now = $at[$k] if $now < $at[$k]; last if $k == $#at;',
  '  for (@send) { send($_->[0], "\\0\\0$mark", 0, $_->[1]) or print STDERR "probe to $_->[2]: $!\\n" } }',
  `print '${LISTEN_END}', "\\n";`,
].join(' ');

/** The node's command: the listener and the probes in one perl process. */
export function probeScript(p: ProbeScript): string {
  const gap = Math.max(0.2, Math.min(1, (p.seconds - 1.5) / 3));
  const args = [
    ...p.groups.map((iface) => `g:${iface}`),
    ...p.destinations.map((d) => ('multicast' in d ? `m:${d.multicast}` : `u:${d.unicast}${d.from ? `@${d.from}` : ''}`)),
  ];
  return sh('perl', '-e', VRRP_PROGRAM, String(p.seconds), gap.toFixed(1), PROBE_MARK, ...args);
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
  /** Why the listener did not run its whole window (perl missing, no permission…), if it did not. */
  error?: string;
}

/** Parse the program's output: the end mark says the whole window ran. */
export function parseProbeOutput(stdout: string, stderr: string, code = 0): Listened {
  const heard: Heard[] = [];
  let ended = false;
  for (const line of stdout.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === LISTEN_END) ended = true;
    else if (words.length > 1 && /^[0-9a-f.:]+$/i.test(words[0]!)) {
      heard.push({ source: words[0]!, payload: Buffer.from(words.slice(1).join(''), 'hex') });
    }
  }
  if (ended && code === 0) return { heard };
  return { heard, error: stderr.trim().split('\n').slice(-2).join(' ') || `the listener ended with status ${code}` };
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
