// Task kind `assert`: a post-change check, run on every node that was changed, after its changes;
// failing rolls that node back.
import { z } from 'zod';
import { sh } from '../shell/quote.js';
import type { Desired } from '../types.js';
import type { TaskKind } from './kind.js';

type Want = Extract<Desired, { kind: 'assert' }>;
const args = z.strictObject({ run: z.string().min(1), message: z.string().optional() });

export const assertKind: TaskKind<z.infer<typeof args>, Want> = {
  key: 'assert',
  args,
  phase: 'check',
  want: (a, task) => [{ kind: 'assert', task, ...a } satisfies Want],
  plan: (w) => ({
    task: w.task,
    kind: 'assert',
    actions: ['check'],
    summary: `check: ${w.run}`,
    desired: w,
    steps: [{ title: `check: ${w.message ?? w.run}`, command: `sh -c ${sh(w.run)}`, failure: { message: `check failed: ${w.message ?? w.run}`, show: 'exit' } }],
  }),
};
