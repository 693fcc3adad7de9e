// Validation agrees with keepalived, in both directions. Each rule has two sides:
// - refused: `validate` rejects the inventory (naming field and line), and keepalived 2.2.7's own
//   `keepalived -t` rejects the equivalent keepalived.conf (so the refusal is keepalived's, not ours);
// - accepted: setups keepalived accepts that kadeploy used to refuse now validate, and their rendered
//   configuration passes `keepalived -t`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InventoryError } from '../../src/errors.js';
import { loadInventory } from '../../src/inventory/load.js';
import { createRenderer, KEEPALIVED_TEMPLATE } from '../../src/render/render.js';
import { BASE, edit } from '../support/inventory.js';
import { canRunKeepalived, keepalivedCheckBatch } from '../support/keepalived-check.js';

const IFACES = ['eth0', 'eth1', 'eth2'];

/** A minimal keepalived.conf: script security on, one instance with `body`, plus `top` statements. */
const conf = (body: string, top = '', global = '') => `global_defs {
    enable_script_security
    script_user root
${global}
}
vrrp_script chk {
    script "/usr/bin/true"
    interval 1
}
${top}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    state BACKUP
${body}
}
`;
const VIP4 = 'virtual_ipaddress {\n 10.0.0.100/32\n}';
/** A second instance, for sync groups (keepalived refuses a group of one). */
const VI_2 = 'vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n priority 100\n state BACKUP\n virtual_ipaddress {\n 10.0.0.102/32\n }\n}';
const withVi2 = (inv: string) => inv.replace('nodes:', '  VI_2:\n    virtual_router_id: 52\n    virtual_ipaddresses: [10.0.0.102/32]\nnodes:');

interface Refused {
  name: string;
  inventory: string;
  path: string;
  line?: number;
  message: RegExp;
  /** The same setup written for keepalived: `keepalived -t` must refuse it too. */
  keepalived: string;
  /** Set when `keepalived -t` misses it but the running keepalived refuses it: the documented reason. */
  onlyAtRuntime?: string;
}

