// Property: whatever `validate` accepts renders configurations the real `keepalived -t` accepts.
// 2,000 inventories generated from one seed, valid by construction and together using every inventory
// field that reaches keepalived.conf; each must validate, and each node's rendered config must pass
// keepalived 2.2.7's own check in a scratch network namespace (batched: one namespace per 250 configs).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadInventory } from '../../src/inventory/load.js';
import { createRenderer, KEEPALIVED_TEMPLATE } from '../../src/render/render.js';
import { canRunKeepalived, keepalivedCheckBatch } from '../support/keepalived-check.js';
import { prng } from '../support/prng.js';

const SEED = Number(process.env.KADEPLOY_PROPERTY_SEED ?? 20261122);
const CASES = Number(process.env.KADEPLOY_PROPERTY_CASES ?? 2_000);
const BATCH = 250;
const IFACES = ['eth0', 'eth1', 'eth2', 'ens192'];
/** Interfaces in the scratch namespace: the instances' and one only a sync group tracks. */
const NS_IFACES = [...IFACES, 'eth3'];

type Obj = Record<string, unknown>;

/** Every tracked entry of an instance or group at weight 0 (keepalived ignores weights there). */
function zeroWeights(owner: Obj): void {
  for (const field of ['track_interfaces', 'track_scripts', 'track_processes', 'track_files']) {
    const list = owner[field] as Array<string | Obj> | undefined;
    if (list) owner[field] = list.map((t) => ({ name: typeof t === 'string' ? t : t.name, weight: 0 }));
  }
}

