// The per-version rule table, the refusal, and what the plan does with a node's keepalived version:
// spellings, refusals before any change, and `keepalived -t` only where the version has it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseFacts } from '../../src/facts/fact.js';
import { factsFor, type HostFacts } from '../../src/facts/index.js';
import { loadInventory } from '../../src/inventory/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { desiredFor } from '../../src/plan/desired.js';
import { loadPlaybook } from '../../src/playbook/playbook.js';
import {
  compareVersions,
  DIRECTIVES,
  refusalMessage,
  spellings,
  unsupportedDirectives,
  upstreamVersion,
} from '../../src/render/keepalived-versions.js';
import { createRenderer } from '../../src/render/render.js';
import { fileSteps } from '../../src/tasks/file.js';
import type { Desired } from '../../src/types.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CONF = '/etc/keepalived/keepalived.conf';

describe('keepalived version table', () => {
  it('compares versions numerically', () => {
    assert.equal(compareVersions('2.2.10', '2.2.7'), 1);
    assert.equal(compareVersions('2.1.5', '2.2.0'), -1);
    assert.equal(compareVersions('2.3', '2.3.0'), 0);
    assert.equal(upstreamVersion('1:2.1.5-0.2+deb11u1'), '2.1.5');
    assert.equal(upstreamVersion('1:2.3.3-1'), '2.3.3');
  });

  it('has one row per directive, each with a version and the parser file it was checked in', () => {
    const names = DIRECTIVES.map(([d]) => d);
    assert.equal(new Set(names).size, names.length, 'no directive twice');
    for (const [d, since, file] of DIRECTIVES) {
      assert.match(d, /^[a-z][a-z0-9_]+$/);
      assert.match(since, /^2\.\d+\.\d+$/, d);
      assert.match(file, /^(keepalived|lib)\/.+\.c$/, d);
    }
    // Spot checks against keepalived's sources (and Debian 11's real 2.1.5, which lacks the 2.2 ones).
    const since = new Map(DIRECTIVES.map(([d, v]) => [d, v]));
    assert.equal(since.get('vrrp_down_timer_adverts'), '2.2.3');
    assert.equal(since.get('max_auto_priority'), '2.1.0');
    assert.equal(since.get('vrrp_startup_delay'), '2.0.14');
  });

  it('spells track_file the way the version reads it', () => {
    assert.equal(spellings('2.0.20').track_file, 'vrrp_track_file');
    assert.equal(spellings('2.1.5').track_file, 'track_file');
    assert.equal(spellings(undefined).track_file, 'track_file');
  });

  it('finds directives newer than the version, outside value lists, with their line', () => {
    const conf = [
      'global_defs {',
      '    vrrp_down_timer_adverts 3',
      '    max_auto_priority 10',
      '}',
      'vrrp_instance VI_1 {',
      '    track_interface {',
      '        vrf',
      '    }',
      '    unicast_fault_no_peer # a comment',
      '}',
    ].join('\n');
    assert.deepEqual(
      unsupportedDirectives(conf, '2.1.5').map((u) => [u.directive, u.since, u.line]),
      [['vrrp_down_timer_adverts', '2.2.3', 2], ['unicast_fault_no_peer', '2.2.5', 9]],
    );
    assert.deepEqual(unsupportedDirectives(conf, '2.0.10').map((u) => u.directive), ['vrrp_down_timer_adverts', 'max_auto_priority', 'unicast_fault_no_peer']);
    assert.deepEqual(unsupportedDirectives(conf, '2.2.7'), []);
    assert.deepEqual(unsupportedDirectives(conf, '2.3.1'), []);
  });

  it('the refusal names node, version, directive, the version that added it, and what to do', () => {
    const msg = refusalMessage('lb1', '2.1.5', CONF, [{ directive: 'vrrp_down_timer_adverts', since: '2.2.3', file: 'keepalived/core/global_parser.c', line: 12 }]);
    assert.equal(
      msg,
      `lb1: keepalived 2.1.5 does not understand a directive of its ${CONF}:\n` +
        '  vrrp_down_timer_adverts (line 12): keepalived 2.2.3 added it (keepalived/core/global_parser.c)\n' +
        '  Remove it from the inventory for this node, or upgrade keepalived on lb1 to 2.2.3 or newer.',
    );
  });
});