const refused: Refused[] = [
  {
    name: 'AH authentication with state MASTER',
    inventory: edit([[10, '      auth_type: AH\n      auth_pass: secret1']]),
    path: 'nodes[0].state',
    message: /AH authentication .* requires state BACKUP/,
    keepalived: conf(`${VIP4}\n authentication {\n auth_type AH\n auth_pass secret1\n }`).replace('state BACKUP', 'state MASTER'),
  },
  {
    name: "track_interface naming the instance's own interface",
    inventory: edit([[13, '    track_scripts: [chk]\n    track_interfaces: [eth0]']]),
    path: 'vrrp_instances.VI_1.track_interfaces[0]',
    message: /own interface/,
    keepalived: conf(`${VIP4}\n track_interface {\n eth0\n }`),
  },
  {
    name: 'VRRPv3 with authentication',
    inventory: `global_defs: {vrrp_version: 3}\n${BASE}`,
    path: 'vrrp_instances.VI_1.authentication',
    message: /VRRPv3 has no authentication/,
    keepalived: conf(`${VIP4}\n authentication {\n auth_type PASS\n auth_pass secret1\n }`, '', 'vrrp_version 3'),
  },
  {
    name: 'fractional vrrp_script interval',
    inventory: edit([[4, '    interval: 1.5']]),
    path: 'vrrp_scripts.chk.interval',
    line: 4,
    message: /whole seconds/,
    keepalived: conf(VIP4).replace('interval 1', 'interval 1.5'),
  },
  {
    name: 'IPv6 instance with authentication',
    inventory: edit([[12, '      - fd00::100/64']]),
    path: 'vrrp_instances.VI_1.authentication',
    message: /IPv6 uses VRRPv3/,
    keepalived: conf('virtual_ipaddress {\n fd00::100/64\n}\n authentication {\n auth_type PASS\n auth_pass secret1\n }'),
  },
  {
    name: 'scope on an IPv6 VIP',
    inventory: edit([[9, ''], [10, ''], [12, '      - {address: fd00::100/64, scope: link}']]),
    path: 'vrrp_instances.VI_1.virtual_ipaddresses[0].scope',
    message: /scope on an IPv6/,
    keepalived: conf('virtual_ipaddress {\n fd00::100/64 scope link\n}'),
  },
  {
    name: 'a virtual rule without a preference',
    inventory: edit([[13, '    track_scripts: [chk]\n    virtual_rules: ["from 10.0.0.100/32 table 100"]']]),
    path: 'vrrp_instances.VI_1.virtual_rules[0]',
    message: /needs a preference/,
    keepalived: conf(`${VIP4}\n virtual_rules {\n from 10.0.0.100/32 table 100\n }`),
  },
  {
    name: 'a virtual route without an interface',
    inventory: edit([[13, '    track_scripts: [chk]\n    virtual_routes: ["192.168.50.0/24 via 10.0.0.1"]']]),
    path: 'vrrp_instances.VI_1.virtual_routes[0]',
    message: /needs "dev IFACE"/,
    keepalived: conf(`${VIP4}\n virtual_routes {\n 192.168.50.0/24 via 10.0.0.1\n }`),
  },
  {
    name: 'vrrp_iptables (Debian builds keepalived with nftables only)',
    inventory: `global_defs: {vrrp_iptables: true}\n${BASE}`,
    path: 'global_defs.vrrp_iptables',
    message: /nftables/,
    keepalived: conf(VIP4, '', 'vrrp_iptables'),
  },
  {
    name: 'unicast without any peer',
    inventory: edit([[8, '    interface: eth0\n    unicast_src_ip: 10.0.0.11\n    unicast_peers: []']]),
    path: 'vrrp_instances.VI_1',
    message: /unicast without any peer/,
    keepalived: conf(`${VIP4}\n unicast_src_ip 10.0.0.11`),
  },
  {
    name: 'global_tracking on a sync group',
    inventory: `vrrp_sync_groups: {G: {group: [VI_1, VI_2], global_tracking: true}}\n${withVi2(BASE)}`,
    path: 'vrrp_sync_groups.G.global_tracking',
    message: /deprecated/,
    keepalived: conf(VIP4, `${VI_2}\nvrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n global_tracking\n}`),
  },
  {
    name: 'a tracking weight in a sync group member',
    inventory: `vrrp_sync_groups: {G: {group: [VI_1, VI_2]}}\n${withVi2(edit([[13, '    track_scripts: [{name: chk, weight: 10}]']]))}`,
    path: 'vrrp_instances.VI_1.track_scripts[0]',
    message: /keepalived ignores because it is in sync group G/,
    keepalived: conf(`${VIP4}\n track_script {\n chk weight 10\n }`, `${VI_2}\nvrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n}`),
  },
  {
    name: 'use_vmac with unicast and no vmac_xmit_base',
    inventory: edit([[8, '    interface: eth0\n    unicast: true\n    use_vmac: true']]),
    path: 'vrrp_instances.VI_1',
    message: /use_vmac with unicast needs vmac_xmit_base/,
    keepalived: conf(`${VIP4}\n use_vmac\n unicast_src_ip 10.0.0.11\n unicast_peer {\n 10.0.0.12\n }`),
  },
  {
    name: 'vrrp_strict with a MASTER below priority 255',
    inventory: `global_defs: {vrrp_strict: true}\n${BASE}`.replace('    authentication:\n      auth_pass: secret1\n', ''),
    path: 'vrrp_instances.VI_1',
    message: /MASTER if and only if priority 255/,
    keepalived: conf(VIP4, '', 'vrrp_strict').replace('state BACKUP', 'state MASTER'),
  },
  {
    name: 'vrrp_strict with authentication',
    inventory: `global_defs: {vrrp_strict: true}\n${edit([[18, '    priority: 255']])}`,
    path: 'vrrp_instances.VI_1',
    message: /authentication is not allowed with vrrp_strict/,
    keepalived: conf(`${VIP4}\n authentication {\n auth_type PASS\n auth_pass secret1\n }`, '', 'vrrp_strict').replace('priority 100', 'priority 255').replace('state BACKUP', 'state MASTER'),
  },
  {
    name: 'vrrp_strict with unicast',
    inventory: `global_defs: {vrrp_strict: true}\n${edit([[8, '    interface: eth0\n    unicast: true'], [18, '    priority: 255']])}`.replace('    authentication:\n      auth_pass: secret1\n', ''),
    path: 'vrrp_instances.VI_1',
    message: /unicast is not allowed with vrrp_strict/,
    onlyAtRuntime: 'keepalived 2.2.7 disables the instance when it starts on a multicast-capable interface ("Unicast peers are not supported in strict mode", vrrp.c); keepalived -t does not check it',
    keepalived: conf(`${VIP4}\n unicast_src_ip 10.0.0.11\n unicast_peer {\n 10.0.0.12\n }`, '', 'vrrp_strict').replace('priority 100', 'priority 255').replace('state BACKUP', 'state MASTER'),
  },
];

/** Item 2 of the issue: an instance on another interface than the node's address. */
const OTHER_IFACE = `${BASE}`.replace(
  'nodes:',
  `  VI_2:
    virtual_router_id: 52
    interface: eth1
    unicast: true
    virtual_ipaddresses: [10.1.0.100/32]
nodes:`,
);

interface Accepted {
  name: string;
  inventory: string;
  /** Checks on the loaded cluster's rendered configs (by node). */
  check?: (configs: Map<string, string>, warnings: string[]) => void;
}

