// ssh_config as OpenSSH reads it, for the keywords kadeploy uses: Include (globs, relative to ~/.ssh or
// /etc/ssh), Host and Match (host, originalhost, user, localuser, exec, all), first value wins.
// The values are returned as `ssh -G` prints them (tokens not yet expanded), so the two can be compared.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname as localHostName } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { SshConfigError } from '../errors.js';
import { FileCache } from './file-cache.js';
import { matchPattern, matchPatternList } from './pattern.js';

/** One keyword line of an ssh_config file; `keyword` lower-cased. */
export interface SshConfigLine {
  file: string;
  line: number;
  keyword: string;
  args: string[];
  /** The text after the keyword, unsplit (ProxyCommand takes it whole, as OpenSSH does). */
  rest: string;
  /** Where a relative Include of this file is looked for: ~/.ssh for user files, /etc/ssh for system ones. */
  includeDir: string;
}

/** A parsed ssh_config: its lines in order; Include is followed when the config is evaluated. */
export type SshConfig = SshConfigLine[];

/** The values `ssh -G` would print for a host, limited to what kadeploy uses; undefined when unset. */
export interface SshConfigValues {
  hostName?: string;
  user?: string;
  port?: string;
  identityFiles: string[];
  certificateFiles: string[];
  proxyJump?: string;
  proxyCommand?: string;
  identitiesOnly?: boolean;
  /** Seconds. */
  connectTimeout?: number;
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
}

export interface SshConfigQuery {
  /** What was typed after `ssh`. */
  host: string;
  /** Set before reading the config, like `ssh -l` / `-p` (the inventory's explicit values). */
  user?: string;
  port?: number;
  localUser: string;
  home: string;
  /** Bound on each `Match exec` command; default 10 s. */
  execTimeoutMs?: number;
}


const MAX_INCLUDE_DEPTH = 16; // OpenSSH's READCONF_MAX_DEPTH
const DEFAULT_EXEC_TIMEOUT_MS = 10_000;
const UNSUPPORTED_MATCH = new Set(['address', 'localaddress', 'localport', 'rdomain', 'tagged', 'localnetwork']);

/** Parse ssh_config text; `#` starts a comment at the start of a line or of an argument, as in OpenSSH. */
export function parseSshConfig(text: string, file = 'ssh_config', includeDir = ''): SshConfig {
  const lines: SshConfig = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) return;
    const rest = m[2]!;
    const args: string[] = [];
    for (const a of rest.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
      if (a[3]?.startsWith('#')) break;
      args.push(a[1] ?? a[2] ?? a[3]!);
    }
    lines.push({ file, line: i + 1, keyword: m[1]!.toLowerCase(), args, rest, includeDir });
  });
  return lines;
}

const parsedFiles = new FileCache<SshConfig>();

/**
 * Read an ssh_config file; a missing file is an empty config. Read and parsed once per process while
 * the file is unchanged: every node's target is resolved with it.
 */
export function loadSshConfig(file: string, includeDir: string): SshConfig {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) return existsSync(file) ? parseSshConfig(readFileSync(file, 'utf8'), file, includeDir) : [];
  return parsedFiles.get(`${file}\0${includeDir}`, st, () => parseSshConfig(readFileSync(file, 'utf8'), file, includeDir));
}

interface State {
  /** `q.host` is what `Host` and `Match host` see: the name typed, in the final pass the host name. */
  q: SshConfigQuery;
  original: string;
  v: SshConfigValues;
  /** A `Match final` or `Match canonical` was seen: read everything again, as ssh does. */
  wantFinal: boolean;
  finalPass: boolean;
}

/**
 * Evaluate configs in order (user file first, then the system one), like ssh: a first pass, and
 * when a `Match final`/`canonical` asked for it, a final pass (values already set stay, Host lines
 * then match the host name) — RHEL-family systems ship `Match final all`.
 */
export function evaluateSshConfig(configs: readonly SshConfig[], q: SshConfigQuery): SshConfigValues {
  const state: State = { q, original: q.host, v: { identityFiles: [], certificateFiles: [] }, wantFinal: false, finalPass: false };
  if (q.user !== undefined) state.v.user = q.user;
  if (q.port !== undefined) state.v.port = String(q.port);
  for (const config of configs) evaluate(config, state, 0, true);
  if (state.wantFinal) {
    const host = (state.v.hostName !== undefined ? expand(state.v.hostName, { h: q.host }) : q.host).toLowerCase();
    state.q = { ...q, host };
    state.v.hostName = host; // ssh expands it before the final pass
    state.finalPass = true;
    for (const config of configs) evaluate(config, state, 0, true);
  }
  return state.v;
}

