import type { Command } from 'commander';
import { formatIssue } from '../errors.js';
import { loadFleet } from '../inventory/load.js';
import { parseLimit, selectFleet } from '../inventory/select.js';
import { createRenderer } from '../render/render.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check an inventory (schema and keepalived cluster rules) without contacting any node')
    .argument('<inventory>', 'inventory YAML file')
    .option('-q, --quiet', 'print nothing when valid (warnings still go to stderr)')
    .option('-l, --limit <names>', 'check that these clusters and nodes (names or globs) exist; count only them')
    .addHelpText(
      'after',
      `
Every problem is reported at once as FILE:LINE:COLUMN: error: FIELD: message.
Exit codes: 0 valid (warnings allowed), 3 invalid inventory.

Examples:
  $ kadeploy validate inventories/doc-two-nodes.yaml
  $ KEEPALIVED_AUTH_PASS=s3cret kadeploy validate inventories/unicast.yaml`,
    )
    .action((file: string, opts: { quiet?: boolean; limit?: string }) => {
      const { fleet, warnings } = loadFleet(file);
      for (const w of warnings) process.stderr.write(`${formatIssue(w)}\n`);
      const selected = selectFleet(fleet, parseLimit(opts.limit));
      for (const { cluster, targets } of selected) {
        const render = createRenderer(cluster); // templates must render too: a valid inventory deploys
        for (const node of targets) render.nodeFiles(node);
      }
      if (opts.quiet) return;
      const nodes = selected.flatMap((s) => s.targets);
      const vips = new Set(nodes.flatMap((n) => n.instances.flatMap((i) => i.vips.map((v) => v.address))));
      const instances = selected.reduce((sum, s) => sum + (s.cluster.nodes[0]?.instances.length ?? 0), 0);
      const clusters = selected.some((s) => s.cluster.name) ? `${selected.length} cluster(s), ` : '';
      process.stdout.write(
        `${file}: valid — ${clusters}${nodes.length} node(s), ${instances} VRRP instance(s), ${vips.size} VIP(s)` +
          `${warnings.length ? `, ${warnings.length} warning(s)` : ''}\n`,
      );
    });
}
