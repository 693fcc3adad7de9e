// Saved plans as data: no secret and no content in the file, a fingerprint per node that names what
// changed, contents re-rendered at apply time that must hash as planned.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HostFacts } from '../../src/facts/index.js';
import { loadInventory } from '../../src/inventory/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { desiredFor } from '../../src/plan/desired.js';
import { formatPlan } from '../../src/plan/format.js';
import { attachContents, checkFingerprints, readSavedPlan, serialisePlan } from '../../src/plan/saved.js';
import { loadPlaybook } from '../../src/playbook/playbook.js';
import { createRenderer } from '../../src/render/render.js';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-saved-'));
const { cluster } = loadInventory(join(ROOT, 'inventories', 'doc-two-nodes.yaml'));
const renderer = createRenderer(cluster);
const playbook = loadPlaybook();
const desired = new Map(cluster.nodes.map((n) => [n.name, desiredFor(playbook, cluster, renderer, n)]));
const fresh = (ip: string): HostFacts => ({
  os: { id: 'debian', versionId: '12', family: 'debian' },
  packages: {},
  units: {},
  files: { '/etc/keepalived/keepalived.conf': { mode: '0640', owner: 'root', group: 'root', content: 'old config\nauth_pass secret\n' } },
  addresses: { eth0: [ip] },
  keepalived: null,
  unless: {},
});
const facts = new Map(cluster.nodes.map((n) => [n.name, fresh(n.ip)]));
const plan = buildPlan(cluster.nodes.map((spec) => ({ spec, desired: desired.get(spec.name)!, facts: facts.get(spec.name)! })), { all: undefined, scripts: cluster.vrrpScripts });

function save(name: string): string {
  const file = join(dir, name);
  writeFileSync(file, serialisePlan(plan, facts, cluster.secrets, { inventory: '/x/inv.yaml' }));
  return file;
}

describe('saved plans', () => {
  it('hold no secret (new or old) and no content; show prints them as the dry-run does', () => {
    const file = save('p.json');
    const text = JSON.stringify(readSavedPlan(file));
    assert.doesNotMatch(text, /secret/, 'auth_pass "secret" appears nowhere');
    assert.doesNotMatch(text, /"content":/);
    const saved = readSavedPlan(file);
    assert.equal(formatPlan(saved.plan, [], { color: false, commands: true }), formatPlan(plan, cluster.secrets, { color: false, commands: true }));
  });

  it('refuse a node whose facts changed, naming the node and what', () => {
    const saved = readSavedPlan(save('q.json'));
    checkFingerprints(saved, facts, 'q.json');
    const edited = new Map(facts);
    const f = structuredClone(facts.get('lb-backup')!);
    f.files['/etc/keepalived/keepalived.conf']!.content += '# by hand\n';
    f.units.keepalived = { enabled: true, active: true, pid: 7 };
    edited.set('lb-backup', f);
    assert.throws(() => checkFingerprints(saved, edited, 'q.json'), (e: Error) => {
      assert.match(e.message, /^q\.json is stale; nothing was changed on any node:\n  lb-backup: file \/etc\/keepalived\/keepalived\.conf, unit keepalived changed since the plan\n/);
      assert.doesNotMatch(e.message, /lb-master/);
      return true;
    });
  });

  it('re-render contents at apply time; a content that no longer hashes the same is refused', () => {
    const saved = readSavedPlan(save('r.json'));
    const uploads = (p: typeof plan) => p.phases.flatMap((ph) => ph.nodes.flatMap((n) => n.steps.filter((s) => s.stdin)));
    assert.ok(uploads(saved.plan).every((s) => s.stdin!.content === undefined));
    const filled = attachContents(saved.plan, desired, 'r.json');
    assert.deepEqual(uploads(filled).map((s) => s.stdin!.content), uploads(plan).map((s) => s.stdin!.content));
    const changed = new Map([...desired].map(([n, d]) => [n, d.map((x) => (x.kind === 'file' ? { ...x, content: `${x.content}# more\n` } : x))]));
    // The first upload checked is lb-master's: fresh nodes, a first start, the highest priority first.
    assert.throws(() => attachContents(saved.plan, changed, 'r.json'), /r\.json: lb-master: upload \/etc\/keepalived\/keepalived\.conf: the content rendered now does not hash as planned/);
  });

  it('refuse another format or version', () => {
    const other = join(dir, 'v2.json');
    writeFileSync(other, JSON.stringify({ format: 'kadeploy-plan', version: 2 }));
    assert.throws(() => readSavedPlan(other), /plan format version 2; this kadeploy reads version 1/);
    writeFileSync(other, '{}');
    assert.throws(() => readSavedPlan(other), /not a kadeploy plan/);
  });
});
