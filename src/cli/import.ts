import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { importConfigs, type ImportSource } from '../import/import.js';
import { ImportError, parseConfig } from '../import/parse.js';

interface ImportOptions {
  address: string[];
  output?: string;
}

/** `NAME=VALUE` → [NAME, VALUE]; `what` names the argument in the error. */
export function nameValue(text: string, what: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new ImportError(`${what} "${text}": expected NAME=${what === '--address' ? 'IP' : 'FILE'}`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('Write an inventory from existing keepalived.conf files, one per node (adopt a cluster configured by hand)')
    .argument('<node=file...>', "each node's name and its keepalived.conf (include is followed)")
    .option('-a, --address <name=ip>', "a node's address (default: its unicast_src_ip, else mcast_src_ip)", (v: string, acc: string[]) => [...acc, v], [])
    .option('-o, --output <file>', 'write the inventory here (default: stdout)')
    .addHelpText(
      'after',
      `
Values equal on every node become cluster values, the rest per-node values. auth_pass is written as an
{env: KA_AUTH_PASS_<INSTANCE>} reference (never its value): set that variable before validate or apply.
Statements kadeploy has no field for are kept in verbatim blocks, checked on each node by keepalived -t.
What cannot be represented is an error naming FILE:LINE (exit 3); nothing is dropped silently.

Examples:
  $ kadeploy import lb1=lb1/keepalived.conf lb2=lb2/keepalived.conf -o inventory.yaml
  $ kadeploy import --address lb1=10.0.0.11 lb1=/etc/keepalived/keepalived.conf`,
    )
    .action((pairs: string[], opts: ImportOptions) => {
      const addresses = Object.fromEntries(opts.address.map((a) => nameValue(a, '--address')));
      const sources: ImportSource[] = pairs.map((p) => {
        const [node, file] = nameValue(p, 'NAME=FILE');
        return { node, file, statements: parseConfig(file) };
      });
      const names = sources.map((s) => s.node);
      const dup = names.find((n, k) => names.indexOf(n) !== k);
      if (dup) throw new ImportError(`node ${dup} is given twice`);
      const unknown = Object.keys(addresses).find((n) => !names.includes(n));
      if (unknown) throw new ImportError(`--address ${unknown}: no such node (nodes: ${names.join(', ')})`);
      const { inventory, notes, secrets } = importConfigs(sources, addresses);
      const header = [
        `# Imported by kadeploy from ${sources.map((s) => `${s.node}=${s.file}`).join(' ')}`,
        ...Object.keys(secrets).map((env) => `# Set ${env} in the environment (the auth_pass in the files; not written here).`),
      ];
      const text = `${header.join('\n')}\n${stringify(inventory, { lineWidth: 0 })}`;
      for (const n of notes) process.stderr.write(`kadeploy import: note: ${n}\n`);
      if (opts.output) {
        writeFileSync(opts.output, text, { mode: 0o644 });
        process.stderr.write(`kadeploy import: wrote ${opts.output} (${sources.length} node(s))\n`);
      } else process.stdout.write(text);
    });
}
