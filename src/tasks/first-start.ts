// Task kinds `hold_start` and `release_start`: keepalived's safe first start. Debian's postinst starts
// a freshly installed unit at once, with whatever config is on disk — some distributions ship an
// active sample with example VIPs. `hold_start` (before the install) masks the unit when its package
// is missing, so neither the postinst nor a reboot can start it; `release_start` (after kadeploy's
// config is written and tested, before `service` starts it) unmasks it. A run cut in between leaves the
// unit masked: the next apply sees the mask and releases it once its config is written.
import { z } from 'zod';
import { sh } from '../shell/quote.js';
import type { DesiredBase } from '../types.js';
import { noop, type TaskKind } from './kind.js';
import { unitName } from './service.js';

interface Want extends DesiredBase {
  unit: string;
  package: string;
}

const args = z.strictObject({ unit: unitName, package: z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/) });

const want = (kind: string) => (a: z.infer<typeof args>, task: string) => [{ kind, task, ...a } satisfies Want];
const needs = (w: Want) => ({ packages: [w.package], units: [w.unit] });

export const holdStartKind: TaskKind<z.infer<typeof args>, Want> = {
  key: 'hold_start',
  args,
  phase: 'packages',
  want: want('hold_start'),
  needs,
  plan(w, facts) {
    if (facts.packages[w.package] !== undefined) return noop(w, `${w.package} installed: its first start is past`);
    return {
      task: w.task,
      kind: 'hold_start',
      actions: ['run'],
      summary: `mask ${w.unit} until its config is written`,
      desired: w as never,
      steps: [{ title: `mask ${w.unit} (no start by the package install)`, command: sh('systemctl', 'mask', w.unit) }],
    };
  },
};

export const releaseStartKind: TaskKind<z.infer<typeof args>, Want> = {
  key: 'release_start',
  args,
  want: want('release_start'),
  needs,
  plan(w, facts) {
    const held = facts.packages[w.package] === undefined || facts.units[w.unit]?.masked === true;
    if (!held) return noop(w, `${w.unit} not masked`);
    return {
      task: w.task,
      kind: 'release_start',
      actions: ['run'],
      summary: `unmask ${w.unit}: its config is kadeploy's`,
      desired: w as never,
      steps: [{ title: `unmask ${w.unit}`, command: sh('systemctl', 'unmask', w.unit), failure: { message: `${w.unit} unmask failed`, show: 'output' } }],
    };
  },
};
