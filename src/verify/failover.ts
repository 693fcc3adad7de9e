// The failover drill (checklist steps 11-12): stop HAProxy (or keepalived) on the VIP holder, time
// how long until another node holds the VIP and answers through it, watch for split brain, restore,
// and check the declared outcome: failback with preemption, staying put with nopreempt. Whatever
// happens (failure, error, Ctrl-C), every service the drill stopped is started again.
import { request } from 'node:http';
import type { Session } from '../apply/session.js';
import { expectedHolder, readPlacement } from '../apply/vip.js';
import { DrillAborted, KadeployError } from '../errors.js';
import { sh } from '../shell/quote.js';

export type DrillTarget = 'haproxy' | 'keepalived';

export interface DrillOptions {
  stop: DrillTarget;
  /** HAProxy port probed through the VIP; 0 to skip the probe. */
  probePort: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface DrillReport {
  vip: string;
  from: string;
  to?: string;
  expectedTo?: string;
  failoverMs?: number;
  failoverBoundMs: number;
  /** Until HAProxy answered through the VIP (from the moment the service was stopped). */
  serviceMs?: number;
  answeredBy?: string;
  maxHolders: number;
  /** Longest time two nodes were seen holding the VIP in a row (0: never in two polls running). */
  overlapMs: number;
  /** A longer overlap than this is a split brain; a shorter one is VRRP's own handover. */
  splitBrainMs: number;
  outcome?: 'failback' | 'stayed';
  expectedOutcome: 'failback' | 'stayed';
  failbackMs?: number;
  failbackBoundMs: number;
  ok: boolean;
  problems: string[];
}


const POLL_MS = 100;

/**
 * How long the VIP is held twice. In a VRRP handover the node taking over adds the VIP before the
 * other hears its advert and lets go, so two holders can be seen for a moment; a split brain is two
 * holders that last: longer than one advert interval (the time any node has to hear another).
 */
export function overlapWatch(): { see(holders: number, at: number): void; readonly longestMs: number } {
  let since: number | undefined;
  let longest = 0;
  return {
    see(holders, at) {
      if (holders < 2) since = undefined;
      else {
        since ??= at;
        longest = Math.max(longest, at - since);
      }
    },
    get longestMs() {
      return longest;
    },
  };
}
/** Allowance for polling over SSH and for the first track-script run after a state change. */
const SLACK_MS = 1500;

export async function failoverDrill(session: Session, opts: DrillOptions): Promise<DrillReport> {
  const { cluster, conns } = session;
  const log = opts.log ?? (() => {});
  const inst = cluster.nodes[0]!.instances[0]!;
  const vip = inst.vips[0]!.address.split('/')[0]!;
  const scripts = cluster.vrrpScripts.filter((s) => inst.trackScripts.includes(s.name));
  const detectMs = opts.stop === 'haproxy' ? Math.max(0, ...scripts.map((s) => (s.interval ?? 1) * (s.fall ?? 1) * 1000)) : 0;
  const riseMs = Math.max(0, ...scripts.map((s) => (s.interval ?? 1) * (s.rise ?? 1) * 1000));
  const failoverBoundMs = 3 * inst.advertInt * 1000 + detectMs + SLACK_MS;
  const failbackBoundMs = 3 * inst.advertInt * 1000 + riseMs + (inst.preemptDelay ?? 0) * 1000 + SLACK_MS;

  const holdersNow = async () => (await readPlacement(cluster.nodes, cluster.vrrpScripts, conns)).find((p) => p.vip === vip)?.holders ?? [];
  const before = await holdersNow();
  if (before.length !== 1) throw new KadeployError(`cannot start the drill: VIP ${vip} is held by ${before.length ? before.join(' and ') : 'no node'}; run kadeploy verify`);
  const from = before[0]!;
  // The VIP comes back only if `from` is the node a healthy cluster elects, and preemption is on.
  const preemptive = !inst.nopreempt && expectedHolder(cluster.nodes, cluster.vrrpScripts, vip, []) === from;

  // Who should take over: the best healthy node once `from` is unhealthy.
  const health = new Map(
    cluster.nodes.map((n) => [n.name, { active: !(n.name === from && opts.stop === 'keepalived'), scripts: n.name === from ? Object.fromEntries(inst.trackScripts.map((s) => [s, 1])) : {} }]),
  );
  const expectedTo = expectedHolder(cluster.nodes, cluster.vrrpScripts, vip, [], health);
  const report: DrillReport = {
    vip, from, expectedTo, failoverBoundMs, failbackBoundMs, maxHolders: 1, overlapMs: 0, splitBrainMs: inst.advertInt * 1000,
    expectedOutcome: preemptive ? 'failback' : 'stayed', ok: false, problems: [],
  };
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new DrillAborted('failover drill interrupted; services restored');
  };
  const overlap = overlapWatch();
  const unit = opts.stop;
  const fromConn = conns.get(from)!;
  let stopped = false;
  try {
    log(`stopping ${unit} on ${from} (holds ${vip})`);
    await fromConn.exec(sh('systemctl', 'stop', unit));
    stopped = true;
    const t0 = Date.now();
    const probe = opts.probePort ? probeUntilAnswered(vip, opts.probePort, t0 + failoverBoundMs * 3, opts.signal) : undefined;
    while (Date.now() - t0 < failoverBoundMs * 3) {
      checkAbort();
      const holders = await holdersNow();
      report.maxHolders = Math.max(report.maxHolders, holders.length);
      overlap.see(holders.length, Date.now());
      if (holders.length === 1 && holders[0] !== from) {
        report.failoverMs = Date.now() - t0;
        report.to = holders[0];
        break;
      }
      await sleep(POLL_MS);
    }
    const answer = await probe;
    if (answer) [report.serviceMs, report.answeredBy] = [answer.at - t0, answer.body.trim()];
    log(`VIP ${vip} moved to ${report.to ?? 'no node'} in ${report.failoverMs ?? '—'} ms`);

    checkAbort();
    log(`starting ${unit} on ${from} again`);
    await fromConn.exec(sh('systemctl', 'start', unit));
    stopped = false;
    const t1 = Date.now();
    const watchMs = preemptive ? failbackBoundMs * 3 : failbackBoundMs;
    let holders: string[] = [];
    while (Date.now() - t1 < watchMs) {
      checkAbort();
      holders = await holdersNow();
      report.maxHolders = Math.max(report.maxHolders, holders.length);
      overlap.see(holders.length, Date.now());
      if (preemptive && holders.length === 1 && holders[0] === from) {
        report.failbackMs = Date.now() - t1;
        break;
      }
      await sleep(POLL_MS);
    }
    report.outcome = holders.length === 1 && holders[0] === from ? 'failback' : holders.length === 1 && holders[0] === report.to ? 'stayed' : undefined;
  } finally {
    if (stopped) await fromConn.exec(sh('systemctl', 'start', unit), { check: false });
  }

