// Task kind `template`: one file rendered from a template (user templates_dir first, then built-in).
import { z } from 'zod';
import { DEFAULTS } from '../inventory/defaults.js';
import type { Desired } from '../types.js';
import type { TaskKind } from './kind.js';
import { unitName } from './service.js';

const args = z.strictObject({
  src: z.string().min(1),
  dest: z.string().regex(/^\/[A-Za-z0-9_./-]+$/),
  mode: z.string().regex(/^0?[0-7]{3}$/).default('0644'),
  validate: z.literal('keepalived').optional(),
  notify: unitName.optional(),
  secret: z.boolean().optional(),
});

export const templateKind: TaskKind<z.infer<typeof args>> = {
  key: 'template',
  args,
  want: ({ src, dest, mode, validate, notify, secret }, task, { renderer, node }) => [
    {
      kind: 'file',
      task,
      path: dest,
      content: renderer.template(src, node),
      mode,
      // keepalived.conf holds auth_pass: treat it as secret whatever the playbook says.
      secret: secret ?? dest === DEFAULTS.keepalived.config_path,
      validate,
      notify,
    } satisfies Desired,
  ],
};
