// Fields that share one zod schema instance (src/inventory/schema.ts builds each optional field type
// once): each bad field is reported on its own path and line, with the message the field's own
// schema gives (as before the sharing).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { InventoryError } from '../../src/errors.js';
import { loadInventory } from '../../src/inventory/load.js';
import { BASE } from '../support/inventory.js';

const BAD = `ssh:
  user: 9root
  use_agent: yes please
  sudo: 1
${BASE.replace('    interval: 1', `    interval: 1
    rise: 0
    fall: 1.5
    user: "bad user"`).replace('    track_scripts: [chk]', `    track_scripts: [chk]
    notify_master: "echo $HOME"
    notify_backup: /bin/true; reboot`)}`;

// The message each field's own (unshared) schema gives.
const message = (schema: z.ZodType, value: unknown) => schema.safeParse(value).error!.issues[0]!.message;
const USER = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a user name').optional();
const FLAG = z.boolean().optional();
const COUNT = z.number().int().min(1).optional();
const COMMAND = 'must be a plain command with arguments (no shell metacharacters, quotes or newlines)';

describe('fields sharing one schema', () => {
  it('report each bad field on its own path and line, with its own message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kadeploy-shared-'));
    const file = join(dir, 'inventory.yaml');
    writeFileSync(file, BAD);
    let err: unknown;
    try {
      loadInventory(file, {});
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof InventoryError, String(err));
    const got = err.issues.filter((i) => i.severity === 'error').map((i) => `${i.line} ${i.path}: ${i.message}`);
    assert.deepEqual(got, [
      `2 ssh.user: ${message(USER, '9root')}`,
      `3 ssh.use_agent: ${message(FLAG, 'yes please')}`,
      `4 ssh.sudo: ${message(FLAG, 1)}`,
      `9 vrrp_scripts.chk.rise: ${message(COUNT, 0)}`,
      `10 vrrp_scripts.chk.fall: ${message(COUNT, 1.5)}`,
      `11 vrrp_scripts.chk.user: ${message(USER, 'bad user')}`,
      `21 vrrp_instances.VI_1.notify_master: ${COMMAND}`,
      `22 vrrp_instances.VI_1.notify_backup: ${COMMAND}`,
    ]);
  });
});
