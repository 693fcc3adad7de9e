import type { Command } from 'commander';
import { inventoryJsonSchema } from '../inventory/json-schema.js';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('Print the JSON Schema of the inventory (for editor completion and checking)')
    .addHelpText(
      'after',
      `
The same schema ships as inventories/inventory.schema.json. Point your editor at it with a first line:
  # yaml-language-server: $schema=./inventory.schema.json`,
    )
    .action(() => {
      process.stdout.write(`${JSON.stringify(inventoryJsonSchema(), null, 2)}\n`);
    });
}
