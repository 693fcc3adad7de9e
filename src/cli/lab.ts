// `kadeploy lab ...`: a local lab of Debian nodes to deploy onto, and fault injection for tests.
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  cutLink, DEFAULT_LAB, DEFAULT_RELEASE, labDown, labStatus, labUp, MAX_NODES, nodeExec, restoreLink, startNode,
  RELEASES, startService, stopNode, stopService, type LabStatus,
} from '../lab/index.js';
import { nodeCommandLine } from '../lab/exec.js';

const log = (msg: string): void => void process.stderr.write(`lab: ${msg}\n`);

function nameOption(): Option {
  return new Option('--name <name>', 'lab name (prefixes bridge and state directory)').default(DEFAULT_LAB);
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

function formatStatus(s: LabStatus): string {
  if (s.nodes.length === 0 && !s.bridgePresent) return `lab "${s.name}": down\n`;
  const rows = [['NODE', 'ADDRESS', 'STATE', 'SYSTEM', 'LINK']].concat(
    s.nodes.map((n) => [
      n.name, n.address, n.running ? 'running' : 'stopped', n.system ?? '-',
      n.link === undefined ? '-' : n.link ? 'up' : 'down',
    ]),
  );
  return [
    `lab "${s.name}" (Debian ${s.release}): ${s.up ? 'up' : 'partly up (run `kadeploy lab up` to rebuild or `kadeploy lab down`)'}`,
    `bridge ${s.bridge} ${s.bridgePresent ? s.hostIp : '(missing)'}, VIP ${s.vip}, apt proxy ${s.proxyUrl} ${s.proxyRunning ? 'running' : 'stopped'}`,
    table(rows),
    '',
  ].join('\n');
}

function formatPaths(s: LabStatus): string {
  const first = s.nodes[0];
  return [
    `key:          ${s.keyPath}`,
    `known_hosts:  ${s.knownHostsPath}`,
    `inventory:    ${s.inventoryPath}`,
    ...(first
      ? [`ssh:          ssh -i ${s.keyPath} -o UserKnownHostsFile=${s.knownHostsPath} -o StrictHostKeyChecking=yes root@${first.ip}`]
      : []),
    '',
  ].join('\n');
}

/** Register `lab` with its subcommands on the program. */
export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description('local lab of Debian nodes (systemd-nspawn, real systemd/sshd/apt/HAProxy); Linux and root only');

  lab
    .command('up')
    .description('boot the lab (idempotent) and print its SSH key, known_hosts and inventory paths')
    .option('--nodes <n>', `number of nodes, 1..${MAX_NODES} (default 2)`, positiveInt)
    .option('--clusters <n>', 'split the nodes into N clusters c1..cN in the inventory (a fleet on one bridge: vrids 51.., VIPs .100..); default 1', positiveInt)
    .option('--subnet <cidr>', 'lab subnet: host .1, nodes .11.., VIP .100 (default 10.77.0.0/24)')
    .addOption(new Option('--release <name>', `Debian release of the nodes (default ${DEFAULT_RELEASE})`).choices(RELEASES))
    .addOption(nameOption())
    .action(async (o: { nodes?: number; clusters?: number; subnet?: string; release?: string; name: string }) => {
      const r = await labUp({ name: o.name, nodes: o.nodes, clusters: o.clusters, subnet: o.subnet, release: o.release, log });
      for (const [node, system] of Object.entries(r.systems)) {
        if (system !== 'running') log(`${node}: ${system}`);
      }
      const verb = r.alreadyUp ? 'was already up' : `up in ${r.seconds.toFixed(1)} s`;
      const head = `lab "${r.status.name}" ${verb} (${r.status.nodes.length} ${r.status.release} nodes)\n`;
      process.stdout.write(head + formatStatus(r.status) + formatPaths(r.status));
    });

  lab
    .command('down')
    .description('stop every node and the apt proxy, unmount overlays, remove the bridge (safe to repeat)')
    .addOption(nameOption())
    .action(async (o: { name: string }) => {
      await labDown({ name: o.name, log });
    });

  lab
    .command('status')
    .description('nodes, addresses and whether they run')
    .addOption(nameOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { name: string; json?: boolean }) => {
      const s = await labStatus({ name: o.name });
      process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
    });

  lab
    .command('node-stop <node>')
    .description('shut a node down (its disk is kept)')
    .option('--hard', 'kill it instantly instead of an orderly poweroff')
    .addOption(nameOption())
    .action(async (node: string, o: { name: string; hard?: boolean }) => stopNode(node, { name: o.name, hard: o.hard }));

  lab
    .command('node-start <node>')
    .description('boot a stopped node again and wait until it is ready')
    .addOption(nameOption())
    .action(async (node: string, o: { name: string }) => {
      log(`${node}: ${await startNode(node, { name: o.name })}`);
    });

  const simple: Array<[string, string, (node: string, lab: { name: string }) => Promise<void>]> = [
    ['link-down', "cut a node's network link", cutLink],
    ['link-up', "restore a node's network link", restoreLink],
  ];
  for (const [cmd, description, fn] of simple) {
    lab.command(`${cmd} <node>`).description(description).addOption(nameOption())
      .action(async (node: string, o: { name: string }) => fn(node, o));
  }

  const units: Array<[string, string, typeof stopService]> = [
    ['service-stop', 'stop a systemd unit in a node', stopService],
    ['service-start', 'start a systemd unit in a node', startService],
  ];
  for (const [cmd, description, fn] of units) {
    lab.command(`${cmd} <node> <unit>`).description(description).addOption(nameOption())
      .action(async (node: string, unit: string, o: { name: string }) => fn(node, unit, o));
  }

  lab
    .command('exec <node> <command...>')
    .description('run a command inside a node (through nsenter, not SSH): one word is a shell command line (\'a; b\'), several are one program and its arguments, passed as they are (sh -c "a; b")')
    // The command's own options (journalctl -u …) are its words, not lab exec's.
    .allowUnknownOption()
    .addOption(nameOption())
    .action(async (node: string, words: string[], o: { name: string }) => {
      const r = await nodeExec(node, nodeCommandLine(words), o);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    });
}