/** One file's lines; `active` says whether this file is read at all (an Include in a non-matching block is not). */
function evaluate(lines: SshConfig, s: State, depth: number, enabled: boolean): void {
  let active = enabled;
  for (const l of lines) {
    switch (l.keyword) {
      case 'host':
        active = enabled && hostLineMatches(s.q.host, l.args);
        break;
      case 'match':
        active = enabled && matchLineMatches(l, s);
        break;
      case 'include':
        if (depth >= MAX_INCLUDE_DEPTH) throw new SshConfigError(l.file, l.line, `Include nested more than ${MAX_INCLUDE_DEPTH} deep (a loop?)`);
        for (const pattern of l.args) {
          const path = tilde(pattern, s.q.home);
          for (const file of glob(isAbsolute(path) ? path : join(l.includeDir, path))) {
            if (statSync(file).isDirectory()) continue;
            // The included file starts active when this line is; the including file's state resumes after it.
            evaluate(loadSshConfig(file, l.includeDir), s, depth + 1, active);
          }
        }
        break;
      default:
        if (active) setOption(l, s.v);
    }
  }
}

/** `Host` patterns: any positive one matches and no negated one does; case-sensitive against the name as typed, as in OpenSSH. */
function hostLineMatches(host: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchPattern(host, p.slice(1), false)) return false;
    } else if (matchPattern(host, p, false)) matched = true;
  }
  return matched;
}

