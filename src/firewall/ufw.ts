// ufw: kadeploy reads `ufw status verbose` (is it active, the default incoming policy) and
// `ufw show added` (the rules ufw keeps in /etc/ufw/user.rules). With the default deny or reject,
// VRRP passes only from a peer some rule allows (`ufw allow from PEER proto vrrp`, ufw ≥ 0.36).
// `manage` adds that rule per peer with comment "kadeploy-vrrp": ufw applies it now and persists it.
import { sh } from '../shell/quote.js';
import type { Step } from '../types.js';
import { RULE_COMMENT, sameAddress, sourceHolds, type ManagerPlan } from './manager.js';

export const UFW_STATUS = 'command -v ufw >/dev/null && ufw status verbose && ufw show added';

export interface UfwState {
  active: boolean;
  incoming: string;
  /** `ufw allow …` lines of `ufw show added`. */
  rules: string[];
}

export function parseUfw(text: string): UfwState | undefined {
  if (!/^Status: /m.test(text)) return undefined;
  return {
    active: /^Status: active/m.test(text),
    incoming: text.match(/^Default: (\w+) \(incoming\)/m)?.[1] ?? 'deny',
    rules: text.split('\n').filter((l) => /^ufw (allow|deny|reject|limit) /.test(l)),
  };
}

const vrrpRule = (r: string) => /\sproto (vrrp|112)\b/.test(r);
const fromOf = (r: string) => r.match(/\sfrom (\S+)/)?.[1];
const ownRules = (u: UfwState) => u.rules.filter((r) => r.includes(`comment '${RULE_COMMENT}'`));
const allowCommand = (peer: string) => sh('ufw', 'allow', 'from', peer, 'proto', 'vrrp', 'comment', RULE_COMMENT);
const deleteCommand = (rule: string) => sh('ufw', 'delete', ...rule.replace(/\s*comment '.*'$/, '').split(/\s+/).slice(1));

/** Why ufw drops VRRP from `peer`, or undefined when it passes. */
export function ufwBlocks(u: UfwState, peer: string): string | undefined {
  for (const r of u.rules.filter(vrrpRule)) {
    const from = fromOf(r);
    if (from && from !== 'any' && !sourceHolds(from, peer)) continue;
    return r.startsWith('ufw allow ') ? undefined : `rule "${r}"`;
  }
  return u.incoming === 'allow' ? undefined : `default incoming policy ${u.incoming}, no rule allows VRRP`;
}

export function planUfw(peers: string[], u: UfwState): ManagerPlan {
  const blocked: string[] = [];
  const steps: Step[] = [];
  for (const rule of ownRules(u).filter((r) => !peers.some((p) => sameAddress(fromOf(r) ?? '', p)))) {
    steps.push({ title: 'remove the ufw VRRP rule of a former peer', command: deleteCommand(rule) });
  }
  for (const peer of peers) {
    const why = ufwBlocks(u, peer);
    if (!why) continue;
    blocked.push(`ufw drops VRRP from ${peer} (${why}): run\n    ${allowCommand(peer)}`);
    steps.push({ title: `let VRRP from ${peer} through ufw`, command: allowCommand(peer) });
  }
  return { manager: 'ufw', blocked, steps, notes: [], fine: 'ufw lets VRRP through' };
}

/** `firewall: off`: kadeploy's ufw rules out again. */
export const removeUfw = (u: UfwState): Step[] => ownRules(u).map((r) => ({ title: "remove kadeploy's ufw VRRP rule", command: deleteCommand(r) }));
