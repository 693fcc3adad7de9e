// Rendering: golden files for every shipped example, fidelity to the source documents, the real
// `keepalived -t` on every rendered config, determinism, and user template overrides.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { loadFleet, loadInventory } from '../../src/inventory/load.js';
import { createRenderer } from '../../src/render/render.js';
import { canRunKeepalived, interfacesOf, keepalivedCheck } from '../support/keepalived-check.js';

const ROOT = join(import.meta.dirname, '..', '..');
const GOLDEN = join(ROOT, 'test', 'fixtures', 'golden');
const ENV = { KEEPALIVED_AUTH_PASS: 'unicast1', KEEPALIVED_PRIV_PASS: 'private1' }; // inventories/unicast.yaml and sync-group-dual-stack.yaml read them
const EXAMPLES = readdirSync(join(ROOT, 'inventories')).filter((f) => f.endsWith('.yaml') && f !== 'lab.yaml');

function renderExample(file: string) {
  // A fleet example renders each cluster with its own settings.
  return loadFleet(join(ROOT, 'inventories', file), ENV).fleet.clusters.flatMap((cluster) => {
    const render = createRenderer(cluster);
    return cluster.nodes.map((node) => ({ node, files: render.nodeFiles(node) }));
  });
}

/** Directive lines of a config, comments and braces dropped, spaces collapsed, order ignored. */
function directives(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').replace(/[{}]/g, '').trim().replace(/\s+/g, ' '))
    .filter(Boolean)
    .sort();
}

const keepalivedConf = (files: Array<{ path: string; content: string }>) =>
  files.find((f) => f.path === '/etc/keepalived/keepalived.conf')!.content;

describe('render', () => {
  it('ships the examples the documents describe', () => {
    assert.ok(EXAMPLES.includes('doc-two-nodes.yaml'));
    assert.ok(EXAMPLES.includes('kolla-three-controllers.yaml'));
    assert.ok(EXAMPLES.includes('unicast.yaml'));
  });

  for (const example of EXAMPLES) {
    it(`matches the golden files for ${example}`, () => {
      for (const { node, files } of renderExample(example)) {
        for (const f of files) {
          const golden = join(GOLDEN, basename(example, '.yaml'), node.name, f.path.replaceAll('/', '_'));
          if (process.env.UPDATE_GOLDEN) {
            mkdirSync(dirname(golden), { recursive: true });
            writeFileSync(golden, f.content);
          }
          assert.ok(existsSync(golden), `missing golden ${golden} (UPDATE_GOLDEN=1 to create)`);
          assert.equal(f.content, readFileSync(golden, 'utf8'), `${example} ${node.name} ${f.path}`);
        }
      }
    });

    it(`is deterministic and never leaves a variable unset for ${example}`, () => {
      const a = JSON.stringify(renderExample(example).map((n) => n.files));
      const b = JSON.stringify(renderExample(example).map((n) => n.files));
      assert.equal(a, b);
      assert.doesNotMatch(a, /undefined|\[object Object\]|\{\{|\{%/);
    });

    it(`passes the real keepalived -t for every node of ${example}`, (t) => {
      const why = canRunKeepalived();
      if (why) {
        if (process.env.KADEPLOY_REQUIRE_LAB) assert.fail(`keepalived -t required: ${why}`);
        return t.skip(`keepalived -t skipped: ${why}`);
      }
      for (const { node, files } of renderExample(example)) {
        const r = keepalivedCheck(files, interfacesOf(node));
        assert.equal(r.code, 0, `keepalived -t for ${example} ${node.name}:\n${r.output}`);
      }
    });
  }

  it('gives the configuration of sections 4.3 and 4.4 of the two-node document', () => {
    const [master, backup] = renderExample('doc-two-nodes.yaml');
    // Same directives and values; the one deprecated directive becomes its modern global form, and
    // script security is added (keepalived 2.2 refuses to run scripts without it).
    const modernise = (d: string) => (d === 'lvs_sync_daemon_interface enp0s3' ? 'lvs_sync_daemon enp0s3 VI_1' : d);
    const added = ['enable_script_security', 'global_defs', 'script_user root'];
    for (const [doc, rendered] of [['000-master.conf', master], ['000-backup.conf', backup]] as const) {
      const expected = directives(readFileSync(join(ROOT, 'test', 'fixtures', 'doc', doc), 'utf8')).map(modernise);
      const got = directives(keepalivedConf(rendered!.files));
      assert.deepEqual(got, [...expected, ...added].sort(), doc);
    }
  });

  it('gives the structure of the Kolla-generated configuration', () => {
    const [controller1] = renderExample('kolla-three-controllers.yaml');
    const doc = directives(readFileSync(join(ROOT, 'test', 'fixtures', 'doc', '004-controller.conf'), 'utf8'));
    const got = directives(keepalivedConf(controller1!.files));
    // Documented differences: 0 intervals dropped (keepalived 2.2 rejects them), auth_pass kept to
    // 8 characters, the external VIP added, script security added.
    const expected = doc
      .filter((d) => !/^vrrp_g(arp|na)_interval 0$/.test(d))
      .map((d) => d.replace('auth_pass kolla_keepalived', 'auth_pass kolla_ka'));
    assert.deepEqual(got, [...expected, '203.0.113.10/24 dev eth1', 'enable_script_security', 'script_user root'].sort());
  });

  it('lets a user templates directory override a built-in template', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kadeploy-tpl-'));
    writeFileSync(join(dir, 'keepalived.conf.njk'), 'custom for {{ node.name }}\n');
    const inv = join(dir, 'inv.yaml');
    const src = readFileSync(join(ROOT, 'inventories', 'doc-two-nodes.yaml'), 'utf8');
    writeFileSync(inv, `templates_dir: .\n${src}`);
    const { cluster } = loadInventory(inv);
    assert.equal(keepalivedConf(createRenderer(cluster).nodeFiles(cluster.nodes[0]!)), 'custom for lb-master\n');
  });

  it('fails clearly on a template that uses an unset variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kadeploy-tpl-'));
    writeFileSync(join(dir, 'keepalived.conf.njk'), '{{ vars.nope }}\n');
    const inv = join(dir, 'inv.yaml');
    writeFileSync(inv, `templates_dir: .\n${readFileSync(join(ROOT, 'inventories', 'doc-two-nodes.yaml'), 'utf8')}`);
    const { cluster } = loadInventory(inv);
    assert.throws(() => createRenderer(cluster).nodeFiles(cluster.nodes[0]!), /rendering keepalived.conf.njk for node lb-master: .*undefined/);
  });

  it('publishes a JSON Schema equal to the one generated from the zod schema', async () => {
    const { inventoryJsonSchema } = await import('../../src/inventory/json-schema.js');
    const shipped = JSON.parse(readFileSync(join(ROOT, 'inventories', 'inventory.schema.json'), 'utf8'));
    assert.deepEqual(shipped, inventoryJsonSchema(), 'run `npm run build && npm run schema` to refresh it');
    // Two forms: one cluster (nodes at the top), or a fleet (clusters: at the top); both strict.
    const [single, fleet] = shipped.anyOf as Array<{ additionalProperties: boolean; required: string[] }>;
    assert.equal(single?.additionalProperties, false);
    assert.ok(single?.required.includes('nodes'));
    assert.equal(fleet?.additionalProperties, false);
    assert.deepEqual(fleet?.required, ['clusters']);
  });
});
