// What a task kind is: one module (src/tasks/<kind>.ts) says everything about it — the playbook
// arguments it takes, what it wants on a node, the facts it needs, how it compares wanted and actual,
// and the exact commands (with their undo) that close the gap. The registry lists the modules.
import type { z } from 'zod';
import type { FactNeeds, HostFacts } from '../facts/index.js';
import type { Cluster, NodeSpec } from '../inventory/model.js';
import type { Renderer } from '../render/render.js';
import type { Change, DesiredBase } from '../types.js';

/** What a task's `want` may use: rendering is local (no SSH). */
export interface WantContext {
  cluster: Cluster;
  renderer: Renderer;
  node: NodeSpec;
}

/** What planning one node may use besides its facts. */
export interface PlanContext {
  /**
   * Units to reload, not left stale: a file they read changes in this plan (reason ''), or changed
   * on the node since they last loaded it (the reason says so; facts/loaded.ts).
   */
  notified: Map<string, string>;
  /** Appended to a replaced file's path for its backup (one per run, see ops/backups.ts). */
  backupSuffix: string;
  /** Names temp files of this run on the node. */
  runId: string;
  aptProxy?: string;
  /** The inventory's package_lock_timeout (seconds): how long an install waits for apt's and dpkg's locks. */
  packageLockTimeoutS?: number;
  /** The node being planned (messages name it). */
  node?: string;
  /** The inventory's secret values: file diffs are masked with them (see mask.ts maskedDiff). */
  secrets: readonly string[];
}

export interface TaskKind<Args = unknown, Want extends DesiredBase = DesiredBase> {
  /** The task's key in a playbook, and the `kind` of what it wants (unless `want` says otherwise). */
  key: string;
  /** Its arguments in a playbook; absent for a kind only other kinds produce (`file`). */
  args?: z.ZodType<Args>;
  /** What the task wants on one node (rendered locally). */
  want?(args: Args, task: string, ctx: WantContext): DesiredBase[];
  /** What it needs read from the node. */
  needs?(want: Want): FactNeeds;
  /** Compare wanted and actual: the change, with its steps. Pure. Absent for a kind that only expands into others. */
  plan?(want: Want, facts: HostFacts, ctx: PlanContext): Change;
  /**
   * Where its steps run in the schedule: `packages` (every node in parallel, before any config), `node`
   * (the node's turn, VIP holders last; the default), `check` (after the node's changes, only on a
   * changed node), `cluster` (after every node: the VIP check).
   */
  phase?: 'packages' | 'node' | 'check' | 'cluster';
}

/** A change with nothing to do. */
export const noop = (want: DesiredBase, summary: string): Change => ({
  task: want.task,
  kind: want.kind,
  actions: ['none'],
  summary,
  desired: want as Change['desired'],
  steps: [],
});
