import type { Command } from 'commander';
import { formatIssue } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { createRenderer } from '../render/render.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check an inventory (schema and keepalived cluster rules) without contacting any node')
    .argument('<inventory>', 'inventory YAML file')
    .option('-q, --quiet', 'print nothing when valid (warnings still go to stderr)')
    .addHelpText(
      'after',
      `
Every problem is reported at once as FILE:LINE:COLUMN: error: FIELD: message.
Exit codes: 0 valid (warnings allowed), 3 invalid inventory.

Examples:
  $ kadeploy validate inventories/doc-two-nodes.yaml
  $ KEEPALIVED_AUTH_PASS=s3cret kadeploy validate inventories/unicast.yaml`,
    )
    .action((file: string, opts: { quiet?: boolean }) => {
      const { cluster, warnings } = loadInventory(file);
      for (const w of warnings) process.stderr.write(`${formatIssue(w)}\n`);
      const render = createRenderer(cluster); // templates must render too: a valid inventory deploys
      for (const node of cluster.nodes) render.nodeFiles(node);
      if (opts.quiet) return;
      const vips = new Set(cluster.nodes.flatMap((n) => n.instances.flatMap((i) => i.vips.map((v) => v.address))));
      const instances = cluster.nodes[0]?.instances.length ?? 0;
      process.stdout.write(
        `${file}: valid — ${cluster.nodes.length} node(s), ${instances} VRRP instance(s), ${vips.size} VIP(s)` +
          `${warnings.length ? `, ${warnings.length} warning(s)` : ''}\n`,
      );
    });
}
