// Validation: every rule gets a bad inventory; each must fail with exit code 2, naming the field
// path and the line. Runs the built CLI, as a user would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadFleet, loadInventory } from '../../src/inventory/load.js';
import { BASE, edit } from '../support/inventory.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');


interface Case {
  name: string;
  /** [line number, replacement text] pairs applied to BASE; or a whole text. */
  edits?: Array<[number, string]>;
  text?: string;
  path: string;
  line?: number;
  message?: RegExp;
}


const TWO_INSTANCES = `${BASE}`.replace(
  'nodes:',
  `  VI_2:
    virtual_router_id: 51
    virtual_ipaddresses: [10.0.0.101/32]
nodes:`,
);

const cases: Case[] = [
  { name: 'vrid below range', edits: [[7, '    virtual_router_id: 0']], path: 'vrrp_instances.VI_1.virtual_router_id', line: 7 },
  { name: 'vrid above range', edits: [[7, '    virtual_router_id: 256']], path: 'vrrp_instances.VI_1.virtual_router_id', line: 7 },
  { name: 'vrid of the wrong type', edits: [[7, '    virtual_router_id: fifty']], path: 'vrrp_instances.VI_1.virtual_router_id', line: 7, message: /expected number/ },
  { name: 'vrid shared by two instances on one interface', text: TWO_INSTANCES, path: 'vrrp_instances.VI_2.virtual_router_id', line: 15, message: /unique per interface/ },
  { name: 'priority 0', edits: [[18, '    priority: 0']], path: 'nodes[0].priority', line: 18 },
  { name: 'priority 256', edits: [[22, '    priority: 256']], path: 'nodes[1].priority', line: 22 },
  { name: 'two MASTERs', edits: [[21, '    state: MASTER']], path: 'nodes[1].state', line: 21, message: /more than one MASTER/ },
  { name: 'BACKUP above the MASTER', edits: [[22, '    priority: 120']], path: 'nodes[1].priority', line: 22, message: /above the MASTER/ },
  { name: 'state missing', edits: [[17, '    # no state']], path: 'nodes[0]', line: 15, message: /state \(MASTER or BACKUP\) is not set/ },
  { name: 'invalid state', edits: [[17, '    state: PRIMARY']], path: 'nodes[0].state', line: 17 },
  { name: 'nopreempt on a MASTER', edits: [[8, '    nopreempt: true']], path: 'nodes[0].state', line: 17, message: /nopreempt .* requires state BACKUP/ },
  { name: 'nopreempt with preempt_delay', edits: [[8, '    nopreempt: true'], [13, '    preempt_delay: 10'], [17, '    state: BACKUP']], path: 'vrrp_instances.VI_1.preempt_delay', line: 13, message: /cannot be combined/ },
  { name: 'preempt_delay out of range', edits: [[13, '    preempt_delay: 5000'], [17, '    state: BACKUP']], path: 'vrrp_instances.VI_1.preempt_delay', line: 13 },
  { name: 'auth_pass longer than 8', edits: [[10, '      auth_pass: muchtoolong']], path: 'vrrp_instances.VI_1.authentication.auth_pass', line: 10, message: /first 8/ },
  { name: 'auth_pass from an unset variable', edits: [[10, '      auth_pass: {env: KADEPLOY_TEST_UNSET_VAR}']], path: 'vrrp_instances.VI_1.authentication.auth_pass', line: 10, message: /KADEPLOY_TEST_UNSET_VAR is not set/ },
  { name: 'auth_pass from a missing file', edits: [[10, '      auth_pass: {file: /nonexistent/kadeploy-secret}']], path: 'vrrp_instances.VI_1.authentication.auth_pass', line: 10, message: /cannot read secret file/ },
  { name: 'VIP not an address', edits: [[12, '      - 10.0.0.300/32']], path: 'vrrp_instances.VI_1.virtual_ipaddresses[0]', line: 12 },
  { name: 'VIP with a newline and a command', edits: [[12, '      - "10.0.0.100/32\\nreboot"']], path: 'vrrp_instances.VI_1.virtual_ipaddresses[0]', line: 12 },
  { name: 'VIP outside the node subnet', edits: [[12, '      - 192.168.9.9/32']], path: 'vrrp_instances.VI_1.virtual_ipaddresses[0]', line: 12, message: /outside node a's subnet/ },
  { name: 'node address not an IP', edits: [[16, '    address: lb-one']], path: 'nodes[0].address', line: 16 },
  { name: 'interface with a shell command', edits: [[8, '    interface: "eth0; reboot"']], path: 'vrrp_instances.VI_1.interface', line: 8, message: /interface name/ },
  { name: 'interface with $(...)', edits: [[8, '    interface: $(reboot)']], path: 'vrrp_instances.VI_1.interface', line: 8 },
  { name: 'script name with shell characters', edits: [[2, '  "chk;x":']], path: 'vrrp_scripts', line: 2 },
  { name: 'script command with substitution', edits: [[3, '    script: killall -0 $(reboot)']], path: 'vrrp_scripts.chk.script', line: 3, message: /shell metacharacters/ },
  { name: 'script command with quotes', edits: [[3, `    script: "killall -0 'haproxy'"`]], path: 'vrrp_scripts.chk.script', line: 3 },
  { name: 'script interval of the wrong type', edits: [[4, '    interval: fast']], path: 'vrrp_scripts.chk.interval', line: 4 },
  { name: 'unknown track script', edits: [[13, '    track_scripts: [chek]']], path: 'vrrp_instances.VI_1.track_scripts[0]', line: 13, message: /did you mean "chk"/ },
  { name: 'duplicate node names', edits: [[19, '  - name: a']], path: 'nodes[1].name', line: 19, message: /duplicate node name/ },
  { name: 'duplicate node addresses', edits: [[20, '    address: 10.0.0.11/24']], path: 'nodes[1].address', line: 20, message: /duplicate node address/ },
  { name: 'unknown field with a hint', edits: [[18, '    priorty: 100']], path: 'nodes[0].priorty', line: 18, message: /did you mean "priority"/ },
  { name: 'missing required field', edits: [[16, '    # no address']], path: 'nodes[0].address', line: 15, message: /is required/ },
  { name: 'advert_int not whole seconds with VRRPv2', edits: [[8, '    advert_int: 0.5']], path: 'vrrp_instances.VI_1.advert_int', line: 8, message: /VRRPv2/ },
  { name: 'YAML syntax error', edits: [[12, '      - [10.0.0.100/32']], path: '', line: 13, message: /YAML syntax/ },
  { name: 'empty file', text: '# nothing here\n', path: '', message: /inventory is empty/ },
  { name: 'top level is a list', text: '- a\n- b\n', path: '', line: 1, message: /YAML mapping/ },
  { name: 'no nodes', edits: [[14, 'nodez:']], path: 'nodes', message: /is required/ },
];

/** Two clusters on one segment (10.0.0.0/24): a (vrid 51, line 7) and b (vrid 52, line 15). */
const FLEET = `ssh:
  user: root
clusters:
  a:
    vrrp_instances:
      VI_A:
        virtual_router_id: 51
        virtual_ipaddresses: [10.0.0.100/32]
    nodes:
      - {name: a1, address: 10.0.0.11/24, state: MASTER, priority: 100}
      - {name: a2, address: 10.0.0.12/24, state: BACKUP, priority: 90}
  b:
    vrrp_instances:
      VI_B:
        virtual_router_id: 52
        virtual_ipaddresses: [10.0.0.200/32]
    nodes:
      - {name: b1, address: 10.0.0.21/24, state: MASTER, priority: 100}
      - {name: b2, address: 10.0.0.22/24, state: BACKUP, priority: 90}
`;
const fleetEdit = (edits: Array<[number, string]>) => {
  const lines = FLEET.split('\n');
  for (const [n, text] of edits) lines[n - 1] = text;
  return lines.join('\n');
};
/** b moved to another subnet, both clusters given `segment: dmz`, addresses without /prefix. */
const NAMED_SEGMENT = fleetEdit([
  [5, '    segment: dmz\n    vrrp_instances:'],
  [10, '      - {name: a1, address: 10.0.0.11, state: MASTER, priority: 100}'],
  [11, '      - {name: a2, address: 10.0.0.12, state: BACKUP, priority: 90}'],
  [13, '    segment: dmz\n    vrrp_instances:'],
  [15, '        virtual_router_id: 51'],
  [16, '        virtual_ipaddresses: [10.9.0.200/32]'],
  [18, '      - {name: b1, address: 10.9.0.21, state: MASTER, priority: 100}'],
  [19, '      - {name: b2, address: 10.9.0.22, state: BACKUP, priority: 90}'],
]);

cases.push(
  { name: 'fleet: vrid shared by two clusters on one subnet', text: fleetEdit([[15, '        virtual_router_id: 51']]), path: 'clusters.b.vrrp_instances.VI_B.virtual_router_id', line: 15, message: /virtual_router_id 51 is also used by cluster a on segment 10\.0\.0\.0\/24 .*\(clusters\.a\.vrrp_instances\.VI_A\.virtual_router_id at .*:7\)/ },
  { name: 'fleet: vrid shared by two clusters on one named segment', text: NAMED_SEGMENT, path: 'clusters.b.vrrp_instances.VI_B.virtual_router_id', line: 17, message: /also used by cluster a on segment dmz .*:8\)/ },
  { name: 'fleet: VIP used by two clusters', text: fleetEdit([[16, '        virtual_ipaddresses: [10.0.0.100/32]']]), path: 'clusters.b.vrrp_instances.VI_B.virtual_ipaddresses[0]', line: 16, message: /VIP 10\.0\.0\.100 is also a VIP of cluster a .*:8\)/ },
  { name: 'fleet: node name used by two clusters', text: fleetEdit([[18, '      - {name: a1, address: 10.0.0.21/24, state: MASTER, priority: 100}']]), path: 'clusters.b.nodes[0].name', line: 18, message: /node name "a1" is also used in cluster a .*:10\)/ },
  { name: 'fleet: node address used by two clusters', text: fleetEdit([[19, '      - {name: b2, address: 10.0.0.12/24, state: BACKUP, priority: 90}']]), path: 'clusters.b.nodes[1].address', line: 19, message: /node address 10\.0\.0\.12 is also used in cluster a .*:11\)/ },
  { name: 'fleet: top-level nodes beside clusters', text: `${FLEET}nodes: []\n`, path: 'nodes', line: 20, message: /each cluster holds its own nodes/ },
  { name: 'fleet: top-level vrrp_instances beside clusters', text: `${FLEET}vrrp_instances: {}\n`, path: 'vrrp_instances', line: 20, message: /move it under clusters\.NAME\.vrrp_instances/ },
  { name: 'fleet: a rule inside one cluster', text: fleetEdit([[19, '      - {name: b2, address: 10.0.0.22/24, state: MASTER, priority: 90}']]), path: 'clusters.b.nodes[1].state', line: 19, message: /more than one MASTER/ },
  { name: 'fleet: bad override of a shared setting', text: fleetEdit([[13, '    ssh: {user: "x y"}\n    vrrp_instances:']]), path: 'clusters.b.ssh.user', line: 13 },
  { name: 'fleet: inherited setting reported where it is written', text: fleetEdit([[2, '  user: root\nvrrp_scripts: {chk: {script: "a;b"}}']]), path: 'vrrp_scripts.chk.script', line: 3 },
  { name: 'fleet: unknown cluster field with a hint', text: fleetEdit([[17, '    nodez:']]), path: 'clusters.b.nodez', line: 17, message: /did you mean "nodes"/ },
  { name: 'fleet: no clusters', text: 'clusters: {}\n', path: 'clusters', line: 1, message: /at least one cluster/ },
);

