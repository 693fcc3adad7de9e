// Plan building as pure data: given these facts, expect these steps (pyinfra-style operation tests).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { factScript, parseFacts } from '../../src/facts/fact.js';
import { factsFor, type HostFacts } from '../../src/facts/index.js';
import { needsOf } from '../../src/tasks/registry.js';
import { loadInventory } from '../../src/inventory/load.js';
import { buildPlan, planChanges } from '../../src/plan/build.js';
import { desiredFor } from '../../src/plan/desired.js';
import { formatPlan, planToJson } from '../../src/plan/format.js';
import { pendingChanges, type Desired } from '../../src/types.js';
import { loadPlaybook } from '../../src/playbook/playbook.js';
import { createRenderer } from '../../src/render/render.js';

const ROOT = join(import.meta.dirname, '..', '..');
const { cluster } = loadInventory(join(ROOT, 'inventories', 'doc-two-nodes.yaml'));
const renderer = createRenderer(cluster);
const playbook = loadPlaybook();
const [master, backup] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
const CONF = '/etc/keepalived/keepalived.conf';

const desiredOf = (node = master) => desiredFor(playbook, cluster, renderer, node);
const confOf = (d: Desired[]) => (d.find((x) => x.kind === 'file' && x.path === CONF) as { content: string }).content;

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    os: { id: 'debian', versionId: '12', family: 'debian' },
    packages: {},
    units: {},
    files: {},
    addresses: { lo: ['127.0.0.1'], eth0: ['192.168.69.100'] },
    keepalived: null,
    unless: {},
    ...over,
  };
}

/** Facts of a node that already runs exactly the desired config. */
function converged(node = master): HostFacts {
  return facts({
    packages: { keepalived: '1:2.2.7-1', psmisc: '23.6-1' },
    units: { keepalived: { enabled: true, active: true, pid: 42 } },
    files: { [CONF]: { mode: '640', owner: 'root', group: 'root', content: confOf(desiredOf(node)) } },
    keepalived: '2.2.7',
  });
}

const rollback = { configPath: CONF, unit: 'keepalived', unitWasActive: true };
const actions = (d: Desired[], f: HostFacts) => planChanges(d, f).map((c) => [c.kind, c.actions.join('+'), c.summary]);

