// IP address helpers for validation (IPv4 and IPv6) without a dependency.
import { isIP } from 'node:net';

export interface Cidr {
  ip: string;
  prefix?: number;
  family: 4 | 6;
}

/** Parse `IP` or `IP/PREFIX`; undefined when not a valid address. */
export function parseCidr(text: string): Cidr | undefined {
  const [ip = '', prefixText, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const family = isIP(ip);
  if (family !== 4 && family !== 6) return undefined;
  if (prefixText === undefined) return { ip, family };
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  return { ip, prefix, family };
}

function toBigInt(ip: string, family: 4 | 6): bigint {
  if (family === 4) return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** Is `ip` inside the network `net` (which must carry a prefix)? */
export function contains(net: Cidr, ip: Cidr): boolean {
  if (net.prefix === undefined || net.family !== ip.family) return false;
  const bits = BigInt(net.family === 4 ? 32 : 128);
  const shift = bits - BigInt(net.prefix);
  return toBigInt(net.ip, net.family) >> shift === toBigInt(ip.ip, ip.family) >> shift;
}

/** The network `net` lies in, as `address/prefix` (e.g. 10.0.0.0/24): a name for its segment. */
export function networkOf(net: Cidr & { prefix: number }): string {
  const bits = net.family === 4 ? 32 : 128;
  const shift = BigInt(bits - net.prefix);
  const n = (toBigInt(net.ip, net.family) >> shift) << shift;
  if (net.family === 4) return `${[24n, 16n, 8n, 0n].map((s) => (n >> s) & 255n).join('.')}/${net.prefix}`;
  const groups = Array.from({ length: 8 }, (_, k) => ((n >> BigInt(112 - 16 * k)) & 0xffffn).toString(16));
  return `${groups.join(':')}/${net.prefix}`;
}