function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

describe('kadeploy validate rejects bad inventories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-bad-'));
  cases.forEach((c, k) => {
    it(c.name, () => {
      const file = join(dir, `case${k}.yaml`);
      writeFileSync(file, c.text ?? edit(c.edits ?? []));
      const r = runCli(['validate', file]);
      assert.equal(r.status, 3, `exit code (stderr: ${r.stderr})`);
      assert.equal(r.stdout, '');
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      const lines = r.stderr.trim().split('\n');
      const where = `${file}${c.line ? `:${c.line}:` : ''}`;
      const hit = lines.find((l) => l.includes(where) && l.includes(c.path ? `error: ${c.path}` : 'error:') && (!c.message || c.message.test(l)));
      assert.ok(hit, `expected a line with ${where} ... error: ${c.path} ${c.message ?? ''}\ngot:\n${r.stderr}`);
    });
  });

  it('reports every problem at once', () => {
    const file = join(dir, 'many.yaml');
    writeFileSync(file, edit([[7, '    virtual_router_id: 0'], [18, '    priority: 0'], [16, '    address: x']]));
    const r = runCli(['validate', file]);
    assert.equal(r.status, 3);
    for (const line of [7, 16, 18]) assert.match(r.stderr, new RegExp(`${file}:${line}:`));
  });

  it('names a missing file in one line', () => {
    const r = runCli(['validate', join(dir, 'nope.yaml')]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /nope\.yaml: error: inventory file not found\n$/);
  });

  it('accepts the base inventory with a one-line summary', () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, BASE);
    const r = runCli(['validate', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^.*good\.yaml: valid — 2 node\(s\), 1 VRRP instance\(s\), 1 VIP\(s\)\n$/);
  });

  it('accepts equal priorities with a warning (keepalived breaks the tie by address)', () => {
    const file = join(dir, 'tie.yaml');
    writeFileSync(file, edit([[22, '    priority: 100']]));
    const r = runCli(['validate', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`${file}:22:\\d+: warning: nodes\\[1\\]\\.priority: duplicate priority .*tie`));
  });

  it('accepts a fleet, and one vrid in two clusters on different subnets', () => {
    const file = join(dir, 'fleet.yaml');
    writeFileSync(file, fleetEdit([[15, '        virtual_router_id: 51'], [16, '        virtual_ipaddresses: [10.0.1.200/32]'], [18, '      - {name: b1, address: 10.0.1.21/24, state: MASTER, priority: 100}'], [19, '      - {name: b2, address: 10.0.1.22/24, state: BACKUP, priority: 90}']]));
    const r = runCli(['validate', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /fleet\.yaml: valid — 2 cluster\(s\), 4 node\(s\), 2 VRRP instance\(s\), 2 VIP\(s\)\n$/);
  });

  it('warns when a cluster\'s segment is unknown (no /prefix, no segment:)', () => {
    const file = join(dir, 'fleet-noprefix.yaml');
    writeFileSync(file, fleetEdit([[18, '      - {name: b1, address: 10.0.0.21, state: MASTER, priority: 100}'], [19, '      - {name: b2, address: 10.0.0.22, state: BACKUP, priority: 90}']]));
    const r = runCli(['validate', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`${file}:15:\\d+: warning: clusters\\.b\\.vrrp_instances\\.VI_B\\.virtual_router_id: not compared with the other clusters`));
  });

  it('accepts the shipped fleet example', () => {
    const r = runCli(['validate', join(import.meta.dirname, '..', '..', 'inventories', 'fleet.yaml')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /valid — 3 cluster\(s\), 7 node\(s\)/);
  });

  it('reports deprecated options as warnings, not errors', () => {
    const file = join(dir, 'deprecated.yaml');
    writeFileSync(file, edit([[8, '    lvs_sync_daemon_interface: eth1']]));
    const r = runCli(['validate', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`${file}:8:\\d+: warning: vrrp_instances.VI_1.lvs_sync_daemon_interface: deprecated`));
  });
});

