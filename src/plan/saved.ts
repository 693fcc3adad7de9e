// Saved plans (`kadeploy plan -o`, `apply --plan`, `show`): the plan as a versioned JSON file with,
// per node, a fingerprint of the facts it was built on. It holds no secret: file contents are
// references (sha256), re-rendered at apply time and required to hash the same; diffs are masked.
// Applying it first reads the facts again and refuses, changing nothing, when a node no longer matches.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PlanError } from '../errors.js';
import type { HostFacts } from '../facts/index.js';
import { maskSecrets } from '../mask.js';
import type { Change, Desired, Plan, Step } from '../types.js';

export const PLAN_FORMAT = 'kadeploy-plan';
export const PLAN_VERSION = 1;

/** Per fact (and per file), a digest: a mismatch names what changed. */
export type Fingerprint = Record<string, string>;

export interface SavedPlan {
  format: typeof PLAN_FORMAT;
  version: number;
  created: string;
  inventory: string;
  playbook?: string;
  limit?: string[];
  note: string;
  fingerprints: Record<string, Fingerprint>;
  plan: Plan;
}

const digest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

export function fingerprint(f: HostFacts): Fingerprint {
  const fp: Fingerprint = {
    os: digest(f.os),
    packages: digest(f.packages),
    addresses: digest(f.addresses),
    unless: digest(f.unless),
  };
  if (f.drained) fp.drained = digest(f.drained);
  for (const [unit, state] of Object.entries(f.units)) fp[`unit ${unit}`] = digest(state);
  for (const [path, file] of Object.entries(f.files)) fp[`file ${path}`] = digest(file);
  return fp;
}

/** What differs between the facts a plan was built on and the facts now ([] when none). */
export function factsChanged(saved: Fingerprint, now: Fingerprint): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort();
  return keys.filter((k) => saved[k] !== now[k]);
}

const stripStep = (s: Step): Step => (s.stdin ? { ...s, stdin: { sha256: s.stdin.sha256 } } : s);
const stripChange = (c: Change, secrets: readonly string[]): Change => {
  const { content, ...desired } = c.desired as Desired & { content?: string };
  return {
    ...c,
    desired: (content === undefined ? desired : { ...desired, content: undefined, sha256: digestText(content) }) as Desired,
    ...(c.diff ? { diff: maskSecrets(c.diff, secrets) } : {}),
    steps: c.steps.map(stripStep),
  };
};
const digestText = (text: string) => createHash('sha256').update(text).digest('hex');

/** The plan without contents (steps and changes keep their hashes), diffs masked. */
export function stripPlan(plan: Plan, secrets: readonly string[]): Plan {
  return {
    ...plan,
    nodes: plan.nodes.map((n) => ({ ...n, changes: n.changes.map((c) => stripChange(c, secrets)) })),
    phases: plan.phases.map((p) => ({ ...p, nodes: p.nodes.map((n) => ({ ...n, steps: n.steps.map(stripStep) })) })),
  };
}

export function serialisePlan(
  plan: Plan,
  facts: Map<string, HostFacts>,
  secrets: readonly string[],
  meta: { inventory: string; playbook?: string; limit?: string[]; now?: Date },
): string {
  const saved: SavedPlan = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    created: (meta.now ?? new Date()).toISOString(),
    inventory: meta.inventory,
    ...(meta.playbook ? { playbook: meta.playbook } : {}),
    ...(meta.limit?.length ? { limit: meta.limit } : {}),
    note: 'File contents are not in this plan, only their sha256: apply re-renders them from the inventory and refuses when one hashes differently.',
    fingerprints: Object.fromEntries([...facts].map(([node, f]) => [node, fingerprint(f)])),
    plan: stripPlan(plan, secrets),
  };
  // Masked once more as a whole: no secret can reach the file, whatever field it would be in.
  return `${maskSecrets(JSON.stringify(saved, null, 2), secrets)}\n`;
}

export function readSavedPlan(file: string): SavedPlan {
  let data: SavedPlan;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as SavedPlan;
  } catch (e) {
    throw new PlanError(`${file}: cannot read the plan: ${(e as Error).message.split('\n')[0]}`);
  }
  if (data?.format !== PLAN_FORMAT) throw new PlanError(`${file}: not a kadeploy plan (no "format": "${PLAN_FORMAT}")`);
  if (data.version !== PLAN_VERSION) throw new PlanError(`${file}: plan format version ${data.version}; this kadeploy reads version ${PLAN_VERSION}`);
  if (!data.plan?.nodes || !data.plan.phases || !data.fingerprints) throw new PlanError(`${file}: incomplete plan (plan.nodes, plan.phases and fingerprints are required)`);
  return data;
}

/** Every node of the saved plan still matches its fingerprint, or a PlanError naming each node and what changed. */
export function checkFingerprints(saved: SavedPlan, facts: Map<string, HostFacts>, file: string): void {
  const stale: string[] = [];
  for (const [node, fp] of Object.entries(saved.fingerprints)) {
    const now = facts.get(node);
    if (!now) {
      stale.push(`${node}: not reached now`);
      continue;
    }
    const changed = factsChanged(fp, fingerprint(now));
    if (changed.length) stale.push(`${node}: ${changed.join(', ')} changed since the plan`);
  }
  if (stale.length) throw new PlanError(`${file} is stale; nothing was changed on any node:\n  ${stale.join('\n  ')}\nMake a new plan (kadeploy plan ${saved.inventory} -o ${file}).`);
}

/**
 * Give the saved plan's uploads their content, re-rendered now (`desired`): each must hash as
 * planned, else the inventory or templates changed since the plan.
 */
export function attachContents(plan: Plan, desired: Map<string, readonly Desired[]>, file: string): Plan {
  const fill = (node: string, s: Step): Step => {
    if (!s.stdin) return s;
    const match = (desired.get(node) ?? []).find((d) => d.kind === 'file' && digestText(d.content) === s.stdin!.sha256) as { content: string } | undefined;
    if (!match) throw new PlanError(`${file}: ${node}: ${s.title}: the content rendered now does not hash as planned (the inventory or templates changed since the plan); nothing was changed`);
    return { ...s, stdin: { sha256: s.stdin.sha256, content: match.content } };
  };
  return { ...plan, phases: plan.phases.map((p) => ({ ...p, nodes: p.nodes.map((n) => ({ ...n, steps: n.steps.map((s) => fill(n.node, s)) })) })) };
}
