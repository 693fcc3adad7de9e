// A command over a fleet: each selected cluster in its own session, clusters in parallel with --forks
// counted in nodes (a cluster of 2 nodes takes 2 of the budget). A cluster's failure is its own: it
// is kept, reported, and the other clusters go on to the end.
import { ApplyError, ApplyInterrupted, KadeployError } from '../errors.js';
import { mapWeighted } from '../ssh/limit.js';
import type { Scope, SessionOptions } from './session.js';

export interface ClusterResult<T> {
  scope: Scope;
  value?: T;
  error?: KadeployError;
}

/** The --forks budget of a fleet run: the flag, else the largest cluster `forks` setting. */
export const fleetForks = (opts: SessionOptions, scopes: Scope[]): number => opts.forks ?? Math.max(...scopes.map((s) => s.cluster.forks));

/** `fn` on every cluster, each given its share of the budget as its own forks. */
export async function eachCluster<T>(scopes: Scope[], budget: number, fn: (scope: Scope, forks: number) => Promise<T>): Promise<Array<ClusterResult<T>>> {
  return mapWeighted(scopes, budget, (s) => s.cluster.nodes.length, async (scope) => {
    try {
      return { scope, value: await fn(scope, Math.min(budget, scope.cluster.nodes.length)) };
    } catch (e) {
      return { scope, error: e instanceof KadeployError ? e : new ApplyError(String((e as Error).message ?? e)) };
    }
  });
}

/** Each failed cluster on stderr, then one error for the run (an interruption wins: exit 130). */
export function throwIfFailed<T>(results: Array<ClusterResult<T>>): void {
  const failed = results.filter((r) => r.error);
  if (!failed.length) return;
  for (const r of failed) process.stderr.write(`kadeploy: cluster ${r.scope.cluster.name}: ${r.error!.message}\n`);
  const names = failed.map((r) => r.scope.cluster.name).join(', ');
  const rest = results.length - failed.length;
  const message = `${failed.length} of ${results.length} cluster(s) failed: ${names}${rest ? ` (the other ${rest} finished)` : ''}`;
  throw failed.some((r) => r.error instanceof ApplyInterrupted) ? new ApplyInterrupted(message) : new KadeployError(message);
}

/** `== cluster NAME ==` above a cluster's part of the output. */
export const clusterHeading = (name: string): string => `== cluster ${name} ==\n`;

/** Is this inventory a fleet (`clusters:`), whose output names each cluster? */
export const isFleet = (scopes: Scope[]): boolean => scopes.some((s) => s.cluster.name !== '');

/**
 * A session on every selected cluster (status, verify): all or nothing, as for one cluster. When one
 * cannot be opened, those opened are closed and the error names its cluster.
 */
export async function openFleet<S extends { close(): Promise<void> }>(scopes: Scope[], budget: number, open: (scope: Scope, forks: number) => Promise<S>): Promise<{ sessions: S[]; close(): Promise<void> }> {
  const results = await eachCluster(scopes, budget, open);
  const sessions = results.flatMap((r) => (r.value ? [r.value] : []));
  const close = async () => void (await Promise.all(sessions.map((s) => s.close())));
  const failed = results.find((r) => r.error);
  if (failed) {
    await close();
    const e = failed.error!;
    if (!isFleet(scopes)) throw e;
    throw Object.assign(new KadeployError(`cluster ${failed.scope.cluster.name}: ${e.message}`), { exitCode: e.exitCode });
  }
  return { sessions, close };
}
