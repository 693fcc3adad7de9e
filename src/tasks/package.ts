// Task kind `package`: install what is missing, all nodes in parallel before any config changes.
// Without `names`, the packages keepalived needs (src/inventory/defaults.ts: the one list).
import { z } from 'zod';
import { DEFAULTS } from '../inventory/defaults.js';
import { installCommand, lockWaitS } from '../ops/package.js';
import type { Desired } from '../types.js';
import { noop, type TaskKind } from './kind.js';

type Want = Extract<Desired, { kind: 'package' }>;
const args = z.strictObject({
  names: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/)).min(1).optional(),
  /** Seconds (default APT_CACHE_VALID_S, 1 h): apt's lists younger than this, with a candidate for every package, are not refreshed before an install (0: always `apt-get update`). */
  cache_valid_time: z.number().int().min(0).optional(),
});

export const packageKind: TaskKind<z.infer<typeof args>, Want> = {
  key: 'package',
  args,
  phase: 'packages',
  want: (a, task) => [{ kind: 'package', task, names: a.names ?? [...DEFAULTS.keepalived.packages], ...(a.cache_valid_time !== undefined ? { cacheValidS: a.cache_valid_time } : {}) } satisfies Want],
  needs: (w) => ({ packages: w.names }),
  plan(w, facts, ctx) {
    const missing = w.names.filter((n) => facts.packages[n] === undefined);
    if (!missing.length) return noop(w, `${w.names.join(', ')} installed`);
    const lockS = lockWaitS(ctx.packageLockTimeoutS);
    return {
      task: w.task,
      kind: 'package',
      actions: ['install'],
      summary: `install ${missing.join(', ')}`,
      desired: { ...w, names: missing },
      // Installs run before any config change: a failed install has nothing to undo.
      steps: [{
        title: `install ${missing.join(', ')}`,
        command: installCommand(facts.os, missing, { aptProxy: ctx.aptProxy, cacheValidS: w.cacheValidS, lockTimeoutS: lockS }),
        lockWaitS: lockS,
      }],
    };
  },
};
