// Where and how to reach one host: inventory values completed from ~/.ssh/config and OpenSSH defaults.
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ConnectError } from '../errors.js';
import type { SshSettings } from '../inventory/model.js';
import { evaluateSshConfig, expand, loadSshConfig, tilde, tokens, type SshConfig } from './ssh-config.js';

export { parseSshConfig } from './ssh-config.js';

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
  /** ssh_config ProxyCommand, tokens expanded: run with `sh -c`, its stdin/stdout carry the connection. */
  proxyCommand?: string;
  /** OpenSSH certificates to present with the identity files (CertificateFile). */
  certificateFiles?: string[];
  /** IdentitiesOnly: offer the agent's keys only when they belong to an identity file. */
  identitiesOnly?: boolean;
  /** ServerAliveInterval / ServerAliveCountMax (0 disables keepalives). */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
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

export interface ResolveOptions {
  /** Parsed ssh_config; default: `~/.ssh/config` then `/etc/ssh/ssh_config`, as ssh reads them. */
  sshConfig?: SshConfig;
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

/** Complete an inventory host with ~/.ssh/config and defaults; explicit inventory values win. */
export function resolveTarget(spec: SshTargetSpec, options: ResolveOptions = {}): SshTarget {
  const home = options.home ?? homedir();
  const localUser = options.localUser ?? userInfo().username;
  const ctx: Context = {
    configs: options.sshConfig
      ? [options.sshConfig]
      : [loadSshConfig(join(home, '.ssh', 'config'), join(home, '.ssh')), loadSshConfig('/etc/ssh/ssh_config', '/etc/ssh')],
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
  // ssh_config's ConnectTimeout beats the inventory's default, not a value the inventory sets.
  if (ssh.explicit.connectTimeout === false) delete spec.connectTimeoutMs;
  if (ssh.identityFile !== undefined) spec.identityFiles = [ssh.identityFile];
  if (ssh.sudoPassword !== undefined) spec.sudoPassword = ssh.sudoPassword;
  if (ssh.proxyJump !== undefined) spec.proxyJump = ssh.proxyJump;
  return resolveTarget(spec, { defaultUser: ssh.user, ...options });
}

interface Context {
  configs: readonly SshConfig[];
  home: string;
  localUser: string;
  defaultUser: string;
  env: NodeJS.ProcessEnv;
}

/** `jump`, when given, is the already resolved previous hop of an explicit `a,b` list and replaces ssh_config's ProxyJump. */
function resolve(spec: SshTargetSpec, ctx: Context, depth: number, fallbackIdentities?: string[], jump?: SshTarget): SshTarget {
  if (depth > MAX_JUMPS) throw new ConnectError(spec.name, `ProxyJump chain longer than ${MAX_JUMPS} hops (a loop in ssh config?)`);
  const alias = spec.host ?? spec.name;
  const query = { host: alias, localUser: ctx.localUser, home: ctx.home, ...(spec.user !== undefined ? { user: spec.user } : {}), ...(spec.port !== undefined ? { port: spec.port } : {}) };
  let cfg;
  try {
    cfg = evaluateSshConfig(ctx.configs, query);
  } catch (err) {
    throw new ConnectError(spec.name, `ssh config: ${(err as Error).message}`);
  }
  // Lower-cased like ssh does: known_hosts (hashed entries too) records the lower-case name.
  const host = (cfg.hostName ? expand(cfg.hostName, { h: alias }) : alias).toLowerCase();
  const user = spec.user ?? cfg.user ?? ctx.defaultUser;
  const port = spec.port ?? (cfg.port !== undefined ? parsePort(spec.name, cfg.port) : 22);
  const t = tokens(query, { user, port: String(port) }, host);
  const path = (f: string): string => tilde(expand(f, t), ctx.home);
  const identityFiles =
    spec.identityFiles?.map(path) ??
    (cfg.identityFiles.length > 0
      ? cfg.identityFiles.map(path)
      : (fallbackIdentities ?? DEFAULT_IDENTITIES.map((f) => join(ctx.home, '.ssh', f)).filter((f) => existsSync(f))));
  const target: SshTarget = {
    name: spec.name,
    host,
    port,
    user,
    identityFiles,
    knownHostsFile: spec.knownHostsFile ? path(spec.knownHostsFile) : join(ctx.home, '.ssh', 'known_hosts'),
    hostKeyPolicy: spec.hostKeyPolicy ?? 'strict',
    useAgent: spec.useAgent ?? Boolean(ctx.env.SSH_AUTH_SOCK),
    sudo: spec.sudo ?? user !== 'root',
    connectTimeoutMs: spec.connectTimeoutMs ?? (cfg.connectTimeout ? cfg.connectTimeout * 1000 : DEFAULT_CONNECT_TIMEOUT_MS),
    commandTimeoutMs: spec.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
  };
  if (cfg.certificateFiles.length > 0) target.certificateFiles = cfg.certificateFiles.map(path);
  if (cfg.identitiesOnly !== undefined) target.identitiesOnly = cfg.identitiesOnly;
  if (cfg.serverAliveInterval !== undefined) target.keepaliveIntervalMs = cfg.serverAliveInterval * 1000;
  if (cfg.serverAliveCountMax !== undefined) target.keepaliveCountMax = cfg.serverAliveCountMax;
  if (spec.sudoPassword !== undefined) target.sudoPassword = spec.sudoPassword;
  const jumps = spec.proxyJump ?? cfg.proxyJump;
  if (jump) target.proxyJump = jump;
  else if (jumps && jumps !== 'none') target.proxyJump = resolveJumps(jumps, target, ctx, depth);
  else if (spec.proxyJump === undefined && cfg.proxyCommand && cfg.proxyCommand !== 'none') target.proxyCommand = expand(cfg.proxyCommand, t);
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
