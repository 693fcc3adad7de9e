import type { Fact } from './fact.js';

/** interface → its addresses (without prefix), from `ip -o addr`. */
export type AddressesFact = Record<string, string[]>;

export const addressesFact: Fact<AddressesFact> = {
  name: 'addresses',
  command: 'ip -o addr show',
  parse(out) {
    const result: AddressesFact = {};
    for (const line of out.split('\n')) {
      // "2: eth0    inet 10.77.0.11/24 brd 10.77.0.255 scope global eth0\ ..."
      const m = line.match(/^\d+:\s+([^\s@:]+)(?:@\S+)?:?\s+inet6?\s+([^\s/]+)/);
      if (m) (result[m[1]!] ??= []).push(m[2]!);
    }
    return result;
  },
};

export const vipHolder = (addresses: AddressesFact, ip: string): string | undefined =>
  Object.entries(addresses).find(([, ips]) => ips.includes(ip))?.[0];
