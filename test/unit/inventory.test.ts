// Validation: every rule gets a bad inventory; each must fail with exit code 2, naming the field
// path and the line. Runs the built CLI, as a user would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadInventory } from '../../src/inventory/load.js';
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

  it('derives unicast peers: every other node, never itself', () => {
    const c = load(edit([[8, '    unicast: true']]));
    assert.deepEqual(c.nodes[0]?.instances[0]?.unicast, { srcIp: '10.0.0.11', peers: ['10.0.0.12'] });
    assert.deepEqual(c.nodes[1]?.instances[0]?.unicast, { srcIp: '10.0.0.12', peers: ['10.0.0.11'] });
  });
});
