// Plan building: a pure function of desired state and facts. No I/O, so it is tested as data
// (test/fixtures/plan-cases). Each task kind plans its own change and commands (src/tasks/); this
// module makes the schedule: packages on every node in parallel, then one node at a time with the
// current VIP holders last (so the VIP moves at most once), each node's checks after its changes,
// then the VIP check with the expected holders. On a first start (keepalived runs nowhere and no node
// holds a VIP) the expected holders go first instead: see firstStart.
import { randomBytes } from 'node:crypto';
import { vipHolder } from '../facts/addresses.js';
import type { HostFacts } from '../facts/index.js';
import { DEFAULTS } from '../inventory/defaults.js';
import type { NodeSpec, VrrpScript } from '../inventory/model.js';
import { RUN_BACKUP_SUFFIX } from '../ops/backups.js';
import type { PlanContext } from '../tasks/kind.js';
import { taskKind } from '../tasks/registry.js';
import { expectedHolder, vipsOf } from './expected.js';
import { isChange, type Change, type DesiredBase, type NodePlan, type Phase, type Plan, type VipCheck } from '../types.js';

export interface PlanOptions {
  aptProxy?: string;
  packageLockTimeoutS?: number;
  backupSuffix?: string;
  runId?: string;
  secrets?: readonly string[];
}

const contextOf = (o: PlanOptions = {}): PlanContext => ({
  notified: new Map<string, string>(),
  backupSuffix: o.backupSuffix ?? RUN_BACKUP_SUFFIX,
  runId: o.runId ?? randomBytes(4).toString('hex'),
  aptProxy: o.aptProxy,
  packageLockTimeoutS: o.packageLockTimeoutS,
  secrets: o.secrets ?? [],
});

/** One node's changes, in playbook order. */
export function planChanges(desired: readonly DesiredBase[], facts: HostFacts, options?: PlanOptions | PlanContext): Change[] {
  const ctx = options && 'notified' in options ? options : contextOf(options);
  return desired.map((d) => taskKind(d.kind).plan!(d, facts, ctx));
}

export interface PlanInput {
  spec: NodeSpec;
  desired: readonly DesiredBase[];
  facts: HostFacts;
}

/**
 * `nodes`: the nodes to change; `all`: every node reached (for the VIP check: who holds what now).
 */
export function buildPlan(nodes: PlanInput[], options: PlanOptions & { all?: PlanInput[]; scripts?: VrrpScript[] } = {}): Plan {
  const ctx = contextOf(options);
  const planned: Array<NodePlan & { priority: number }> = nodes.map(({ spec, desired, facts }) => ({
    node: spec.name,
    address: spec.ip,
    holds: vipsOf(spec).filter((ip) => vipHolder(facts.addresses, ip) !== undefined),
    ...(spec.instances.some((i) => i.drained) ? { drained: true } : {}),
    changes: planChanges(desired, facts, { ...ctx, notified: new Map(), node: spec.name }),
    rollback: {
      configPath: DEFAULTS.keepalived.config_path,
      unit: DEFAULTS.keepalived.service,
      unitWasActive: facts.units[DEFAULTS.keepalived.service]?.active === true,
    },
    priority: Math.max(...spec.instances.map((i) => i.priority)),
  }));
  const first = firstStart(options.all ?? nodes);
  planned.sort(first ? (a, b) => b.priority - a.priority : (a, b) => a.holds.length - b.holds.length || a.priority - b.priority);
  const order = planned.map(({ priority: _, ...p }) => p);
  return { nodes: order, phases: schedule(order, first), vipCheck: vipCheckOf(order, options.all ?? nodes, options.scripts ?? []) };
}

/**
 * keepalived runs on no node and no node holds a VIP: nothing can move. Its first start then goes
 * highest priority first: that node's master-down wait (3 × advert_int + skew) runs while the others
 * are configured, it is MASTER before their own timers end, and the VIP moves once, onto it. Backups
 * first (the order for a running cluster) would make the first backup started MASTER for a moment,
 * then preempted: the VIP would move twice and the VIP check wait for the second move.
 */
function firstStart(all: PlanInput[]): boolean {
  const unit = DEFAULTS.keepalived.service;
  return all.every(({ spec, facts }) => facts.units[unit]?.active !== true && vipsOf(spec).every((ip) => vipHolder(facts.addresses, ip) === undefined));
}

const phaseOf = (c: Change) => taskKind(c.kind).phase ?? 'node';

function schedule(nodes: NodePlan[], first: boolean): Phase[] {
  const phases: Phase[] = [];
  const packages = nodes
    .map((n) => ({ n, changes: n.changes.filter((c) => phaseOf(c) === 'packages' && isChange(c)) }))
    .filter(({ changes }) => changes.length);
  if (packages.length) {
    phases.push({
      title: `Install packages on ${packages.length} node(s) in parallel`,
      parallel: true,
      rollback: false,
      nodes: packages.map(({ n, changes }) => ({ node: n.node, steps: changes.flatMap((c) => c.steps), changes: changes.length, ok: 0 })),
    });
  }
  for (const n of nodes) {
    const changes = n.changes.filter((c) => phaseOf(c) === 'node' && isChange(c));
    const unchanged = n.changes.filter((c) => (phaseOf(c) === 'node' || phaseOf(c) === 'packages') && !isChange(c)).length;
    // Post-change checks follow the changes, so a failing one can still roll the node back.
    const checks = changes.length ? n.changes.filter((c) => phaseOf(c) === 'check') : [];
    phases.push({
      title: `Configure ${n.node}${n.holds.length ? ` (holds ${n.holds.join(', ')}: last)` : first && nodes.length > 1 && n === nodes[0] ? ' (first start, highest priority: first)' : ''}`,
      parallel: false,
      rollback: true,
      nodes: [{ node: n.node, steps: [...changes, ...checks].flatMap((c) => c.steps), changes: changes.length, ok: unchanged + checks.length }],
    });
  }
  return phases;
}

function vipCheckOf(nodes: NodePlan[], all: PlanInput[], scripts: VrrpScript[]): VipCheck | undefined {
  const want = nodes.flatMap((n) => n.changes).find((c) => c.kind === 'assert_vip')?.desired as { timeoutS: number } | undefined;
  if (!want) return undefined;
  const specs = all.map((a) => a.spec);
  const vips = [...new Set(specs.flatMap(vipsOf))].map((vip) => {
    const holders = all.filter((a) => vipHolder(a.facts.addresses, vip) !== undefined).map((a) => a.spec.name);
    const anyHolder = specs.some((s) => s.instances.some((i) => i.nopreempt && i.vips.some((v) => v.address.split('/')[0] === vip)));
    return { vip, expected: expectedHolder(specs, scripts, vip, holders), anyHolder, holders };
  });
  const satisfied = vips.every((v) => v.holders.length === 1 && (v.anyHolder || v.holders[0] === v.expected));
  return { timeoutS: want.timeoutS, vips: vips.map(({ holders: _, ...v }) => v), satisfied };
}
