// `failover: fast`: what the profile expands to, that the user's own fields win, what validation refuses
// with it (and says what replaces), and that every configuration it produces passes the real
// `keepalived -t` (scratch network namespace, the watcher script installed at its real path).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InventoryError } from '../../src/errors.js';
import { FAST_WATCH_PATH, FAST_WATCH_SCRIPT } from '../../src/inventory/failover-profile.js';
import { loadInventory } from '../../src/inventory/load.js';
import { createRenderer } from '../../src/render/render.js';
import { canRunKeepalived, interfacesOf, keepalivedCheck } from '../support/keepalived-check.js';

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-fast-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const write = (text: string) => {
  const file = join(dir, `inv${n++}.yaml`);
  writeFileSync(file, text);
  return file;
};

/** Two nodes and one instance with `failover: fast`; `extra` top-level lines, `inst` instance lines. */
const FAST = (opts: { top?: string; inst?: string; more?: string } = {}) => `failover: fast
${opts.top ?? ''}
vrrp_instances:
  VI_1:
    virtual_router_id: 51
    interface: eth0
    virtual_ipaddresses: [10.0.0.100/32]
${opts.inst ?? ''}
${opts.more ?? ''}
nodes:
  - {name: a, address: 10.0.0.11/24, state: MASTER, priority: 150}
  - {name: b, address: 10.0.0.12/24, state: BACKUP, priority: 140}
`;

const refusal = (text: string): InventoryError => {
  try {
    loadInventory(write(text), {});
  } catch (e) {
    if (e instanceof InventoryError) return e;
    throw e;
  }
  assert.fail('expected the inventory to be refused');
};

