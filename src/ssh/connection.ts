// One SSH connection to one host (directly or through jump hosts) that runs commands with a timeout and sudo.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import ssh2 from 'ssh2';
import type { Client, ClientChannel, ServerHostKeyAlgorithm } from 'ssh2';
import { authMethods, type AuthPlan } from './auth.js';
import { isCertificateType, ssh2HasCertificates } from './certificate.js';
import { CommandError, ConnectError } from '../errors.js';
import { quote, sh } from '../shell/quote.js';
import { SudoPasswordError, TimeoutError } from '../errors.js';
import { hostKeyAlgorithms, hostKeyName, loadKnownHosts, verifyHostKey, type KnownHostsEntry } from './known-hosts.js';
import { createLimiter } from './limit.js';
import type { SshTarget } from './target.js';

export interface ExecOptions {
  stdin?: string | Buffer;
  /** Default: the target's commandTimeoutMs (plus `extraTimeoutMs`). */
  timeoutMs?: number;
  /** Added to the target's commandTimeoutMs: a command that may first wait for a lock (bounded by its own setting). */
  extraTimeoutMs?: number;
  /** Default: the target's `sudo`; never applies when logged in as root. */
  sudo?: boolean;
  /** Throw CommandError on a non-zero exit (default true). */
  check?: boolean;
  /** Each complete line of standard output as it arrives (progress of a long command). */
  onLine?: (line: string) => void;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
  durationMs: number;
}

const KEEPALIVE_INTERVAL_MS = 5_000;
// OpenSSH's default MaxSessions is 10 channels per connection; stay below it when callers run commands in parallel.
const MAX_CHANNELS = 8;
const CLOSE_GRACE_MS = 2_000;
const REDACTED = '********';

/** Markers that let kadeploy see what sudo does: it asks for the password, or it started the command. */
export interface SudoMarkers {
  prompt: string;
  started: string;
}

/**
 * The command line that runs `command` as root. Without markers, `sudo -n` (no password). With them,
 * sudo prints `prompt` (on stderr) when, and only when, it wants the password, and the command
 * prints `started` (on stderr) before anything else: the password is written only after the
 * prompt, the command's input only after `started`, so neither can reach the other. The password
 * never appears in the command line (`ps`, logs, errors).
 */
export function sudoCommand(command: string, markers?: SudoMarkers): string {
  if (!markers) return sh('sudo', '-n', '--', 'sh', '-c', command);
  return sh('sudo', '-S', '-k', '-p', markers.prompt, '--', 'sh', '-c', `printf %s ${quote(markers.started)} >&2; ${command}`);
}

/**
 * Make the remote side enforce the timeout too. OpenSSH refuses signal requests for root sessions
 * (no privilege separation after a root login) and ssh2 cannot send one after stdin's EOF, so closing
 * the channel alone would leave the command running. coreutils `timeout` signals its whole process
 * group (TERM, KILL 2 s later) and runs inside sudo, so it may kill root processes; where it is
 * missing, the command runs unguarded. Commands always run in POSIX `sh`, whatever the login shell.
 */
function withRemoteTimeout(command: string, timeoutMs: number): string {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return (
    `if command -v timeout >/dev/null 2>&1; then exec ${sh('timeout', '-k', 2, seconds, 'sh', '-c', command)}; ` +
    `else exec ${sh('sh', '-c', command)}; fi`
  );
}

export class SshConnection {
  /** Settles once the connection has ended, whoever ended it. */
  readonly closed: Promise<void>;
  private readonly channels = createLimiter(MAX_CHANNELS);
  private readonly inFlight = new Set<(err: Error) => void>();
  // Random per connection: no file or command output can forge them.
  private readonly markers: SudoMarkers = {
    prompt: `[kadeploy-sudo-prompt-${randomBytes(8).toString('hex')}]`,
    started: `[kadeploy-sudo-started-${randomBytes(8).toString('hex')}]`,
  };
  private lostReason?: string;
  private isClosed = false;