describe('plan', () => {
  it('on a fresh node: install, create the config, enable and start, then check the VIP', () => {
    assert.deepEqual(actions(desiredOf(), facts()), [
      ['hold_start', 'run', 'mask keepalived until its config is written'],
      ['package', 'install', 'install keepalived, psmisc'],
      ['firewall', 'none', 'no nftables input chain'],
      ['file', 'create', `${CONF} (create)`],
      ['release_start', 'run', "unmask keepalived: its config is kadeploy's"],
      ['service', 'enable+start', 'keepalived: enable, start'],
      ['assert_vip', 'check', 'VIP on exactly the expected node'],
    ]);
  });

  it('on a converged node: nothing to do', () => {
    const changes = planChanges(desiredOf(), converged());
    assert.deepEqual(changes.map((c) => c.actions[0]), ['none', 'none', 'none', 'none', 'none', 'none', 'check']);
    assert.equal(pendingChanges({ nodes: [{ node: 'm', address: '', holds: [], changes, rollback }] }), 0);
  });

  it('installs only the missing package', () => {
    const f = converged();
    delete f.packages.psmisc;
    assert.deepEqual(actions(desiredOf(), f)[1], ['package', 'install', 'install psmisc']);
  });

  it('on a config change of a running keepalived: update with a diff, then reload (not restart)', () => {
    const f = converged();
    f.files[CONF]!.content = f.files[CONF]!.content.replace('priority 100', 'priority 110');
    const changes = planChanges(desiredOf(), f);
    const file = changes.find((c) => c.kind === 'file')!;
    assert.deepEqual(file.actions, ['update']);
    assert.match(file.diff!, /^-\s+priority 110$/m);
    assert.match(file.diff!, /^\+\s+priority 100$/m);
    assert.deepEqual(changes.find((c) => c.kind === 'service')!.actions, ['reload']);
  });

  it('a hand-written config that says the same as the rendered one is an update marked "formatting only"', () => {
    const f = converged();
    // What an operator's file looks like: comments, other spacing, a quoted value, another statement order.
    const rendered = f.files[CONF]!.content;
    const lines = rendered.split('\n');
    const prio = lines.findIndex((l) => /^\s+priority /.test(l));
    const state = lines.findIndex((l) => /^\s+state /.test(l));
    [lines[prio], lines[state]] = [lines[state]!, lines[prio]!];
    f.files[CONF]!.content = `# written by hand\n${lines.join('\n').replace(/virtual_router_id (\d+)/, 'virtual_router_id   "$1"   # vrid')}`;
    const file = planChanges(desiredOf(), f).find((c) => c.kind === 'file')!;
    assert.deepEqual(file.actions, ['update']);
    assert.match(file.summary, /\(update, formatting only\)/);

    f.files[CONF]!.content = rendered.replace('priority 100', 'priority 110');
    assert.doesNotMatch(planChanges(desiredOf(), f).find((c) => c.kind === 'file')!.summary, /formatting only/, 'a changed value is not formatting');
    f.files[CONF]!.content = `${rendered}\nvrrp_script extra {\n    script "/bin/true"\n}\n`;
    assert.doesNotMatch(planChanges(desiredOf(), f).find((c) => c.kind === 'file')!.summary, /formatting only/, 'an extra statement is not formatting');
  });

  it('fixes a wrong mode even when the content is right', () => {
    const f = converged();
    f.files[CONF]!.mode = '644';
    const file = planChanges(desiredOf(), f).find((c) => c.kind === 'file')!;
    assert.deepEqual(file.actions, ['update']);
    assert.match(file.summary, /mode 0644 → 0640/);
  });

  it('starts a stopped keepalived without touching its unchanged config', () => {
    const f = converged();
    f.units.keepalived = { enabled: true, active: false, pid: 0 };
    assert.deepEqual(actions(desiredOf(), f).slice(3, 6), [
      ['file', 'none', `${CONF} up to date`],
      ['release_start', 'none', 'keepalived not masked'],
      ['service', 'start', 'keepalived: start'],
    ]);
  });

  it('runs a command only when its `unless` check fails', () => {
    const d: Desired[] = [{ kind: 'command', task: 'fw', run: 'nft add rule', unless: 'nft list ruleset | grep -q vrrp' }];
    assert.deepEqual(actions(d, facts({ unless: { 'nft list ruleset | grep -q vrrp': 0 } }))[0]?.[1], 'none');
    assert.deepEqual(actions(d, facts({ unless: { 'nft list ruleset | grep -q vrrp': 1 } }))[0]?.[1], 'run');
  });

  it('plans a post-change check as a check, not a change', () => {
    const d: Desired[] = [{ kind: 'assert', task: 'ready', run: 'test -e /run/ready' }];
    const [c] = planChanges(d, facts());
    assert.deepEqual(c?.actions, ['check']);
    assert.equal(pendingChanges({ nodes: [{ node: 'm', address: '', holds: [], changes: [c!], rollback }] }), 0);
  });

  it('orders nodes so the current VIP holder is changed last', () => {
    const holderFacts = converged(master);
    holderFacts.addresses.eth0!.push('192.168.69.110');
    const plan = buildPlan([
      { spec: master, desired: desiredOf(master), facts: holderFacts },
      { spec: backup, desired: desiredOf(backup), facts: facts() },
    ]);
    assert.deepEqual(plan.nodes.map((n) => [n.node, n.holds]), [['lb-backup', []], ['lb-master', ['192.168.69.110']]]);
  });

  describe('first start: keepalived runs nowhere and no VIP is held', () => {
    const order = (m: HostFacts, b: HostFacts) =>
      buildPlan([
        { spec: backup, desired: desiredOf(backup), facts: b },
        { spec: master, desired: desiredOf(master), facts: m },
      ]).phases.filter((p) => !p.parallel).map((p) => p.title);
    const stopped = (node = master) => {
      const f = converged(node);
      f.units.keepalived = { enabled: true, active: false, pid: 0 };
      f.files[CONF]!.content += '# changed\n';
      return f;
    };

    it('fresh nodes: the highest priority first, so its election overlaps the others', () => {
      assert.deepEqual(order(facts(), facts()), ['Configure lb-master (first start, highest priority: first)', 'Configure lb-backup']);
    });

    it('keepalived stopped on every node: the same', () => {
      assert.deepEqual(order(stopped(master), stopped(backup)), ['Configure lb-master (first start, highest priority: first)', 'Configure lb-backup']);
    });

    it('keepalived running on one node (holding nothing, e.g. in FAULT): backups first, as for a running cluster', () => {
      const running = stopped(backup);
      running.units.keepalived = { enabled: true, active: true, pid: 42 };
      assert.deepEqual(order(stopped(master), running), ['Configure lb-backup', 'Configure lb-master']);
    });

    it('a VIP held (keepalived unseen, e.g. its unit renamed): the holder last', () => {
      const holding = facts();
      holding.addresses.eth0!.push('192.168.69.110');
      assert.deepEqual(order(facts(), holding), ['Configure lb-master', 'Configure lb-backup (holds 192.168.69.110: last)']);
    });

    it('the service starts before it is enabled (the enable overlaps the election)', () => {
      const steps = buildPlan([{ spec: master, desired: desiredOf(master), facts: facts() }]).phases.flatMap((p) => p.nodes.flatMap((n) => n.steps.map((s) => s.title)));
      assert.deepEqual(steps.slice(-4), ['unmask keepalived', 'start keepalived', 'keepalived active after start', 'enable keepalived']);
    });
  });

  it('never prints the auth_pass, in text or JSON', () => {
    const plan = buildPlan([{ spec: master, desired: desiredOf(master), facts: facts() }]);
    const text = formatPlan(plan, cluster.secrets, { color: false });
    const json = planToJson(plan, cluster.secrets);
    assert.match(text, /auth_pass \*{8}/);
    assert.doesNotMatch(text, /auth_pass secret/);
    assert.doesNotMatch(json, /secret\b(?!":)/);
    assert.equal(JSON.parse(json).changes_pending, 5);
  });

  it('safe first start: masks the unit before its package is installed, unmasks it after the config, before the start', () => {
    const plan = buildPlan([{ spec: master, desired: desiredOf(master), facts: facts() }]);
    const commands = plan.phases.flatMap((p) => p.nodes.flatMap((n) => n.steps.map((s) => s.command)));
    const at = (re: RegExp) => {
      const k = commands.findIndex((c) => re.test(c));
      assert.ok(k >= 0, `no command matches ${re}`);
      return k;
    };
    assert.equal(commands[0], 'systemctl mask keepalived');
    assert.ok(at(/^systemctl mask keepalived$/) < at(/apt-get .* install /), commands.join('\n'));
    assert.ok(at(/^mv .*keepalived\.conf/) < at(/^systemctl unmask keepalived$/), commands.join('\n'));
    assert.ok(at(/^systemctl unmask keepalived$/) < at(/^systemctl start keepalived$/), commands.join('\n'));
  });

  it('safe first start: a run cut after the install leaves the unit masked, and the next apply unmasks it', () => {
    const f = converged();
    f.units.keepalived = { enabled: false, active: false, pid: 0, masked: true };
    assert.deepEqual(actions(desiredOf(), f).map((a) => a.slice(0, 2)), [
      ['hold_start', 'none'], ['package', 'none'], ['firewall', 'none'], ['file', 'none'], ['release_start', 'run'], ['service', 'enable+start'], ['assert_vip', 'check'],
    ]);
  });
});

describe('facts', () => {
  it('reads files, packages and addresses in one script that a real sh runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kadeploy-facts-'));
    const present = join(dir, 'it is here.conf'); // a space: the path must be quoted
    writeFileSync(present, 'line one\nline "two" $(not run)\n');
    chmodSync(present, 0o640);
    const d: Desired[] = [
      { kind: 'file', task: 't', path: present, content: '', mode: '0640', secret: false },
      { kind: 'file', task: 't', path: join(dir, 'absent'), content: '', mode: '0640', secret: false },
      { kind: 'command', task: 'c', run: 'true', unless: 'exit 3' },
    ];
    const list = factsFor(needsOf(d));
    const out = execFileSync('sh', ['-c', factScript(list)], { encoding: 'utf8' });
    const f = parseFacts(list, out) as unknown as HostFacts;
    const { changed, ...file } = f.files[present]!;
    assert.deepEqual(file, { mode: '0640', owner: 'root', group: 'root', content: 'line one\nline "two" $(not run)\n' });
    assert.ok(Math.abs(changed! / 1000 - Date.now()) < 60_000, `ctime in microseconds: ${changed}`);
    assert.equal(f.files[join(dir, 'absent')], null);
    assert.equal(f.unless['exit 3'], 3);
    assert.ok(f.addresses.lo?.includes('127.0.0.1'), JSON.stringify(f.addresses));
    assert.equal(f.os.family, 'debian');
  });
});
