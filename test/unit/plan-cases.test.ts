// Plans as data (pyinfra's operation tests): each test/fixtures/plan-cases/*.json gives an inventory
// (a shipped one with edits, or inline YAML), optionally a playbook, and each node's facts; it
// expects the plan: per node its changes, then the schedule with every step's exact command and undo,
// and the VIP check. A case may also make steps fail (a fake runner that answers every command): it
// expects the commands run, in order — the planned steps, then the rollback's — the error and the recap.
// UPDATE_PLAN_CASES=1 rewrites the expectations (review the diff before committing).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { executePlan } from '../../src/apply/execute.js';
import type { HostFacts } from '../../src/facts/index.js';
import { loadInventory } from '../../src/inventory/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { desiredFor } from '../../src/plan/desired.js';
import type { Desired, Plan } from '../../src/types.js';
import { loadPlaybook } from '../../src/playbook/playbook.js';
import { createRenderer } from '../../src/render/render.js';
import type { Runner } from '../../src/shell/runner.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CASES = join(ROOT, 'test', 'fixtures', 'plan-cases');
const scratch = mkdtempSync(join(tmpdir(), 'kadeploy-plan-cases-'));
process.env.KEEPALIVED_AUTH_PASS ??= 'unipass1'; // the unicast example reads it from the environment
const UPDATE = process.env.UPDATE_PLAN_CASES === '1';
/** Fixed, so that commands are the same on every run. */
const OPTIONS = { runId: 'RUNID', backupSuffix: '.kadeploy-bak.20250101T000000Z' };

type FileFacts = null | { content?: string; replace?: [string, string]; mode?: string; owner?: string; changed?: number };
interface NodeFacts {
  /** Packages installed, unit enabled and active, every file as rendered. */
  converged?: boolean;
  /** Holds every VIP of its instances now. */
  holds?: boolean;
  packages?: Record<string, string>;
  units?: HostFacts['units'];
  files?: Record<string, FileFacts>;
  unless?: Record<string, number>;
  /** Leftover temp files, by managed file. */
  temps?: Record<string, string[]>;
}
interface Failure {
  about: string;
  node: string;
  /** Title of the planned step that fails. */
  step: string;
  output?: string;
  /** Other commands failing too (exact), e.g. the rollback's reload. */
  also?: string[];
  expect?: { ran: Record<string, string[]>; error: string; recap: unknown };
}
interface Case {
  about: string;
  inventory_file?: string;
  inventory?: string;
  edits?: Array<[string, unknown]>;
  playbook?: unknown;
  limit?: string[];
  facts: Record<string, NodeFacts>;
  failures?: Failure[];
  expect?: unknown;
}

function loadCase(name: string, c: Case) {
  const src = c.inventory ?? readFileSync(join(ROOT, c.inventory_file ?? 'inventories/doc-two-nodes.yaml'), 'utf8');
  const doc = parseDocument(src);
  for (const [path, value] of c.edits ?? []) doc.setIn(path.split('.').map((k) => (/^\d+$/.test(k) ? Number(k) : k)), value);
  const inv = join(scratch, `${name}.yaml`);
  writeFileSync(inv, doc.toString());
  const { cluster } = loadInventory(inv);
  let playbookFile: string | undefined;
  if (c.playbook) {
    playbookFile = join(scratch, `${name}.playbook.json`);
    writeFileSync(playbookFile, JSON.stringify(c.playbook));
  }
  const playbook = loadPlaybook(playbookFile);
  const renderer = createRenderer(cluster);
  const inputs = cluster.nodes.map((spec) => {
    const desired = desiredFor(playbook, cluster, renderer, spec);
    return { spec, desired, facts: factsOf(spec, desired, c.facts[spec.name] ?? {}) };
  });
  const targets = c.limit ? inputs.filter((i) => c.limit!.includes(i.spec.name)) : inputs;
  const plan = buildPlan(targets, { ...OPTIONS, all: inputs, scripts: cluster.vrrpScripts, aptProxy: cluster.aptProxy });
  return { plan, inputs, secrets: cluster.secrets };
}

function factsOf(spec: { ip: string; instances: Array<{ vips: Array<{ address: string }> }> }, desired: Desired[], f: NodeFacts): HostFacts {
  const files: HostFacts['files'] = {};
  const wanted = desired.filter((d): d is Extract<Desired, { kind: 'file' }> => d.kind === 'file');
  if (f.converged) for (const d of wanted) files[d.path] = { mode: d.mode.padStart(4, '0'), owner: 'root', group: 'root', content: d.content };
  for (const [path, over] of Object.entries(f.files ?? {})) {
    if (over === null) {
      files[path] = null;
      continue;
    }
    const base = files[path] ?? { mode: '0640', owner: 'root', group: 'root', content: wanted.find((d) => d.path === path)?.content ?? '' };
    const content = over.content ?? (over.replace ? base.content.replace(over.replace[0], over.replace[1]) : base.content);
    files[path] = { ...base, ...(over.mode ? { mode: over.mode } : {}), ...(over.owner ? { owner: over.owner } : {}), ...(over.changed ? { changed: over.changed } : {}), content };
  }
  const vips = f.holds ? spec.instances.flatMap((i) => i.vips.map((v) => v.address.split('/')[0]!)) : [];
  return {
    os: { id: 'debian', versionId: '12', family: 'debian' },
    packages: f.packages ?? (f.converged ? { keepalived: '1:2.2.7-1', psmisc: '23.6-1' } : {}),
    units: f.units ?? (f.converged ? { keepalived: { enabled: true, active: true, pid: 42 } } : {}),
    files,
    addresses: { lo: ['127.0.0.1'], eth0: [spec.ip, ...vips] },
    keepalived: f.converged ? '2.2.7' : null,
    unless: f.unless ?? {},
    temps: f.temps ?? {},
  };
}

