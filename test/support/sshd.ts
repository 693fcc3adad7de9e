// A real OpenSSH server on loopback for tests: own host and client keys in a temp dir, started on a
// free port and stopped by its PID. Tests that need it skip (visibly) when it cannot run here.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ConnectError } from '../../src/errors.js';
import { SshConnection } from '../../src/ssh/connection.js';
import type { SshTarget } from '../../src/ssh/target.js';

export const SSHD = '/usr/sbin/sshd';

/** Install openssh-server when missing and possible; otherwise say why the server tests are skipped. */
function sshdUnavailable(): string | undefined {
  if (existsSync(SSHD)) return undefined;
  if (process.getuid?.() !== 0) return `${SSHD} missing and not root: install openssh-server to run the SSH server tests`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (spawnSync('apt-get', ['install', '-y', 'openssh-server'], { env, stdio: 'ignore' }).status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'ignore' });
    spawnSync('apt-get', ['install', '-y', 'openssh-server'], { env, stdio: 'ignore' });
  }
  return existsSync(SSHD) ? undefined : `${SSHD} missing and apt-get install openssh-server failed`;
}

/** Why the loopback sshd cannot be used here (undefined when it can); printed once per test file. */
export function sshdSkipReason(): string | undefined {
  const why = sshdUnavailable() ?? (process.getuid?.() !== 0 ? 'the SSH server tests log in as root and must run as root' : undefined);
  if (why) process.stderr.write(`# SKIPPING SSH server tests: ${why}\n`);
  return why;
}

export function keygen(dir: string, name: string, type: string, passphrase = ''): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', name, '-f', file]);
  return file;
}

/** "type base64" of a key's .pub file, as known_hosts and authorized_keys want it. */
export function pubBlob(keyFile: string): string {
  return readFileSync(`${keyFile}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}

export interface Sshd {
  port: number;
  /** Host keys (ed25519 and ecdsa), the client key root logs in with, and a known_hosts naming both host keys. */
  hostEd25519: string;
  hostEcdsa: string;
  clientKey: string;
  knownHosts: string;
  /** A target for this server (root, the client key, strict host keys), with overrides. */
  target(over?: Partial<SshTarget>): SshTarget;
  /** SIGTERM to this sshd's PID (the listener; sessions end with their connections). */
  stop(): void;
}

/**
 * Start sshd on a free loopback port; keys and config go into `dir` (the caller removes it).
 * `sshdOptions` are extra `-o` options (e.g. TrustedUserCAKeys=…), or a function given the host keys
 * before the server starts that returns them (e.g. to sign a host certificate for HostCertificate=…).
 */
export async function startSshd(dir: string, sshdOptions: string[] | ((keys: { hostEd25519: string; hostEcdsa: string }) => string[]) = []): Promise<Sshd> {
  const hostEd25519 = keygen(dir, 'host_ed25519', 'ed25519');
  const hostEcdsa = keygen(dir, 'host_ecdsa', 'ecdsa');
  const clientKey = keygen(dir, 'client_ed25519', 'ed25519');
  const extra = typeof sshdOptions === 'function' ? sshdOptions({ hostEd25519, hostEcdsa }) : sshdOptions;
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${clientKey}.pub`));
  const port = await freePort();
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${pubBlob(hostEd25519)}\n[127.0.0.1]:${port} ${pubBlob(hostEcdsa)}\n`);
  const cfg = join(dir, 'sshd_config');
  writeFileSync(
    cfg,
    ['PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'AllowTcpForwarding yes', 'LogLevel ERROR'].join('\n') + '\n',
  );
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation directory sshd insists on
  // prettier-ignore
  const args = ['-D', '-e', '-f', cfg, '-p', String(port), '-o', 'ListenAddress=127.0.0.1',
    '-o', `HostKey=${hostEd25519}`, '-o', `HostKey=${hostEcdsa}`, '-o', `AuthorizedKeysFile=${authorized}`,
    '-o', 'PidFile=none', '-o', 'UsePAM=no', '-o', 'StrictModes=no', ...extra.flatMap((o) => ['-o', o])];
  const child = spawn(SSHD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    await waitForPort(port, child, () => log);
  } catch (err) {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    throw err;
  }
  return {
    port,
    hostEd25519,
    hostEcdsa,
    clientKey,
    knownHosts,
    target: (over = {}) => ({
      name: 'lb1',
      host: '127.0.0.1',
      port,
      user: 'root',
      identityFiles: [clientKey],
      knownHostsFile: knownHosts,
      hostKeyPolicy: 'strict',
      useAgent: false,
      sudo: false,
      connectTimeoutMs: 5_000,
      commandTimeoutMs: 10_000,
      ...over,
    }),
    stop: () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    },
  };
}

/** The ConnectError a connection attempt ends with (fails the test when it connects). */
export async function connectError(t: SshTarget): Promise<ConnectError> {
  try {
    await (await SshConnection.connect(t)).close();
  } catch (err) {
    assert.ok(err instanceof ConnectError, `expected ConnectError, got ${String(err)}`);
    return err;
  }
  assert.fail('connection unexpectedly succeeded');
}
