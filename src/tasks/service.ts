// Task kind `service`: start and enable a systemd unit, or reload it when a file it reads changed in
// this run (a reload keeps keepalived's VIP where it is; a restart would move it). Every start or
// reload is followed by a health check: a unit not active afterwards fails the node (rolled back).
import { z } from 'zod';
import { activeCheckCommand, serviceCommand } from '../ops/service.js';
import type { Action, Desired, Step } from '../types.js';
import { noop, type TaskKind } from './kind.js';

type Want = Extract<Desired, { kind: 'service' }>;
export const unitName = z.string().regex(/^[A-Za-z0-9@_.:-]+$/, 'must be a systemd unit name');
const args = z.strictObject({ name: unitName, enabled: z.boolean().default(true), started: z.boolean().default(true) });

export const serviceKind: TaskKind<z.infer<typeof args>, Want> = {
  key: 'service',
  args,
  want: (a, task) => [{ kind: 'service', task, ...a } satisfies Want],
  needs: (w) => ({ units: [w.name] }),
  plan(w, facts, ctx) {
    const unit = facts.units[w.name] ?? { enabled: false, active: false, pid: 0 };
    const actions: Action[] = [];
    if (w.enabled && !unit.enabled) actions.push('enable');
    if (w.started && !unit.active) actions.push('start');
    else if (w.started && ctx.notified.has(w.name)) actions.push('reload');
    if (!actions.length) return noop(w, `${w.name} enabled and running`);
    const why = actions.includes('reload') ? ctx.notified.get(w.name) : undefined;
    // The start (and its health check) before the enable: `systemctl enable` costs about half a second
    // (a daemon-reload, and update-rc.d where an init script exists), which then overlaps keepalived's
    // first election instead of delaying it. A unit started but not yet enabled is only ever seen by a
    // reboot in between; the next run enables it.
    const ordered = [...actions.filter((a) => a !== 'enable'), ...actions.filter((a) => a === 'enable')];
    const steps: Step[] = ordered.flatMap((action): Step[] => {
      const failure = { message: `${w.name} ${action} failed`, show: 'output' as const };
      const run: Step = { title: `${action} ${w.name}`, command: serviceCommand(action, w.name), failure };
      return action === 'enable' ? [run] : [run, { title: `${w.name} active after ${action}`, command: activeCheckCommand(w.name), failure }];
    });
    return { task: w.task, kind: 'service', actions, summary: `${w.name}: ${actions.join(', ')}${why ? ` (${why})` : ''}`, desired: w, steps };
  },
};
