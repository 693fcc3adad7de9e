// A playbook: named tasks, each of one task kind (src/tasks/registry.ts gives the kinds and their
// arguments). Loaded with the same located errors as inventories.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { KadeployError } from '../errors.js';
import { playbookKinds } from '../tasks/registry.js';

/** One task: its name and its kind's key with that kind's arguments. */
export interface Task {
  name: string;
  kind: string;
  args: unknown;
}

export interface Playbook {
  name: string;
  tasks: Task[];
}

/** Built from the registry at load time, so a kind registered later is accepted too. */
export function playbookSchema() {
  const task = z.union(
    playbookKinds().map((k) => z.strictObject({ name: z.string(), [k.key]: k.args! }).transform((t): Task => ({ name: t.name, kind: k.key, args: t[k.key] }))) as unknown as [z.ZodType<Task>, z.ZodType<Task>],
  );
  return z.strictObject({ name: z.string(), tasks: z.array(task).min(1) });
}

export const DEFAULT_PLAYBOOK = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'playbooks', 'keepalived.yaml');

/** Loaded playbooks: a fleet opens one session per cluster, each asking for the same file. */
const loaded = new Map<string, Playbook>();

export function loadPlaybook(file: string = DEFAULT_PLAYBOOK): Playbook {
  const key = `${file}\0${playbookKinds().length}`; // a kind registered since makes it a new schema
  let playbook = loaded.get(key);
  if (!playbook) loaded.set(key, (playbook = parsePlaybook(file)));
  return playbook;
}

function parsePlaybook(file: string): Playbook {
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new KadeployError(`${file}: cannot read playbook: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = playbookSchema().safeParse(data, { jitless: true }); // as the inventory's (PARSE_ONCE, inventory/schema.ts)
  if (!r.success) {
    const first = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new KadeployError(`${file}: invalid playbook: ${first}`);
  }
  return r.data;
}
