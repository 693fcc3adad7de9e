// Where and how to reach one host: inventory values completed from ~/.ssh/config and OpenSSH defaults.
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ConnectError } from '../errors.js';
import type { SshSettings } from '../inventory/model.js';
import { matchPatternList } from './pattern.js';

export type HostKeyPolicy = 'strict' | 'accept-new';

export interface SshTarget {
  /** Inventory node name: used in every message about this host. */
  name: string;
  host: string;
  port: number;
  user: string;
  identityFiles: string[];
  knownHostsFile: string;
  hostKeyPolicy: HostKeyPolicy;
  useAgent: boolean;
  /** Run commands through sudo when `user` is not root. */
  sudo: boolean;
  sudoPassword?: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  proxyJump?: SshTarget;
}

/** What an inventory may say about a host; everything but `name` is optional. */
export interface SshTargetSpec {
  name: string;
  /** What you would type after `ssh`: an address or an ssh_config alias (default: `name`). */
  host?: string;
  port?: number;
  user?: string;
  identityFiles?: string[];
  knownHostsFile?: string;
  hostKeyPolicy?: HostKeyPolicy;
  useAgent?: boolean;
  sudo?: boolean;
  sudoPassword?: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** `[user@]host[:port]` hops separated by commas, as `ssh -J`; `none` disables the ssh_config one. */
  proxyJump?: string;
}

/** One `Host` (or `Match`) section of an ssh_config file; keywords are lower-cased. */
export interface SshConfigBlock {
  patterns: string[];
  options: Array<[keyword: string, value: string]>;
}

/** The ssh_config values kadeploy honours for one host, before token expansion. */
export interface SshHostConfig {
  hostName?: string;
  user?: string;
  port?: string;
  identityFiles: string[];
  proxyJump?: string;
}

export interface ResolveOptions {
  /** Parsed ssh_config; default: `~/.ssh/config` when it exists. */
  sshConfig?: SshConfigBlock[];
  home?: string;
  localUser?: string;
  /** User when neither the spec nor ssh_config names one; default: the local user, as ssh does. */
  defaultUser?: string;
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
// Package installs on slow mirrors take minutes; operations pass shorter timeouts where they know better.
export const DEFAULT_COMMAND_TIMEOUT_MS = 300_000;
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
const MAX_JUMPS = 8;

/** Parse ssh_config text. `Include` is not followed; `Match` sections never match (kadeploy cannot evaluate them). */
export function parseSshConfig(text: string): SshConfigBlock[] {
  // Options before the first Host line apply to every host.
  const blocks: SshConfigBlock[] = [{ patterns: ['*'], options: [] }];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const keyword = m[1]!.toLowerCase();
    const args = [...m[2]!.matchAll(/"([^"]*)"|(\S+)/g)].map((a) => a[1] ?? a[2]!);
    if (keyword === 'host') blocks.push({ patterns: args, options: [] });
    else if (keyword === 'match') blocks.push({ patterns: [], options: [] });
    else if (args[0] !== undefined) blocks.at(-1)!.options.push([keyword, args[0]]);
  }
  return blocks;
}

/** Read an ssh_config file; a missing file is an empty config. */
export function loadSshConfig(file: string): SshConfigBlock[] {
  return existsSync(file) ? parseSshConfig(readFileSync(file, 'utf8')) : [];
}

/** Values for `alias`: like OpenSSH, the first value found wins, except IdentityFile which accumulates. */
export function sshConfigFor(blocks: readonly SshConfigBlock[], alias: string): SshHostConfig {
  const found: SshHostConfig = { identityFiles: [] };
  const keys = { hostname: 'hostName', user: 'user', port: 'port', proxyjump: 'proxyJump' } as const;
  for (const block of blocks) {
    if (!matchPatternList(alias, block.patterns)) continue;
    for (const [keyword, value] of block.options) {
      if (keyword === 'identityfile') found.identityFiles.push(value);
      else if (Object.hasOwn(keys, keyword)) {
        const key = keys[keyword as keyof typeof keys];
        found[key] ??= value;
      }
    }
  }
  return found;
}

/** Complete an inventory host with ~/.ssh/config and defaults; explicit inventory values win. */
export function resolveTarget(spec: SshTargetSpec, options: ResolveOptions = {}): SshTarget {
  const home = options.home ?? homedir();
  const localUser = options.localUser ?? userInfo().username;
  const ctx: Context = {
    blocks: options.sshConfig ?? loadSshConfig(join(home, '.ssh', 'config')),
    home,
    localUser,
    defaultUser: options.defaultUser ?? localUser,
    env: options.env ?? process.env,
  };
  return resolve(spec, ctx, 0);
}