describe('plans per keepalived version', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-versions-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const inv = join(dir, 'inv.yaml');
  writeFileSync(
    inv,
    `global_defs:\n  verbatim: "vrrp_down_timer_adverts 3"\nnodes:\n  - { name: lb1, address: 192.168.69.11/24, state: MASTER, priority: 100 }\n  - { name: lb2, address: 192.168.69.12/24, state: BACKUP, priority: 90 }\n` +
      `vrrp_instances:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 51\n    virtual_ipaddresses: [192.168.69.100/24]\n`,
  );
  const { cluster } = loadInventory(inv);
  const playbook = loadPlaybook();
  const facts = (keepalived: string | null, candidate: string | null = null): HostFacts => ({
    os: { id: 'debian', versionId: '11', family: 'debian' },
    packages: keepalived ? { keepalived: `1:${keepalived}-1`, psmisc: '23-1' } : {},
    units: {},
    files: {},
    addresses: { eth0: [] },
    keepalived,
    keepalivedCandidate: candidate,
    unless: {},
  });
  const plan = (f: HostFacts) => {
    const renderer = createRenderer(cluster, () => f.keepalived ?? f.keepalivedCandidate ?? undefined);
    const nodes = cluster.nodes.map((spec) => ({ spec, desired: desiredFor(playbook, cluster, renderer, spec), facts: f }));
    return buildPlan(nodes);
  };
  const blockers = (f: HostFacts) => plan(f).nodes.flatMap((n) => n.changes.flatMap((c) => (c.blocker ? [c.blocker] : [])));

  it('refuses an installed 2.1.5, naming each node', () => {
    const b = blockers(facts('2.1.5'));
    assert.equal(b.length, 2);
    assert.match(b.find((x) => x.startsWith('lb1:'))!, /^lb1: keepalived 2\.1\.5 does not understand a directive .*\n {2}vrrp_down_timer_adverts \(line \d+\): keepalived 2\.2\.3 added it/);
  });
  it("refuses apt's candidate 2.1.5 before keepalived is installed", () => {
    assert.equal(blockers(facts(null, '2.1.5')).length, 2);
  });
  it('accepts 2.2.7 and 2.3.1, and an unknown version (keepalived -t then decides)', () => {
    assert.deepEqual(blockers(facts('2.2.7')), []);
    assert.deepEqual(blockers(facts(null, '2.3.1')), []);
    assert.deepEqual(blockers(facts(null, null)), []);
  });

  it("reads apt's candidate only while keepalived is not installed", () => {
    const fact = factsFor([]).find((f) => f.name === 'keepalivedCandidate')!;
    assert.match(fact.command, /apt-cache policy keepalived/);
    const parsed = parseFacts([fact], `@@kadeploy-fact keepalivedCandidate\nkeepalived:\n  Installed: (none)\n  Candidate: 1:2.1.5-0.2+deb11u1\n\n@@kadeploy-fact-rc 0\n`);
    assert.equal(parsed.keepalivedCandidate, '2.1.5');
    assert.equal(parseFacts([fact], `@@kadeploy-fact keepalivedCandidate\n  Candidate: (none)\n\n@@kadeploy-fact-rc 0\n`).keepalivedCandidate, null);
  });

  describe('keepalived -t', () => {
    const want = (content: string) => ({ kind: 'file', task: 't', path: join(dir, 'keepalived.conf'), content, mode: '0640', secret: true, validate: 'keepalived' }) as Extract<Desired, { kind: 'file' }>;
    const validate = (version: string | undefined) => fileSteps(want('x'), false, { backupSuffix: '.bak', runId: 'r1' }, version).find((s) => s.title.startsWith('validate'));
    // A stand-in keepalived like Debian 11's: prints the problem, exits 0.
    const bin = join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'keepalived'), "#!/bin/sh\necho \"(Line 2) Unknown keyword 'vrrp_down_timer_adverts'\" >&2\nexit 0\n");
    chmodSync(join(bin, 'keepalived'), 0o755);
    const run = (command: string) => spawnSync('sh', ['-c', command], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });

    it('is skipped before 2.0.4 (no --config-test), run from 2.0.4 on', () => {
      assert.equal(validate('2.0.3'), undefined);
      assert.ok(validate('2.0.4'));
      assert.ok(validate(undefined));
    });
    it('before 2.2 any output fails it (2.1.5 exits 0 on errors); from 2.2 the exit status decides', () => {
      const old = run(validate('2.1.5')!.command);
      assert.equal(old.status, 1);
      assert.match(old.stderr, /Unknown keyword/);
      assert.equal(run(validate('2.2.7')!.command).status, 0);
    });
  });
});
