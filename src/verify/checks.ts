// Post-deploy verification (document sections 5.2 and 7, checklist step 10): read-only checks
// per node and per VIP, each with a pass/fail and the reason.
import type { Connected, Session } from '../apply/session.js';
import { describePlacement, expectedHolder, placementFrom, placementOk, type VipPlacement } from '../apply/vip.js';
import type { HostFacts } from '../facts/index.js';
import { runsOlderFile, runsOlderMessage } from '../facts/loaded.js';
import { DEFAULTS } from '../inventory/defaults.js';
import { maskSecrets } from '../mask.js';
import { mapLimit } from '../ssh/pool.js';
import { advertDelta, advertWindowSeconds, expectedAdverts, heardFrom, judgeAdverts, type AdvertWindow } from './adverts.js';
import { downTimerAdvertsOf, inferAdverts, type InstanceStates } from './inferred.js';
import { describeScriptExit, readVrrp, type VrrpReading } from './probe.js';
import { openAdvertWindows, type AdvertWindows } from './window.js';
import { timed, type Timings } from '../timings.js';

export interface CheckResult {
  /** In a fleet: the cluster of the node (or of the cluster-wide check). */
  cluster?: string;
  node: string; // node name, or "cluster"
  check: string;
  ok: boolean;
  detail: string;
  /** VRRP advert checks: inferred from the nodes' states, or measured over a window. */
  evidence?: 'states' | 'window';
  /** Measured without --adverts: why the states could not show it. */
  window_reason?: string;
}

/**
 * The advert windows of a cluster's nodes, every node's at once (their own channels): they run while
 * the other readings are taken, from as early as the connections are open (see `runChecks`).
 */
export function startAdvertWindows(c: Pick<Connected, 'cluster' | 'conns'>): AdvertWindows {
  const { cluster, conns } = c;
  const seconds = advertWindowSeconds(cluster.nodes.flatMap((n) => n.instances.map((i) => i.advertInt)));
  return openAdvertWindows(new Map(cluster.nodes.flatMap((n) => (conns.has(n.name) ? [[n.name, conns.get(n.name)!] as const] : []))), seconds);
}

/** What verify reads on each node besides the facts (one command per node, probe.ts), by node. */
export type NodeReadings = Map<string, VrrpReading>;

/** Started as soon as the nodes are connected (verify): it needs no facts, so it overlaps them. */
export function startReadings(c: Pick<Connected, 'cluster' | 'conns'>, timings?: Timings): Promise<NodeReadings> {
  const { cluster, conns } = c;
  const readings: NodeReadings = new Map();
  const read = timed(timings, 'node readings', () =>
    mapLimit(cluster.nodes, cluster.forks, async (n) => {
      readings.set(n.name, await readVrrp(conns.get(n.name)!, cluster));
    }),
  ).then(() => readings);
  // Started before the session is complete: if the session fails first, nobody awaits this.
  read.catch(() => undefined);
  return read;
}

export interface CheckOptions {
  /** The readings, started when the session connected (else read here). */
  readings?: Promise<NodeReadings>;
  /**
   * Always measure adverts over a window (verify --adverts): these windows, started when the session
   * connected. Absent: adverts are inferred from the nodes' states, and measured only when that is
   * not conclusive (inferred.ts).
   */
  windows?: AdvertWindows;
}

