// `kadeploy drain` / `undrain`: planned maintenance. Drain marks a node (a file on it, read as a
// fact by every run), renders it at the lowest priority and reloads keepalived, then waits until
// every VIP is on another node and HAProxy answers through it. Undrain removes the mark and renders
// the configured priority again. The node's lock is taken as apply takes it.
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { executePlan, formatRecap } from '../apply/execute.js';
import { drainedNodes, openSession, printWarnings, withSession, type Session } from '../apply/session.js';
import { readPlacement } from '../apply/vip.js';
import { ApplyInterrupted, KadeployError } from '../errors.js';
import { DRAIN_MARKER, drainMarkerText, drainRefusal, type DrainMark } from '../plan/drain.js';
import { vipsOf } from '../plan/expected.js';
import { formatPlan } from '../plan/format.js';
import { quote } from '../shell/quote.js';
import { probeUntilAnswered } from '../verify/failover.js';
import { wholeNumber } from './numbers.js';

interface DrainFlags {
  probePort: number;
  playbook?: string;
  json?: boolean;
}

/** Where one of the node's VIPs ended, and whether HAProxy answered through it (absent: not probed). */
interface Placement {
  vip: string;
  holder: string;
  http?: true;
}

const describePlacement = (p: Placement, port: number) => `VIP ${p.vip} on ${p.holder}${p.http ? `, HTTP ${p.vip}:${port} answers` : ''}`;

const writeMarker = (mark: DrainMark) =>
  `umask 022 && mkdir -p -- /etc/keepalived && printf '%s' ${quote(drainMarkerText(mark))} > ${quote(`${DRAIN_MARKER}.tmp`)} && mv -f -- ${quote(`${DRAIN_MARKER}.tmp`)} ${quote(DRAIN_MARKER)}`;
const removeMarker = `rm -f -- ${quote(DRAIN_MARKER)}`;

/** Each VIP of the node on exactly one node (after drain: another one), HAProxy answering through it. */
async function confirmPlacement(session: Session, node: string, drain: boolean, probePort: number, signal: AbortSignal): Promise<Placement[]> {
  const { cluster, conns } = session;
  const vips = vipsOf(cluster.nodes.find((n) => n.name === node)!);
  const report: Placement[] = [];
  const placements = (await readPlacement(cluster.nodes, cluster.vrrpScripts, conns)).filter((p) => vips.includes(p.vip));
  for (const p of placements) {
    if (p.holders.length !== 1 || (drain && p.holders[0] === node)) {
      const want = drain ? `one node other than ${node} (the drain mark stays: run drain again, or undrain)` : 'one node';
      throw new KadeployError(`${drain ? 'drain' : 'undrain'} ${node}: VIP ${p.vip} is on ${p.holders.join(' and ') || 'no node'}, expected on ${want}`);
    }
    const placed: Placement = { vip: p.vip, holder: p.holders[0]! };
    if (probePort) {
      const answer = await probeUntilAnswered(p.vip, probePort, performance.now() + 10_000, () => true, signal);
      if (signal.aborted) throw new ApplyInterrupted(`interrupted while probing ${p.vip} through HAProxy; ${node} is ${drain ? 'drained' : 'undrained'}`);
      if (!answer) throw new KadeployError(`${drain ? 'drain' : 'undrain'} ${node}: VIP ${p.vip} is on ${p.holders[0]} but nothing answers HTTP on ${p.vip}:${probePort} (is HAProxy running there?)`);
      placed.http = true;
    }
    report.push(placed);
  }
  return report;
}