/** The target for an inventory node: what the inventory set explicitly wins over ssh_config, its defaults do not. */
export function targetFromSettings(name: string, ssh: SshSettings, options: ResolveOptions = {}): SshTarget {
  const spec: SshTargetSpec = {
    name,
    host: ssh.host,
    knownHostsFile: ssh.knownHosts,
    hostKeyPolicy: ssh.hostKeyPolicy,
    useAgent: ssh.useAgent,
    sudo: ssh.sudo,
    connectTimeoutMs: ssh.connectTimeoutMs,
    commandTimeoutMs: ssh.commandTimeoutMs,
  };
  if (ssh.explicit.user) spec.user = ssh.user;
  if (ssh.explicit.port) spec.port = ssh.port;
  if (ssh.identityFile !== undefined) spec.identityFiles = [ssh.identityFile];
  if (ssh.sudoPassword !== undefined) spec.sudoPassword = ssh.sudoPassword;
  if (ssh.proxyJump !== undefined) spec.proxyJump = ssh.proxyJump;
  return resolveTarget(spec, { defaultUser: ssh.user, ...options });
}

interface Context {
  blocks: readonly SshConfigBlock[];
  home: string;
  localUser: string;
  defaultUser: string;
  env: NodeJS.ProcessEnv;
}

/** `jump`, when given, is the already resolved previous hop of an explicit `a,b` list and replaces ssh_config's ProxyJump. */
function resolve(spec: SshTargetSpec, ctx: Context, depth: number, fallbackIdentities?: string[], jump?: SshTarget): SshTarget {
  if (depth > MAX_JUMPS) throw new ConnectError(spec.name, `ProxyJump chain longer than ${MAX_JUMPS} hops (a loop in ssh config?)`);
  const alias = spec.host ?? spec.name;
  const cfg = sshConfigFor(ctx.blocks, alias);
  const host = cfg.hostName ? expandTokens(cfg.hostName, { h: alias }) : alias;
  const user = spec.user ?? cfg.user ?? ctx.defaultUser;
  const tokens = { h: host, r: user, u: ctx.localUser, d: ctx.home };
  const identityFiles =
    spec.identityFiles?.map((f) => expandTokens(f, tokens, ctx.home)) ??
    (cfg.identityFiles.length > 0
      ? cfg.identityFiles.map((f) => expandTokens(f, tokens, ctx.home))
      : (fallbackIdentities ?? DEFAULT_IDENTITIES.map((f) => join(ctx.home, '.ssh', f)).filter((f) => existsSync(f))));
  const target: SshTarget = {
    name: spec.name,
    host,
    port: spec.port ?? (cfg.port !== undefined ? parsePort(spec.name, cfg.port) : 22),
    user,
    identityFiles,
    knownHostsFile: spec.knownHostsFile ? expandTokens(spec.knownHostsFile, tokens, ctx.home) : join(ctx.home, '.ssh', 'known_hosts'),
    hostKeyPolicy: spec.hostKeyPolicy ?? 'strict',
    useAgent: spec.useAgent ?? Boolean(ctx.env.SSH_AUTH_SOCK),
    sudo: spec.sudo ?? user !== 'root',
    connectTimeoutMs: spec.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    commandTimeoutMs: spec.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
  };
  if (spec.sudoPassword !== undefined) target.sudoPassword = spec.sudoPassword;
  const jumps = spec.proxyJump ?? cfg.proxyJump;
  if (jump) target.proxyJump = jump;
  else if (jumps && jumps !== 'none') target.proxyJump = resolveJumps(jumps, target, ctx, depth);
  return target;
}

/** `a,b` means: reach a (its own ssh_config may add hops), from a reach b, from b reach the target. */
function resolveJumps(list: string, via: SshTarget, ctx: Context, depth: number): SshTarget {
  let previous: SshTarget | undefined;
  for (const hop of list.split(',')) {
    const { user, host, port } = parseHop(via.name, hop.trim());
    const spec: SshTargetSpec = {
      name: hop.trim(),
      host,
      knownHostsFile: via.knownHostsFile,
      hostKeyPolicy: via.hostKeyPolicy,
      useAgent: via.useAgent,
      sudo: false,
      connectTimeoutMs: via.connectTimeoutMs,
      commandTimeoutMs: via.commandTimeoutMs,
    };
    if (user !== undefined) spec.user = user;
    if (port !== undefined) spec.port = port;
    // A bastion without its own IdentityFile is usually reached with the node's key.
    previous = resolve(spec, ctx, depth + 1, via.identityFiles, previous);
  }
  return previous!;
}

function parseHop(name: string, hop: string): { user?: string; host: string; port?: number } {
  const at = hop.lastIndexOf('@');
  const user = at >= 0 ? hop.slice(0, at) : undefined;
  const rest = hop.slice(at + 1);
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
  if (!m || (user !== undefined && user === '')) throw new ConnectError(name, `invalid ProxyJump hop "${hop}" (expected [user@]host[:port])`);
  const parsed: { user?: string; host: string; port?: number } = { host: m[1]! };
  if (user !== undefined) parsed.user = user;
  if (m[2] !== undefined) parsed.port = parsePort(name, m[2]);
  return parsed;
}

function parsePort(name: string, value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConnectError(name, `invalid SSH port "${value}"`);
  return port;
}

/** OpenSSH `%x` tokens (`%%` is a literal percent) and, for paths, a leading `~`. */
function expandTokens(value: string, tokens: Record<string, string>, home?: string): string {
  const expanded = value.replace(/%(.)/g, (all, t: string) => (t === '%' ? '%' : (tokens[t] ?? all)));
  return home !== undefined && (expanded === '~' || expanded.startsWith('~/')) ? home + expanded.slice(1) : expanded;
}
