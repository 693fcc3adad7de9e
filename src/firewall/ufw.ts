// ufw: kadeploy reads `ufw status verbose` (is it active, the default incoming policy) and
// `ufw show added` (the rules ufw keeps in /etc/ufw/user.rules). With the default deny or reject,
// VRRP passes only from a peer some rule allows (`ufw allow from PEER proto vrrp`, ufw ≥ 0.36).
// `manage` adds that rule per peer with comment "kadeploy-vrrp": ufw applies it now and persists it.
// IPv6 instances (ufw's IPV6=yes, Debian's default): `ufw allow in on IFACE from fe80::/10 proto vrrp`
// per interface (ufw 0.36 takes `vrrp`, not `112`; it lists the rule as "Anywhere (v6) on IFACE").
import { sh } from '../shell/quote.js';
import type { Step } from '../types.js';
import { RULE_COMMENT, sameAddress, sourceHolds, type ManagerPlan } from './manager.js';
import { probesOf, vrrpName, type Probe, type Vrrp } from './vrrp.js';

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

const vrrpRule = (r: string) => /\sproto (vrrp|112)\b/.test(r) && !/^ufw \w+ out\b/.test(r);
const fromOf = (r: string) => r.match(/\sfrom (\S+)/)?.[1];
const inOnOf = (r: string) => r.match(/\sin on (\S+)/)?.[1];
const ownRules = (u: UfwState) => u.rules.filter((r) => r.includes(`comment '${RULE_COMMENT}'`));
const allowCommand = ({ allow }: Probe) => sh('ufw', 'allow', ...(allow.interface ? ['in', 'on', allow.interface] : []), 'from', allow.source, 'proto', 'vrrp', 'comment', RULE_COMMENT);
const deleteCommand = (rule: string) => sh('ufw', 'delete', ...rule.replace(/\s*comment '.*'$/, '').split(/\s+/).slice(1));
/** Is kadeploy's rule `rule` the one it writes for `p`? */
const isRuleFor = (rule: string, p: Probe) => sameAddress(fromOf(rule) ?? '', p.allow.source) && inOnOf(rule) === p.allow.interface;

/** Why ufw drops VRRP from `peer` arriving on one of `interfaces`, or undefined when it passes (ufw's IPv6 rules are read alike). */
export function ufwBlocks(u: UfwState, peer: string, interfaces: readonly string[] = []): string | undefined {
  for (const r of u.rules.filter(vrrpRule)) {
    const from = fromOf(r);
    const on = inOnOf(r);
    if (from && from !== 'any' && !sourceHolds(from, peer)) continue;
    if (on && interfaces.length && !interfaces.includes(on)) continue;
    return r.startsWith('ufw allow ') ? undefined : `rule "${r}"`;
  }
  return u.incoming === 'allow' ? undefined : `default incoming policy ${u.incoming}, no rule allows VRRP`;
}

/** VRRP of each family the node has instances of (`wanted`); kadeploy's rules for anything else go. */
export function planUfw(wanted: Vrrp[], u: UfwState): ManagerPlan {
  const blocked: string[] = [];
  const steps: Step[] = [];
  const probes = wanted.flatMap((v) => probesOf(v).map((p) => ({ v, p })));
  for (const rule of ownRules(u).filter((r) => !probes.some(({ p }) => isRuleFor(r, p)))) {
    steps.push({ title: "remove kadeploy's ufw VRRP rule no longer needed (a former peer's)", command: deleteCommand(rule) });
  }
  for (const { v, p } of probes) {
    const why = ufwBlocks(u, p.source, p.interfaces);
    if (!why) continue;
    blocked.push(`ufw drops ${vrrpName(v)} ${p.label} (${why}): run\n    ${allowCommand(p)}`);
    steps.push({ title: `let ${vrrpName(v)} ${p.label} through ufw`, command: allowCommand(p) });
  }
  return { manager: 'ufw', blocked, steps, notes: [], fine: 'ufw lets VRRP through' };
}

/** `firewall: off`: kadeploy's ufw rules out again. */
export const removeUfw = (u: UfwState): Step[] => ownRules(u).map((r) => ({ title: "remove kadeploy's ufw VRRP rule", command: deleteCommand(r) }));