async function run(file: string, node: string, drain: boolean, flags: DrainFlags): Promise<void> {
  const verb = drain ? 'drain' : 'undrain';
  await withSession(
    () => openSession({ inventory: file, playbook: flags.playbook, limit: [node], lock: true, command: `${verb} ${file} ${node}`, drain: { node, drained: drain } }),
    async (session, signal) => {
      printWarnings(session.warnings);
      const { cluster, plan, facts } = session;
      const was = facts.get(node)!.drained;
      if (drain) {
        const others = drainedNodes(facts);
        others.delete(node);
        const why = drainRefusal(cluster, node, others, plan.nodes.find((n) => n.node === node)?.holds);
        if (why) throw new KadeployError(`drain ${node}: ${why}. Nothing was changed.`);
      } else if (!was) {
        process.stdout.write(flags.json ? `${JSON.stringify({ node, drained: false, changed: false, placements: [] }, null, 2)}\n` : `${node} is not drained: nothing to do\n`);
        return;
      }
      if (!flags.json) process.stdout.write(formatPlan(plan, cluster.secrets, { color: false }));
      // The mark first: from here on every run (apply too) plans the node as this command wants it.
      const conn = session.conns.get(node)!;
      const mark = { since: new Date().toISOString(), by: `kadeploy drain ${file} ${node} (${userInfo().username}@${hostname()})` };
      if (drain && !was) await conn.exec(writeMarker(mark));
      if (!drain) await conn.exec(removeMarker);
      const renderer = flags.json ? 'silent' : process.stdout.isTTY ? 'default' : 'simple';
      const addresses = [...facts].map(([n, f]) => ({ node: n, addrs: f.addresses }));
      const { recaps, error } = await executePlan(plan, { conns: session.conns, secrets: cluster.secrets, forks: cluster.forks, renderer, signal, addresses });
      if (!flags.json) process.stdout.write(formatRecap(recaps));
      if (error) {
        // The node's files were put back: put its mark back as it was, so mark and config agree.
        // Should this fail too, the mark wins: the next drain, undrain or apply converges to it.
        await conn.exec(was ? writeMarker(was) : removeMarker, { check: false }).catch(() => undefined);
        throw error;
      }
      const placements = await confirmPlacement(session, node, drain, flags.probePort, signal);
      if (flags.json) {
        // Changed: a step ran, or the mark came or went (drain of a drained node only re-checks).
        const changed = recaps.some((r) => r.changed > 0) || drain !== Boolean(was);
        const since = drain ? (was || mark) : undefined;
        process.stdout.write(`${JSON.stringify({ node, drained: drain, ...since, changed, placements, recap: recaps }, null, 2)}\n`);
        return;
      }
      const placed = placements.map((p) => describePlacement(p, flags.probePort)).join('; ') || 'it runs no VIP';
      process.stdout.write(drain ? `${node} drained (${DRAIN_MARKER}): ${placed}\n` : `${node} undrained, configured priorities restored: ${placed}\n`);
    },
    () => process.stderr.write(`\nkadeploy: interrupt: finishing the current step, putting ${node} back as it was…\n`),
  );
}

export function registerDrain(program: Command): void {
  for (const drain of [true, false]) {
    program
      .command(drain ? 'drain' : 'undrain')
      .description(
        drain
          ? 'Planned maintenance: move the VIPs off a node (lowest priority, keepalived reloaded) and keep them off across applies until undrain'
          : 'End a drain: restore the node\'s configured priorities (the VIPs return as keepalived\'s preemption rules say)',
      )
      .argument('<inventory>', 'inventory YAML file')
      .argument('<node>', drain ? 'the node to drain' : 'the drained node')
      .option('--playbook <file>', 'run this playbook instead of playbooks/keepalived.yaml')
      .option('--probe-port <port>', 'HAProxy port probed through each VIP of the node at the end (0: no probe)', wholeNumber(0, 65535), 80)
      .option('--json', 'print the outcome as JSON (node, drained, since/by, changed, where each VIP ended, the recap) instead of the plan and recap')
      .addHelpText(
        'after',
        drain
          ? `
The node is marked drained (${DRAIN_MARKER}), rendered BACKUP at priority 1 and keepalived is
reloaded; drain waits until every VIP it ran is on one other node and answers HTTP. Every apply keeps
the node drained until undrain. Refused, changing nothing, when no other undrained node runs one of
its instances, or when it holds the VIP of a nopreempt instance.

Example:
  $ kadeploy drain inventories/lab.yaml lb1 && kadeploy status inventories/lab.yaml`
          : `
The VIPs return to the node when its priority is the highest and the instance preempts; with
nopreempt they stay where they are.

Example:
  $ kadeploy undrain inventories/lab.yaml lb1`,
      )
      .action((file: string, node: string, flags: DrainFlags) => run(file, node, drain, flags));
  }
}
