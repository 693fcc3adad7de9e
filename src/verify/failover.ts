// The failover drill (checklist steps 11-12): stop HAProxy (or keepalived) on the VIP holder, time
// how long until another node holds the VIP and answers through it, watch for split brain, restore,
// and check the declared outcome: failback with preemption, staying put with nopreempt. Whatever
// happens (failure, error, Ctrl-C), every service the drill stopped is started again.
import { request } from 'node:http';
import type { Session } from '../apply/session.js';
import { expectedHolder, readPlacement } from '../apply/vip.js';
import { DrillAborted, KadeployError } from '../errors.js';
import { sh } from '../shell/quote.js';
import { holdersAfter, watchVip } from './vip-events.js';

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


/** Only the initial and final placement are polled; everything in between comes as events (vip-events.ts). */
/** A new HTTP attempt through the VIP this often while none has answered (well below the times measured). */
const PROBE_EVERY_MS = 10;
/** One attempt gives up after this (a SYN sent to the old holder's MAC is never answered). */
const PROBE_TIMEOUT_MS = 300;

/**
 * How long the VIP is held twice. In a VRRP handover the node taking over adds the VIP before the
 * other hears its advert and lets go, so two holders can be seen for a moment; a split brain is two
 * holders that last: longer than one advert interval (the time any node has to hear another).
 * Fed with each change of the holder count, it measures each stretch with two or more holders.
 */
export function overlapWatch(): { see(holders: number, at: number): void; readonly longestMs: number } {
  let since: number | undefined;
  let longest = 0;
  return {
    see(holders, at) {
      if (since !== undefined) longest = Math.max(longest, at - since);
      if (holders < 2) since = undefined;
      else since ??= at;
    },
    get longestMs() {
      return longest;
    },
  };
}
/** Allowance for the first track-script run after a state change, and for a loaded machine. */
const SLACK_MS = 1500;

/**
 * Start the unit the drill stopped. Its start-rate counter is reset first: `--repeat` stops and starts
 * it more often than systemd's default limit (5 starts in 10 s) allows, and these starts are ours.
 */
const startAgain = (unit: string) => `${sh('systemctl', 'reset-failed', unit)} 2>/dev/null; ${sh('systemctl', 'start', unit)}`;

