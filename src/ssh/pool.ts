// One SSH connection per host, opened on first use, at most `forks` handshakes at a time.
import { SshConnection } from './connection.js';
import { createLimiter, type Limiter } from './limit.js';
import type { SshTarget } from './target.js';

// Re-exported so callers running per-host work find the concurrency helper next to the pool.
export { mapLimit } from './limit.js';

export const DEFAULT_FORKS = 10;

/** Failures worth a second try: the peer dropped us before authentication (sshd under load, MaxStartups). */
const TRANSIENT = /closed the connection during the SSH handshake|ECONNRESET|connection lost before handshake/i;
const RETRIES = 2;

async function connectWithRetry(connect: () => Promise<SshConnection>): Promise<SshConnection> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect();
    } catch (e) {
      // Never retry an authentication or host-key refusal: those are answers, not accidents.
      if (attempt >= RETRIES || !TRANSIENT.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
    }
  }
}

export interface PoolOptions {
  /** Maximum connections being opened at once (Ansible's `--forks`). */
  forks?: number;
  /** How to open a connection; replaceable in tests. */
  connect?: (target: SshTarget) => Promise<SshConnection>;
}

export class SshPool {
  private readonly connections = new Map<string, Promise<SshConnection>>();
  private readonly limit: Limiter;
  private readonly connect: (target: SshTarget) => Promise<SshConnection>;

  constructor(options: PoolOptions = {}) {
    this.limit = createLimiter(options.forks ?? DEFAULT_FORKS);
    this.connect = options.connect ?? ((target) => SshConnection.connect(target));
  }

  /** The connection for `target.name`, opening it if needed. A failed or closed connection is not kept, so the next call retries. */
  get(target: SshTarget): Promise<SshConnection> {
    const existing = this.connections.get(target.name);
    if (existing) return existing;
    const opening = this.limit(() => connectWithRetry(() => this.connect(target)));
    this.connections.set(target.name, opening);
    const forget = (): void => {
      if (this.connections.get(target.name) === opening) this.connections.delete(target.name);
    };
    opening.then((conn) => conn.closed.then(forget), forget);
    return opening;
  }

  async closeAll(): Promise<void> {
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.allSettled(all.map((opening) => opening.then((conn) => conn.close())));
  }
}
