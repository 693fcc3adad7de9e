// The plan is a value (as in Terraform): built by a pure function from desired state and facts,
// printed by dry-run, serialised by --json and `kadeploy plan -o`, executed step by step by apply.
// Nothing else decides what to do. This module imports nothing: every layer may use its types.

/** What a playbook task wants on one node, after rendering. `kind` names the task kind that plans it. */
export type Desired =
  | { kind: 'package'; task: string; names: string[]; cacheValidS?: number }
  | { kind: 'file'; task: string; path: string; content: string; mode: string; secret: boolean; validate?: 'keepalived'; notify?: string }
  | { kind: 'service'; task: string; name: string; enabled: boolean; started: boolean }
  | { kind: 'command'; task: string; run: string; unless?: string }
  | { kind: 'assert'; task: string; run: string; message?: string }
  | { kind: 'assert_vip'; task: string; timeoutS: number };

/** What every desired item has; a kind added by a module of its own (src/tasks/) extends it. */
export interface DesiredBase {
  kind: string;
  task: string;
}

export type Action = 'none' | 'install' | 'create' | 'update' | 'enable' | 'start' | 'reload' | 'restart' | 'run' | 'check' | 'remove';

/** A file's content, carried by reference: saved plans hold the hash, apply re-renders and compares. */
export interface ContentRef {
  sha256: string;
  /** Only in memory, never serialised. */
  content?: string;
}

/** One command of the plan, quoting done. */
export interface Step {
  title: string;
  /** The exact command line run on the node. */
  command: string;
  /** Fed to the command's stdin (a file's content). */
  stdin?: ContentRef;
  /**
   * When it fails, the error says this (with the command's last output lines, or its exit code),
   * instead of "command failed".
   */
  failure?: { message: string; show: 'output' | 'exit' };
  /**
   * How long the command may wait for a lock before its own work (seconds, e.g. package_lock_timeout):
   * its time limit is command_timeout plus this, so a long wait never eats the work's time.
   */
  lockWaitS?: number;
  /** Housekeeping: a failure is ignored (e.g. pruning old backups). */
  optional?: boolean;
  /**
   * Once this step has run, the node's rollback also puts `path` back: from `backup`, or removes it
   * when there was no file before (`backup` absent).
   */
  undo?: { path: string; backup?: string };
}

export interface Change {
  task: string;
  kind: string;
  /** Ordered actions; ['none'] when nothing is to be done. */
  actions: Action[];
  /** Human one-liner: "install keepalived, psmisc", "/etc/keepalived/keepalived.conf (update)". */
  summary: string;
  /** The desired state this change converges to (a saved plan holds no file content). */
  desired: Desired;
  /** Unified diff for files, secrets masked by position (maskedDiff). */
  diff?: string;
  /**
   * Why this plan must not be applied (e.g. a firewall that would split the cluster, under
   * `firewall: check`): apply refuses the whole plan before any change; verify reports it.
   */
  blocker?: string;
  /** The commands that make the change (or run the check), in order; empty when nothing is to be done. */
  steps: Step[];
}

/** How a node is put back when one of its steps fails: the one rollback (src/ops/rollback.ts). */
export interface NodeRollback {
  /** Validated with keepalived -t before it is put back. */
  configPath: string;
  unit: string;
  /** The unit was active before the apply: it must be active after the rollback. */
  unitWasActive: boolean;
}

export interface NodePlan {
  node: string;
  address: string;
  /** VIPs this node holds now: such a node is changed last, so the VIP moves at most once. */
  holds: string[];
  /** Drained (kadeploy drain): planned at the lowest priority until undrain. */
  drained?: boolean;
  changes: Change[];
  rollback: NodeRollback;
}

/** A group of steps: `parallel` runs its nodes at once; `rollback` undoes a failing node's steps. */
export interface Phase {
  title: string;
  parallel: boolean;
  rollback: boolean;
  nodes: Array<{ node: string; steps: Step[]; changes: number; ok: number }>;
}

/** Step 10: every VIP on exactly its expected node (with nopreempt, on any single node). */
export interface VipCheck {
  timeoutS: number;
  vips: Array<{ vip: string; expected?: string; anyHolder: boolean }>;
  /** The facts already show every VIP in place: with nothing changed, no need to read again. */
  satisfied: boolean;
}

export interface Plan {
  /** Nodes in the order apply will change them. */
  nodes: NodePlan[];
  /** The schedule: packages on every node in parallel, then each node alone (VIP holders last; on a first start, highest priority first). */
  phases: Phase[];
  vipCheck?: VipCheck;
}

export const isChange = (c: Change): boolean => !c.actions.includes('none') && !c.actions.includes('check');
export const pendingChanges = (plan: Pick<Plan, 'nodes'>): number => plan.nodes.reduce((n, p) => n + p.changes.filter(isChange).length, 0);
