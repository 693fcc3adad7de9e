// What each firewall manager module (nftables, iptables, ufw, firewalld) says about one node: what
// drops VRRP from the peers (with the exact fix), and the steps that let it through with the
// manager's own persistent mechanism. The task (src/tasks/firewall.ts) picks the active manager.
import type { Step } from '../types.js';

export const RULE_COMMENT = 'kadeploy-vrrp';

export interface ManagerPlan {
  /** The manager, as the plan names it ("ufw", "firewalld zone public", …). */
  manager: string;
  /** What drops VRRP now, each with the command that fixes it. */
  blocked: string[];
  /** What `manage` runs (also to keep a passing rule persistent or up to date). */
  steps: Step[];
  /** Said in the summary: what is not persisted. */
  notes: string[];
  /** The summary when nothing is to be done ("nftables lets VRRP through", "no nftables input chain"). */
  fine: string;
}

/** The IPv4 peers as a manager lists them: `10.0.0.1` or `10.0.0.1/32`. */
export const sameAddress = (a: string, b: string) => a.replace(/\/32$/, '') === b.replace(/\/32$/, '');