/** One generated inventory: the YAML object, and which fields it used (for the coverage check). */
export function generate(rand: () => number): { inv: Obj; used: Set<string> } {
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const coin = (p = 0.5) => rand() < p;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const used = new Set<string>();
  const maybe = (obj: Obj, key: string, value: () => unknown, p = 0.3, tag = key) => {
    if (coin(p)) {
      obj[key] = value();
      used.add(tag);
    }
  };

  const nodeCount = int(1, 3);
  const v3 = coin(0.25);
  const strict = coin(0.1);
  const gd: Obj = {};
  maybe(gd, 'router_id', () => `lb${int(1, 99)}`);
  maybe(gd, 'notification_email', () => ['ops@example.com', 'oncall@lb.local'].slice(0, int(1, 2)));
  maybe(gd, 'notification_email_from', () => 'keepalived@lb.local');
  maybe(gd, 'smtp_server', () => '127.0.0.1');
  maybe(gd, 'smtp_connect_timeout', () => int(1, 60));
  maybe(gd, 'vrrp_skip_check_adv_addr', () => coin());
  maybe(gd, 'vrrp_garp_interval', () => pick([0.001, 0.5, 2]));
  maybe(gd, 'vrrp_gna_interval', () => pick([0.001, 1]));
  maybe(gd, 'vrrp_garp_master_delay', () => int(0, 20));
  if (!strict) maybe(gd, 'vrrp_garp_master_repeat', () => int(1, 10));
  maybe(gd, 'vrrp_garp_master_refresh', () => int(1, 120));
  if (!strict) maybe(gd, 'vrrp_garp_master_refresh_repeat', () => int(1, 5));
  maybe(gd, 'vrrp_startup_delay', () => pick([1, 5, 2.5]));
  maybe(gd, 'max_auto_priority', () => int(0, 99));
  maybe(gd, 'default_interface', () => pick(IFACES));
  maybe(gd, 'nftables', () => pick<unknown>([true, 'kadeploy']), 0.15);
  maybe(gd, 'script_group', () => 'root');
  maybe(gd, 'lvs_sync_daemon', () => pick(IFACES), 0.1);
  maybe(gd, 'verbatim', () => pick(['vrrp_mcast_group4 224.0.0.18', 'vrrp_no_swap\nvrrp_rt_priority 10', 'checker_no_swap']), 0.2, 'verbatim (global_defs)');
  if (v3) {
    gd.vrrp_version = 3;
    used.add('vrrp_version');
  }
  if (strict) {
    gd.vrrp_strict = true;
    used.add('vrrp_strict');
  }

  const scripts: Obj = {};
  for (let k = 0; k < int(0, 3); k++) {
    const s: Obj = { script: pick(['/usr/bin/true', '/usr/bin/killall -0 keepalived', '/usr/bin/test -e /etc/hostname']) };
    maybe(s, 'interval', () => int(1, 10), 0.7, 'vrrp_scripts.interval');
    maybe(s, 'timeout', () => int(1, 5), 0.3, 'vrrp_scripts.timeout');
    maybe(s, 'weight', () => int(-50, 50), 0.5, 'vrrp_scripts.weight');
    maybe(s, 'rise', () => int(1, 5), 0.3, 'vrrp_scripts.rise');
    maybe(s, 'fall', () => int(1, 5), 0.3, 'vrrp_scripts.fall');
    maybe(s, 'user', () => 'root', 0.2, 'vrrp_scripts.user');
    scripts[`chk${k}`] = s;
  }
  const processes: Obj = {};
  for (let k = 0; k < int(0, 2); k++) {
    const p: Obj = { process: pick(['keepalived', 'haproxy', '/usr/sbin/sshd']) };
    maybe(p, 'param_match', () => pick(['initial', 'partial']), 0.2, 'vrrp_track_processes.param_match');
    maybe(p, 'weight', () => int(-50, 50), 0.5, 'vrrp_track_processes.weight');
    maybe(p, 'reverse', () => true, 0.1, 'vrrp_track_processes.reverse');
    maybe(p, 'quorum', () => int(1, 2), 0.3, 'vrrp_track_processes.quorum');
    maybe(p, 'quorum_max', () => int(3, 5), 0.2, 'vrrp_track_processes.quorum_max');
    maybe(p, 'delay', () => pick([1, 2.5]), 0.2, 'vrrp_track_processes.delay');
    maybe(p, 'terminate_delay', () => pick([1, 3]), 0.2, 'vrrp_track_processes.terminate_delay');
    maybe(p, 'fork_delay', () => pick([1, 0.5]), 0.2, 'vrrp_track_processes.fork_delay');
    maybe(p, 'full_command', () => true, 0.1, 'vrrp_track_processes.full_command');
    if (p.weight === undefined) delete p.reverse;
    processes[`proc${k}`] = p;
  }
  const trackFiles: Obj = {};
  for (let k = 0; k < int(0, 2); k++) {
    const f: Obj = { file: `/tmp/kadeploy-track-${k}` };
    maybe(f, 'weight', () => int(-50, 50), 0.5, 'vrrp_track_files.weight');
    maybe(f, 'reverse', () => true, 0.1, 'vrrp_track_files.reverse');
    maybe(f, 'init_file', () => pick<unknown>([true, 0, 5]), 0.4, 'vrrp_track_files.init_file');
    if (f.weight === undefined) delete f.reverse;
    trackFiles[`file${k}`] = f;
  }
  const trackedList = (names: string[], tag: string) =>
    names.filter(() => coin(0.6)).map((n) => (coin(0.5) ? n : (used.add(`${tag}.weight`), { name: n, weight: int(-100, 100) })));

  // Instances: one per (interface, vrid, family); an IPv6 twin may share an IPv4 instance's vrid.
  const instances: Obj = {};
  const instanceCount = int(1, 3);
  const allBackup = coin(0.4);
  const masterNode = int(0, nodeCount - 1);
  let vrid = int(1, 200);
  let vipHost = 100;
  const unicastIfaces = new Set<string>();
  const taken = new Set<string>();
  for (let k = 0; k < instanceCount; k++) {
    const iface = k === 0 ? 'eth0' : pick(['eth0', 'eth1']);
    const six = k > 0 && coin(0.3);
    const shareable = six && !taken.has(`${iface}/${vrid}/6`) && coin(0.5);
    const twin = shareable ? (used.add('IPv4+IPv6 sharing a vrid'), vrid) : ++vrid;
    taken.add(`${iface}/${twin}/${six ? 6 : 4}`);
    const net = iface === 'eth0' ? 0 : 1;
    // vrrp_strict wants an IPv6 instance's first VIP link-local.
    const vipOf = (h: number) => (six ? `${strict && h === firstVip ? 'fe80' : `fd00:${net}`}::${h.toString(16)}` : `10.80.${net}.${h}`);
    const firstVip = vipHost;
    const inst: Obj = { virtual_router_id: twin, interface: iface };
    const vipCount = int(1, 3);
    inst.virtual_ipaddresses = Array.from({ length: vipCount }, () => {
      const a = vipOf(vipHost++);
      if (!coin(0.3)) return `${a}${six ? '/64' : '/32'}`;
      used.add('virtual_ipaddresses (long form)');
      const v: Obj = { address: `${a}/${six ? 64 : 24}` };
      if (!six && coin(0.3)) v.brd = `10.80.${net}.255`;
      if (!six && coin(0.3)) v.scope = pick(['global', 'link', 'site']);
      if (coin(0.3)) v.dev = iface;
      if (!six && coin(0.2)) v.label = `${iface}:${k}`;
      return v;
    });
    if (six) used.add('IPv6 instance');
    maybe(inst, 'virtual_ipaddress_excluded', () => [coin() ? `fd00:9::${vipHost++}/128` : `10.80.${net}.${vipHost++}/32`]);
    maybe(inst, 'advert_int', () => (v3 ? pick([0.5, 1, 2]) : int(1, 5)));
    if (!v3 && !strict && !six && coin(0.4)) {
      inst.authentication = { auth_type: allBackup && coin(0.3) ? 'AH' : 'PASS', auth_pass: `pw${int(1000, 9999)}` };
      used.add(`authentication ${(inst.authentication as Obj).auth_type}`);
    }
    const others = IFACES.filter((i) => i !== iface);
    maybe(inst, 'track_interfaces', () => trackedList(others, 'track_interfaces'));
    maybe(inst, 'track_scripts', () => trackedList(Object.keys(scripts), 'track_scripts'), 0.6);
    maybe(inst, 'track_processes', () => trackedList(Object.keys(processes), 'track_processes'), 0.5);
    maybe(inst, 'track_files', () => trackedList(Object.keys(trackFiles), 'track_files'), 0.5);
    if (allBackup) {
      if (coin(0.3)) (inst.nopreempt = true), used.add('nopreempt');
      else if (!strict) maybe(inst, 'preempt_delay', () => int(0, 60));
    }
    maybe(inst, 'notify_master', () => '/usr/bin/logger -t kadeploy master', 0.2);
    maybe(inst, 'notify_backup', () => '/usr/bin/logger -t kadeploy backup', 0.2);
    maybe(inst, 'notify_fault', () => '/usr/bin/logger fault', 0.2);
    maybe(inst, 'notify_stop', () => '/usr/bin/logger stop', 0.2);
    maybe(inst, 'notify', () => '/usr/bin/logger', 0.2);
    maybe(inst, 'smtp_alert', () => coin(), 0.2);
    if (!six && !strict && nodeCount > 1 && coin(0.3)) {
      unicastIfaces.add(iface);
      inst.unicast = true;
      used.add('unicast (derived)');
    } else if (!six && !strict && coin(0.15)) {
      inst.unicast_peers = [`10.80.${net}.250`, `10.80.${net}.251`];
      used.add('unicast_peers');
    }
    if (!strict || v3) maybe(inst, 'accept', () => coin(), 0.2);
    if (!strict) maybe(inst, 'use_vmac', () => pick<unknown>([true, `vrrp.${twin}${six ? 'v6' : ''}`]), 0.15);
    if (inst.use_vmac) maybe(inst, 'vmac_xmit_base', () => true, inst.unicast || inst.unicast_peers ? 1 : 0.5);
    if (six) maybe(inst, 'native_ipv6', () => true, 0.3);
    maybe(inst, 'dont_track_primary', () => true, 0.15);
    if (!v3 && !inst.authentication && coin(0.15)) (inst.version = 3), used.add('version');
    if (strict && six && !v3) inst.version = 3;
    maybe(inst, 'garp_master_delay', () => int(0, 10), 0.2);
    if (!strict) maybe(inst, 'garp_master_repeat', () => int(1, 5), 0.2);
    maybe(inst, 'garp_master_refresh', () => int(1, 60), 0.2);
    if (!strict) maybe(inst, 'garp_master_refresh_repeat', () => int(1, 3), 0.2);
    if (!six) {
      maybe(inst, 'virtual_routes', () => [`192.168.${50 + k}.0/24 via 10.80.${net}.1 dev ${iface}`, `blackhole 192.0.${k}.0/24 no_track`].slice(0, int(1, 2)), 0.2);
      maybe(inst, 'virtual_rules', () => [`from 10.80.${net}.${100 + k}/32 table ${100 + k} priority ${100 + k}`], 0.2);
    }
    maybe(inst, 'verbatim', () => pick(['kernel_rx_buf_size 65536', 'skip_check_adv_addr', 'kernel_rx_buf_size 32768\nskip_check_adv_addr']), 0.15, 'verbatim (instance)');
    if (inst.lvs_sync_daemon_interface === undefined && coin(0.05)) inst.lvs_sync_daemon_interface = 'eth2';
    instances[`VI_${k + 1}`] = inst;
  }

  const names = Object.keys(instances);
  const groups: Obj = {};
  if (names.length > 1 && coin(0.4)) {
    const g: Obj = { group: names.slice(0, int(2, names.length)) };
    maybe(g, 'sync_group_tracking_weight', () => true, 0.5, 'vrrp_sync_groups.sync_group_tracking_weight');
    maybe(g, 'notify_master', () => '/usr/bin/logger group master', 0.3, 'vrrp_sync_groups.notify_*');
    maybe(g, 'notify_backup', () => '/usr/bin/logger group backup', 0.3, 'vrrp_sync_groups.notify_*');
    maybe(g, 'notify_fault', () => '/usr/bin/logger group fault', 0.3, 'vrrp_sync_groups.notify_*');
    maybe(g, 'notify_stop', () => '/usr/bin/logger group stop', 0.3, 'vrrp_sync_groups.notify_*');
    maybe(g, 'notify', () => '/usr/bin/logger', 0.3, 'vrrp_sync_groups.notify_*');
    maybe(g, 'smtp_alert', () => true, 0.3, 'vrrp_sync_groups.smtp_alert');
    maybe(g, 'track_interfaces', () => trackedList(['eth3'], 'vrrp_sync_groups.track_interfaces'), 0.3, 'vrrp_sync_groups.track_*');
    maybe(g, 'track_scripts', () => trackedList(Object.keys(scripts), 'vrrp_sync_groups.track_scripts'), 0.3, 'vrrp_sync_groups.track_*');
    maybe(g, 'track_processes', () => trackedList(Object.keys(processes), 'vrrp_sync_groups.track_processes'), 0.3, 'vrrp_sync_groups.track_*');
    maybe(g, 'track_files', () => trackedList(Object.keys(trackFiles), 'vrrp_sync_groups.track_files'), 0.3, 'vrrp_sync_groups.track_*');
    groups.G1 = g;
    used.add('vrrp_sync_groups');
    // keepalived ignores members' tracking weights unless the group allows them: weight 0 there.
    if (!g.sync_group_tracking_weight) for (const m of g.group as string[]) zeroWeights(instances[m] as Obj);
    if (!g.sync_group_tracking_weight) zeroWeights(g);
  }

  const nodes = Array.from({ length: nodeCount }, (_, n): Obj => {
    const node: Obj = { name: `lb${n + 1}`, address: `10.80.0.${11 + n}/24` };
    const equal = coin(0.1);
    node.state = !allBackup && n === masterNode ? 'MASTER' : 'BACKUP';
    // A tie (with the MASTER or another BACKUP) is a warning: keepalived breaks it by address.
    node.priority = n === masterNode || (equal && !strict) ? 200 : 150 - n;
    if (equal && !strict && n !== masterNode) used.add('equal priorities');
    // vrrp_strict: MASTER if and only if priority 255 (the address owner, whose weights must be 0).
    if (strict && node.state === 'MASTER') node.priority = 255;
    if (unicastIfaces.has('eth1') || coin(0.3)) {
      node.addresses = { eth1: `10.80.1.${11 + n}/24` };
      used.add('nodes.addresses');
    }
    if (coin(0.2)) {
      node.global_defs = { router_id: `node${n + 1}` };
      used.add('nodes.global_defs');
    }
    const firstScript = Object.keys(scripts)[0];
    if (firstScript && coin(0.2)) {
      node.vrrp_scripts = { [firstScript]: { script: '/usr/bin/test -e /etc/hosts' } };
      used.add('nodes.vrrp_scripts');
    }
    if (!strict && coin(0.15)) {
      node.instances = { [names[0]!]: { priority: (node.priority as number) + (node.state === 'MASTER' ? 1 : -1), ...(coin(0.5) ? { mcast_src_ip: `10.80.0.${11 + n}` } : {}) } };
      used.add('nodes.instances (any field)');
      if ((node.instances as Obj)[names[0]!] && ((node.instances as Obj)[names[0]!] as Obj).mcast_src_ip) used.add('mcast_src_ip');
    }
    if (!strict && !(instances[names[0]!] as Obj).use_vmac && coin(0.1)) {
      node.instances = { [names[0]!]: { unicast_src_ip: `10.80.0.${11 + n}`, unicast_peers: ['10.80.0.99'] } };
      used.add('unicast_src_ip');
    }
    return node;
  });

  const inv: Obj = { global_defs: gd, vrrp_instances: instances, nodes };
  if (Object.keys(scripts).length) inv.vrrp_scripts = scripts;
  if (Object.keys(processes).length) (inv.vrrp_track_processes = processes), used.add('vrrp_track_processes');
  if (Object.keys(trackFiles).length) (inv.vrrp_track_files = trackFiles), used.add('vrrp_track_files');
  if (Object.keys(groups).length) inv.vrrp_sync_groups = groups;
  if (strict && !allBackup) for (const i of [...Object.values(instances), ...Object.values(groups)]) zeroWeights(i as Obj);
  maybe(inv, 'static_ipaddress', () => ['192.0.2.10/32', { address: '192.0.2.11/24', dev: 'eth2', scope: 'link' }], 0.15);
  maybe(inv, 'static_routes', () => ['198.51.100.0/24 via 10.80.0.1 dev eth0'], 0.15);
  maybe(inv, 'static_rules', () => ['from 192.0.2.10/32 table 200 priority 200'], 0.15);
  maybe(
    inv,
    'verbatim',
    () => 'virtual_server 10.80.0.200 80 {\n    delay_loop 6\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 10.80.0.21 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n}',
    0.1,
    'verbatim (top level: LVS)',
  );
  return { inv, used };
}

