// Judging VRRP adverts from two readings of keepalived's counters a short window apart: rates, not
// cumulative counters (a counter that grew an hour ago says nothing about now). Pure: readings in,
// verdicts out. A holder (master) sends one advert per advert_int; every other node receives them.

/** keepalived's per-instance advert counters at one moment. */
export interface AdvertCounters {
  received: number;
  sent: number;
}

/** Two readings of one node's counters, `seconds` apart. */
export interface AdvertWindow {
  seconds: number;
  before: Record<string, AdvertCounters>;
  after: Record<string, AdvertCounters>;
  /** Adverts this node's raw socket saw during the window, by `SOURCE-IP VRID` (absent: not measured). */
  heard?: Record<string, number>;
}

export interface AdvertNode {
  node: string;
  /** This node holds the instance's VIP now. */
  holds: boolean;
  /** The instance's last state in the node's journal (MASTER, BACKUP, FAULT), when known. */
  state?: string;
  /** Adverts received/sent during the window; undefined: no usable readings. */
  delta?: { received: number; sent: number; seconds: number };
  /** Why there is no delta. */
  missing?: string;
  /** Adverts of this instance heard during the window from each other node, by name (absent: not measured). */
  heardFrom?: Record<string, number>;
}

export interface AdvertVerdict {
  node: string;
  ok: boolean;
  detail: string;
}

/** The window: a few advert intervals, at least 2 s. */
export function advertWindowSeconds(advertInts: number[]): number {
  return Math.max(2, 3 * Math.max(0, ...advertInts));
}

/** One instance's change over the window; undefined (with a reason) when the readings cannot tell. */
export function advertDelta(w: AdvertWindow | undefined, instance: string): Pick<AdvertNode, 'delta' | 'missing'> {
  const [a, b] = [w?.before[instance], w?.after[instance]];
  if (!w || !a || !b) return { missing: 'no stats from keepalived' };
  if (b.received < a.received || b.sent < a.sent) return { missing: 'keepalived restarted during the measurement' };
  return { delta: { received: b.received - a.received, sent: b.sent - a.sent, seconds: w.seconds } };
}

/** What `node` heard from each other member, for the instance's router id (from the window's capture). */
export function heardFrom(w: AdvertWindow | undefined, vrid: number, members: Array<{ name: string; ip: string }>): Pick<AdvertNode, 'heardFrom'> {
  if (!w?.heard) return {};
  return { heardFrom: Object.fromEntries(members.map((m) => [m.name, w.heard![`${m.ip} ${vrid}`] ?? 0])) };
}

/** One advert the window must hear before it may close early: `receiver`'s listener hears `sender`'s, as `key` (`SOURCE-IP VRID`). */
export interface ExpectedAdvert {
  sender: string;
  receiver: string;
  key: string;
}

/** One instance as the window's early close sees it: who should be sending now (MASTER: holds the VIP or entered MASTER last). */
export interface InstanceSenders {
  vrid: number;
  members: Array<{ name: string; ip: string; sending: boolean }>;
}

/**
 * What a healthy window hears: every node that should be sending, heard by every other member of its
 * instance. Undefined (the window runs its full length) when a listener could confirm nothing: an
 * instance with no sender, or a sender with no other member to hear it.
 */
export function expectedAdverts(instances: InstanceSenders[]): ExpectedAdvert[] | undefined {
  const expected: ExpectedAdvert[] = [];
  for (const { vrid, members } of instances) {
    const senders = members.filter((m) => m.sending);
    if (senders.length === 0 || members.length < 2) return undefined;
    for (const s of senders) for (const r of members) if (r !== s) expected.push({ sender: s.name, receiver: r.name, key: `${s.ip} ${vrid}` });
  }
  return expected.length ? expected : undefined;
}

/**
 * What a node was seen sending: its own counter, or what another node's listener heard from it if more.
 * A window closed early (every sender heard once) can be shorter than advert_int, and the sender's own
 * counter window is offset from the receiver's by a few milliseconds: the advert a peer heard counts.
 */