const accepted: Accepted[] = [
  {
    name: 'equal priorities (a warning: keepalived breaks the tie by address)',
    inventory: edit([[17, '    state: BACKUP'], [22, '    priority: 100']]),
    check: (_c, warnings) => assert.ok(warnings.some((w) => /duplicate priority.*tie/.test(w)), warnings.join('\n')),
  },
  {
    name: 'IPv6 VIPs on nodes with IPv4 addresses',
    inventory: edit([[9, '    # no auth (VRRPv3)'], [10, ''], [12, '      - fd00::100/64']]),
    check: (c) => assert.match(c.get('a')!, /fd00::100\/64/),
  },
  {
    name: "a VIP on a second interface, checked against that interface's address",
    inventory: `${OTHER_IFACE}`
      .replace('    address: 10.0.0.11/24', '    address: 10.0.0.11/24\n    addresses: {eth1: 10.1.0.11/24}')
      .replace('    address: 10.0.0.12/24', '    address: 10.0.0.12/24\n    addresses: {eth1: 10.1.0.12/24}'),
    // item 2: unicast_src_ip is the node's eth1 address, peers the other node's eth1 address
    check: (c) => {
      assert.match(c.get('a')!, /vrrp_instance VI_2 \{[^]*unicast_src_ip 10\.1\.0\.11\n\s+unicast_peer \{\n\s+10\.1\.0\.12\n/);
      assert.match(c.get('b')!, /vrrp_instance VI_2 \{[^]*unicast_src_ip 10\.1\.0\.12\n\s+unicast_peer \{\n\s+10\.1\.0\.11\n/);
    },
  },
  {
    name: 'an IPv4 and an IPv6 instance sharing one virtual_router_id',
    inventory: BASE.replace('nodes:', '  VI_6:\n    virtual_router_id: 51\n    virtual_ipaddresses: [fd00::51/64]\nnodes:'),
    check: (c) => assert.equal(c.get('a')!.match(/virtual_router_id 51\n/g)?.length, 2),
  },
  {
    name: 'a sync group with its own notify scripts and tracking, members tracking at weight 0',
    inventory: `vrrp_sync_groups:
  G:
    group: [VI_1, VI_2]
    notify_master: /usr/bin/logger master
    track_scripts: [{name: chk, weight: 5}]
${withVi2(edit([[13, '    track_scripts: [{name: chk, weight: 0}]']]))}`,
    check: (c) => assert.match(c.get('a')!, /vrrp_sync_group G \{[^]*chk weight 5[^]*notify_master "\/usr\/bin\/logger master"/),
  },
];

describe('validation agrees with keepalived -t', { skip: canRunKeepalived() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-agree-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, text);
    return file;
  };

  it('keepalived -t itself refuses every setup validation refuses', () => {
    const results = keepalivedCheckBatch(refused.map((r) => r.keepalived), IFACES);
    const passed = refused.filter((r, k) => results[k]!.code === 0 && !r.onlyAtRuntime).map((r) => r.name);
    assert.deepEqual(passed, [], 'keepalived accepted these, so validation must not refuse them');
    // The documented exceptions really are missed by keepalived -t (else the note is stale).
    const stale = refused.filter((r, k) => r.onlyAtRuntime && results[k]!.code !== 0).map((r) => r.name);
    assert.deepEqual(stale, []);
  });

  for (const r of refused) {
    it(`refuses: ${r.name}`, () => {
      const file = write(r.name, r.inventory);
      try {
        loadInventory(file, {});
        assert.fail('validate accepted it');
      } catch (e) {
        assert.ok(e instanceof InventoryError, String(e));
        const hit = e.issues.find((i) => i.severity === 'error' && i.path === r.path && r.message.test(i.message) && (!r.line || i.line === r.line));
        assert.ok(hit, `expected ${r.path}: ${r.message}${r.line ? ` at line ${r.line}` : ''}\ngot:\n${e.message}`);
        assert.ok(hit.line && hit.line > 0, 'names a line');
      }
    });
  }

  it('accepts what keepalived accepts, and the rendered configs pass keepalived -t', () => {
    const confs: Array<{ name: string; conf: string }> = [];
    for (const a of accepted) {
      const file = write(a.name, a.inventory);
      let loaded;
      try {
        loaded = loadInventory(file, {});
      } catch (e) {
        assert.fail(`${a.name}: refused:\n${(e as Error).message}`);
      }
      const render = createRenderer(loaded.cluster);
      const configs = new Map(loaded.cluster.nodes.map((n) => [n.name, render.template(KEEPALIVED_TEMPLATE, n)]));
      a.check?.(configs, loaded.warnings.map((w) => `${w.path}: ${w.message}`));
      for (const [node, text] of configs) confs.push({ name: `${a.name} (${node})`, conf: text.replaceAll('killall -0 haproxy', '/usr/bin/true') });
    }
    const results = keepalivedCheckBatch(confs.map((c) => c.conf), IFACES);
    const failed = confs.map((c, k) => (results[k]!.code !== 0 ? `${c.name}: ${results[k]!.output}` : '')).filter(Boolean);
    assert.deepEqual(failed, []);
  });

  it('refuses unicast on an interface where a node has no address, naming the node and the fix', () => {
    const file = write('unicast-other-iface', OTHER_IFACE);
    assert.throws(() => loadInventory(file, {}), (e: InventoryError) => {
      assert.match(e.message, /VI_2 is unicast on eth1, but node a has no address there: add addresses\.eth1/);
      assert.match(e.message, /node b has no address there/);
      return true;
    });
  });
});
