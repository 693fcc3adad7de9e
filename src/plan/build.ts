// Plan building: a pure function of desired state and facts. No I/O, so it is tested as data.
import { vipHolder } from '../facts/addresses.js';
import type { HostFacts } from '../facts/index.js';
import type { NodeSpec } from '../inventory/model.js';
import { maskedDiff } from '../mask.js';
import type { Change, Desired, NodePlan, Plan } from './types.js';

const normMode = (mode: string) => mode.padStart(4, '0');

/** `secrets`: the inventory's secret values, masked in diffs with the node's own (see maskedDiff). */
export function planChanges(desired: Desired[], facts: HostFacts, secrets: readonly string[] = []): Change[] {
  const notified = new Set<string>(); // services whose config file changes
  const changes: Change[] = [];
  for (const d of desired) {
    changes.push(planOne(d, facts, notified, secrets));
  }
  return changes;
}

function planOne(d: Desired, facts: HostFacts, notified: Set<string>, secrets: readonly string[]): Change {
  const base = { task: d.task, kind: d.kind, desired: d };
  switch (d.kind) {
    case 'package': {
      const missing = d.names.filter((n) => facts.packages[n] === undefined);
      return missing.length
        ? { ...base, actions: ['install'], summary: `install ${missing.join(', ')}`, desired: { ...d, names: missing } }
        : { ...base, actions: ['none'], summary: `${d.names.join(', ')} installed` };
    }
    case 'file': {
      const remote = facts.files[d.path];
      if (remote && remote.content === d.content && normMode(remote.mode) === normMode(d.mode) && remote.owner === 'root') {
        return { ...base, actions: ['none'], summary: `${d.path} up to date` };
      }
      if (d.notify) notified.add(d.notify);
      const action = remote ? 'update' : 'create';
      const modeNote = remote && normMode(remote.mode) !== normMode(d.mode) ? `, mode ${normMode(remote.mode)} → ${normMode(d.mode)}` : '';
      const diff = maskedDiff(d.path, remote?.content ?? '', d.content, secrets);
      return { ...base, actions: [action], summary: `${d.path} (${action}${modeNote})`, diff };
    }
    case 'service': {
      const unit = facts.units[d.name] ?? { enabled: false, active: false, pid: 0 };
      const actions: Change['actions'] = [];
      if (d.enabled && !unit.enabled) actions.push('enable');
      if (d.started && !unit.active) actions.push('start');
      // A running keepalived rereads its config on SIGHUP: reload keeps the VIP where it is.
      else if (d.started && notified.has(d.name)) actions.push('reload');
      return actions.length
        ? { ...base, actions, summary: `${d.name}: ${actions.join(', ')}` }
        : { ...base, actions: ['none'], summary: `${d.name} enabled and running` };
    }
    case 'command': {
      const skip = d.unless !== undefined && facts.unless[d.unless] === 0;
      return skip ? { ...base, actions: ['none'], summary: `${d.run} (unless passed)` } : { ...base, actions: ['run'], summary: `run: ${d.run}` };
    }
    case 'assert':
      return { ...base, actions: ['check'], summary: `check: ${d.run}` };
    case 'assert_vip':
      return { ...base, actions: ['check'], summary: 'VIP on exactly the expected node' };
  }
}

/** VIPs (bare IPs) of a node's instances. */
export const vipsOf = (node: NodeSpec): string[] =>
  [...new Set(node.instances.flatMap((i) => i.vips.map((v) => v.address.split('/')[0]!)))];

/**
 * Order nodes so the VIP moves at most once: nodes holding no VIP first (lowest priority first),
 * current holders last.
 */
export function buildPlan(nodes: Array<{ spec: NodeSpec; desired: Desired[]; facts: HostFacts }>, secrets: readonly string[] = []): Plan {
  const planned: Array<NodePlan & { priority: number }> = nodes.map(({ spec, desired, facts }) => ({
    node: spec.name,
    address: spec.ip,
    holds: vipsOf(spec).filter((ip) => vipHolder(facts.addresses, ip) !== undefined),
    changes: planChanges(desired, facts, secrets),
    priority: Math.max(...spec.instances.map((i) => i.priority)),
  }));
  planned.sort((a, b) => a.holds.length - b.holds.length || a.priority - b.priority);
  return { nodes: planned.map(({ priority: _, ...p }) => p) };
}