const sentSeen = (n: AdvertNode, nodes: AdvertNode[]): number =>
  Math.max(n.delta?.sent ?? 0, ...nodes.map((r) => (r === n ? 0 : (r.heardFrom?.[n.node] ?? 0))));

/** One sender → receiver direction: what the receiver heard of what the sender sent. */
export interface PeerLink {
  from: string;
  to: string;
  heard: number;
  sent: number;
  ok: boolean;
}

/**
 * Per pair, where the receivers measured who they hear: each sender → each other node. Lost: less
 * than half of what the sender sent (windows are offset by a fraction of a second between nodes).
 */
export function peerLinks(nodes: AdvertNode[], senders: AdvertNode[]): PeerLink[] {
  return senders.flatMap((s) =>
    nodes
      .filter((r) => r !== s && r.heardFrom && r.delta)
      .map((r) => {
        const heard = r.heardFrom![s.node] ?? 0;
        const sent = sentSeen(s, nodes);
        return { from: s.node, to: r.node, heard, sent, ok: heard >= Math.max(1, sent / 2) };
      }),
  );
}

const describeLinks = (links: PeerLink[]) => links.map((l) => `${l.from} → ${l.to} ${l.ok ? 'works' : 'lost'} (${l.heard} of ${l.sent})`).join(', ');

const rate = (n: number, s: number) => `${(n / s).toFixed(1)}/s`;
const CAUSE = (node: string) => `likely a firewall dropping IP protocol 112 on ${node} or between them`;

/**
 * Verdicts for one instance's nodes. `advertInt` gives the expected rate (1/advert_int); "about the
 * expected rate" is at least half the adverts a window of that length should count, and at least one:
 * a window shorter than two intervals (closed early, once every sender was heard) asks for one advert.
 */