function matchLineMatches(l: SshConfigLine, s: State): boolean {
  const { q, v } = s;
  const args = [...l.args];
  if (args.length === 0) throw new SshConfigError(l.file, l.line, 'Match needs criteria');
  // What `Match host` sees: the HostName obtained so far (its %h expanded), else the name typed.
  const host = s.finalPass ? v.hostName! : v.hostName !== undefined ? expand(v.hostName, { h: q.host }) : q.host;
  const ruser = v.user ?? q.localUser;
  let result = true;
  while (args.length > 0) {
    let criterion = args.shift()!.toLowerCase();
    const negate = criterion.startsWith('!');
    if (negate) criterion = criterion.slice(1);
    if (criterion === 'all') {
      if (l.args.some((a) => !/^!?(all|canonical|final)$/i.test(a))) throw new SshConfigError(l.file, l.line, 'Match all cannot be combined with other criteria');
      if (negate) result = false;
      continue;
    }
    if (UNSUPPORTED_MATCH.has(criterion)) {
      throw new SshConfigError(l.file, l.line, `Match ${criterion} is not supported by kadeploy (supported: all, canonical, final, host, originalhost, user, localuser, exec)`);
    }
    if (criterion === 'canonical' || criterion === 'final') {
      // kadeploy does no CanonicalizeHostname: both mean "in the final pass".
      s.wantFinal = true;
      if (s.finalPass === negate) result = false;
      continue;
    }
    const arg = args.shift();
    if (arg === undefined) throw new SshConfigError(l.file, l.line, `Match ${criterion} needs an argument`);
    let matched: boolean;
    switch (criterion) {
      case 'host':
        matched = matchHostname(host, arg);
        break;
      case 'originalhost':
        matched = matchHostname(s.original, arg);
        break;
      case 'user':
        matched = matchPatternList(ruser, arg.split(','), false);
        break;
      case 'localuser':
        matched = matchPatternList(q.localUser, arg.split(','), false);
        break;
      case 'exec':
        // Like OpenSSH: not run once an earlier criterion failed.
        if (!result) continue;
        matched = runMatchExec(l, arg, { ...tokens({ ...q, host: s.original }, v, host), r: ruser }, q.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
        break;
      default:
        throw new SshConfigError(l.file, l.line, `unknown Match criterion "${criterion}"`);
    }
    if (matched === negate) result = false;
  }
  return result;
}

/** OpenSSH's match_hostname: a comma-separated list, case-insensitive (unlike `Host` lines). */
function matchHostname(name: string, list: string): boolean {
  return matchPatternList(name, list.split(','));
}

function runMatchExec(l: SshConfigLine, command: string, t: Record<string, string>, timeout: number): boolean {
  const r = spawnSync(process.env.SHELL || '/bin/sh', ['-c', expand(command, t)], { stdio: ['ignore', 'ignore', 'pipe'], timeout, killSignal: 'SIGKILL' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    throw new SshConfigError(l.file, l.line, `Match exec "${command}" did not finish within ${timeout / 1000} s`);
  }
  return r.status === 0;
}

/** The %-tokens ssh_config knows (for Match exec, IdentityFile, CertificateFile, ProxyCommand). */
export function tokens(q: Pick<SshConfigQuery, 'host' | 'localUser' | 'home'>, v: Pick<SshConfigValues, 'user' | 'port'>, host: string): Record<string, string> {
  const full = localHostName();
  const port = v.port ?? '22';
  const r = v.user ?? q.localUser;
  const uid = String(process.getuid?.() ?? '');
  return {
    h: host,
    n: q.host,
    p: port,
    r,
    u: q.localUser,
    d: q.home,
    l: full,
    L: full.split('.')[0]!,
    i: uid,
    k: q.host,
    C: createHash('sha1').update(`${full}${host}${port}${r}`).digest('hex'),
  };
}

/** OpenSSH `%x` tokens; `%%` is a literal percent; unknown tokens are left as they are. */
export function expand(value: string, t: Record<string, string>): string {
  return value.replace(/%(.)/g, (all, c: string) => (c === '%' ? '%' : (t[c] ?? all)));
}

export function tilde(path: string, home: string): string {
  return path === '~' || path.startsWith('~/') ? home + path.slice(1) : path;
}

function setOption(l: SshConfigLine, v: SshConfigValues): void {
  const arg = l.args[0];
  if (arg === undefined) return;
  switch (l.keyword) {
    case 'hostname':
      v.hostName ??= arg;
      break;
    case 'user':
      v.user ??= arg;
      break;
    case 'port':
      v.port ??= arg;
      break;
    // Accumulated without duplicates (the final pass reads them again).
    case 'identityfile':
      if (!v.identityFiles.includes(arg)) v.identityFiles.push(arg);
      break;
    case 'certificatefile':
      if (!v.certificateFiles.includes(arg)) v.certificateFiles.push(arg);
      break;
    case 'proxyjump':
      // One of ProxyJump and ProxyCommand: the first obtained wins.
      if (v.proxyJump === undefined && v.proxyCommand === undefined) v.proxyJump = arg;
      break;
    case 'proxycommand':
      if (v.proxyJump === undefined && v.proxyCommand === undefined) v.proxyCommand = l.rest.trim();
      break;
    case 'identitiesonly':
      v.identitiesOnly ??= yesNo(l, arg);
      break;
    case 'connecttimeout':
      if (v.connectTimeout === undefined && arg.toLowerCase() !== 'none') v.connectTimeout = seconds(l, arg);
      break;
    case 'serveraliveinterval':
      v.serverAliveInterval ??= seconds(l, arg);
      break;
    case 'serveralivecountmax': {
      const n = Number(arg);
      if (!Number.isInteger(n) || n < 0) throw new SshConfigError(l.file, l.line, `ServerAliveCountMax: "${arg}" is not a count`);
      v.serverAliveCountMax ??= n;
      break;
    }
  }
}

function yesNo(l: SshConfigLine, arg: string): boolean {
  const a = arg.toLowerCase();
  if (a === 'yes' || a === 'true') return true;
  if (a === 'no' || a === 'false') return false;
  throw new SshConfigError(l.file, l.line, `${l.keyword}: expected yes or no, got "${arg}"`);
}

/** OpenSSH time format: `30`, `30s`, `1m30s`, `1h` (convtime). */
function seconds(l: SshConfigLine, arg: string): number {
  const units: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  if (!/^(\d+[smhdw]?)+$/i.test(arg)) throw new SshConfigError(l.file, l.line, `${l.keyword}: "${arg}" is not a time`);
  let total = 0;
  for (const [, n, u] of arg.matchAll(/(\d+)([smhdw]?)/gi)) total += Number(n) * units[u!.toLowerCase()]!;
  return total;
}

/** glob(3) for Include: `*`, `?` and `[...]` in any path component, hidden names only when asked, sorted. */
function glob(pattern: string): string[] {
  const parts = pattern.split('/');
  let paths = [pattern.startsWith('/') ? '/' : '.'];
  parts.forEach((part, i) => {
    if (part === '' && i === 0) return;
    const next: string[] = [];
    for (const base of paths) {
      if (!/[*?[]/.test(part)) {
        const p = join(base, part);
        if (existsSync(p)) next.push(p);
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(base).sort();
      } catch {
        continue;
      }
      const re = globRegExp(part);
      for (const name of names) if ((!name.startsWith('.') || part.startsWith('.')) && re.test(name)) next.push(join(base, name));
    }
    paths = next;
  });
  return paths;
}

function globRegExp(part: string): RegExp {
  let re = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = part.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