describe('inventory resolution', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-inv-'));
  const load = (text: string, env: NodeJS.ProcessEnv = {}) => {
    const file = join(dir, `inv${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, text);
    return loadInventory(file, env).cluster;
  };

  it('applies defaults from one place and lets nodes override cluster values', () => {
    const c = load(edit([[19, '  - name: b\n    interface: ens5\n    ssh: {port: 2222}']]));
    const [a, b] = c.nodes;
    assert.equal(a?.instances[0]?.interface, 'eth0');
    assert.equal(b?.instances[0]?.interface, 'ens5');
    assert.equal(a?.ssh.port, 22);
    assert.equal(b?.ssh.port, 2222);
    assert.equal(a?.instances[0]?.advertInt, 1);
    assert.equal(c.globalDefs.enableScriptSecurity, true);
  });

  it('reads secrets from the environment and a file, and records them for masking', () => {
    const secretFile = join(dir, 'pass.txt');
    writeFileSync(secretFile, 'fromfile\n');
    const c1 = load(edit([[10, '      auth_pass: {env: KA_PASS}']]), { KA_PASS: 'fromenv1' });
    assert.equal(c1.nodes[0]?.instances[0]?.authentication?.pass, 'fromenv1');
    assert.deepEqual(c1.secrets, ['fromenv1']);
    const c2 = load(edit([[10, `      auth_pass: {file: ${secretFile}}`]]));
    assert.equal(c2.nodes[1]?.instances[0]?.authentication?.pass, 'fromfile');
  });

  it('fleet: clusters inherit the shared settings, override them (mappings one level deep), nodes override the cluster', () => {
    const file = join(dir, 'fleet-inherit.yaml');
    writeFileSync(file, fleetEdit([
      [2, '  user: root\n  port: 2200\nforks: 7\nglobal_defs: {script_user: nobody}'],
      [13, '    ssh: {user: deploy}\n    forks: 3\n    vrrp_instances:'],
      [19, '      - {name: b2, address: 10.0.0.22/24, state: BACKUP, priority: 90, ssh: {port: 2222}}'],
    ]));
    const { fleet } = loadFleet(file, {});
    const [a, b] = fleet.clusters;
    assert.deepEqual(fleet.clusters.map((c) => c.name), ['a', 'b']);
    assert.deepEqual([a?.forks, b?.forks], [7, 3]);
    assert.deepEqual(a?.nodes.map((n) => [n.ssh.user, n.ssh.port]), [['root', 2200], ['root', 2200]]);
    assert.deepEqual(b?.nodes.map((n) => [n.ssh.user, n.ssh.port]), [['deploy', 2200], ['deploy', 2222]]);
    assert.equal(b?.globalDefs.scriptUser, 'nobody');
    // Each cluster's nodes see only their own instances and peers.
    assert.deepEqual(b?.nodes[0]?.instances.map((i) => i.name), ['VI_B']);
    assert.throws(() => loadInventory(file, {}), /a fleet of 2 clusters/);
  });

  it('derives unicast peers: every other node, never itself', () => {
    const c = load(edit([[8, '    unicast: true']]));
    assert.deepEqual(c.nodes[0]?.instances[0]?.unicast, { srcIp: '10.0.0.11', peers: ['10.0.0.12'] });
    assert.deepEqual(c.nodes[1]?.instances[0]?.unicast, { srcIp: '10.0.0.12', peers: ['10.0.0.11'] });
  });
});
