// Per-node readings verify and status need beyond the plan's facts, in one round trip per node.
import type { Cluster, VrrpScript } from '../inventory/model.js';
import { quote, sh } from '../shell/quote.js';
import { factScript, parseFacts, type Fact } from '../facts/fact.js';
import type { AdvertCounters, AdvertWindow } from './adverts.js';

export interface VrrpReading {
  haproxyActive: boolean;
  /** vrrp_script name → exit code when run now (NO_USER: its user does not exist); absent: no result. */
  scripts: Record<string, number>;
  /** Recent error lines of keepalived's journal; undefined when the journal could not be read. */
  journalErrors: string[] | undefined;
  /**
   * instance → its last state transition logged by the running keepalived (this start of the unit):
   * `at` as journalctl's short-iso prints it, `atS` in seconds since the epoch (µs precision).
   */
  transitions: Record<string, Transition>;
  /** The node's clock (seconds since the epoch), read just before the journal; absent: not read. */
  nowS?: number;
  /** When the running keepalived last reloaded (its "Reloading" lines), seconds since the epoch; absent: not since it started. */
  reloadedAtS?: number;
}

export interface Transition {
  state: string;
  at: string;
  atS: number;
}

const lines = (out: string) => out.split('\n').map((l) => l.trim()).filter(Boolean);

/** The exit code reported for a track script whose user does not exist on the node. */
export const NO_USER = 255;

/**
 * One track script run as keepalived runs it: its words as argv, no shell (a word like `if` or `;`
 * is a command name to keepalived), as its user (the script's, else global_defs script_user) with
 * that user's groups, killed after its timeout (keepalived's default: the interval). Prints
 * `NAME<TAB>EXIT`.
 */
export function trackScriptCommand(s: VrrpScript, scriptUser: string): string {
  const user = s.user ?? scriptUser;
  const timeout = String(s.timeout ?? s.interval ?? 1);
  const argv = sh(...s.script.trim().split(/\s+/));
  const run = `${sh('timeout', '-k', '1', timeout, 'setpriv')} --reuid "$uid" --regid "$gid" --init-groups -- ${argv}`;
  return (
    `if uid=$(id -u -- ${quote(user)} 2>/dev/null) && gid=$(id -g -- ${quote(user)} 2>/dev/null); ` +
    `then ${run} </dev/null >/dev/null 2>&1; rc=$?; else rc=${NO_USER}; fi; printf '%s\\t%s\\n' ${quote(s.name)} "$rc"`
  );
}

/** What a track script's exit code means, for the check's detail. */
export function describeScriptExit(rc: number | undefined, s: VrrpScript, scriptUser: string): string {
  if (rc === undefined) return 'could not run: no result from the node';
  if (rc === 0) return 'exit 0';
  if (rc === NO_USER) return `could not run: no user ${s.user ?? scriptUser} on the node`;
  if (rc === 124) return `timed out after ${s.timeout ?? s.interval ?? 1} s`;
  if (rc === 126 || rc === 127) return `could not run (exit ${rc}: ${rc === 127 ? 'command not found' : 'not executable'}; keepalived runs it without a shell)`;
  return `exit ${rc}`;
}

/**
 * A file only root could have written, read safely from a directory where anyone can create files
 * (/tmp): refused if a link; opened once, then checked through that open file (owned by root, one
 * link, a regular file, writable by root only) and read from it. Exits 1 when refused.
 */
export function readRootFile(path: string): string {
  return (
    `[ -L ${quote(path)} ] && exit 1; exec 3< ${quote(path)} || exit 1; set -- $(stat -L -c '%u %h %a %F' /dev/fd/3); ` +
    '[ "$1" = 0 ] && [ "$2" = 1 ] && [ $((0$3 & 022)) = 0 ] && [ "$4 $5" = "regular file" ] || exit 1; cat <&3'
  );
}

/** keepalived writes its stats to /tmp/keepalived.stats on its STATS signal, where any local user can create files. */
const STATS_FILE = '/tmp/keepalived.stats';
/**
 * Two kadeploy runs reading stats at once would remove each other's dump: they take turns under a
 * lock in /run (root-only, unlike /run/lock), opened for append so it never truncates anything.
 */