  private constructor(
    readonly target: SshTarget,
    private readonly client: Client,
    private readonly jump?: SshConnection,
    proxy?: ChildProcess,
  ) {
    client.on('error', (err) => {
      this.lostReason = err.message;
    });
    this.closed = new Promise((resolve) => {
      client.once('close', () => {
        this.isClosed = true;
        if (proxy && proxy.exitCode === null) proxy.kill();
        if (this.inFlight.size > 0) {
          // Built only when a command is waiting: an error's stack trace costs CPU on every close.
          const lost = new ConnectError(target.name, `connection closed${this.lostReason ? `: ${this.lostReason}` : ''}`);
          for (const fail of this.inFlight) fail(lost);
        }
        if (this.jump) void this.jump.close().then(resolve);
        else resolve();
      });
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  static async connect(target: SshTarget): Promise<SshConnection> {
    const auth = await authMethods(target);
    const knownHosts = await loadKnownHosts(target.knownHostsFile).catch((err: Error) => {
      throw new ConnectError(target.name, `cannot read known_hosts file ${target.knownHostsFile}: ${err.message}`);
    });
    const jump = target.proxyJump ? await SshConnection.connect(target.proxyJump) : undefined;
    const proxy = !jump && target.proxyCommand ? proxyCommand(target.proxyCommand) : undefined;
    try {
      const sock = jump ? await jump.forwardTo(target) : proxy ? proxy.sock : await openSocket(target);
      const client = await handshake(target, sock, auth, knownHosts);
      return new SshConnection(target, client, jump, proxy?.child);
    } catch (err) {
      await jump?.close();
      if (proxy) {
        const status = await proxy.status();
        proxy.child.kill();
        // A proxy that failed is the likely cause: say so next to what the handshake saw.
        const failed = /^(exited [1-9]|exited SIG|could not start)/.test(status);
        const lost = /before handshake|closed the connection|timed out/i.test((err as Error).message);
        if (err instanceof ConnectError && (failed || (lost && status !== 'still running'))) {
          throw new ConnectError(target.name, `${err.message.slice(target.name.length + 2)} (ProxyCommand "${target.proxyCommand}" ${status})`);
        }
      }
      throw err;
    }
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const { check = true, timeoutMs = this.target.commandTimeoutMs + (opts.extraTimeoutMs ?? 0) } = opts;
    const stdin = opts.stdin === undefined ? undefined : Buffer.from(opts.stdin);
    const useSudo = (opts.sudo ?? this.target.sudo) && this.target.user !== 'root';
    const password = useSudo ? this.target.sudoPassword : undefined;
    const guarded = withRemoteTimeout(command, timeoutMs);
    const remote = useSudo ? sudoCommand(guarded, password === undefined ? undefined : this.markers) : guarded;
    const label = this.redact(command);
    const result = await this.channels(() => this.run(label, remote, stdin, timeoutMs, password, opts.onLine));
    if (useSudo && password === undefined && result.code !== 0 && /^sudo: (a password is required|a terminal is required)/m.test(result.stderr)) {
      throw new SudoPasswordError(this.target.name, this.target.user, 'missing');
    }
    if (check && result.code !== 0) throw new CommandError(this.target.name, label, result.code, result.stdout, result.stderr);
    return result;
  }

  /** End the connection (and its jump hosts); resolves when it is closed. */
  async close(): Promise<void> {
    if (this.isClosed) return this.closed;
    this.client.end();
    // A server that never answers the disconnect must not keep kadeploy waiting.
    const timer = setTimeout(() => this.client.destroy(), CLOSE_GRACE_MS);
    await this.closed;
    clearTimeout(timer);
  }

  /**
   * Run one remote command line; `label` is what messages show (the command before sudo wrapping).
   * With `sudoPassword`, `remote` is a `sudoCommand` with this connection's markers: the password
   * goes to sudo's prompt only, and `stdin` to the command only once it has started.
   */
  private run(label: string, remote: string, stdin: Buffer | undefined, timeoutMs: number, sudoPassword?: string, onLine?: (line: string) => void): Promise<ExecResult> {
    const host = this.target.name;
    return new Promise((resolve, reject) => {
      if (this.isClosed) {
        reject(new ConnectError(host, `connection closed${this.lostReason ? `: ${this.lostReason}` : ''}`));
        return;
      }
      const started = performance.now();
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      const text = (chunks: Buffer[]): string => this.redact(Buffer.concat(chunks).toString('utf8'));
      let channel: ClientChannel | undefined;
      let settled = false;
      const settle = (finish: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(onLost);
        finish();
      };
      const onLost = (err: Error): void => settle(() => reject(err));
      const timer = setTimeout(() => {
        settle(() => reject(new TimeoutError(host, label, timeoutMs, text(out), text(errOut))));
        // The remote `timeout` wrapper kills the process group; closing the channel frees it on our side.
        channel?.close();
      }, timeoutMs);
      this.inFlight.add(onLost);

      this.client.exec(remote, (err, ch) => {
        if (err) {
          settle(() => reject(new ConnectError(host, `cannot start a command: ${err.message}`)));
          return;
        }
        channel = ch;
        if (settled) {
          ch.close();
          return;
        }
        let code: number | null = null;
        let signal: string | undefined;
        let partial = '';
        const utf8 = new StringDecoder('utf8'); // a character split across two chunks stays whole
        ch.on('data', (chunk: Buffer) => {
          out.push(chunk);
          if (!onLine) return;
          const lines = (partial + utf8.write(chunk)).split('\n');
          partial = lines.pop()!;
          for (const line of lines) if (line.trim()) onLine(this.redact(line));
        });
        const sudo = sudoPassword === undefined ? undefined : this.sudoDialog(sudoPassword, ch, () => ch.end(stdin));
        ch.stderr.on('data', (chunk: Buffer) => {
          if (!sudo || sudo.started) errOut.push(chunk);
          else if (sudo.feed(chunk) === 'refused') settle(() => reject(new SudoPasswordError(host, this.target.user, 'refused')));
        });
        ch.on('exit', (exitCode: number | null, signalName?: string) => {
          code = exitCode;
          signal = signalName;
        });
        ch.on('close', () =>
          settle(() => {
            if (sudo && !sudo.started) {
              // sudo ended without running the command: its own messages are the command's stderr.
              if (sudo.refused()) return reject(new SudoPasswordError(host, this.target.user, 'refused'));
              errOut.push(Buffer.from(sudo.messages(), 'latin1'));
            }
            resolve({
              stdout: text(out),
              stderr: text(errOut),
              code: exitStatus(code, signal),
              durationMs: Math.round(performance.now() - started),
            });
          }),
        );
        if (!sudo) ch.end(stdin);
      });
    });
  }

  /**
   * Follow sudo's stderr until the command starts: answer its first prompt with the password, call
   * `start` when the command's marker appears, report `refused` on a second prompt (sudo asking again
   * means the password was wrong; it is never sent twice).
   */
  private sudoDialog(password: string, ch: ClientChannel, start: () => void) {
    const { prompt, started } = this.markers;
    let seen = '';
    let prompts = 0;
    const dialog = {
      started: false,
      feed: (chunk: Buffer): 'refused' | undefined => {
        seen += chunk.toString('latin1');
        const at = seen.indexOf(started);
        if (at >= 0) {
          dialog.started = true;
          const rest = seen.slice(at + started.length);
          if (rest !== '') ch.stderr.emit('data', Buffer.from(rest, 'latin1'));
          start();
          return undefined;
        }
        const count = seen.split(prompt).length - 1;
        if (count === prompts) return undefined;
        prompts = count;
        if (count > 1) {
          ch.close();
          return 'refused';
        }
        ch.write(`${password}\n`);
        return undefined;
      },
      refused: (): boolean => prompts > 0 && /incorrect password|Sorry, try again/i.test(seen),
      messages: (): string => seen.split(prompt).join(''),
    };
    return dialog;
  }

  /** Defence in depth: whatever a command prints, the sudo password never leaves this class. */
  private redact(s: string): string {
    const password = this.target.sudoPassword;
    return password ? s.split(password).join(REDACTED) : s;
  }

  /** A stream to `target` opened by this (jump) host, to carry the next SSH connection. */
  private forwardTo(target: SshTarget): Promise<Duplex> {
    const addr = address(target);
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new ConnectError(target.name, `reaching ${addr} through jump host ${this.target.name} timed out after ${target.connectTimeoutMs} ms`));
      }, target.connectTimeoutMs);
      this.client.forwardOut('127.0.0.1', 0, target.host, target.port, (err, stream) => {
        clearTimeout(timer);
        if (settled) {
          stream?.close();
          return;
        }
        settled = true;
        if (err) reject(new ConnectError(target.name, `cannot reach ${addr} through jump host ${this.target.name}: ${err.message}`));
        else resolve(stream);
      });
    });
  }
}