export async function failoverDrill(session: Session, opts: DrillOptions): Promise<DrillReport> {
  const { cluster, conns } = session;
  const log = opts.log ?? (() => {});
  const inst = cluster.nodes[0]!.instances[0]!;
  const vip = inst.vips[0]!.address.split('/')[0]!;
  const scripts = cluster.vrrpScripts.filter((s) => inst.trackScripts.includes(s.name));
  const detectMs = opts.stop === 'haproxy' ? Math.max(0, ...scripts.map((s) => (s.interval ?? 1) * (s.fall ?? 1) * 1000)) : 0;
  // A script that passes again needs `rise` runs, the last of which may take up to its timeout (the
  // failover: fast watcher runs for most of a second before it says HAProxy is fine).
  const riseMs = Math.max(0, ...scripts.map((s) => ((s.interval ?? 1) * (s.rise ?? 1) + (s.timeout ?? 0)) * 1000));
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
  const unit = opts.stop;
  const fromConn = conns.get(from)!;
  const watchMs = failoverBoundMs * 3 + (preemptive ? failbackBoundMs * 3 : failbackBoundMs);
  const watch = await watchVip(conns, vip, watchMs + 30_000);
  // The drill waits on events, and an interrupt must end the wait at once.
  const aborted = () => opts.signal?.aborted === true;
  opts.signal?.addEventListener('abort', () => watch.poke(), { once: true });
  const ms = (x: number) => Math.round(x);
  let stopped = false;
  try {
    log(`stopping ${unit} on ${from} (holds ${vip})`);
    // t0: when the node printed the line just before stopping the service (same SSH delay as the VIP's
    // events). Not when the process is gone: keepalived hands the VIP over the moment it gets SIGTERM
    // and exits about a second later; HAProxy stops listening before it exits, too.
    let t0 = performance.now();
    const mark = `kadeploy-drill-stop-${process.pid}`;
    // The probe starts with the stop, not when systemctl returns: keepalived takes about a second to exit.
    // Until another node holds the VIP, an answer is the old holder's (still answering as it stops).
    let movedAt: number | undefined;
    let probe: ReturnType<typeof probeUntilAnswered> | undefined;
    const startProbe = () => {
      if (opts.probePort) probe ??= probeUntilAnswered(vip, opts.probePort, t0 + failoverBoundMs * 3, (at) => movedAt !== undefined && at >= movedAt, opts.signal);
    };
    await fromConn.exec(`echo ${mark}; ${sh('systemctl', 'stop', unit)}`, {
      onLine: (line) => {
        if (!probe && line.includes(mark)) {
          t0 = performance.now();
          startProbe();
        }
      },
    });
    stopped = true;
    startProbe();
    checkAbort();
    // Another node holds the VIP from the moment its kernel adds it (the old holder may let go a moment later).
    const moved = await watch.until((e) => aborted() || (e.kind === 'add' && e.node !== from), t0 + failoverBoundMs * 3);
    checkAbort();
    if (moved) [report.failoverMs, report.to, movedAt] = [ms(moved.at - t0), moved.node, moved.at];
    const answer = await probe;
    if (answer) [report.serviceMs, report.answeredBy] = [ms(answer.at - t0), answer.body.trim()];
    log(`VIP ${vip} moved to ${report.to ?? 'no node'} in ${report.failoverMs ?? '—'} ms`);

    checkAbort();
    log(`starting ${unit} on ${from} again`);
    await fromConn.exec(startAgain(unit));
    stopped = false;
    const t1 = performance.now();
    const since = watch.events.length;
    if (preemptive) {
      const back = await watch.until(
        (e) => aborted() || (watch.events.indexOf(e) >= since && e.kind === 'add' && e.node === from),
        t1 + failbackBoundMs * 3,
      );
      checkAbort();
      if (back) report.failbackMs = ms(Math.max(0, back.at - t1));
    } else {
      await new Promise((r) => setTimeout(r, failbackBoundMs));
      checkAbort();
    }
    // Let a handover in progress finish, then read where the VIP is (the events only say what changed).
    await new Promise((r) => setTimeout(r, 2 * inst.advertInt * 1000));
    const after = await holdersNow();
    report.outcome = after.length === 1 && after[0] === from ? 'failback' : after.length === 1 && after[0] === report.to ? 'stayed' : undefined;
    const overlap = overlapWatch();
    overlap.see(before.length, watch.events[0]?.at ?? 0);
    watch.events.forEach((e, k) => {
      if (e.kind !== 'add' && e.kind !== 'del') return;
      const n = holdersAfter(before, watch.events, k).length;
      report.maxHolders = Math.max(report.maxHolders, n);
      overlap.see(n, e.at);
    });
    overlap.see(after.length, performance.now());
    report.maxHolders = Math.max(report.maxHolders, after.length);
    report.overlapMs = ms(overlap.longestMs);
  } finally {
    if (stopped) await fromConn.exec(startAgain(unit), { check: false });
    await watch.stop();
  }

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

/**
 * GET http://vip:port/ until an HTTP 200 answer that `counts` (given its arrival time); resolves with when
 * (performance.now()) and what. A new attempt starts every PROBE_EVERY_MS whatever the earlier ones are
 * doing, so an attempt stuck on a stale ARP entry does not hide the moment the new holder answers.
 */
export function probeUntilAnswered(vip: string, port: number, deadline: number, counts: (at: number) => boolean, signal?: AbortSignal): Promise<{ at: number; body: string } | undefined> {
  return new Promise((resolve) => {
    let done = false;
    let inFlight = 0;
    const finish = (result: { at: number; body: string } | undefined) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(result);
    };
    const attempt = () => {
      if (done) return;
      if (performance.now() >= deadline || signal?.aborted) return finish(undefined);
      if (inFlight >= PROBE_TIMEOUT_MS / PROBE_EVERY_MS) return;
      inFlight++;
      const req = request({ host: vip, port, path: '/', timeout: PROBE_TIMEOUT_MS, agent: false }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => {
          inFlight--;
          const at = performance.now();
          if (res.statusCode === 200 && counts(at)) finish({ at, body: data });
        });
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => inFlight--);
      req.end();
    };
    const timer = setInterval(attempt, PROBE_EVERY_MS);
    attempt();
  });
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