if (!process.env.PROP_SUMMARY) describe('property: validate-accepted inventories pass the real keepalived -t', { skip: canRunKeepalived() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-prop-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const rand = prng(SEED);
  const cases = Array.from({ length: CASES }, () => generate(rand));

  it(`generates ${CASES} inventories that together use every keepalived field`, () => {
    const used = new Set(cases.flatMap((c) => [...c.used]));
    const expected = [
      'router_id', 'notification_email', 'notification_email_from', 'smtp_server', 'smtp_connect_timeout', 'vrrp_skip_check_adv_addr',
      'vrrp_garp_interval', 'vrrp_gna_interval', 'vrrp_garp_master_delay', 'vrrp_garp_master_repeat', 'vrrp_garp_master_refresh',
      'vrrp_garp_master_refresh_repeat', 'vrrp_startup_delay', 'max_auto_priority', 'default_interface', 'nftables', 'script_group',
      'lvs_sync_daemon', 'verbatim (global_defs)', 'vrrp_version', 'vrrp_strict', 'vrrp_scripts.interval', 'vrrp_scripts.timeout',
      'vrrp_scripts.weight', 'vrrp_scripts.rise', 'vrrp_scripts.fall', 'vrrp_scripts.user', 'vrrp_track_processes', 'vrrp_track_files',
      'vrrp_track_processes.quorum', 'vrrp_track_files.init_file', 'virtual_ipaddresses (long form)', 'IPv6 instance', 'IPv4+IPv6 sharing a vrid',
      'virtual_ipaddress_excluded', 'advert_int', 'authentication PASS', 'authentication AH', 'track_interfaces', 'track_interfaces.weight',
      'track_scripts', 'track_scripts.weight', 'track_processes', 'track_processes.weight', 'track_files', 'track_files.weight', 'nopreempt',
      'preempt_delay', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'notify', 'smtp_alert', 'unicast (derived)',
      'unicast_peers', 'unicast_src_ip', 'mcast_src_ip', 'accept', 'use_vmac', 'vmac_xmit_base', 'native_ipv6', 'dont_track_primary', 'version',
      'garp_master_delay', 'garp_master_repeat', 'garp_master_refresh', 'garp_master_refresh_repeat', 'virtual_routes', 'virtual_rules',
      'verbatim (instance)', 'vrrp_sync_groups', 'vrrp_sync_groups.sync_group_tracking_weight', 'vrrp_sync_groups.notify_*', 'vrrp_sync_groups.smtp_alert',
      'vrrp_sync_groups.track_*', 'nodes.addresses', 'nodes.global_defs', 'nodes.vrrp_scripts', 'nodes.instances (any field)', 'static_ipaddress',
      'static_routes', 'static_rules', 'verbatim (top level: LVS)', 'equal priorities',
    ];
    const missing = expected.filter((f) => !used.has(f));
    assert.deepEqual(missing, [], `fields no generated inventory used: ${missing.join(', ')}`);
  });

  it(`every one validates, and every node's keepalived.conf passes keepalived -t`, () => {
    const configs: Array<{ label: string; conf: string }> = [];
    cases.forEach((c, k) => {
      const file = join(dir, `case${k}.yaml`);
      writeFileSync(file, stringify(c.inv));
      let loaded;
      try {
        loaded = loadInventory(file, {});
      } catch (e) {
        assert.fail(`case ${k} (seed ${SEED}) was refused by validate, yet it is valid for keepalived:\n${(e as Error).message}\n${stringify(c.inv)}`);
      }
      const render = createRenderer(loaded.cluster);
      for (const node of loaded.cluster.nodes) configs.push({ label: `case ${k} node ${node.name}`, conf: render.template(KEEPALIVED_TEMPLATE, node) });
    });
    const failures: string[] = [];
    for (let start = 0; start < configs.length; start += BATCH) {
      const chunk = configs.slice(start, start + BATCH);
      const results = keepalivedCheckBatch(chunk.map((c) => c.conf), NS_IFACES);
      results.forEach((r, k) => {
        if (r.code !== 0 && failures.length < 5) failures.push(`${chunk[k]!.label}: exit ${r.code}\n${r.output}\n${chunk[k]!.conf}`);
      });
    }
    assert.deepEqual(failures, [], failures.join('\n\n'));
    assert.ok(configs.length >= CASES, `${configs.length} configs checked`);
  });
});