/** Shell convention for a process killed by a signal (128 + n); 255 when the server reported nothing, like ssh. */
function exitStatus(code: number | null, signal: string | undefined): number {
  if (code !== null) return code;
  const n = signal ? (osConstants.signals as Record<string, number | undefined>)[`SIG${signal}`] : undefined;
  return n ? 128 + n : 255;
}

function address(target: SshTarget): string {
  return `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}

/** Run an ssh_config ProxyCommand (through the shell, like ssh): its stdout and stdin are the connection. */
function proxyCommand(command: string): { child: ChildProcess; sock: Duplex; status: () => Promise<string> } {
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`could not start: ${err.message}`));
    // 'close', not 'exit': the proxy's last stderr lines may still be in the pipe when it exits.
    child.once('close', (code, signal) => resolve(`exited ${code ?? signal}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-2).join(' | ')}` : ''}`));
  });
  const sock = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
  // Wait briefly for the exit, so the message can say why it ended.
  const status = () => Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 500))]);
  return { child, sock, status };
}

function openSocket(target: SshTarget): Promise<net.Socket> {
  const addr = address(target);
  return new Promise((resolve, reject) => {
    // No-delay: deploys are many small request/response exchanges, where Nagle only adds latency.
    const sock = net.connect({ host: target.host, port: target.port, noDelay: true });
    let settled = false;
    const finish = (err?: ConnectError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        sock.destroy();
        reject(err);
      } else {
        resolve(sock);
      }
    };
    const timer = setTimeout(
      () => finish(new ConnectError(target.name, `connection to ${addr} timed out after ${target.connectTimeoutMs} ms`)),
      target.connectTimeoutMs,
    );
    sock.once('connect', () => finish());
    // Stays attached after connecting (then a no-op): ssh2 adds its own handler once it owns the socket.
    sock.on('error', (err: NodeJS.ErrnoException) => finish(new ConnectError(target.name, socketErrorMessage(err, target, addr))));
  });
}