describe('failover: fast', () => {
  it('expands to VRRPv3, a 0.1 s advert, the HAProxy watcher and GARP settings, and lists them', () => {
    const { cluster } = loadInventory(write(FAST()), {});
    const node = cluster.nodes[0]!;
    const inst = node.instances[0]!;
    assert.equal(node.globalDefs.vrrpVersion, 3);
    assert.equal(inst.advertInt, 0.1);
    assert.deepEqual(inst.trackScripts, [FAST_WATCH_SCRIPT]);
    assert.equal(node.globalDefs.vrrpGarpMasterDelay, 1);
    assert.equal(node.globalDefs.vrrpGarpMasterRepeat, 5);
    const watcher = cluster.vrrpScripts.find((s) => s.name === FAST_WATCH_SCRIPT)!;
    assert.deepEqual({ ...watcher }, { name: FAST_WATCH_SCRIPT, script: FAST_WATCH_PATH, interval: 1, timeout: 2, fall: 1, rise: 1 });
    assert.ok(cluster.files.some((f) => f.path === FAST_WATCH_PATH && f.mode === '0755'));
    const conf = createRenderer(cluster).nodeFiles(node).find((f) => f.validate === 'keepalived')!.content;
    assert.match(conf, /^# failover: fast set/m);
    assert.match(conf, /^#   vrrp_instances\.VI_1\.advert_int=0\.1$/m);
    assert.match(conf, /^\s+advert_int 0\.1$/m);
    assert.match(conf, /^\s+vrrp_version 3$/m);
  });

  it('fields the user set win over the profile, and are not listed as the profile\'s', () => {
    const { cluster, warnings } = loadInventory(
      write(FAST({
        top: 'global_defs: {vrrp_garp_master_delay: 3}\nvrrp_scripts:\n  chk: {script: killall -0 haproxy, interval: 1, fall: 2}',
        inst: '    advert_int: 0.5\n    track_scripts: [chk]',
      })),
      {},
    );
    const inst = cluster.nodes[0]!.instances[0]!;
    assert.equal(inst.advertInt, 0.5);
    assert.deepEqual(inst.trackScripts, ['chk']);
    assert.equal(cluster.nodes[0]!.globalDefs.vrrpGarpMasterDelay, 3);
    assert.ok(!cluster.vrrpScripts.some((s) => s.name === FAST_WATCH_SCRIPT), 'no watcher when the user tracks HAProxy their own way');
    assert.ok(!cluster.files.some((f) => f.path === FAST_WATCH_PATH));
    assert.ok(!cluster.failoverProfile!.applied.some((a) => /advert_int|track_scripts|garp_master_delay/.test(a)), cluster.failoverProfile!.applied.join(' '));
    // The user's slower check is kept, with a warning saying what it costs.
    assert.ok(warnings.some((w) => /chk needs up to 2000 ms/.test(w.message)), JSON.stringify(warnings));
  });

  it('with an explicit vrrp_version 2 the profile keeps whole-second adverts', () => {
    const { cluster } = loadInventory(write(FAST({ top: 'global_defs: {vrrp_version: 2}' })), {});
    assert.equal(cluster.nodes[0]!.instances[0]!.advertInt, 1);
    assert.equal(cluster.nodes[0]!.globalDefs.vrrpVersion, 2);
  });

  it('refuses authentication, naming the field and what replaces it', () => {
    const e = refusal(FAST({ inst: '    authentication: {auth_pass: secret1}' }));
    const issue = e.issues.find((i) => i.path === 'vrrp_instances.VI_1.authentication');
    assert.ok(issue, e.message);
    assert.match(issue.message, /failover: fast uses VRRPv3, which has no authentication/);
    assert.match(issue.message, /unicast: true/);
    assert.match(issue.message, /IP protocol 112 only from the peers/);
    assert.equal(issue.line, 8);
    // The secret never appears in the message.
    assert.doesNotMatch(e.message, /secret1/);
  });

  it('checks sub-second adverts against keepalived: VRRPv2 whole seconds, VRRPv3 hundredths', () => {
    const v2 = refusal(FAST({ top: 'global_defs: {vrrp_version: 2}', inst: '    advert_int: 0.5' }));
    assert.ok(v2.issues.some((i) => i.path === 'vrrp_instances.VI_1.advert_int' && /VRRPv2, advert_int is whole seconds/.test(i.message)), v2.message);
    const v3 = refusal(FAST({ inst: '    advert_int: 0.015' }));
    assert.ok(v3.issues.some((i) => i.path === 'vrrp_instances.VI_1.advert_int' && /hundredths of a second/.test(i.message)), v3.message);
    const tooShort = refusal(FAST({ inst: '    advert_int: 0.005' }));
    assert.ok(tooShort.issues.some((i) => /0\.01 to 40\.95/.test(i.message)), tooShort.message);
    // A per-instance version 3 allows a sub-second advert without the profile, too.
    loadInventory(write(FAST({ inst: '    version: 3\n    advert_int: 0.25' }).replace('failover: fast', '')), {});
  });

  const variants: Array<[string, string]> = [
    ['the plain profile', FAST()],
    ['unicast peers (what replaces authentication)', FAST({ inst: '    unicast: true' })],
    ['vrrp_strict (no GARP repeat)', FAST({ top: 'global_defs: {vrrp_strict: true}' }).replace('state: MASTER, priority: 150', 'state: MASTER, priority: 255')],
    ['two instances, one with its own advert_int', FAST({ inst: '    advert_int: 0.05', more: '  VI_2:\n    virtual_router_id: 52\n    virtual_ipaddresses: [10.0.0.102/32]' })],
    ['explicit vrrp_version 2', FAST({ top: 'global_defs: {vrrp_version: 2}' })],
    ['track_processes of the user\'s own', FAST({ top: 'vrrp_track_processes:\n  haproxy: {process: haproxy}', inst: '    track_processes: [haproxy]' })],
  ];
  for (const [name, text] of variants) {
    it(`keepalived -t accepts what it renders: ${name}`, (t) => {
      const skip = canRunKeepalived();
      if (skip) {
        if (process.env.KADEPLOY_REQUIRE_LAB === '1') assert.fail(skip);
        return t.skip(skip);
      }
      const { cluster } = loadInventory(write(text), {});
      const renderer = createRenderer(cluster);
      for (const node of cluster.nodes) {
        const r = keepalivedCheck(renderer.nodeFiles(node), interfacesOf(node));
        assert.equal(r.code, 0, `${node.name}: keepalived -t failed:\n${r.output}`);
        assert.doesNotMatch(r.output, /SECURITY VIOLATION|not executable|ignoring/i, r.output);
      }
    });
  }
});