  report.overlapMs = overlap.longestMs;
  const p = report.problems;
  if (report.to === undefined) p.push(`the VIP did not move within ${failoverBoundMs * 3} ms`);
  else if (report.failoverMs! > failoverBoundMs) p.push(`failover took ${report.failoverMs} ms, over the ${failoverBoundMs} ms bound`);
  if (report.to && expectedTo && report.to !== expectedTo) p.push(`the VIP went to ${report.to}, expected ${expectedTo} (next priority)`);
  if (opts.probePort && report.serviceMs === undefined) p.push(`nothing answered on ${vip}:${opts.probePort}`);
  if (report.overlapMs > report.splitBrainMs) p.push(`split brain: ${report.maxHolders} nodes held ${vip} at once for ${report.overlapMs} ms (over one advert interval, ${report.splitBrainMs} ms)`);
  if (report.outcome !== report.expectedOutcome) p.push(`after restore the VIP ${report.outcome === 'failback' ? 'came back' : report.outcome === 'stayed' ? 'stayed' : 'was lost'}; expected it to ${report.expectedOutcome === 'failback' ? 'come back' : 'stay'}`);
  if (report.failbackMs !== undefined && report.failbackMs > failbackBoundMs) p.push(`failback took ${report.failbackMs} ms, over the ${failbackBoundMs} ms bound`);
  report.ok = p.length === 0;
  return report;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET http://vip:port/ every POLL_MS until an HTTP 200 answer; resolves with when and what. */
export async function probeUntilAnswered(vip: string, port: number, deadline: number, signal?: AbortSignal) {
  while (Date.now() < deadline && !signal?.aborted) {
    const body = await new Promise<string | undefined>((resolve) => {
      const req = request({ host: vip, port, path: '/', timeout: 300 }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve(res.statusCode === 200 ? data : undefined));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
      req.end();
    });
    if (body !== undefined) return { at: Date.now(), body };
    await sleep(POLL_MS);
  }
  return undefined;
}

export function formatDrill(r: DrillReport): string {
  const lines = [
    `Failover drill on VIP ${r.vip}: stopped the service on ${r.from}`,
    `  failover:  ${r.to ? `${r.from} → ${r.to} in ${r.failoverMs} ms` : 'did not happen'} (bound ${r.failoverBoundMs} ms${r.expectedTo ? `, expected ${r.expectedTo}` : ''})`,
    `  service:   ${r.serviceMs !== undefined ? `answered through the VIP after ${r.serviceMs} ms (by ${r.answeredBy})` : 'not probed or no answer'}`,
    `  holders:   at most ${r.maxHolders} at once${r.maxHolders > 1 ? ` for ${r.overlapMs} ms${r.overlapMs > r.splitBrainMs ? ' — SPLIT BRAIN' : ' (handover, under one advert interval)'}` : ''}`,
    `  restore:   ${r.outcome === 'failback' ? `back on ${r.from}${r.failbackMs !== undefined ? ` in ${r.failbackMs} ms (bound ${r.failbackBoundMs} ms)` : ''}` : r.outcome === 'stayed' ? `stayed on ${r.to}` : 'VIP lost'} — expected: ${r.expectedOutcome === 'failback' ? 'failback (preemption)' : 'stay (nopreempt)'}`,
    r.ok ? 'drill PASSED' : `drill FAILED: ${r.problems.join('; ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
