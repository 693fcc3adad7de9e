import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { formatIssue, KadeployError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { maskSecrets } from '../mask.js';
import { createRenderer } from '../render/render.js';

interface RenderOptions {
  node?: string;
  out?: string;
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description("Render each node's keepalived.conf and scripts locally (no SSH)")
    .argument('<inventory>', 'inventory YAML file')
    .option('-n, --node <name>', 'only this node')
    .option('-o, --out <dir>', 'write files to DIR/<node>/<path> (mode kept; secrets included) instead of printing')
    .addHelpText(
      'after',
      `
Printed output masks secrets (auth_pass); files written with --out contain them and are mode 0640.

Examples:
  $ kadeploy render inventories/doc-two-nodes.yaml --node lb-master
  $ kadeploy render inventories/kolla-three-controllers.yaml --out /tmp/rendered`,
    )
    .action((file: string, opts: RenderOptions) => {
      const { cluster, warnings } = loadInventory(file);
      for (const w of warnings) process.stderr.write(`${formatIssue(w)}\n`);
      const nodes = opts.node ? cluster.nodes.filter((n) => n.name === opts.node) : cluster.nodes;
      if (nodes.length === 0) {
        throw new KadeployError(`no node named "${opts.node}" (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`);
      }
      const render = createRenderer(cluster);
      for (const node of nodes) {
        for (const f of render.nodeFiles(node)) {
          if (opts.out) {
            const target = join(opts.out, node.name, f.path);
            mkdirSync(dirname(target), { recursive: true });
            writeFileSync(target, f.content, { mode: parseInt(f.mode, 8) });
            chmodSync(target, parseInt(f.mode, 8)); // writeFileSync's mode is masked by umask
            process.stdout.write(`wrote ${target}\n`);
          } else {
            process.stdout.write(`# ---- ${node.name}: ${f.path} (mode ${f.mode})\n${maskSecrets(f.content, cluster.secrets)}\n`);
          }
        }
      }
    });
}
