// Advert flow inferred from keepalived's own guarantee, without watching adverts: a BACKUP takes
// over once it has heard no advert for its master-down interval (down_timer_adverts × advert_int +
// skew). A node that has stayed BACKUP for longer than that, behind a holder that has stayed MASTER
// as long (and no other MASTER), has accepted an advert within the last interval — from the holder,
// the only node sending. Pure: readings in, verdicts or the reason they cannot be trusted out.
// Anything short of that picture is inconclusive: verify then measures adverts over a window
// (window.ts), which names losses, split brains and one-way losses.
import type { AdvertVerdict } from './adverts.js';

/** One node's view of one instance, all times on that node's clock (seconds since the epoch). */
export interface InstanceState {
  node: string;
  /** keepalived's unit is active. */
  active: boolean;
  /** Holds the instance's VIP now. */
  holds: boolean;
  /** The instance's last transition logged by the running keepalived; absent: none found. */
  state?: string;
  stateAtS?: number;
  /** The running keepalived's last reload (journal or systemd), if any: a reload may restart its timers. */
  reloadedAtS?: number;
  /** The node's clock, read before the journal; absent: the journal could not be read. */
  nowS?: number;
  /** down_timer_adverts of the configuration keepalived runs; absent: it may not run the rendered one. */
  downTimerAdverts?: number;
}

export interface InstanceStates {
  instance: string;
  advertInt: number;
  /** VRRP version (2 unless set): sets the skew (v2: < 1 s; v3: < advert_int). */
  version: 2 | 3;
  /** The VIP placement as judged by the VIP check, and whether it passed (one holder, the expected one). */
  placement: string;
  placementOk: boolean;
  nodes: InstanceState[];
}

export type AdvertInference = { conclusive: true; verdicts: AdvertVerdict[] } | { conclusive: false; reason: string };

/** keepalived's default down_timer_adverts (adverts missed before a BACKUP takes over). */
export const DOWN_TIMER_ADVERTS = 3;

/**
 * The longest a BACKUP can go without an advert and stay BACKUP: down_timer_adverts × advert_int
 * plus the skew's upper bound ((256 − priority)/256 of advert_int in VRRPv3, of a second in v2),
 * plus 0.1 s for keepalived's scheduling and the journal.
 */
export function masterDownBoundS(advertInt: number, version: 2 | 3, downTimerAdverts: number): number {
  const skew = version === 3 ? advertInt : Math.max(1, advertInt);
  return round(downTimerAdverts * advertInt + skew + 0.1);
}

/** down_timer_adverts in a keepalived.conf: the largest value set anywhere (instance or vrrp_ in global_defs), else the default. */
export function downTimerAdvertsOf(config: string): number {
  const values = [...config.matchAll(/^\s*(?:vrrp_)?down_timer_adverts\s+(\d+)\s*(?:#.*)?$/gm)].map((m) => Number(m[1]));
  return Math.max(DOWN_TIMER_ADVERTS, ...values);
}

const round = (s: number) => Math.round(s * 100) / 100;

/** "2 h 3 min", "4 min 10 s", "12.3 s". */
export function formatAge(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const NOT_MEASURED = 'inferred from states, not measured (--adverts measures)';

export function inferAdverts(i: InstanceStates): AdvertInference {
  const no = (reason: string): AdvertInference => ({ conclusive: false, reason });
  const { instance, nodes } = i;
  if (nodes.length < 2) return no(`no other node in ${instance} to hear its adverts`);
  if (!i.placementOk) return no(i.placement);
  for (const n of nodes) {
    if (!n.active) return no(`keepalived is not running on ${n.node}`);
    if (n.nowS === undefined) return no(`could not read the journal of ${n.node}'s keepalived`);
    if (!n.state || n.stateAtS === undefined) return no(`no ${instance} state in the journal of ${n.node}'s running keepalived`);
    if (n.downTimerAdverts === undefined) return no(`${n.node}'s keepalived may not run the rendered configuration (its master-down interval is not known)`);
    if (n.state !== 'MASTER' && n.state !== 'BACKUP') return no(`${n.node} is in ${n.state} state for ${instance}`);
  }
  const holder = nodes.find((n) => n.holds);
  if (!holder) return no(`no node of ${instance} holds its VIP`);
  if (holder.state !== 'MASTER') return no(`${holder.node} holds the VIP but its ${instance} last entered ${holder.state}`);
  const masters = nodes.filter((n) => n.state === 'MASTER');
  if (masters.length > 1) return no(`${masters.map((n) => n.node).join(' and ')} are all in MASTER state for ${instance}`);
  for (const n of nodes) {
    const bound = masterDownBoundS(i.advertInt, i.version, n.downTimerAdverts!);
    const recent = ([[n.stateAtS!, `entered ${n.state} for ${instance}`], [n.reloadedAtS, 'reloaded keepalived']] as const).find(([at]) => at !== undefined && !(n.nowS! - at > bound));
    if (recent) return no(`${n.node} ${recent[1]} ${formatAge(Math.max(0, n.nowS! - recent[0]!))} ago, within the ${bound} s master-down bound`);
  }
  // How long in this state, and since the last reload when there was one (a reload may restart the timer).
  const held = (n: InstanceState) =>
    `${n.state} ${n === holder ? '' : `behind ${holder.node} `}for ${formatAge(n.nowS! - n.stateAtS!)}` +
    (n.reloadedAtS !== undefined && n.reloadedAtS > n.stateAtS! ? ` (keepalived reloaded ${formatAge(n.nowS! - n.reloadedAtS)} ago)` : '');
  const backups = nodes.filter((n) => n !== holder);
  const verdicts = nodes.map((n): AdvertVerdict => {
    if (n === holder) {
      const behind = backups.map((b) => b.node).join(' and ');
      return { node: n.node, ok: true, detail: `holder: ${held(n)}, the only MASTER; ${behind} BACKUP behind it (see ${backups.length > 1 ? 'their lines' : 'its line'}) — ${NOT_MEASURED}` };
    }
    const bound = masterDownBoundS(i.advertInt, i.version, n.downTimerAdverts!);
    const timer = `${n.downTimerAdverts} × advert_int ${i.advertInt} s + skew`;
    return {
      node: n.node,
      ok: true,
      detail: `backup: ${held(n)}, so ${holder.node}'s adverts reached ${n.node} within the last ${bound} s (${timer} without one and it takes over) — ${NOT_MEASURED}`,
    };
  });
  return { conclusive: true, verdicts };
}