export function judgeAdverts(instance: string, advertInt: number, nodes: AdvertNode[]): AdvertVerdict[] {
  const expected = 1 / advertInt;
  const enough = (n: number, s: number) => n >= Math.max(1, (s * expected) / 2);
  // A window shorter than two intervals (closed early) asks for one advert: its rate says little.
  const want = (seconds: number) => `expected ${expected.toFixed(1)}/s${seconds < 2 * advertInt ? ', at least 1 advert in a window this short' : ''}`;
  // A sender: sends at about the expected rate, or holds the VIP and sends at all (a split brain
  // that began during the window).
  const seen = new Map(nodes.map((n) => [n, sentSeen(n, nodes)]));
  const senders = nodes.filter((n) => n.delta && (enough(seen.get(n)!, n.delta.seconds) || (n.holds && seen.get(n)! > 0)));
  // Heard: received about what the other senders sent in the same window (±1 for the windows'
  // small offset between nodes).
  const othersSent = (n: AdvertNode) => senders.filter((s) => s !== n).reduce((sum, s) => sum + seen.get(s)!, 0);
  // What a node was seen receiving: its counter, or what its own listener heard from the senders if
  // more (the listener is after netfilter, like keepalived, and starts a few ms from the counter
  // window: in a window closed early, one advert can be heard but not yet counted). Not in FAULT,
  // where keepalived ignores what arrives.
  const receivedSeen = (n: AdvertNode) =>
    n.state === 'FAULT' ? n.delta!.received : Math.max(n.delta!.received, senders.filter((s) => s !== n).reduce((sum, s) => sum + (n.heardFrom?.[s.node] ?? 0), 0));
  const heard = (n: AdvertNode) => receivedSeen(n) >= Math.max(1, othersSent(n) / 2);
  const role = (n: AdvertNode) => (n.holds ? 'holder' : 'sender');
  const names = (ns: AdvertNode[]) => ns.map((s) => `${s.node} (${role(s)})`).join(' and ');
  const links = peerLinks(nodes, senders);
  return nodes.map((n) => withPeers(judgeOne(n), links.filter((l) => l.to === n.node)));
  function judgeOne(n: AdvertNode): AdvertVerdict {
    const fail = (detail: string) => ({ node: n.node, ok: false, detail });
    if (!n.delta) return fail(n.missing ?? 'no stats from keepalived');
    const { received, sent, seconds } = n.delta;
    const counts = `received ${received}, sent ${sent} in ${seconds.toFixed(1)} s`;
    const others = senders.filter((s) => s !== n);
    const isSender = senders.includes(n);
    if (senders.length === 0) return fail(`no node sends adverts for ${instance} (${counts})`);
    if (isSender && others.length === 0) {
      // Its own counter may miss the one advert a short window's peers heard (see sentSeen).
      const peers = seen.get(n)! > sent ? `; its peers heard ${seen.get(n)}` : '';
      return { node: n.node, ok: true, detail: `${role(n)}: ${counts}${peers} (${rate(Math.max(sent, seen.get(n)!), seconds)}, ${want(seconds)})` };
    }
    if (!isSender && others.length === 1 && heard(n)) {
      const listener = receivedSeen(n) > received ? `; its listener heard ${receivedSeen(n)}` : '';
      return { node: n.node, ok: true, detail: `backup: ${counts}${listener} (${rate(receivedSeen(n), seconds)} from ${others[0]!.node}, ${want(seconds)})` };
    }
    if (!isSender && others.length > 1 && heard(n)) {
      return fail(`split brain: ${names(others)} ${others.length > 2 ? 'all' : 'both'} send adverts for ${instance}; ${n.node} ${counts}`);
    }
    if (n.state === 'FAULT' && received === 0) return fail(`in FAULT state: ${n.node} ignores adverts (see its track scripts; ${counts})`);
    const split = isSender ? `; split brain: ${names([n, ...others])} ${others.length > 1 ? 'all' : 'both'} send adverts for ${instance}` : '';
    if (receivedSeen(n) === 0) {
      const lost = others.map((s) => `${s.node} → ${n.node}`).join(', ');
      return fail(`${n.node} receives no adverts from ${names(others)} — ${CAUSE(n.node)}${split} (${lost} lost; ${counts})`);
    }
    if (!heard(n)) {
      const sent = othersSent(n);
      return fail(`${n.node} receives ${receivedSeen(n)} of the ${sent} adverts ${names(others)} sent (${rate(received, seconds)}, ${want(seconds)}) — adverts lost on the way to ${n.node}${split}`);
    }
    // A sender that does receive the other sender's adverts: this direction works.
    const works = others.map((s) => `${s.node} → ${n.node}`).join(', ');
    const deaf = others.filter((s) => !heard(s));
    return fail(
      deaf.length
        ? `split brain: ${names([n, ...others])} ${others.length > 1 ? 'all' : 'both'} send adverts for ${instance}; ${works} works (${rate(received, seconds)}), ` +
            `${deaf.map((d) => `${n.node} → ${d.node}`).join(', ')} lost (${deaf.map((d) => `${d.node} receives ${d.delta!.received ? 'too few' : 'none'}`).join(', ')}) — ${CAUSE(deaf.map((d) => d.node).join(', '))}`
        : `split brain: ${names([n, ...others])} ${others.length > 1 ? 'all' : 'both'} send adverts for ${instance} and receive each other's (${counts}) — ` +
            'adverts received but not accepted (virtual_router_id, authentication or version differ?) or an election in progress',
    );
  }
}

/**
 * The verdict with what the node heard from each sender: a direction lost there fails the node even
 * when its counters add up (with three nodes and two senders, hearing one of them looks like enough).
 */
function withPeers(v: AdvertVerdict, into: PeerLink[]): AdvertVerdict {
  if (!into.length) return v;
  const lost = into.filter((l) => !l.ok);
  if (v.ok && lost.length) {
    return { node: v.node, ok: false, detail: `adverts lost: ${describeLinks(lost)} — ${CAUSE(v.node)}; ${describeLinks(into.filter((l) => l.ok)) || 'no other sender'} (${v.detail})` };
  }
  return { ...v, detail: `${v.detail}; per peer: ${describeLinks(into)}` };
}
