// JSON Schema of the inventory, generated from the zod schema, for YAML editors (yaml-language-server).
import { z } from 'zod';
import { fleetSchema, inventorySchema } from './schema.js';

export function inventoryJsonSchema(): Record<string, unknown> {
  return {
    // One cluster, or a fleet (`clusters:`): one of the two forms.
    ...z.toJSONSchema(z.union([inventorySchema, fleetSchema]), { io: 'input', unrepresentable: 'any', reused: 'ref' }),
    title: 'kadeploy inventory',
    description: 'keepalived + HAProxy cluster inventory for kadeploy (see README: Inventory format)',
  };
}
