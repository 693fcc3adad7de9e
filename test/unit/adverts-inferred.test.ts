// Adverts inferred from the nodes' states (src/verify/inferred.ts): fake readings in, verdicts or the
// reason verify must measure instead out. Also the journal lines those states come from (probe.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downTimerAdvertsOf, formatAge, inferAdverts, masterDownBoundS, type InstanceState, type InstanceStates } from '../../src/verify/inferred.js';
import { parseIsoPrecise, parseTransitions } from '../../src/verify/probe.js';

const NOW = 1_800_000_000;
const HOUR = 3600;
const node = (name: string, state: string, ageS: number, extra: Partial<InstanceState> = {}): InstanceState => ({
  node: name,
  active: true,
  holds: state === 'MASTER',
  state,
  stateAtS: NOW - ageS,
  nowS: NOW,
  downTimerAdverts: 3,
  ...extra,
});
const instance = (nodes: InstanceState[], extra: Partial<InstanceStates> = {}): InstanceStates => ({
  instance: 'VI_1',
  advertInt: 1,
  version: 2,
  placement: 'VIP 10.0.0.100 on lb1 (expected lb1)',
  placementOk: true,
  nodes,
  ...extra,
});
const reason = (i: InstanceStates) => {
  const r = inferAdverts(i);
  assert.equal(r.conclusive, false, 'inconclusive');
  return (r as { reason: string }).reason;
};

describe('adverts inferred from the nodes states', () => {
  it('an old BACKUP behind the only MASTER holding the VIP: conclusive, saying what was shown and how fresh', () => {
    const r = inferAdverts(instance([node('lb1', 'MASTER', 2 * HOUR + 200), node('lb2', 'BACKUP', 2 * HOUR + 185)]));
    assert.equal(r.conclusive, true);
    const [lb1, lb2] = (r as { verdicts: Array<{ node: string; ok: boolean; detail: string }> }).verdicts;
    assert.deepEqual([lb1!.node, lb1!.ok, lb2!.node, lb2!.ok], ['lb1', true, 'lb2', true]);
    assert.match(lb1!.detail, /^holder: MASTER for 2 h 3 min, the only MASTER; lb2 BACKUP behind it .* inferred from states, not measured \(--adverts measures\)$/);
    assert.match(lb2!.detail, /^backup: BACKUP behind lb1 for 2 h 3 min, so lb1's adverts reached lb2 within the last 4\.1 s \(3 × advert_int 1 s \+ skew without one and it takes over\)/);
  });

  it('a transition more recent than the master-down bound: inconclusive (the loss may have just begun)', () => {
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', 2.5)])), /^lb2 entered BACKUP for VI_1 2\.5 s ago, within the 4\.1 s master-down bound$/);
    // The holder's transition counts too: a BACKUP that was behind another MASTER until just now says nothing of this one.
    assert.match(reason(instance([node('lb1', 'MASTER', 1), node('lb2', 'BACKUP', HOUR)])), /^lb1 entered MASTER/);
  });

  it('a reload more recent than the bound: inconclusive (a reload may restart the timer without logging a transition)', () => {
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', HOUR, { reloadedAtS: NOW - 1 })])), /^lb2 reloaded keepalived 1\.0 s ago/);
    const old = inferAdverts(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', HOUR, { reloadedAtS: NOW - 60 })]));
    assert.equal(old.conclusive, true);
    // Its age is the state's; the reload is said apart.
    assert.match((old as { verdicts: Array<{ detail: string }> }).verdicts[1]!.detail, /^backup: BACKUP behind lb1 for 1 h 0 min \(keepalived reloaded 1 min 0 s ago\), so lb1's adverts/);
  });

  it('a clock behind the journal line (age below zero) is never taken as old', () => {
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', -5)])), /^lb2 entered BACKUP for VI_1 0\.0 s ago/);
  });

  it('FAULT, an unknown state, two MASTERs, a holder not MASTER: inconclusive', () => {
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'FAULT', HOUR)])), /^lb2 is in FAULT state for VI_1$/);
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'STOP', HOUR)])), /^lb2 is in STOP state/);
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'MASTER', HOUR, { holds: false })])), /^lb1 and lb2 are all in MASTER state for VI_1$/);
    assert.match(reason(instance([node('lb1', 'BACKUP', HOUR, { holds: true }), node('lb2', 'BACKUP', HOUR)])), /^lb1 holds the VIP but its VI_1 last entered BACKUP$/);
  });

  it('the VIP not on exactly the expected node: inconclusive, with the placement', () => {
    const split = instance([node('lb1', 'MASTER', HOUR), node('lb2', 'MASTER', HOUR)], { placement: 'VIP 10.0.0.100 on lb1 and lb2 (expected lb1)', placementOk: false });
    assert.equal(reason(split), 'VIP 10.0.0.100 on lb1 and lb2 (expected lb1)');
  });

  it('no journal, no transition, keepalived stopped, an unknown configuration: inconclusive', () => {
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', HOUR, { nowS: undefined })])), /^could not read the journal of lb2's keepalived$/);
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', HOUR, { state: undefined, stateAtS: undefined })])), /^no VI_1 state in the journal of lb2's running keepalived$/);
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', HOUR, { active: false })])), /^keepalived is not running on lb2$/);
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', HOUR, { downTimerAdverts: undefined })])), /master-down interval is not known/);
  });

  it('one node alone: nobody to hear it, inconclusive', () => {
    assert.match(reason(instance([node('lb1', 'MASTER', HOUR)])), /^no other node in VI_1/);
  });

  it('down_timer_adverts and advert_int set the bound', () => {
    assert.equal(masterDownBoundS(1, 2, 3), 4.1);
    assert.equal(masterDownBoundS(1, 2, 10), 11.1);
    // VRRPv3 at 0.1 s: the skew is below one advert_int; VRRPv2's is below one second.
    assert.equal(masterDownBoundS(0.1, 3, 3), 0.5);
    assert.equal(masterDownBoundS(0.1, 2, 3), 1.4);
    const fast = (ageS: number) => instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', ageS)], { advertInt: 0.1, version: 3 });
    assert.equal(inferAdverts(fast(0.6)).conclusive, true);
    assert.match(reason(fast(0.4)), /within the 0\.5 s master-down bound/);
    const slow = instance([node('lb1', 'MASTER', HOUR), node('lb2', 'BACKUP', 8, { downTimerAdverts: 10 })]);
    assert.match(reason(slow), /^lb2 entered BACKUP for VI_1 8\.0 s ago, within the 11\.1 s master-down bound$/);
  });

  it("down_timer_adverts read from the rendered configuration: the largest set anywhere, else keepalived's 3", () => {
    assert.equal(downTimerAdvertsOf('vrrp_instance VI_1 {\n  advert_int 1\n}\n'), 3);
    assert.equal(downTimerAdvertsOf('global_defs {\n  vrrp_down_timer_adverts 5\n}\nvrrp_instance VI_1 {\n  down_timer_adverts 8 # slow\n}\n'), 8);
    assert.equal(downTimerAdvertsOf('vrrp_instance VI_1 {\n  down_timer_adverts 1\n}\n'), 3, 'never below the default: the bound errs long');
  });

  it('ages read as people say them', () => {
    assert.equal(formatAge(12.34), '12.3 s');
    assert.equal(formatAge(250), '4 min 10 s');
    assert.equal(formatAge(2 * HOUR + 185), '2 h 3 min');
    assert.equal(formatAge(100 * HOUR), '4 d 4 h');
  });
});

