// Task kind `command`: an operator-written shell line, run unless its `unless` check passes (read with
// the facts). It has no undo of its own: a failure rolls back the node's files.
import { z } from 'zod';
import { sh } from '../shell/quote.js';
import type { Desired } from '../types.js';
import { noop, type TaskKind } from './kind.js';

type Want = Extract<Desired, { kind: 'command' }>;
const args = z.strictObject({ run: z.string().min(1), unless: z.string().min(1).optional() });

export const commandKind: TaskKind<z.infer<typeof args>, Want> = {
  key: 'command',
  args,
  want: (a, task) => [{ kind: 'command', task, ...a } satisfies Want],
  needs: (w) => ({ unless: w.unless ? [w.unless] : [] }),
  plan(w, facts) {
    if (w.unless !== undefined && facts.unless[w.unless] === 0) return noop(w, `${w.run} (unless passed)`);
    return { task: w.task, kind: 'command', actions: ['run'], summary: `run: ${w.run}`, desired: w, steps: [{ title: `run: ${w.run}`, command: `sh -c ${sh(w.run)}` }] };
  },
};