export async function runChecks(session: Session, options: CheckOptions = {}): Promise<{ results: CheckResult[]; placements: VipPlacement[] }> {
  const { cluster, facts, plan } = session;
  const results: CheckResult[] = [];
  const add = (node: string, check: string, ok: boolean, detail: string, extra: Pick<CheckResult, 'evidence' | 'window_reason'> = {}) =>
    results.push({ node, check, ok, detail: maskSecrets(detail, cluster.secrets), ...extra });

  const readings = await (options.readings ?? startReadings(session, session.timings));
  // Who holds each VIP: the addresses read with the facts, at the same moment as the readings.
  const placements = placementFrom(cluster.nodes, cluster.vrrpScripts, cluster.nodes.map((n) => ({ node: n.name, addrs: facts.get(n.name)!.addresses })));
  const instances = new Map(cluster.nodes.flatMap((n) => n.instances.map((i) => [i.name, i] as const)));
  const membersOf = (name: string) => membersOfInstance(cluster, name);
  const holdsVip = (node: string, inst: { vips: Array<{ address: string }> }) =>
    placements.some((p) => p.vip === firstVip(inst) && p.holders.includes(node));
  const health = new Map(
    cluster.nodes.map((n) => [n.name, { active: facts.get(n.name)!.units.keepalived?.active === true, scripts: readings.get(n.name)!.scripts }]),
  );
  const judged = placements.map((p) => ({ ...p, expected: expectedHolder(cluster.nodes, cluster.vrrpScripts, p.vip, p.holders, health) }));

  // Adverts: inferred from the nodes' states unless --adverts, measured when the states cannot show them.
  const inferred = options.windows ? undefined : new Map([...instances.keys()].map((name) => [name, inferAdverts(instanceStates(session, name, readings, judged))]));
  const inconclusive = inferred && [...inferred].find(([, v]) => !v.conclusive);
  let windows: Map<string, AdvertWindow | undefined> | undefined;
  if (!inferred || inconclusive) {
    const adverts = options.windows ?? startAdvertWindows(session);
    // The window closes early once every node that should be sending has been heard by each other
    // member of its instance (senders: VIP holders and nodes whose last transition was MASTER).
    adverts.closeWhenHeard(
      expectedAdverts(
        [...instances].map(([name, inst]) => ({
          vrid: inst.virtualRouterId,
          members: membersOf(name).map((n) => ({
            name: n.name,
            ip: n.ip,
            sending: holdsVip(n.name, inst) || readings.get(n.name)!.transitions[name]?.state === 'MASTER',
          })),
        })),
      ),
    );
    const done = await adverts.done;
    windows = done.windows;
    session.timings?.add(`adverts window (${done.early ? 'closed once every sender was heard' : `full ${done.seconds} s`})`, done.ms);
  }

  for (const node of cluster.nodes) {
    const f = facts.get(node.name)!;
    const r = readings.get(node.name)!;
    const unit = f.units.keepalived;
    add(node.name, 'keepalived installed', f.packages.keepalived !== undefined, f.packages.keepalived ?? 'not installed');
    add(node.name, 'keepalived enabled', unit?.enabled === true, unit?.enabled ? 'enabled' : 'not enabled at boot');
    add(node.name, 'keepalived active', unit?.active === true, unit?.active ? `running (pid ${unit.pid})` : 'not running');
    const nodePlan = plan.nodes.find((p) => p.node === node.name);
    for (const c of nodePlan?.changes.filter((c) => c.kind === 'file') ?? []) {
      const drift = c.actions[0] !== 'none' && c.actions[0] !== 'remove'; // 'remove': only leftover temp files
      const path = (c.desired as { path: string }).path;
      add(node.name, `${path} as rendered`, !drift, drift ? `drift:\n${c.diff ?? c.summary}` : 'identical');
    }
    // What apply would refuse (a firewall dropping VRRP under `firewall: check`), with its fix.
    for (const c of nodePlan?.changes.filter((c) => c.blocker) ?? []) add(node.name, c.summary, false, c.blocker!);
    addRunsFile(add, node.name, f);
    add(node.name, 'haproxy active', r.haproxyActive, r.haproxyActive ? 'running' : 'not running');
    for (const s of cluster.vrrpScripts) {
      const rc = r.scripts[s.name];
      add(node.name, `track script ${s.name}`, rc === 0, `${s.script}: ${describeScriptExit(rc, s, cluster.globalDefs.scriptUser)}`);
    }
    const journal = r.journalErrors;
    add(node.name, 'keepalived journal', journal?.length === 0, !journal ? "could not read keepalived's journal" : journal.length ? journal.join(' | ') : 'no errors in the last 10 min');
  }

  for (const [name, inst] of instances) {
    const inference = inferred?.get(name);
    if (!windows && inference?.conclusive) {
      for (const v of inference.verdicts) add(v.node, `VRRP adverts ${name}`, v.ok, v.detail, { evidence: 'states' });
      continue;
    }
    // Measured: VRRP traffic really crosses now, the holder sends, every other node of the instance receives.
    // Why measured without --adverts: this instance's reason, else the one that opened the window.
    const reason = [inference, inconclusive?.[1]].flatMap((v) => (v && !v.conclusive ? [v.reason] : []))[0];
    const members = membersOf(name);
    const verdicts = judgeAdverts(
      name,
      inst.advertInt,
      members.map((n) => ({
        node: n.name,
        holds: holdsVip(n.name, inst),
        state: readings.get(n.name)!.transitions[name]?.state,
        ...advertDelta(windows!.get(n.name), name),
        ...heardFrom(windows!.get(n.name), inst.virtualRouterId, members.filter((m) => m !== n).map((m) => ({ name: m.name, ip: m.ip }))),
      })),
    );
    for (const v of verdicts) {
      add(v.node, `VRRP adverts ${name}`, v.ok, reason ? `${v.detail} [measured: ${reason}]` : v.detail, { evidence: 'window', ...(reason ? { window_reason: reason } : {}) });
    }
  }
  for (const p of judged) add('cluster', `VIP ${p.vip}`, placementOk(p), describePlacement(p));
  return { results, placements };
}

