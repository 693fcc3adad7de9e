// JSON Schema of the inventory, generated from the zod schema, for YAML editors (yaml-language-server).
import { z } from 'zod';
import { inventorySchema } from './schema.js';

export function inventoryJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(inventorySchema, { io: 'input', unrepresentable: 'any' }),
    title: 'kadeploy inventory',
    description: 'keepalived + HAProxy cluster inventory for kadeploy (see README: Inventory format)',
  };
}
