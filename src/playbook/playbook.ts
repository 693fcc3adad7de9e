// A playbook: named tasks, each one operation type. Loaded with the same located errors as inventories.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { KadeployError } from '../errors.js';

const unit = z.string().regex(/^[A-Za-z0-9@_.:-]+$/, 'must be a systemd unit name');

const taskSchema = z.union([
  z.strictObject({ name: z.string(), package: z.strictObject({ names: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/)).min(1) }) }),
  z.strictObject({ name: z.string(), managed_files: z.strictObject({}) }),
  z.strictObject({
    name: z.string(),
    template: z.strictObject({
      src: z.string().min(1),
      dest: z.string().regex(/^\/[A-Za-z0-9_./-]+$/),
      mode: z.string().regex(/^0?[0-7]{3}$/).default('0644'),
      validate: z.literal('keepalived').optional(),
      notify: unit.optional(),
      secret: z.boolean().optional(),
    }),
  }),
  z.strictObject({ name: z.string(), service: z.strictObject({ name: unit, enabled: z.boolean().default(true), started: z.boolean().default(true) }) }),
  z.strictObject({ name: z.string(), command: z.strictObject({ run: z.string().min(1), unless: z.string().min(1).optional() }) }),
  // A post-change check: run on every node that was changed, after its changes; failing rolls it back.
  z.strictObject({ name: z.string(), assert: z.strictObject({ run: z.string().min(1), message: z.string().optional() }) }),
  z.strictObject({ name: z.string(), assert_vip: z.strictObject({ timeout: z.number().positive().default(20) }) }),
]);

export const playbookSchema = z.strictObject({ name: z.string(), tasks: z.array(taskSchema).min(1) });
export type Playbook = z.infer<typeof playbookSchema>;
export type Task = Playbook['tasks'][number];

export const DEFAULT_PLAYBOOK = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'playbooks', 'keepalived.yaml');

export function loadPlaybook(file: string = DEFAULT_PLAYBOOK): Playbook {
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new KadeployError(`${file}: cannot read playbook: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = playbookSchema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new KadeployError(`${file}: invalid playbook: ${first}`);
  }
  return r.data;
}