const STATS_LOCK = '/run/kadeploy-keepalived-stats.lock';
// keepalived's main PID and its STATS signal, looked up once per window for both readings (each
// lookup forks systemctl or keepalived: ~20 ms); a PID that is no longer keepalived's is looked up again.
const STATS_PRELUDE = 'kpid=$(systemctl show -p MainPID --value keepalived 2>/dev/null); ksig=$(keepalived --signum=STATS 2>/dev/null)';
// keepalived writes the dump within milliseconds of the signal: polled every 10 ms until it is there
// and its size stops changing (was: 100 ms steps and a fixed 100 ms more, 0.2 s per reading).
const readStats =
  `exec 9>>${STATS_LOCK} && flock -w 15 9 || exit 1; pid=$kpid; [ "$(cat /proc/"\${pid:-0}"/comm 2>/dev/null)" = keepalived ] || pid=$(systemctl show -p MainPID --value keepalived); ` +
  `[ "\${pid:-0}" -gt 0 ] && [ -n "$ksig" ] || exit 1; rm -f -- ${STATS_FILE} || exit 1; ` +
  `kill -s "$ksig" "$pid" || exit 1; i=0; while [ ! -s ${STATS_FILE} ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i+1)); done; ` +
  `n=; while m=$(stat -c %s ${STATS_FILE}) && [ "$m" != "$n" ] && [ $i -lt 300 ]; do n=$m; sleep 0.01; i=$((i+1)); done; ` +
  readRootFile(STATS_FILE);

export function vrrpFacts(cluster: Cluster): Array<Fact<unknown>> {
  const scripts: Fact<Record<string, number>> = {
    name: 'scripts',
    command: cluster.vrrpScripts.map((s) => trackScriptCommand(s, cluster.globalDefs.scriptUser)).join('; '),
    parse: (out) => Object.fromEntries(lines(out).map((l) => l.split('\t')).map(([n, rc]) => [n, Number(rc)])),
  };
  return [
    { name: 'haproxy', command: 'systemctl is-active haproxy', parse: (out) => out.trim() === 'active' },
    scripts,
    {
      name: 'journal',
      // A journal that could not be read is no evidence of "no errors".
      command: "out=$(journalctl -u keepalived --since '-10 min' -p err --no-pager -o cat) || exit 1; printf '%s\\n' \"$out\" | tail -n 5",
      parse: (out, rc) => (rc === 0 ? lines(out) : undefined),
    },
    {
      name: 'transitions',
      // Only this start of the unit (its invocation): a line from before a restart says nothing about
      // now. The clock first, then the journal: a line logged in between is younger than `now`, never older.
      command:
        "now=$(date +%s.%N) && id=$(systemctl show -p InvocationID --value keepalived) && [ -n \"$id\" ] || exit 1; printf 'now %s\\n' \"$now\"; " +
        "journalctl _SYSTEMD_INVOCATION_ID=\"$id\" --no-pager -o short-iso-precise | grep -E 'Entering (MASTER|BACKUP|FAULT) STATE|Keepalived(_vrrp)?\\[[0-9]+\\]: Reloading' | tail -n 500",
      parse: (out, rc) => (rc === 0 ? parseTransitions(out) : { transitions: {} }),
    },
  ];
}

