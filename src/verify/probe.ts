// Per-node readings verify and status need beyond the plan's facts, in one round trip per node.
import type { Cluster } from '../inventory/model.js';
import { quote, sh } from '../shell/quote.js';
import { factScript, parseFacts, type Fact } from '../facts/fact.js';

export interface VrrpReading {
  haproxyActive: boolean;
  /** vrrp_script name → exit code when run now. */
  scripts: Record<string, number>;
  /** Recent error lines of keepalived's journal. */
  journalErrors: string[];
  /** instance → adverts received/sent, from keepalived's own stats dump. */
  adverts: Record<string, { received: number; sent: number }>;
  /** instance → last state transition seen in the journal. */
  transitions: Record<string, { state: string; at: string }>;
}

const lines = (out: string) => out.split('\n').map((l) => l.trim()).filter(Boolean);

export function vrrpFacts(cluster: Cluster): Array<Fact<unknown>> {
  const scripts: Fact<Record<string, number>> = {
    name: 'scripts',
    // Run as keepalived would (no shell: the command is split on spaces), reporting each exit code.
    command: cluster.vrrpScripts.map((s) => `${s.script} >/dev/null 2>&1; printf '%s\\t%s\\n' ${quote(s.name)} "$?"`).join('; '),
    parse: (out) => Object.fromEntries(lines(out).map((l) => l.split('\t')).map(([n, rc]) => [n, Number(rc)])),
  };
  return [
    { name: 'haproxy', command: 'systemctl is-active haproxy', parse: (out) => out.trim() === 'active' },
    scripts,
    {
      name: 'journal',
      command: "journalctl -u keepalived --since '-10 min' -p err --no-pager -o cat | tail -n 5",
      parse: lines,
    },
    {
      name: 'stats',
      // keepalived writes /tmp/keepalived.stats on its STATS signal: the real advert counters.
      command:
        'pid=$(systemctl show -p MainPID --value keepalived); [ "${pid:-0}" -gt 0 ] || exit 1; rm -f /tmp/keepalived.stats; ' +
        'kill -s "$(keepalived --signum=STATS)" "$pid"; i=0; while [ ! -s /tmp/keepalived.stats ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; sleep 0.1; cat /tmp/keepalived.stats',
      parse: parseStats,
    },
    {
      name: 'transitions',
      command: "journalctl -u keepalived --no-pager -o short-iso | grep -E 'Entering (MASTER|BACKUP|FAULT) STATE' | tail -n 20",
      parse: (out) => {
        const result: Record<string, { state: string; at: string }> = {};
        for (const l of lines(out)) {
          const m = l.match(/^(\S+) .*\((\S+)\) Entering (MASTER|BACKUP|FAULT) STATE/);
          if (m) result[m[2]!] = { state: m[3]!, at: m[1]! };
        }
        return result;
      },
    },
  ];
}

/** "VRRP Instance: VI_1 … Advertisements: Received: 12 Sent: 0" blocks of keepalived.stats. */
export function parseStats(out: string): Record<string, { received: number; sent: number }> {
  const result: Record<string, { received: number; sent: number }> = {};
  let instance: string | undefined;
  let inAdverts = false;
  for (const l of lines(out)) {
    const vi = l.match(/^VRRP Instance: (\S+)/);
    if (vi) [instance, inAdverts] = [vi[1], false];
    else if (/^Advertisements:/.test(l)) inAdverts = true;
    else if (instance && inAdverts) {
      const m = l.match(/^(Received|Sent): (\d+)/);
      if (m) {
        const entry = (result[instance] ??= { received: 0, sent: 0 });
        entry[m[1] === 'Received' ? 'received' : 'sent'] = Number(m[2]);
        if (m[1] === 'Sent') inAdverts = false;
      }
    }
  }
  return result;
}

export async function readVrrp(
  conn: { exec(c: string, o?: { check?: boolean }): Promise<{ stdout: string; code: number }> },
  cluster: Cluster,
): Promise<VrrpReading> {
  const facts = vrrpFacts(cluster);
  const r = await conn.exec(sh('sh', '-c', factScript(facts)), { check: false });
  const f = parseFacts(facts, r.stdout) as Record<string, unknown>;
  return {
    haproxyActive: f.haproxy === true,
    scripts: (f.scripts as Record<string, number>) ?? {},
    journalErrors: (f.journal as string[]) ?? [],
    adverts: (f.stats as VrrpReading['adverts']) ?? {},
    transitions: (f.transitions as VrrpReading['transitions']) ?? {},
  };
}
