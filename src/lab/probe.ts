// Waiting for things to come up: polling with a deadline, and TCP probes of lab addresses.
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../errors.js';

/** Poll `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new LabError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

/** Connect to host:port and return the first bytes the server sends (or '' if it sends none in time). */
export function tcpGreeting(host: string, port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let data = '';
    const done = (value: string | undefined): void => {
      sock.destroy();
      resolve(value);
    };
    sock.setTimeout(timeoutMs, () => done(data || (sock.readyState === 'open' ? '' : undefined)));
    sock.on('data', (d: Buffer) => {
      data += d.toString();
      if (data.includes('\n')) done(data);
    });
    sock.on('error', () => done(undefined));
  });
}
