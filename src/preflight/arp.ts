// "Does anything already answer for this VIP?" as an ARP duplicate-address probe, the way `arping -D`
// (iputils) makes it: an ARP request for the VIP with sender address 0.0.0.0 (so it works whatever the
// prober's own subnet and teaches no neighbour cache anything), broadcast twice a second apart; an ARP
// request or reply from another MAC whose sender address is the VIP is an answer. A perl program on
// an AF_PACKET socket (perl-base, Essential on Debian: nothing to install). Pure text and parsing.
import { sh } from '../shell/quote.js';

/**
 * The ARP packet (RFC 826, Ethernet/IPv4) and its reading, as perl subs: `arp_probe(MAC, IP)` is the
 * 28-byte request (binary MAC and address), `arp_answer(PACKET, IP, MAC)` the answering MAC as text
 * when the packet answers for IP from another MAC, else undef. Kept apart so unit tests run them.
 */
export const ARP_SUBS = [
  'sub arp_probe { pack("n n C C n a6 a4 a6 a4", 1, 0x0800, 6, 4, 1, $_[0], "\\0" x 4, "\\0" x 6, $_[1]) }',
  'sub arp_answer { my ($p, $ip, $mine) = @_; return undef if length($p) < 28;',
  '  my ($htype, $ptype, $hlen, $plen, $op) = unpack("n n C C n", $p);',
  '  return undef unless $htype == 1 && $ptype == 0x0800 && $hlen == 6 && $plen == 4 && ($op == 1 || $op == 2);',
  '  my ($sha, $spa) = (substr($p, 8, 6), substr($p, 14, 4)); return undef if $spa ne $ip || $sha eq $mine;',
  '  join(":", map { sprintf("%02x", $_) } unpack("C6", $sha)) }',
].join(' ');

const ARP_END = '@@kadeploy-arp-end';

/**
 * argv: IFACE IP. A SOCK_DGRAM packet socket (the kernel adds the Ethernet header) for ARP (0x0806),
 * bound to the interface; probes at 0 and 1 s, listens until 3 s (arping -D -c 2 -w 3). Prints
 * `arp-reply MAC` per answer, then the end mark; on an error, the reason on stderr and exit 2.
 * Linux numbers: AF_PACKET 17, ARPHRD_ETHER 1.
 */
const ARP_PROGRAM = [
  'use strict; use Socket; $| = 1;',
  ARP_SUBS,
  'my ($if, $vip) = @ARGV; my $ip = inet_aton($vip);',
  'sub fail { print STDERR "$_[0]\\n"; exit 2 }',
  'sub sysfs { open(my $f, "<", "/sys/class/net/$if/$_[0]") or fail("no interface $if"); my $v = <$f>; chomp $v; $v }',
  'my ($index, $mac) = (sysfs("ifindex"), pack("H*", join("", split(/:/, sysfs("address")))));',
  'my $proto = unpack("S", pack("n", 0x0806));',
  'socket(my $s, 17, SOCK_DGRAM, $proto) or fail("packet socket: $!");',
  'bind($s, pack("S n i S C C a8", 17, 0x0806, $index, 0, 0, 0, "")) or fail("binding to $if: $!");',
  'my $to = pack("S n i S C C a8", 17, 0x0806, $index, 1, 0, 6, "\\xff" x 6); my %seen;',
  'for my $span (1, 2) { send($s, arp_probe($mac, $ip), 0, $to) or fail("sending on $if: $!"); my $left = $span;',
  '  while ($left > 0) { my $r = ""; vec($r, fileno($s), 1) = 1; (my $n, $left) = select($r, undef, undef, $left); last unless $n > 0;',
  '    defined recv($s, my $p, 2048, 0) or next; my $who = arp_answer($p, $ip, $mac); print "arp-reply $who\\n" if defined $who && !$seen{$who}++ } }',
  `print '${ARP_END}', "\\n";`,
].join(' ');

export const arpProbeCommand = (iface: string, ip: string): string => sh('perl', '-e', ARP_PROGRAM, iface, ip);

/** The MAC addresses (lower case) that answered; undefined when the probe did not run to its end. */
export function arpReplies(stdout: string): string[] | undefined {
  if (!stdout.split('\n').some((l) => l.trim() === ARP_END)) return undefined;
  const macs = [...stdout.matchAll(/^arp-reply ([0-9a-f:]{17})$/gm)].map((m) => m[1]!);
  return [...new Set(macs)];
}

/** Every MAC of the node's interfaces (a VMAC interface included): to recognise the cluster's own answers. */
export const MACS_COMMAND = 'cat /sys/class/net/*/address';
export const parseMacs = (stdout: string): string[] =>
  stdout.split('\n').map((l) => l.trim().toLowerCase()).filter((m) => /^[0-9a-f:]{17}$/.test(m) && m !== '00:00:00:00:00:00');
