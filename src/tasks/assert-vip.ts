// Task kind `assert_vip`: checklist step 10, `ip a` on every node until each VIP is on exactly its
// expected node. It runs once for the cluster, after every node; the plan builder records the
// expected holders (apply/vip.ts) in the plan's vipCheck.
import { z } from 'zod';
import type { Desired } from '../types.js';
import type { TaskKind } from './kind.js';

type Want = Extract<Desired, { kind: 'assert_vip' }>;
const args = z.strictObject({ timeout: z.number().positive().default(20) });

export const assertVipKind: TaskKind<z.infer<typeof args>, Want> = {
  key: 'assert_vip',
  args,
  phase: 'cluster',
  want: (a, task) => [{ kind: 'assert_vip', task, timeoutS: a.timeout } satisfies Want],
  plan: (w) => ({ task: w.task, kind: 'assert_vip', actions: ['check'], summary: 'VIP on exactly the expected node', desired: w, steps: [] }),
};
