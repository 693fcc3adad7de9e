import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { importConfigs, type ImportSource } from '../import/import.js';
import { ImportError } from '../errors.js';
import { parseConfig } from '../import/parse.js';
import { calledScripts, KEEPALIVED_CONF, readRemoteConfig, readScript } from '../import/remote.js';
import { parseCidr } from '../inventory/ip.js';
import { mapLimit, SshPool } from '../ssh/pool.js';
import { resolveTarget } from '../ssh/target.js';

interface ImportOptions {
  address: string[];
  output?: string;
  ssh?: boolean;
  identityFile?: string;
  knownHosts?: string;
  sudo?: boolean;
  acceptNewHostKeys?: boolean;
}

/** `NAME=VALUE` → [NAME, VALUE]; `what` names the argument in the error. */
export function nameValue(text: string, what: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new ImportError(`${what} "${text}": expected ${what === '--address' ? 'NAME=IP' : what}`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** `[user@]host[:port]` */
function sshDestination(text: string): { user?: string; host: string; port?: number } {
  const m = /^(?:([A-Za-z_][A-Za-z0-9_.-]*)@)?([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:]+\])(?::(\d+))?$/.exec(text);
  if (!m) throw new ImportError(`--ssh destination "${text}": expected [user@]host[:port]`);
  return { user: m[1], host: m[2]!.replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : undefined };
}

interface Gathered {
  sources: ImportSource[];
  files: Array<{ path: string; content: string; mode: string }>;
  notes: string[];
  fallback: Record<string, string>;
  ssh: Record<string, unknown>;
  nodeSsh: Record<string, Record<string, unknown>>;
}

/** Read each node's keepalived.conf and the scripts it calls over SSH (host keys checked as apply does). */
async function fromNodes(pairs: Array<[string, string]>, opts: ImportOptions): Promise<Gathered> {
  const pool = new SshPool();
  const notes: string[] = [];
  const got = new Map<string, { statements: ImportSource['statements']; scripts: Map<string, { content: string; mode: string } | undefined> }>();
  const fallback: Record<string, string> = {};
  const nodeSsh: Record<string, Record<string, unknown>> = {};
  try {
    await mapLimit(pairs, 10, async ([node, dest]) => {
      const d = sshDestination(dest);
      const target = resolveTarget({
        name: node,
        host: d.host,
        ...(d.user ? { user: d.user } : {}),
        ...(d.port ? { port: d.port } : {}),
        ...(opts.identityFile ? { identityFiles: [opts.identityFile] } : {}),
        ...(opts.knownHosts ? { knownHostsFile: opts.knownHosts } : {}),
        hostKeyPolicy: opts.acceptNewHostKeys ? 'accept-new' : 'strict',
        sudo: !!opts.sudo,
      });
      const conn = await pool.get(target);
      const statements = await readRemoteConfig(conn);
      const scripts = new Map<string, { content: string; mode: string } | undefined>();
      for (const path of calledScripts(statements)) scripts.set(path, await readScript(conn, path));
      got.set(node, { statements, scripts });
      if (parseCidr(d.host)) fallback[node] = d.host;
      else nodeSsh[node] = { host: d.host };
      if (d.user) nodeSsh[node] = { ...nodeSsh[node], user: d.user };
      if (d.port) nodeSsh[node] = { ...nodeSsh[node], port: d.port };
    });
  } finally {
    await pool.closeAll();
  }
  const sources = pairs.map(([node, dest]) => ({ node, file: `${node}:${KEEPALIVED_CONF} (${dest})`, statements: got.get(node)!.statements }));
  // A script is a managed file when every node that calls it has the same content.
  const files: Gathered['files'] = [];
  const paths = [...new Set([...got.values()].flatMap((g) => [...g.scripts.keys()]))].sort();
  for (const path of paths) {
    const copies = [...got.entries()].map(([node, g]) => [node, g.scripts.get(path)] as const);
    const first = copies[0]![1];
    if (copies.some(([, c]) => !c)) notes.push(`${path}: called by the configuration but missing on ${copies.filter(([, c]) => !c).map(([n]) => n).join(', ')}: not imported`);
    else if (copies.some(([, c]) => c!.content !== first!.content || c!.mode !== first!.mode)) notes.push(`${path}: differs between nodes: not imported as a managed file (make it a template)`);
    else files.push({ path, content: first!.content, mode: first!.mode });
  }
  const ssh: Record<string, unknown> = {};
  if (opts.identityFile) ssh.identity_file = opts.identityFile;
  if (opts.knownHosts) ssh.known_hosts = opts.knownHosts;
  if (opts.sudo) ssh.sudo = true;
  return { sources, files, notes, fallback, ssh, nodeSsh };
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('Write an inventory from existing keepalived.conf files, one per node (adopt a cluster configured by hand)')
    .argument('<node=source...>', "NAME=FILE (a keepalived.conf; include is followed), or with --ssh NAME=[user@]HOST[:PORT]")
    .option('-a, --address <name=ip>', "a node's address (default: its unicast_src_ip, else mcast_src_ip, else with --ssh its HOST when that is an IP)", (v: string, acc: string[]) => [...acc, v], [])
    .option('-o, --output <file>', 'write the inventory here (default: stdout)')
    .option('--ssh', `read ${KEEPALIVED_CONF} (and the scripts it calls, as managed files) from live nodes over SSH`)
    .option('-i, --identity-file <file>', 'with --ssh: private key (default: agent and ~/.ssh/config)')
    .option('--known-hosts <file>', 'with --ssh: known_hosts file (default ~/.ssh/known_hosts); host keys are checked as apply does')
    .option('--sudo', 'with --ssh: run the reads through sudo -n (login user not root)')
    .option('--accept-new-host-keys', 'with --ssh: trust and record unknown host keys (a changed key is always refused)')
    .addHelpText(
      'after',
      `
Values equal on every node become cluster values, the rest per-node values. auth_pass is written as an
{env: KA_AUTH_PASS_<INSTANCE>} reference (never its value): set that variable before validate or apply.
Statements kadeploy has no field for are kept in verbatim blocks, checked on each node by keepalived -t.
What cannot be represented is an error naming FILE:LINE (exit 3); nothing is dropped silently.

Examples:
  $ kadeploy import lb1=lb1/keepalived.conf lb2=lb2/keepalived.conf -o inventory.yaml
  $ kadeploy import --address lb1=10.0.0.11 lb1=/etc/keepalived/keepalived.conf
  $ kadeploy import --ssh -i ~/.ssh/id_ed25519 lb1=root@10.0.0.11 lb2=root@10.0.0.12 -o inventory.yaml`,
    )
    .action(async (args: string[], opts: ImportOptions) => {
      const addresses = Object.fromEntries(opts.address.map((a) => nameValue(a, '--address')));
      const pairs = args.map((p) => nameValue(p, opts.ssh ? 'NAME=[user@]HOST[:PORT]' : 'NAME=FILE'));
      const names = pairs.map(([n]) => n);
      const dup = names.find((n, k) => names.indexOf(n) !== k);
      if (dup) throw new ImportError(`node ${dup} is given twice`);
      const unknown = Object.keys(addresses).find((n) => !names.includes(n));
      if (unknown) throw new ImportError(`--address ${unknown}: no such node (nodes: ${names.join(', ')})`);

      const gathered: Gathered = opts.ssh
        ? await fromNodes(pairs, opts)
        : { sources: pairs.map(([node, file]) => ({ node, file, statements: parseConfig(file) })), files: [], notes: [], fallback: {}, ssh: {}, nodeSsh: {} };
      const { inventory, notes, secrets } = importConfigs(gathered.sources, addresses, gathered.fallback);
      const out: Record<string, unknown> = {};
      if (Object.keys(gathered.ssh).length) out.ssh = gathered.ssh;
      Object.assign(out, inventory);
      if (gathered.files.length) out.files = gathered.files;
      for (const node of out.nodes as Array<Record<string, unknown>>) {
        const ssh = gathered.nodeSsh[node.name as string];
        if (ssh) node.ssh = ssh;
      }
      const header = [
        `# Imported by kadeploy from ${pairs.map(([n, s]) => `${n}=${s}`).join(' ')}`,
        ...Object.keys(secrets).map((env) => `# Set ${env} in the environment (the auth_pass in the files; not written here).`),
      ];
      const text = `${header.join('\n')}\n${stringify(out, { lineWidth: 0 })}`;
      for (const n of [...gathered.notes, ...notes]) process.stderr.write(`kadeploy import: note: ${n}\n`);
      if (opts.output) {
        writeFileSync(opts.output, text, { mode: 0o644 });
        process.stderr.write(`kadeploy import: wrote ${opts.output} (${pairs.length} node(s))\n`);
      } else process.stdout.write(text);
    });
}
