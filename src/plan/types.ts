// The plan is a value (as in Terraform): built by a pure function from desired state and facts,
// printed by dry-run, serialised by --json, executed by apply. Nothing else decides what to do.

/** What a playbook task wants on one node, after rendering. */
export type Desired =
  | { kind: 'package'; task: string; names: string[] }
  | { kind: 'file'; task: string; path: string; content: string; mode: string; secret: boolean; validate?: 'keepalived'; notify?: string }
  | { kind: 'service'; task: string; name: string; enabled: boolean; started: boolean }
  | { kind: 'command'; task: string; run: string; unless?: string }
  | { kind: 'assert'; task: string; run: string; message?: string }
  | { kind: 'assert_vip'; task: string; timeoutS: number };

export type Action =
  | 'none'
  | 'install'
  | 'create'
  | 'update'
  | 'enable'
  | 'start'
  | 'reload'
  | 'restart'
  | 'run'
  | 'check';

export interface Change {
  task: string;
  kind: Desired['kind'];
  /** Ordered actions; ['none'] when nothing is to be done. */
  actions: Action[];
  /** Human one-liner: "install keepalived, psmisc", "/etc/keepalived/keepalived.conf (update)". */
  summary: string;
  /** The desired state this change converges to (file content included: apply needs it). */
  desired: Desired;
  /** Unified diff for files, secrets masked by position (maskedDiff). */
  diff?: string;
}

export interface NodePlan {
  node: string;
  address: string;
  /** VIPs this node holds now: such a node is changed last, so the VIP moves at most once. */
  holds: string[];
  changes: Change[];
}

export interface Plan {
  /** Nodes in the order apply will change them. */
  nodes: NodePlan[];
}

export const isChange = (c: Change): boolean => !c.actions.includes('none') && !c.actions.includes('check');
export const pendingChanges = (plan: Plan): number => plan.nodes.reduce((n, p) => n + p.changes.filter(isChange).length, 0);
