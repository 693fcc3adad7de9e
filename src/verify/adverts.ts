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

const rate = (n: number, s: number) => `${(n / s).toFixed(1)}/s`;
const CAUSE = (node: string) => `likely a firewall dropping IP protocol 112 on ${node} or between them`;

/**
 * Verdicts for one instance's nodes. `advertInt` gives the expected rate (1/advert_int); "about the
 * expected rate" is at least half of it, since a short window counts whole adverts.
 */
export function judgeAdverts(instance: string, advertInt: number, nodes: AdvertNode[]): AdvertVerdict[] {
  const expected = 1 / advertInt;
  const enough = (n: number, s: number) => n / s >= expected / 2;
  const want = `expected ${expected.toFixed(1)}/s`;
  // A sender: sends at about the expected rate, or holds the VIP and sends at all (a split brain
  // that began during the window).
  const senders = nodes.filter((n) => n.delta && (enough(n.delta.sent, n.delta.seconds) || (n.holds && n.delta.sent > 0)));
  // Heard: received about what the other senders sent in the same window (±1 for the windows'
  // small offset between nodes).
  const heard = (n: AdvertNode) => {
    const sent = senders.filter((s) => s !== n).reduce((sum, s) => sum + s.delta!.sent, 0);
    return n.delta!.received >= Math.max(1, sent / 2);
  };
  const role = (n: AdvertNode) => (n.holds ? 'holder' : 'sender');
  const names = (ns: AdvertNode[]) => ns.map((s) => `${s.node} (${role(s)})`).join(' and ');
  return nodes.map((n): AdvertVerdict => {
    const fail = (detail: string) => ({ node: n.node, ok: false, detail });
    if (!n.delta) return fail(n.missing ?? 'no stats from keepalived');
    const { received, sent, seconds } = n.delta;
    const counts = `received ${received}, sent ${sent} in ${seconds.toFixed(1)} s`;
    const others = senders.filter((s) => s !== n);
    const isSender = senders.includes(n);
    if (senders.length === 0) return fail(`no node sends adverts for ${instance} (${counts})`);
    if (isSender && others.length === 0) return { node: n.node, ok: true, detail: `${role(n)}: ${counts} (${rate(sent, seconds)}, ${want})` };
    if (!isSender && others.length === 1 && heard(n)) {
      return { node: n.node, ok: true, detail: `backup: ${counts} (${rate(received, seconds)} from ${others[0]!.node}, ${want})` };
    }
    if (!isSender && others.length > 1 && heard(n)) {
      return fail(`split brain: ${names(others)} ${others.length > 2 ? 'all' : 'both'} send adverts for ${instance}; ${n.node} ${counts}`);
    }
    if (n.state === 'FAULT' && received === 0) return fail(`in FAULT state: ${n.node} ignores adverts (see its track scripts; ${counts})`);
    const split = isSender ? `; split brain: ${names([n, ...others])} ${others.length > 1 ? 'all' : 'both'} send adverts for ${instance}` : '';
    if (received === 0) {
      const lost = others.map((s) => `${s.node} → ${n.node}`).join(', ');
      return fail(`${n.node} receives no adverts from ${names(others)} — ${CAUSE(n.node)}${split} (${lost} lost; ${counts})`);
    }
    if (!heard(n)) {
      const sent = others.reduce((sum, o) => sum + o.delta!.sent, 0);
      return fail(`${n.node} receives ${received} of the ${sent} adverts ${names(others)} sent (${rate(received, seconds)}, ${want}) — adverts lost on the way to ${n.node}${split}`);
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
  });
}