function socketErrorMessage(err: NodeJS.ErrnoException, target: SshTarget, addr: string): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${addr} (is sshd running and listening on port ${target.port}?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve host name ${target.host}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${addr} is unreachable (${err.code})`;
    case 'ETIMEDOUT':
      return `connection to ${addr} timed out`;
    default:
      return `cannot connect to ${addr}: ${err.message}`;
  }
}

/** SSH handshake, host key verification and authentication over an open stream. */
function handshake(target: SshTarget, sock: Duplex, auth: AuthPlan, knownHosts: KnownHostsEntry[]): Promise<Client> {
  const addr = address(target);
  // Certificates only when ssh2 can carry them; without the patch a certified host is checked by its plain key.
  const known = hostKeyAlgorithms(knownHosts, hostKeyName(target.host, target.port)).filter(
    (a) => ssh2HasCertificates() || !isCertificateType(a),
  ) as ServerHostKeyAlgorithm[];
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    let hostKeyError: Error | undefined;
    const notes: string[] = [];
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      client.end();
      sock.destroy();
      reject(err);
    };
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    client.on('error', (err) => {
      if (hostKeyError) return fail(hostKeyError);
      if (err.level === 'client-authentication' && /all configured authentication methods failed/i.test(err.message)) {
        const tried = [...auth.tried, ...notes].join(', ');
        return fail(new ConnectError(target.name, `authentication failed for ${target.user}@${target.host} (tried: ${tried})`));
      }
      // ssh2 reports agent and key signing problems, then goes on with the next method.
      if (err.level === 'agent' || err.level === 'client-authentication') {
        notes.push(`${err.level === 'agent' ? 'agent error' : 'key error'}: ${err.message}`);
        return;
      }
      if (err.level === 'client-timeout') {
        return fail(new ConnectError(target.name, `SSH handshake with ${addr} timed out after ${target.connectTimeoutMs} ms`));
      }
      fail(new ConnectError(target.name, `SSH handshake with ${addr} failed: ${err.message}`));
    });
    client.on('close', () => fail(hostKeyError ?? new ConnectError(target.name, `${addr} closed the connection during the SSH handshake`)));
    client.connect({
      sock,
      username: target.user,
      readyTimeout: target.connectTimeoutMs,
      keepaliveInterval: target.keepaliveIntervalMs ?? KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: target.keepaliveCountMax ?? 3,
      // Ask for the key types known_hosts already has, so a server with several keys shows a comparable one.
      // ssh2 applies these in key order (remove, then prepend) and prepend unshifts one by one, hence the reverse.
      ...(known.length > 0 ? { algorithms: { serverHostKey: { remove: known, prepend: [...known].reverse(), append: [] } } } : {}),
      authHandler: auth.methods,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        verifyHostKey(target, knownHosts, key).then(
          () => verify(true),
          (err: Error) => {
            hostKeyError = err;
            verify(false);
          },
        );
      },
    });
  });
}
