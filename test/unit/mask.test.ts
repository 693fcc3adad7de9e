// Secrets are masked by position (issue 12, item 1): the diff of a file is made from the node's
// current content, so the OLD value (the cluster's live password) must be hidden as well as the new
// one, whether it was rotated in the inventory or edited by hand on the node.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HostFacts } from '../../src/facts/index.js';
import { loadInventory } from '../../src/inventory/load.js';
import { MASK, maskSecrets, maskedDiff } from '../../src/mask.js';
import { buildPlan } from '../../src/plan/build.js';
import { desiredFor } from '../../src/plan/desired.js';
import { formatPlan, planToJson } from '../../src/plan/format.js';
import { loadPlaybook } from '../../src/playbook/playbook.js';
import { createRenderer } from '../../src/render/render.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CONF = '/etc/keepalived/keepalived.conf';
const OLD = 'oldpass1';

function nodeFacts(conf: string): HostFacts {
  return {
    os: { id: 'debian', versionId: '12', family: 'debian' },
    packages: { keepalived: '1:2.2.7-1', psmisc: '23.6-1' },
    units: { keepalived: { enabled: true, active: true, pid: 42 } },
    files: { [CONF]: { mode: '640', owner: 'root', group: 'root', content: conf } },
    addresses: { lo: ['127.0.0.1'] },
    keepalived: '2.2.7',
    unless: {},
  };
}

describe('masking by position', () => {
  const { cluster } = loadInventory(join(ROOT, 'inventories', 'doc-two-nodes.yaml'));
  const renderer = createRenderer(cluster);
  const playbook = loadPlaybook();
  const node = cluster.nodes[0]!;
  const desired = desiredFor(playbook, cluster, renderer, node);
  const conf = (desired.find((d) => d.kind === 'file' && d.path === CONF) as { content: string }).content;
  const NEW = cluster.secrets[0]!;
  assert.ok(conf.includes(`auth_pass ${NEW}`));

  const planFor = (remote: string) => buildPlan([{ spec: node, desired, facts: nodeFacts(remote) }], { secrets: cluster.secrets });

  for (const [what, remote] of [
    ['rotated in the inventory', conf.replace(`auth_pass ${NEW}`, `auth_pass ${OLD}`)],
    ['edited by hand, with quotes and a comment', conf.replace(`auth_pass ${NEW}`, `auth_pass   "${OLD}"   # set by ops`)],
    ['on one line with its block', conf.replace(/authentication \{[^}]*\}/, `authentication { auth_type PASS; auth_pass ${OLD} }`)],
  ] as const) {
    it(`a secret ${what}: neither the old nor the new value in the dry-run text, --json or verify's drift diff; "auth_pass changed"`, () => {
      assert.ok(remote.includes(OLD) && remote !== conf);
      const plan = planFor(remote);
      const change = plan.nodes[0]!.changes.find((c) => c.kind === 'file')!;
      assert.deepEqual(change.actions, ['update']);
      for (const text of [formatPlan(plan, cluster.secrets, { color: false }), planToJson(plan, cluster.secrets), change.diff ?? '']) {
        assert.ok(!text.includes(OLD), `old value printed:\n${text}`);
        assert.ok(!text.includes(NEW), `new value printed:\n${text}`);
        assert.match(text, /auth_pass changed/);
      }
      assert.match(change.diff!, new RegExp(`^\\+\\s+auth_pass \\*{8} \\(auth_pass changed\\)$`, 'm'));
    });
  }

  it('an unchanged secret is not reported as changed; other lines still diff in clear', () => {
    const remote = conf.replace(/priority \d+/, 'priority 7');
    const diff = planFor(remote).nodes[0]!.changes.find((c) => c.kind === 'file')!.diff!;
    assert.doesNotMatch(diff, /changed/);
    assert.match(diff, /^-\s+priority 7$/m);
    assert.ok(!diff.includes(NEW));
  });

  it('maskedDiff: a secret in any managed file, found where the inventory value sits, is hidden old and new', () => {
    const before = 'x=1\nexport KA_PASS="oldvalue"\n';
    const after = 'x=2\nexport KA_PASS="newvalue"\n';
    const diff = maskedDiff('/usr/local/bin/notify.sh', before, after, ['newvalue']);
    assert.ok(!diff.includes('oldvalue') && !diff.includes('newvalue'), diff);
    assert.match(diff, /^\+export KA_PASS="\*{8} \(KA_PASS changed\)$/m);
    assert.match(diff, /^-x=1$/m);
  });

  it('maskSecrets hides an auth_pass value it does not know (a journal line, an error), and keeps masked text as is', () => {
    assert.equal(maskSecrets(`\tauth_pass ${OLD}\n`, []), `\tauth_pass ${MASK}\n`);
    assert.equal(maskSecrets(JSON.stringify({ d: `- auth_pass ${OLD}\n+ auth_pass x` }), []), JSON.stringify({ d: `- auth_pass ${MASK}\n+ auth_pass ${MASK}` }));
    const done = `+  auth_pass ${MASK} (auth_pass changed)`;
    assert.equal(maskSecrets(done, []), done);
  });
});