/** "2026-11-22T12:28:57.873346+0000" (journalctl's short-iso-precise) → seconds since the epoch; undefined when not in that form. */
export function parseIsoPrecise(text: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([+-]\d\d):?(\d\d)$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}:${m[4]}`);
  return Number.isNaN(ms) ? undefined : ms / 1000 + Number(`0.${m[2] ?? 0}`);
}

/** The transitions fact's output: "now SECONDS", then journal lines (state transitions and reloads). */
export function parseTransitions(out: string): Pick<VrrpReading, 'transitions' | 'nowS' | 'reloadedAtS'> {
  const result: Pick<VrrpReading, 'transitions' | 'nowS' | 'reloadedAtS'> = { transitions: {} };
  for (const l of lines(out)) {
    const now = l.match(/^now (\d+(?:\.\d+)?)$/);
    if (now) {
      result.nowS = Number(now[1]);
      continue;
    }
    const stamp = l.split(' ', 1)[0]!;
    const atS = parseIsoPrecise(stamp);
    if (atS === undefined) continue;
    const m = l.match(/\((\S+)\) Entering (MASTER|BACKUP|FAULT) STATE/);
    // `at` as status has always shown it (short-iso: no fraction of a second).
    if (m) result.transitions[m[1]!] = { state: m[2]!, at: stamp.replace(/\.\d+/, ''), atS };
    else if (/: Reloading/.test(l)) result.reloadedAtS = atS;
  }
  return result;
}

/** "VRRP Instance: VI_1 … Advertisements: Received: 12 Sent: 0" blocks of keepalived.stats. */
export function parseStats(out: string): Record<string, AdvertCounters> {
  const result: Record<string, AdvertCounters> = {};
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
    journalErrors: f.journal as string[] | undefined,
    ...((f.transitions as Pick<VrrpReading, 'transitions' | 'nowS' | 'reloadedAtS'>) ?? { transitions: {} }),
  };
}

/**
 * keepalived's advert counters read twice, at most `seconds` apart, in one command on the node (the
 * node's clock times the window), the listener in between (it can be told to stop early, see
 * window.ts). Undefined when either reading could not be taken.
 */
export function advertWindowFacts(seconds: number): Array<Fact<unknown>> {
  const stats = (name: string): Fact<unknown> => ({ name, command: readStats, parse: (out, rc) => (rc === 0 ? parseStats(out) : undefined) });
  const clock = (name: string): Fact<unknown> => ({ name, command: 'date +%s.%N', parse: (out, rc) => (rc === 0 ? Number(out.trim()) : undefined) });
  const heard: Fact<unknown> = { name: 'heard', command: listenCommand(seconds), parse: (out, rc) => (rc === 0 ? parseHeard(out) : undefined) };
  return [stats('before'), clock('t0'), heard, stats('after'), clock('t1')];
}

/** The listener's progress lines (told apart from its final counts). */
const WINDOW_MARK = '#kadeploy-window';

// Who this node hears, per sender: a raw IP socket for protocol 112 sees the adverts the node's
// firewall lets in (raw sockets are served after the input hook), as keepalived does. It prints
// READY with its PID once listening (SIGUSR1 ends it early), HEARD for each advert as it arrives, and
// at the end "SOURCE VRID COUNT" per sender and router id. select() wakes at least every 50 ms, so a
// signal landing just before it cannot be missed. perl-base is Essential on Debian; without perl (or
// without the right to open a raw socket) the window is a plain wait and the verdicts use counters only.
// Time::HiRes is not in perl-base (keepalived's dependencies bring it): without it, `time` counts whole
// seconds and the window ends on the first whole second at least a second past the time asked (0.3 s
// asked: 1-2 s), never shorter (its length is timed by the node's `date` around it).
const LISTEN =
  'BEGIN { $main::hires = eval { require Time::HiRes; Time::HiRes->import("time"); 1 } } ' +
  'use Socket; $| = 1; my $end = time + $ARGV[0] + ($main::hires ? 0 : 1); $SIG{USR1} = sub { $end = 0 }; ' +
  'socket(my $s, PF_INET, SOCK_RAW, 112) or do { select(undef, undef, undef, $ARGV[0]); exit 3 }; ' +
  `print "${WINDOW_MARK} READY $$\\n"; my %n; ` +
  'while ((my $left = $end - time) > 0) { my $r = ""; vec($r, fileno($s), 1) = 1; next unless select($r, undef, undef, $left < 0.05 ? $left : 0.05) > 0; ' +
  'defined recv($s, my $buf, 4096, 0) or next; my $ihl = (ord($buf) & 15) * 4; next if length($buf) < $ihl + 2; ' +
  'my $k = join(".", unpack("C4", substr($buf, 12, 4))) . " " . ord(substr($buf, $ihl + 1, 1)); $n{$k}++; ' +
  `print "${WINDOW_MARK} HEARD $k\\n" } print "$_ $n{$_}\\n" for sort keys %n`;
const listenCommand = (seconds: number) => `if command -v perl >/dev/null; then perl -e ${quote(LISTEN)} ${seconds}; else sleep ${seconds}; exit 3; fi`;

/** A listener's progress line: READY (its PID) or HEARD (`SOURCE VRID`); undefined for any other line. */
export function parseWindowLine(line: string): { ready: string } | { heard: string } | undefined {
  const m = line.trim().match(/^#kadeploy-window (READY (\d+)|HEARD (\S+ \d+))$/);
  if (!m) return undefined;
  return m[2] ? { ready: m[2] } : { heard: m[3]! };
}

/** Ends a listener early (only if that PID is still a perl: never another process that reused it). */
export const stopListenerCommand = (pid: string): string => `p=${quote(pid)}; [ "$(cat /proc/$p/comm 2>/dev/null)" = perl ] && kill -USR1 "$p"; true`;

/** "SOURCE VRID COUNT" lines → `SOURCE VRID` → count. */
export function parseHeard(out: string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const l of lines(out)) {
    const m = l.match(/^(\S+ \d+) (\d+)$/);
    if (m) result[m[1]!] = Number(m[2]);
  }
  return result;
}

type Streaming = { exec(c: string, o?: { check?: boolean; onLine?: (line: string) => void }): Promise<{ stdout: string; code: number }> };

export async function readAdvertWindow(conn: Streaming, seconds: number, onLine?: (line: string) => void): Promise<AdvertWindow | undefined> {
  const facts = advertWindowFacts(seconds);
  const r = await conn.exec(sh('sh', '-c', `${STATS_PRELUDE}\n${factScript(facts)}`), { check: false, ...(onLine ? { onLine } : {}) });
  const f = parseFacts(facts, r.stdout) as { before?: AdvertWindow['before']; after?: AdvertWindow['after']; t0?: number; t1?: number; heard?: Record<string, number> };
  if (!f.before || !f.after || !f.t0 || !f.t1 || !(f.t1 > f.t0)) return undefined;
  return { seconds: f.t1 - f.t0, before: f.before, after: f.after, ...(f.heard ? { heard: f.heard } : {}) };
}