describe("the running keepalived's transitions and reloads, from its journal", () => {
  it('reads the last state per instance, the last reload and the node clock, with microseconds and the offset', () => {
    const out = [
      'now 1795350578.065234486',
      '2026-11-22T12:28:57.873346+0000 lb2 Keepalived_vrrp[605]: (VI_1) Entering BACKUP STATE (init)',
      '2026-11-22T13:29:01.326587+0100 lb2 Keepalived_vrrp[605]: (VI_1) Entering MASTER STATE',
      '2026-11-22T12:29:01.500000+0000 lb2 Keepalived_vrrp[605]: (VI_2) Entering FAULT STATE',
      '2026-11-22T12:29:02.486227+0000 lb2 Keepalived_vrrp[605]: (VI_1) Entering BACKUP STATE',
      '2026-11-22T12:29:10.862533+0000 lb2 Keepalived[604]: Reloading ...',
      '2026-11-22T12:29:10.864525+0000 lb2 Keepalived_vrrp[605]: Reloading',
    ].join('\n');
    const r = parseTransitions(out);
    assert.equal(r.nowS, 1795350578.065234486);
    assert.deepEqual(r.transitions.VI_1, { state: 'BACKUP', at: '2026-11-22T12:29:02+0000', atS: Date.UTC(2026, 10, 22, 12, 29, 2) / 1000 + 0.486227 });
    assert.equal(r.transitions.VI_2!.state, 'FAULT');
    assert.equal(r.reloadedAtS, Date.UTC(2026, 10, 22, 12, 29, 10) / 1000 + 0.864525);
    assert.equal(parseIsoPrecise('2026-11-22T13:29:01.326587+0100'), Date.UTC(2026, 10, 22, 12, 29, 1) / 1000 + 0.326587);
    // systemd 257 (Debian 13) prints the offset with a colon.
    assert.equal(parseIsoPrecise('2026-11-22T12:44:24.680772+00:00'), Date.UTC(2026, 10, 22, 12, 44, 24) / 1000 + 0.680772);
    assert.equal(parseIsoPrecise('Sun 2026-11-22 12:29:01'), undefined);
  });

  it('an unreadable journal gives no clock (inconclusive), no transitions', () => {
    assert.deepEqual(parseTransitions(''), { transitions: {} });
  });
});
