// VRRP adverts judged on rates over a short window: readings in, verdicts out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advertDelta, advertWindowSeconds, expectedAdverts, heardFrom, judgeAdverts, type AdvertNode } from '../../src/verify/adverts.js';
import { parseHeard, parseStats, parseWindowLine, stopListenerCommand } from '../../src/verify/probe.js';

const node = (name: string, holds: boolean, received: number, sent: number, extra: Partial<AdvertNode> = {}): AdvertNode => ({
  node: name,
  holds,
  delta: { received, sent, seconds: 3 },
  ...extra,
});
const byNode = (vs: ReturnType<typeof judgeAdverts>) => Object.fromEntries(vs.map((v) => [v.node, v]));

describe('judging adverts over a window', () => {
  it('passes when the holder sends and the backup receives at about the expected rate', () => {
    const v = byNode(judgeAdverts('VI_1', 1, [node('lb1', true, 0, 3), node('lb2', false, 3, 0)]));
    assert.equal(v.lb1!.ok, true);
    assert.match(v.lb1!.detail, /^holder: received 0, sent 3 in 3\.0 s \(1\.0\/s, expected 1\.0\/s\)$/);
    assert.equal(v.lb2!.ok, true);
    assert.match(v.lb2!.detail, /^backup: received 3, sent 0 in 3\.0 s \(1\.0\/s from lb1/);
  });

  it('a backup that received adverts long ago but none now fails, naming node, holder and cause', () => {
    const v = byNode(judgeAdverts('VI_1', 1, [node('lb1', true, 0, 3), node('lb2', false, 0, 0), node('lb3', false, 3, 0)]));
    assert.equal(v.lb1!.ok, true);
    assert.equal(v.lb3!.ok, true);
    assert.equal(v.lb2!.ok, false);
    assert.match(v.lb2!.detail, /^lb2 receives no adverts from lb1 \(holder\) — likely a firewall dropping IP protocol 112 on lb2 or between them \(lb1 → lb2 lost/);
    assert.doesNotMatch(v.lb2!.detail, /split brain/);
  });

  it('a split brain names both nodes and which direction is lost', () => {
    // lb2 drops incoming VRRP: it becomes master too; lb1 still receives lb2's adverts.
    const v = byNode(judgeAdverts('VI_1', 1, [node('lb1', true, 3, 6), node('lb2', true, 0, 3)]));
    assert.equal(v.lb1!.ok, false);
    assert.equal(v.lb2!.ok, false);
    assert.match(v.lb2!.detail, /^lb2 receives no adverts from lb1 \(holder\) — likely a firewall dropping IP protocol 112 on lb2/);
    assert.match(v.lb2!.detail, /split brain: lb2 \(holder\) and lb1 \(holder\) both send adverts for VI_1/);
    assert.match(v.lb1!.detail, /split brain: lb1 \(holder\) and lb2 \(holder\) both send/);
    assert.match(v.lb1!.detail, /lb2 → lb1 works \(1\.0\/s\), lb1 → lb2 lost \(lb2 receives none\)/);
  });

  it('a split brain that began during the window is one already: the new holder sent once', () => {
    const v = byNode(judgeAdverts('VI_1', 1, [node('lb1', true, 1, 3), node('lb2', true, 0, 1)]));
    assert.match(v.lb2!.detail, /^lb2 receives no adverts from lb1 \(holder\) — likely a firewall .*; split brain: lb2 \(holder\) and lb1 \(holder\) both send/);
    assert.match(v.lb1!.detail, /split brain: .*lb2 → lb1 works \(0\.3\/s\), lb1 → lb2 lost \(lb2 receives none\)/);
    // Not holding and sending once (a backup's election try): not a sender.
    const one = byNode(judgeAdverts('VI_1', 1, [node('lb1', true, 0, 3), node('lb2', false, 3, 1)]));
    assert.equal(one.lb2!.ok, true);
  });

  it('both directions lost: each side is named as receiving none', () => {
    const v = byNode(judgeAdverts('VI_1', 1, [node('lb1', true, 0, 3), node('lb2', true, 0, 3)]));
    assert.match(v.lb1!.detail, /^lb1 receives no adverts from lb2 \(holder\)/);
    assert.match(v.lb2!.detail, /^lb2 receives no adverts from lb1 \(holder\)/);
  });

  it('a partial loss fails with the measured rate; no sender at all fails everywhere', () => {
    const partial = byNode(judgeAdverts('VI_1', 1, [node('lb1', true, 0, 3), node('lb2', false, 1, 0, { delta: { received: 1, sent: 0, seconds: 4 } })]));
    assert.equal(partial.lb2!.ok, false);
    assert.match(partial.lb2!.detail, /lb2 receives 1 of the 3 adverts lb1 \(holder\) sent \(0\.3\/s, expected 1\.0\/s\)/);
    const silent = judgeAdverts('VI_1', 1, [node('lb1', false, 0, 0), node('lb2', false, 0, 0)]);
    assert.deepEqual(silent.map((v) => v.ok), [false, false]);
    assert.match(silent[0]!.detail, /no node sends adverts for VI_1/);
  });

  it('the expected rate follows advert_int; a FAULT node is not blamed on a firewall', () => {
    // advert_int 2: 3 adverts in 6 s is the full rate.
    const slow = judgeAdverts('VI_1', 2, [node('lb1', true, 0, 3, { delta: { received: 0, sent: 3, seconds: 6 } }), node('lb2', false, 3, 0, { delta: { received: 3, sent: 0, seconds: 6 } })]);
    assert.deepEqual(slow.map((v) => v.ok), [true, true]);
    const fault = byNode(judgeAdverts('VI_1', 1, [node('lb1', true, 0, 3), node('lb2', false, 0, 0, { state: 'FAULT' })]));
    assert.match(fault.lb2!.detail, /^in FAULT state/);
  });

  it('readings: window length, counters reset, missing stats', () => {
    assert.equal(advertWindowSeconds([1]), 3);
    assert.equal(advertWindowSeconds([0.1]), 2);
    assert.equal(advertWindowSeconds([1, 5]), 15);
    const w = { seconds: 3, before: { VI_1: { received: 10, sent: 0 } }, after: { VI_1: { received: 13, sent: 0 } } };
    assert.deepEqual(advertDelta(w, 'VI_1'), { delta: { received: 3, sent: 0, seconds: 3 } });
    assert.match(advertDelta({ ...w, after: { VI_1: { received: 1, sent: 0 } } }, 'VI_1').missing!, /restarted/);
    assert.match(advertDelta(undefined, 'VI_1').missing!, /no stats/);
    const [v] = judgeAdverts('VI_1', 1, [{ node: 'lb1', holds: true, missing: 'no stats from keepalived' }]);
    assert.deepEqual(v, { node: 'lb1', ok: false, detail: 'no stats from keepalived' });
  });

  it("parses keepalived 2.2's stats dump", () => {
    const dump = 'VRRP Instance: VI_1\n  Advertisements:\n    Received: 12\n    Sent: 3\n  Became master: 1\n  Priority Zero:\n    Received: 0\n    Sent: 0\n';
    assert.deepEqual(parseStats(dump), { VI_1: { received: 12, sent: 3 } });
  });

  describe('per peer, with three nodes (which node hears which)', () => {
    // lb1 (150) holds; lb2 and lb3 drop what lb1 sends. lb2 (140) becomes master too; lb3 (130)
    // hears lb2 and stays backup. lb3's counter (3 of the 6 sent) looks like enough: the capture
    // says whose adverts are missing.
    const nodes = (): AdvertNode[] => [
      node('lb1', true, 3, 3, { heardFrom: { lb2: 3, lb3: 0 } }),
      node('lb2', true, 0, 3, { heardFrom: { lb1: 0, lb3: 0 } }),
      node('lb3', false, 3, 0, { heardFrom: { lb1: 0, lb2: 3 } }),
    ];
    it('names exactly the lost pairs and directions, and those that work', () => {
      const v = byNode(judgeAdverts('VI_1', 1, nodes()));
      assert.equal(v.lb3!.ok, false);
      assert.match(v.lb3!.detail, /per peer: lb1 → lb3 lost \(0 of 3\), lb2 → lb3 works \(3 of 3\)$/);
      assert.match(v.lb2!.detail, /per peer: lb1 → lb2 lost \(0 of 3\)$/);
      assert.match(v.lb1!.detail, /per peer: lb2 → lb1 works \(3 of 3\)$/);
    });
    it('a one-way loss the counters do not show fails the receiver, naming the pair', () => {
      // lb3 counts 3 adverts (as many as lb1 sent) but its capture heard none from lb1: they came
      // from elsewhere (another cluster with the same router id), so lb1 → lb3 is lost.
      const v = byNode(
        judgeAdverts('VI_1', 1, [
          node('lb1', true, 0, 3, { heardFrom: { lb2: 0, lb3: 0 } }),
          node('lb2', false, 3, 0, { heardFrom: { lb1: 3, lb3: 0 } }),
          node('lb3', false, 3, 0, { heardFrom: { lb1: 0, lb2: 0 } }),
        ]),
      );
      assert.equal(v.lb2!.ok, true);
      assert.match(v.lb2!.detail, /per peer: lb1 → lb2 works \(3 of 3\)$/);
      assert.equal(v.lb3!.ok, false);
      assert.match(v.lb3!.detail, /^adverts lost: lb1 → lb3 lost \(0 of 3\) — likely a firewall dropping IP protocol 112 on lb3/);
    });
    it('without a capture (no perl on the node) the counters alone decide, as before', () => {
      const plain = nodes().map(({ heardFrom: _, ...n }) => n);
      assert.doesNotMatch(judgeAdverts('VI_1', 1, plain).map((v) => v.detail).join('\n'), /per peer/);
    });
    it('maps captured sources to node names for the instance\'s router id', () => {
      const w = { seconds: 3, before: {}, after: {}, heard: { '10.0.0.11 51': 3, '10.0.0.11 52': 9, '10.0.0.99 51': 4 } };
      const members = [{ name: 'lb1', ip: '10.0.0.11' }, { name: 'lb2', ip: '10.0.0.12' }];
      assert.deepEqual(heardFrom(w, 51, members), { heardFrom: { lb1: 3, lb2: 0 } });
      assert.deepEqual(heardFrom({ ...w, heard: undefined }, 51, members), {});
      assert.deepEqual(parseHeard('10.0.0.11 51 3\n10.0.0.12 51 12\n'), { '10.0.0.11 51': 3, '10.0.0.12 51': 12 });
    });
  });

  describe('a window closed early, once every sender was heard (shorter than advert_int)', () => {
    // 0.4 s windows at advert_int 1: each node's own window, its counters and what its listener heard.
    const short = (name: string, holds: boolean, received: number, sent: number, heard: Record<string, number>, extra: Partial<AdvertNode> = {}): AdvertNode => ({
      node: name,
      holds,
      delta: { received, sent, seconds: 0.4 },
      heardFrom: heard,
      ...extra,
    });
    it('one advert heard in a window shorter than one interval passes', () => {
      const v = byNode(judgeAdverts('VI_1', 1, [short('lb1', true, 0, 1, { lb2: 0 }), short('lb2', false, 1, 0, { lb1: 1 })]));
      assert.equal(v.lb1!.ok, true, v.lb1!.detail);
      assert.match(v.lb1!.detail, /^holder: received 0, sent 1 in 0\.4 s \(2\.5\/s, expected 1\.0\/s, at least 1 advert in a window this short\)$/);
      assert.equal(v.lb2!.ok, true, v.lb2!.detail);
      assert.match(v.lb2!.detail, /^backup: received 1, sent 0 in 0\.4 s .*per peer: lb1 → lb2 works \(1 of 1\)$/);
    });
    it("the advert a peer heard counts when the sender's own counter window missed it", () => {
      // lb1's counters were read a few ms after it sent: its own delta is 0, lb2 heard and counted it.
      const v = byNode(judgeAdverts('VI_1', 1, [short('lb1', true, 0, 0, { lb2: 0 }), short('lb2', false, 1, 0, { lb1: 1 })]));
      assert.deepEqual([v.lb1!.ok, v.lb2!.ok], [true, true], `${v.lb1!.detail}\n${v.lb2!.detail}`);
      assert.match(v.lb1!.detail, /sent 0 in 0\.4 s; its peers heard 1/);
      // Nobody heard anything and nothing was sent: no sender, however short the window.
      const none = judgeAdverts('VI_1', 1, [short('lb1', true, 0, 0, { lb2: 0 }), short('lb2', false, 0, 0, { lb1: 0 })]);
      assert.deepEqual(none.map((x) => x.ok), [false, false]);
    });
    it("the advert a receiver's listener heard counts when its own counter window missed it", () => {
      // lb2's first counter reading came just after lb1's advert, which its listener (up earlier) heard.
      const v = byNode(judgeAdverts('VI_1', 1, [short('lb1', true, 0, 1, { lb2: 0 }), short('lb2', false, 0, 0, { lb1: 1 })]));
      assert.deepEqual([v.lb1!.ok, v.lb2!.ok], [true, true], `${v.lb1!.detail}\n${v.lb2!.detail}`);
      assert.match(v.lb2!.detail, /^backup: received 0, sent 0 in 0\.4 s; its listener heard 1 .*per peer: lb1 → lb2 works \(1 of 1\)$/);
      // Neither the counter nor the listener: lost, as before.
      const lost = byNode(judgeAdverts('VI_1', 1, [short('lb1', true, 0, 1, { lb2: 0 }), short('lb2', false, 0, 0, { lb1: 0 })]));
      assert.match(lost.lb2!.detail, /^lb2 receives no adverts from lb1 \(holder\)/);
    });
    it('at advert_int 0.1 a short window still needs about half the rate', () => {
      const fast = (sent: number) => judgeAdverts('VI_1', 0.1, [{ node: 'lb1', holds: false, delta: { received: 0, sent, seconds: 0.4 } }, { node: 'lb2', holds: false, delta: { received: sent, sent: 0, seconds: 0.4 } }]);
      assert.deepEqual(fast(2).map((x) => x.ok), [true, true]); // 2 in 0.4 s >= half of 4
      assert.match(fast(1)[0]!.detail, /no node sends adverts/); // not holding, 1 of 4: not a sender
    });
    it('a split brain where both hear each other is one, however short the window', () => {
      const v = judgeAdverts('VI_1', 1, [short('lb1', true, 1, 1, { lb2: 1 }), short('lb2', true, 1, 1, { lb1: 1 })]);
      assert.deepEqual(v.map((x) => x.ok), [false, false]);
      assert.match(v[0]!.detail, /split brain: lb1 \(holder\) and lb2 \(holder\) both send adverts for VI_1 and receive each other's/);
    });
    it('a FAULT node whose listener heard the holder is named as in FAULT, not as a firewall loss', () => {
      const v = byNode(judgeAdverts('VI_1', 1, [short('lb1', true, 0, 1, { lb2: 0 }), short('lb2', false, 0, 0, { lb1: 1 }, { state: 'FAULT' })]));
      assert.equal(v.lb1!.ok, true);
      assert.match(v.lb2!.detail, /^in FAULT state: lb2 ignores adverts/);
    });
  });

  describe('when the window may close early', () => {
    const inst = (vrid: number, members: Array<[string, string, boolean]>) => ({ vrid, members: members.map(([name, ip, sending]) => ({ name, ip, sending })) });
    it('each sender heard by every other member of its instance; a split brain expects both directions', () => {
      assert.deepEqual(expectedAdverts([inst(51, [['lb1', '10.0.0.11', true], ['lb2', '10.0.0.12', false], ['lb3', '10.0.0.13', false]])]), [
        { sender: 'lb1', receiver: 'lb2', key: '10.0.0.11 51' },
        { sender: 'lb1', receiver: 'lb3', key: '10.0.0.11 51' },
      ]);
      assert.deepEqual(expectedAdverts([inst(51, [['lb1', '10.0.0.11', true], ['lb2', '10.0.0.12', true]])]), [
        { sender: 'lb1', receiver: 'lb2', key: '10.0.0.11 51' },
        { sender: 'lb2', receiver: 'lb1', key: '10.0.0.12 51' },
      ]);
    });
    it('never early when there is nothing a listener could confirm', () => {
      assert.equal(expectedAdverts([inst(51, [['lb1', '10.0.0.11', false], ['lb2', '10.0.0.12', false]])]), undefined, 'no sender');
      assert.equal(expectedAdverts([inst(51, [['lb1', '10.0.0.11', true]])]), undefined, 'a sender alone in its instance');
      assert.equal(expectedAdverts([inst(51, [['lb1', '10.0.0.11', true], ['lb2', '10.0.0.12', false]]), inst(52, [['lb1', '10.0.0.11', false], ['lb2', '10.0.0.12', false]])]), undefined, 'one instance of two without a sender');
      assert.equal(expectedAdverts([]), undefined);
    });
    it("parses the listener's progress lines and stops only a perl by its PID", () => {
      assert.deepEqual(parseWindowLine('#kadeploy-window READY 4242'), { ready: '4242' });
      assert.deepEqual(parseWindowLine('#kadeploy-window HEARD 10.0.0.11 51'), { heard: '10.0.0.11 51' });
      assert.equal(parseWindowLine('10.0.0.11 51 3'), undefined);
      assert.equal(parseWindowLine('#kadeploy-window READY 42; rm -rf /'), undefined);
      assert.deepEqual(parseHeard('#kadeploy-window READY 4242\n#kadeploy-window HEARD 10.0.0.11 51\n10.0.0.11 51 1\n'), { '10.0.0.11 51': 1 });
      assert.match(stopListenerCommand('4242'), /comm.*= perl \] && kill -USR1/);
    });
  });
});