/** The plan as the case file states it: readable, every command exact, contents by hash. */
function describePlan(plan: Plan) {
  return {
    nodes: plan.nodes.map((n) => ({
      node: n.node,
      holds: n.holds,
      changes: n.changes.map((c) => `${c.kind} ${c.actions.join('+')}: ${c.summary}`),
      rollback: n.rollback,
    })),
    phases: plan.phases.map((p) => ({
      title: p.title,
      parallel: p.parallel,
      rollback: p.rollback,
      nodes: p.nodes.map((n) => ({
        node: n.node,
        changes: n.changes,
        ok: n.ok,
        steps: n.steps.map((s) => ({
          title: s.title,
          command: s.command,
          ...(s.stdin ? { stdin: `sha256:${s.stdin.sha256}` } : {}),
          ...(s.failure ? { failure: s.failure } : {}),
          ...(s.optional ? { optional: true } : {}),
          ...(s.undo ? { undo: s.undo } : {}),
        })),
      })),
    })),
    vipCheck: plan.vipCheck,
  };
}

/** Answers every command with success, except the failing ones; `ip -o addr show` gets the node's addresses. */
function fakeRunners(plan: Plan, inputs: ReturnType<typeof loadCase>['inputs'], failure: Failure) {
  const ran: Record<string, string[]> = {};
  const conns = new Map<string, Runner>();
  for (const { spec, facts } of inputs) {
    const steps = plan.phases.flatMap((p) => p.nodes.filter((n) => n.node === spec.name).flatMap((n) => n.steps));
    const failing = spec.name === failure.node ? steps.find((s) => s.title === failure.step) : undefined;
    if (spec.name === failure.node) assert.ok(failing, `${failure.about}: no step "${failure.step}" on ${spec.name}`);
    const log: string[] = (ran[spec.name] = []);
    let failed = false;
    conns.set(spec.name, {
      async exec(command) {
        if (command === 'ip -o addr show') {
          const stdout = Object.entries(facts.addresses).flatMap(([dev, ips]) => ips.map((ip, k) => `${k + 1}: ${dev}    inet ${ip}/24 scope global ${dev}`)).join('\n');
          return { stdout, stderr: '', code: 0 };
        }
        // Until the failure, the plan's steps; after it, the rollback's commands.
        const step = failed ? undefined : steps.find((s) => s.command === command);
        log.push(step ? `step: ${step.title}` : `${failed ? 'undo: ' : ''}${command}`);
        const fails = (step !== undefined && step === failing) || (failed && failure.also?.includes(command));
        if (step && step === failing) failed = true;
        return { stdout: fails ? (failure.output ?? 'it failed') : '', stderr: '', code: fails ? 1 : 0 };
      },
    });
  }
  return { conns, ran };
}

const files = readdirSync(CASES).filter((f) => f.endsWith('.json')).sort();

describe('plan cases (test/fixtures/plan-cases)', () => {
  it('there are cases', () => assert.ok(files.length >= 8, files.join(', ')));
  for (const file of files) {
    it(file.replace(/\.json$/, ''), async () => {
      const path = join(CASES, file);
      const c = JSON.parse(readFileSync(path, 'utf8')) as Case;
      const { plan, inputs, secrets } = loadCase(file.replace(/\.json$/, ''), c);
      const got = describePlan(plan);
      const json = JSON.stringify(got);
      for (const s of secrets) assert.ok(!json.includes(s), 'no secret in any command');
      const outcomes: Failure[] = [];
      for (const failure of c.failures ?? []) {
        const { conns, ran } = fakeRunners(plan, inputs, failure);
        const { recaps, error } = await executePlan(plan, { conns, secrets, forks: 4, renderer: 'silent' });
        const expect = { ran: Object.fromEntries(Object.entries(ran).filter(([, l]) => l.length)), error: error?.message ?? '', recap: recaps };
        if (UPDATE) outcomes.push({ ...failure, expect });
        else assert.deepEqual(expect, failure.expect, `${file}: ${failure.about}`);
      }
      if (UPDATE) {
        writeFileSync(path, `${JSON.stringify({ ...c, expect: got, ...(c.failures ? { failures: outcomes } : {}) }, null, 2)}\n`);
        return;
      }
      assert.deepEqual(got, c.expect, `${file}: ${c.about}`);
    });
  }
});
