// Bounded concurrency: at most `limit` tasks in flight, the rest wait in arrival order.

export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

export function createLimiter(limit: number): Limiter {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active < limit) active++;
    // A finishing task hands its slot straight to the next waiter, so no newcomer can slip in between.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/** Like `Promise.all(items.map(fn))` with at most `limit` calls running; results keep the input order. */
export function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const run = createLimiter(limit);
  return Promise.all(items.map((item, i) => run(() => fn(item, i))));
}

/**
 * Like mapLimit, but each item takes `weightOf(item)` of the `budget` (capped at the budget, so every
 * item can run): clusters of a fleet run in parallel with --forks counted in nodes.
 */
export function mapWeighted<T, R>(items: readonly T[], budget: number, weightOf: (item: T) => number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  let free = budget;
  let wake: Array<() => void> = [];
  const release = (w: number) => {
    free += w;
    const waiters = wake;
    wake = [];
    for (const resume of waiters) resume();
  };
  return Promise.all(
    items.map(async (item, i) => {
      const w = Math.max(1, Math.min(weightOf(item), budget));
      while (free < w) await new Promise<void>((resolve) => wake.push(resolve));
      free -= w;
      try {
        return await fn(item, i);
      } finally {
        release(w);
      }
    }),
  );
}
