// kadeploy import: every real configuration in the corpus round-trips (import → render gives back the
// same statements, order, comments and quoting aside, with only the documented differences), several
// nodes split into cluster and per-node values, secrets never printed, and FILE:LINE errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { importConfigs } from '../../src/import/import.js';
import { compareStatements } from '../../src/import/compare.js';
import { parseConfig } from '../../src/import/parse.js';
import { loadInventory } from '../../src/inventory/load.js';
import { resolveCluster } from '../../src/inventory/resolve.js';
import { inventorySchema } from '../../src/inventory/schema.js';
import { createRenderer, KEEPALIVED_TEMPLATE } from '../../src/render/render.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CORPUS = join(ROOT, 'test', 'fixtures', 'real-configs');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const FILES = readdirSync(CORPUS).filter((f) => f.endsWith('.conf')).sort();

describe('kadeploy import', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-import-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Import files as nodes, then render each node through schema + resolve (as render does). */
  function roundTrip(files: Record<string, string>, addresses: Record<string, string> = {}) {
    const sources = Object.entries(files).map(([node, file]) => ({ node, file, statements: parseConfig(file) }));
    const result = importConfigs(sources, addresses);
    const invFile = join(dir, `inv-${Object.keys(files).join('-')}-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(invFile, stringify(result.inventory));
    const parsed = inventorySchema.safeParse(parse(readFileSync(invFile, 'utf8')));
    assert.ok(parsed.success, `schema: ${JSON.stringify(parsed.error?.issues.slice(0, 3))}`);
    const { cluster } = resolveCluster(parsed.data!, invFile, result.secrets);
    const render = createRenderer(cluster);
    return { result, invFile, sources, rendered: new Map(cluster.nodes.map((n) => [n.name, render.template(KEEPALIVED_TEMPLATE, n)])) };
  }

  it(`has a corpus of at least 25 real configurations, each naming its source`, () => {
    assert.ok(FILES.length >= 25, `${FILES.length} files`);
    for (const f of FILES) assert.match(readFileSync(join(CORPUS, f), 'utf8').split('\n')[0]!, /^# source: https:\/\/\S+/, f);
  });

  for (const f of FILES) {
    it(`round-trips ${f}`, () => {
      const file = join(CORPUS, f);
      const { rendered, sources } = roundTrip({ lb1: file }, { lb1: '192.0.2.1' });
      const out = join(dir, `${f}.rendered`);
      writeFileSync(out, rendered.get('lb1')!);
      const diff = compareStatements(sources[0]!.statements, parseConfig(out));
      assert.deepEqual(diff, { missing: [], added: [] }, `${f}\n${rendered.get('lb1')}`);
    });
  }

  it('the comparison sees a dropped or changed statement', () => {
    const file = join(CORPUS, 'keepalived-samples-vrrp.sync.conf');
    const src = parseConfig(file);
    const text = readFileSync(file, 'utf8');
    const changed = join(dir, 'changed.conf');
    writeFileSync(changed, text.replace('notify_fault "/usr/local/bin/vrrp.fault arg1 arg2"', '').replace('virtual_router_id 53', 'virtual_router_id 63'));
    const d = compareStatements(src, parseConfig(changed));
    assert.deepEqual(d.missing.sort(), ['vrrp_instance VI_3 > virtual_router_id 53', 'vrrp_sync_group G1 > notify_fault /usr/local/bin/vrrp.fault arg1 arg2']);
    assert.deepEqual(d.added, ['vrrp_instance VI_3 > virtual_router_id 63']);
  });

  it('splits two nodes into cluster values and per-node values (state, priority, unicast, script argument, router_id)', () => {
    const conf = (name: string, state: string, prio: number, src: string, peer: string) => `global_defs {
    router_id ${name}
}
vrrp_script chk_web {
    script "/usr/bin/curl -fs http://${src}/health"
    interval 2
    weight -20
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    notify_master "/usr/local/bin/notify.sh master"
}
vrrp_instance VI_1 {
    state ${state}
    interface eth0
    virtual_router_id 51
    priority ${prio}
    unicast_src_ip ${src}
    unicast_peer {
        ${peer}
    }
    authentication {
        auth_type PASS
        auth_pass s3cretpassword
    }
    virtual_ipaddress {
        10.0.0.100/24
    }
    track_script {
        chk_web weight 0
    }
}
vrrp_instance VI_2 {
    state ${state}
    interface eth0
    virtual_router_id 52
    priority ${prio}
    virtual_ipaddress {
        10.0.0.101/24
    }
}
`;
    const a = join(dir, 'a.conf');
    const b = join(dir, 'b.conf');
    writeFileSync(a, conf('lb1', 'MASTER', 150, '10.0.0.11', '10.0.0.12'));
    writeFileSync(b, conf('lb2', 'BACKUP', 100, '10.0.0.12', '10.0.0.11'));
    const { result, rendered, sources } = roundTrip({ lb1: a, lb2: b });
    const inv = result.inventory as { vrrp_instances: Record<string, Record<string, unknown>>; nodes: Array<Record<string, unknown>>; vrrp_scripts: Record<string, Record<string, unknown>> };
    assert.equal(inv.vrrp_instances.VI_1!.unicast, true, 'unicast derived from the node addresses');
    assert.deepEqual(inv.vrrp_instances.VI_1!.authentication, { auth_type: 'PASS', auth_pass: { env: 'KA_AUTH_PASS_VI_1' } });
    assert.equal(result.secrets.KA_AUTH_PASS_VI_1, 's3cretpa', 'the 8 characters keepalived uses');
    assert.ok(result.notes.some((n) => /14 characters; keepalived uses only the first 8/.test(n)));
    assert.deepEqual(inv.nodes.map((n) => [n.name, n.address, n.state, n.priority]), [['lb1', '10.0.0.11', 'MASTER', 150], ['lb2', '10.0.0.12', 'BACKUP', 100]]);
    assert.deepEqual(inv.nodes.map((n) => (n.global_defs as Record<string, unknown>).router_id), ['lb1', 'lb2']);
    assert.equal(inv.vrrp_scripts.chk_web!.interval, 2);
    // the script's argument differs per node: the first node's is the cluster value, the other overrides it
    assert.equal(inv.vrrp_scripts.chk_web!.script, '/usr/bin/curl -fs http://10.0.0.11/health');
    assert.deepEqual(inv.nodes.map((n) => (n.vrrp_scripts as Record<string, Record<string, unknown>> | undefined)?.chk_web?.script), [undefined, '/usr/bin/curl -fs http://10.0.0.12/health']);
    for (const [k, node] of ['lb1', 'lb2'].entries()) {
      const out = join(dir, `${node}.rendered`);
      writeFileSync(out, rendered.get(node)!);
      assert.deepEqual(compareStatements(sources[k]!.statements, parseConfig(out)), { missing: [], added: [] }, rendered.get(node));
    }
    // The imported inventory validates as it is (with the secret in the environment).
    const file = join(dir, 'two.yaml');
    writeFileSync(file, stringify(result.inventory));
    loadInventory(file, result.secrets);
  });

  it('follows include, and names FILE:LINE for what it cannot represent', () => {
    const inc = join(dir, 'conf.d');
    spawnSync('mkdir', ['-p', inc]);
    writeFileSync(join(inc, 'vi.conf'), 'vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 9\n    priority 100\n    virtual_ipaddress {\n        10.0.0.9 foo bar\n    }\n}\n');
    const main = join(dir, 'main.conf');
    writeFileSync(main, 'global_defs {\n    router_id x\n}\ninclude conf.d/*.conf\n');
    assert.throws(() => importConfigs([{ node: 'lb1', file: main, statements: parseConfig(main) }], { lb1: '10.0.0.1' }), new RegExp(`${inc}/vi.conf:7: 10.0.0.9 foo bar: kadeploy takes a VIP as`));
    writeFileSync(join(inc, 'vi.conf'), 'vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 9\n    priority 100\n    virtual_ipaddress {\n        10.0.0.9\n    }\n}\n');
    const r = importConfigs([{ node: 'lb1', file: main, statements: parseConfig(main) }], { lb1: '10.0.0.1' });
    assert.deepEqual((r.inventory.vrrp_instances as Record<string, Record<string, unknown>>).VI_1!.virtual_ipaddresses, ['10.0.0.9']);
    writeFileSync(main, 'include missing.conf\n');
    assert.throws(() => parseConfig(main), new RegExp(`${main}:1: include missing.conf: no such file`));
    writeFileSync(main, 'vrrp_instance VI_1 {\n    virtual_router_id 9\n');
    assert.throws(() => parseConfig(main), /never closed/);
    writeFileSync(main, 'vrrp_instance VI_1 {\n    virtual_router_id 9\n    virtual_router_id 10\n    virtual_ipaddress {\n 10.0.0.9\n }\n}\n');
    assert.throws(() => importConfigs([{ node: 'lb1', file: main, statements: parseConfig(main) }], { lb1: '10.0.0.1' }), new RegExp(`${main}:3: virtual_router_id is given twice`));
  });

  it('CLI: writes the inventory, never the secret, and needs an address it can find', () => {
    const a = join(dir, 'cli-a.conf');
    writeFileSync(a, readFileSync(join(CORPUS, 'kubeadm-ha-considerations.conf'), 'utf8').replace('auth_pass 42', 'auth_pass Zq9sEcr7'));
    const noAddr = spawnSync(process.execPath, [CLI, 'import', `lb1=${a}`], { encoding: 'utf8' });
    assert.equal(noAddr.status, 3);
    assert.match(noAddr.stderr, /no unicast_src_ip or mcast_src_ip .* give --address lb1=IP/);
    const r = spawnSync(process.execPath, [CLI, 'import', '--address', 'lb1=192.168.0.11', `lb1=${a}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /Zq9sEcr7/);
    assert.match(r.stdout, /auth_pass:\n\s+env: KA_AUTH_PASS_VI_1/);
    assert.match(r.stderr, /reads the environment variable KA_AUTH_PASS_VI_1/);
    const out = join(dir, 'cli.yaml');
    const w = spawnSync(process.execPath, [CLI, 'import', '-a', 'lb1=192.168.0.11', `lb1=${a}`, '-o', out], { encoding: 'utf8' });
    assert.equal(w.status, 0, w.stderr);
    const v = spawnSync(process.execPath, [CLI, 'validate', out], { encoding: 'utf8', env: { ...process.env, KA_AUTH_PASS_VI_1: 'Zq9sEcr7' } });
    assert.equal(v.status, 0, v.stderr);
  });
});