/** The nodes that run instance `name`. */
const membersOfInstance = (cluster: Session['cluster'], name: string) => cluster.nodes.filter((n) => n.instances.some((i) => i.name === name));
/** An instance's first VIP, without its prefix length: the one its placement is judged by. */
const firstVip = (inst: { vips: Array<{ address: string }> }) => inst.vips[0]?.address.split('/')[0];

/** One instance as inferred.ts sees it: each member's state and its age, on the member's own clock. */
function instanceStates(session: Session, name: string, readings: Map<string, VrrpReading>, placements: VipPlacement[]): InstanceStates {
  const { cluster, facts, plan } = session;
  const members = membersOfInstance(cluster, name);
  const own = members.map((n) => n.instances.find((i) => i.name === name)!);
  const vip = firstVip(own[0]!);
  const placement = placements.find((p) => p.vip === vip);
  const { config_path: path, service: unit } = DEFAULTS.keepalived;
  return {
    instance: name,
    advertInt: Math.max(...own.map((i) => i.advertInt)),
    version: own.some((i) => (i.version ?? cluster.globalDefs.vrrpVersion) === 3) ? 3 : 2,
    placement: placement ? describePlacement(placement) : `${name} has no VIP`,
    placementOk: placement !== undefined && placementOk(placement),
    nodes: members.map((n) => {
      const f = facts.get(n.name)!;
      const r = readings.get(n.name)!;
      const t = r.transitions[name];
      // The master-down interval is known only for the configuration rendered here, loaded as it is.
      const conf = plan.nodes.find((p) => p.node === n.name)?.changes.find((c) => c.kind === 'file' && (c.desired as { path: string }).path === path);
      const runsRendered = conf?.actions[0] === 'none' && !runsOlderFile(f, unit, path);
      const since = f.units[unit]?.since;
      const reloads = [r.reloadedAtS, since === undefined ? undefined : since / 1e6].filter((s): s is number => s !== undefined);
      return {
        node: n.name,
        active: f.units[unit]?.active === true,
        holds: placement?.holders.includes(n.name) === true,
        ...(t ? { state: t.state, stateAtS: t.atS } : {}),
        ...(reloads.length ? { reloadedAtS: Math.max(...reloads) } : {}),
        ...(r.nowS !== undefined ? { nowS: r.nowS } : {}),
        ...(runsRendered ? { downTimerAdverts: downTimerAdvertsOf((conf!.desired as { content: string }).content) } : {}),
      };
    }),
  };
}

/** keepalived runs the file on disk: not when the file changed after its last (re)load (facts/loaded.ts). */
function addRunsFile(add: (node: string, check: string, ok: boolean, detail: string) => void, node: string, f: HostFacts): void {
  const { config_path: path, service: unit } = DEFAULTS.keepalived;
  if (!f.units[unit]?.active || !f.files[path]) return;
  const older = runsOlderFile(f, unit, path);
  add(node, `${unit} runs ${path}`, !older, older ? `drift: ${runsOlderMessage(unit)}` : 'loaded since it last changed');
}

export function formatChecks(results: CheckResult[]): string {
  // A fleet's results carry their cluster: one more column.
  const w0 = results.some((r) => r.cluster) ? Math.max(7, ...results.map((r) => r.cluster?.length ?? 0)) + 2 : 0;
  const col = (cluster: string | undefined) => (w0 ? (cluster ?? '').padEnd(w0) : '');
  const w1 = Math.max(4, ...results.map((r) => r.node.length));
  const w2 = Math.max(5, ...results.map((r) => r.check.length));
  const rows = results.map((r) => {
    const [first = '', ...rest] = r.detail.split('\n');
    const head = `${col(r.cluster)}${r.node.padEnd(w1)}  ${r.check.padEnd(w2)}  ${r.ok ? 'PASS' : 'FAIL'}  ${first}`;
    return [head, ...rest.map((l) => `${' '.repeat(w0 + w1 + w2 + 10)}${l}`)].join('\n');
  });
  const failed = results.filter((r) => !r.ok);
  const where = (r: CheckResult) => (r.cluster && r.node === 'cluster' ? `cluster ${r.cluster}` : r.node);
  const summary = failed.length
    ? `${failed.length} of ${results.length} checks failed: ${[...new Set(failed.map(where))].join(', ')}`
    : `all ${results.length} checks passed`;
  return `${col('CLUSTER')}${'NODE'.padEnd(w1)}  ${'CHECK'.padEnd(w2)}  RESULT\n${rows.join('\n')}\n${summary}\n`;
}
