// SSH transport against a real OpenSSH server on loopback (test/support/sshd.ts starts it, and stops it by PID).
// Pure parts (ssh_config resolution, known_hosts parsing, sudo wrapping, concurrency) need no server.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CommandError, ConnectError, TimeoutError } from '../../src/errors.js';
import { quote, sh } from '../../src/shell/quote.js';
import { SshConnection, sudoCommand } from '../../src/ssh/connection.js';
import { checkHostKey, hostKeyAlgorithms, parseKnownHosts } from '../../src/ssh/known-hosts.js';
import { createLimiter, mapLimit } from '../../src/ssh/limit.js';
import { SshPool } from '../../src/ssh/pool.js';
import { parseSshConfig, resolveTarget, targetFromSettings, type SshTarget } from '../../src/ssh/target.js';
import { connectError, freePort, keygen as keygenIn, pubBlob, sshdSkipReason, startSshd, type Sshd } from '../support/sshd.js';

const skip = sshdSkipReason();

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-ssh-'));
const file = (name: string): string => join(dir, name);
const keygen = (name: string, type: string, passphrase = ''): string => keygenIn(dir, name, type, passphrase);

let server: Sshd | undefined;
let port = 0;
let hostEd25519 = '';
let hostEcdsa = '';
let clientKey = '';

before(async () => {
  if (skip) return;
  server = await startSshd(dir);
  ({ port, hostEd25519, hostEcdsa, clientKey } = server);
});

after(() => {
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const target = (over: Partial<SshTarget> = {}): SshTarget => server!.target(over);

async function withConnection<T>(t: SshTarget, fn: (c: SshConnection) => Promise<T>): Promise<T> {
  const conn = await SshConnection.connect(t);
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

describe('exec on a real sshd', { skip }, () => {
  let conn: SshConnection;
  before(async () => {
    conn = await SshConnection.connect(target());
  });
  after(() => conn.close());

  it('returns stdout, stderr, exit code and duration', async () => {
    const r = await conn.exec('echo out; echo err >&2');
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.code, 0);
    assert.ok(r.durationMs >= 0);
  });

  it('onLine gets each stdout line as it arrives, before the command ends', async () => {
    const seen: Array<[string, number]> = [];
    const started = Date.now();
    const r = await conn.exec("printf 'one\\ntw'; sleep 1; printf 'o\\n\\nthree\\n'; echo err >&2", { onLine: (l) => seen.push([l, Date.now() - started]) });
    assert.deepEqual(seen.map(([l]) => l), ['one', 'two', 'three']);
    assert.ok(seen[0]![1] < r.durationMs - 500, `the first line came ${seen[0]![1]} ms in, the command took ${r.durationMs} ms`);
    assert.equal(r.stdout, 'one\ntwo\n\nthree\n');
  });

  it('check=false returns a failing result instead of throwing', async () => {
    const r = await conn.exec('echo partial; exit 3', { check: false });
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'partial\n');
  });

  it('throws CommandError carrying the result on a non-zero exit', async () => {
    await assert.rejects(conn.exec('echo boom >&2; exit 7'), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(err.code, 7);
      assert.equal(err.stderr, 'boom\n');
      assert.match(err.message, /^lb1: command failed \(exit 7\): echo boom >&2; exit 7\n {2}boom$/);
      return true;
    });
  });

  it('kills a command that runs past its timeout', async () => {
    const started = Date.now();
    // A compound command: the shell and its child sleep must both go (OpenSSH signals the process group).
    await assert.rejects(conn.exec('sleep 29.75; echo never', { timeoutMs: 500 }), (err: unknown) => {
      assert.ok(err instanceof TimeoutError && err instanceof CommandError);
      assert.match(err.message, /^lb1: command timed out after 500 ms and was killed: sleep 29\.75; echo never$/);
      return true;
    });
    assert.ok(Date.now() - started < 5_000);
    // sshd runs on this machine: the remote process must be gone, not just abandoned.
    let alive = true;
    for (let i = 0; i < 30 && alive; i++) {
      alive = spawnSync('pgrep', ['-f', 'sleep 29.75']).status === 0;
      if (alive) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(alive, false, 'sleep still running after the timeout');
    assert.equal((await conn.exec('echo still usable')).stdout, 'still usable\n');
  });

  it('feeds stdin, text and binary', async () => {
    assert.equal((await conn.exec('cat', { stdin: 'hello\nworld' })).stdout, 'hello\nworld');
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13]);
    assert.equal((await conn.exec('od -An -tu1 | tr -s " " | sed "s/^ //"', { stdin: bytes })).stdout.trim(), '0 1 2 255 10 13');
    assert.equal((await conn.exec('wc -c')).stdout.trim(), '0', 'no stdin means an immediate EOF');
  });

  it('hostile values round-trip through quote, also inside the sudo wrapper', async () => {
    const hostile = [`'; rm -rf /tmp/x; echo '`, '$(id)', '`id`', 'a\nb', '"$HOME" \\ *', '', '-n', "it's"];
    for (const value of hostile) {
      assert.equal((await conn.exec(`printf %s ${quote(value)}`)).stdout, value);
      // The wrapper quotes the whole command once more; run it minus the sudo prefix.
      const wrapped = sudoCommand(sh('printf', '%s', value));
      assert.equal((await conn.exec(wrapped.replace(/^sudo -n -- /, ''))).stdout, value);
    }
  });

  it('runs commands in parallel on one connection beyond OpenSSH MaxSessions', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => conn.exec(`echo ${i}`)));
    assert.deepEqual(
      results.map((r) => r.stdout),
      Array.from({ length: 20 }, (_, i) => `${i}\n`),
    );
  });

  it('never shows the sudo password, in results or errors', async () => {
    const secret = 'hunter2-Sup3rSecret';
    await withConnection(target({ sudoPassword: secret }), async (c) => {
      await assert.rejects(c.exec(`echo ${secret} >&2; echo ${secret}; exit 1`), (err: unknown) => {
        assert.ok(err instanceof CommandError);
        assert.ok(!err.message.includes(secret) && !err.stderr.includes(secret) && !err.stdout.includes(secret), err.message);
        return true;
      });
      await assert.rejects(c.exec(`echo ${secret}; sleep 5`, { timeoutMs: 300 }), (err: unknown) => {
        assert.ok(err instanceof TimeoutError);
        assert.ok(!err.message.includes(secret) && !err.stdout.includes(secret), err.message);
        return true;
      });
    });
  });
});

describe('host keys', { skip }, () => {
  it('rejects an unknown host under the strict policy, saying what to do', async () => {
    const empty = file('kh_empty');
    writeFileSync(empty, '');
    const err = await connectError(target({ knownHostsFile: empty }));
    assert.match(err.message, new RegExp(`^lb1: host key for \\[127\\.0\\.0\\.1\\]:${port} not in ${empty} \\(the server presented ssh-ed25519 SHA256:`));
    assert.match(err.message, /add it \(ssh-keyscan -p \d+ 127\.0\.0\.1 >> .*\) or use host_key_policy: accept-new$/);
    // A missing file knows no host either.
    assert.match((await connectError(target({ knownHostsFile: file('kh_missing') }))).message, /not in .*kh_missing/);
  });

  it('rejects a changed key, even under accept-new', async () => {
    const other = keygen('other_host', 'ed25519');
    const changed = file('kh_changed');
    writeFileSync(changed, `[127.0.0.1]:${port} ${pubBlob(other)}\n`);
    for (const hostKeyPolicy of ['strict', 'accept-new'] as const) {
      const err = await connectError(target({ knownHostsFile: changed, hostKeyPolicy }));
      assert.match(err.message, /HOST KEY CHANGED for \[127\.0\.0\.1\]:\d+: .*possible man-in-the-middle/);
    }
    assert.equal(readFileSync(changed, 'utf8'), `[127.0.0.1]:${port} ${pubBlob(other)}\n`, 'file untouched');
  });

  it('accept-new records a new host (file created 0600), then it is known', async () => {
    const fresh = join(dir, 'newdir', 'known_hosts');
    await withConnection(target({ knownHostsFile: fresh, hostKeyPolicy: 'accept-new' }), async (c) => {
      assert.equal((await c.exec('echo ok')).stdout, 'ok\n');
    });
    assert.equal(readFileSync(fresh, 'utf8'), `[127.0.0.1]:${port} ${pubBlob(hostEd25519)}\n`);
    assert.equal(statSync(fresh).mode & 0o777, 0o600);
    await withConnection(target({ knownHostsFile: fresh }), async (c) => assert.equal(c.isOpen, true));
  });

  it('accepts a hashed entry (ssh-keygen -H)', async () => {
    const hashed = file('kh_hashed');
    writeFileSync(hashed, `[127.0.0.1]:${port} ${pubBlob(hostEd25519)}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });
    assert.match(readFileSync(hashed, 'utf8'), /^\|1\|/);
    await withConnection(target({ knownHostsFile: hashed }), async (c) => assert.equal(c.isOpen, true));
  });

  it('asks for the key type known_hosts has (ecdsa only), like OpenSSH', async () => {
    const ecdsaOnly = file('kh_ecdsa');
    writeFileSync(ecdsaOnly, `[127.0.0.1]:${port} ${pubBlob(hostEcdsa)}\n`);
    await withConnection(target({ knownHostsFile: ecdsaOnly }), async (c) => assert.equal(c.isOpen, true));
  });

  it('refuses a key marked @revoked', async () => {
    const revoked = file('kh_revoked');
    writeFileSync(revoked, `@revoked * ${pubBlob(hostEd25519)}\n[127.0.0.1]:${port} ${pubBlob(hostEd25519)}\n`);
    assert.match((await connectError(target({ knownHostsFile: revoked }))).message, /is marked @revoked/);
  });
});

describe('authentication and reachability', { skip }, () => {
  it('a wrong client key fails with the methods tried', async () => {
    const wrong = keygen('wrong_ed25519', 'ed25519');
    const err = await connectError(target({ identityFiles: [wrong] }));
    assert.equal(err.message, `lb1: authentication failed for root@127.0.0.1 (tried: key file ${wrong})`);
  });

  it('an unreadable or encrypted identity file is named as such', async () => {
    assert.match((await connectError(target({ identityFiles: [file('nope')] }))).message, /cannot read identity file .*nope: ENOENT/);
    const encrypted = keygen('encrypted_ed25519', 'ed25519', 'secret phrase');
    assert.match((await connectError(target({ identityFiles: [encrypted] }))).message, /identity file .*encrypted_ed25519 is encrypted .*ssh-add/);
  });

  it('authenticates through ssh-agent; with IdentitiesOnly only the identity files\' keys are offered', async () => {
    const sock = file('agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    const saved = process.env.SSH_AUTH_SOCK;
    try {
      for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      execFileSync('ssh-add', ['-q', clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      process.env.SSH_AUTH_SOCK = sock;
      await withConnection(target({ identityFiles: [], useAgent: true }), async (c) => {
        assert.equal((await c.exec('echo agent')).stdout, 'agent\n');
      });
      // The agent holds the authorized key, but IdentitiesOnly names another one: like ssh, refused.
      const other = keygen('only_ed25519', 'ed25519');
      const only = await connectError(target({ identityFiles: [other], useAgent: true, identitiesOnly: true }));
      assert.match(only.message, /authentication failed .*agent \(IdentitiesOnly/);
      // An encrypted identity file whose key is in the agent is still usable under IdentitiesOnly (its .pub names it).
      const locked = keygen('locked_ed25519', 'ed25519', 'phrase');
      writeFileSync(file('authorized_keys'), readFileSync(`${clientKey}.pub`, 'utf8') + readFileSync(`${locked}.pub`, 'utf8'));
      execFileSync('ssh-keygen', ['-q', '-p', '-P', 'phrase', '-N', '', '-f', locked]); // unlock a copy for ssh-add
      execFileSync('ssh-add', ['-q', locked], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'phrase', '-f', locked]);
      await withConnection(target({ identityFiles: [locked], useAgent: true, identitiesOnly: true }), async (c) => {
        assert.equal((await c.exec('echo only')).stdout, 'only\n');
      });
    } finally {
      writeFileSync(file('authorized_keys'), readFileSync(`${clientKey}.pub`));
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      agent.kill('SIGTERM');
    }
  });

  it('ProxyCommand: its stdio carries the connection, it ends with it, and its failure is explained', async () => {
    const marker = `kadeploy-proxy-${process.pid}`;
    const relay = `const s=require('net').connect(${port},'127.0.0.1');process.stdin.pipe(s);s.pipe(process.stdout);s.on('close',()=>process.exit(0))`;
    const proxyCommand = `${sh(process.execPath, '-e', relay, marker)}`;
    await withConnection(target({ proxyCommand }), async (c) => {
      assert.equal((await c.exec('echo via proxy')).stdout, 'via proxy\n');
      assert.equal(spawnSync('pgrep', ['-f', marker]).status, 0, 'the proxy runs while connected');
    });
    let alive = true;
    for (let i = 0; i < 30 && alive; i++) {
      alive = spawnSync('pgrep', ['-f', marker]).status === 0;
      if (alive) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(alive, false, 'the proxy is gone after close');
    // Run as `exec COMMAND` through sh, like ssh does.
    const err = await connectError(target({ proxyCommand: `sh -c 'echo no route to bastion >&2; exit 3'` }));
    assert.match(err.message, /^lb1: .* \(ProxyCommand "sh -c 'echo no route to bastion >&2; exit 3'" exited 3: no route to bastion\)$/);
  });

  it('a closed port is reported as connection refused', async () => {
    const closed = await freePort();
    const err = await connectError(target({ port: closed }));
    assert.equal(err.message, `lb1: connection refused by 127.0.0.1:${closed} (is sshd running and listening on port ${closed}?)`);
  });

  it('reaches a host through a jump host (ProxyJump via forwardOut)', async () => {
    const jumped = target({ proxyJump: target({ name: 'bastion' }) });
    await withConnection(jumped, async (c) => {
      // The inner connection arrives from the jump host's sshd, i.e. from 127.0.0.1 as well.
      assert.match((await c.exec('echo $SSH_CONNECTION')).stdout, new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${port}\\n$`));
    });
  });
});

describe('SshPool', () => {
  it('reuses one connection per host', { skip }, async () => {
    const pool = new SshPool({ forks: 2 });
    try {
      const [a, b] = await Promise.all([pool.get(target()), pool.get(target())]);
      assert.equal(a, b);
      const first = (await a.exec('echo $SSH_CONNECTION')).stdout;
      const again = (await (await pool.get(target())).exec('echo $SSH_CONNECTION')).stdout;
      assert.equal(again, first, 'same client port: same TCP connection');
    } finally {
      await pool.closeAll();
    }
  });

  it('opens at most `forks` connections at once and retries after a failure', async () => {
    let active = 0;
    let peak = 0;
    let calls = 0;
    const fake = { closed: new Promise<void>(() => {}), close: async () => {} } as unknown as SshConnection;
    const pool = new SshPool({
      forks: 2,
      connect: async (t) => {
        calls++;
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        if (t.name === 'bad' && calls < 7) throw new ConnectError('bad', 'down');
        return fake;
      },
    });
    const names = ['a', 'b', 'c', 'd', 'e'];
    await Promise.all(names.map((name) => pool.get(target({ name }))));
    assert.equal(peak, 2);
    await assert.rejects(pool.get(target({ name: 'bad' })), /down/);
    assert.equal(await pool.get(target({ name: 'bad' })), fake, 'a failed attempt is not cached');
    await pool.get(target({ name: 'a' }));
    assert.equal(calls, 7);
    await pool.closeAll();
  });
});

describe('limit', () => {
  it('mapLimit keeps order and bounds concurrency', async () => {
    let active = 0;
    let peak = 0;
    const out = await mapLimit([30, 10, 20, 5, 15], 2, async (ms, i) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, ms));
      active--;
      return i;
    });
    assert.deepEqual(out, [0, 1, 2, 3, 4]);
    assert.equal(peak, 2);
  });

  it('a released slot goes to the waiter, not to a newcomer', async () => {
    const run = createLimiter(1);
    const order: string[] = [];
    const first = run(async () => order.push('first'));
    const waiter = run(async () => order.push('waiter'));
    await first;
    await run(async () => order.push('newcomer'));
    await waiter;
    assert.deepEqual(order, ['first', 'waiter', 'newcomer']);
    assert.throws(() => createLimiter(0), RangeError);
  });
});

describe('ssh_config resolution (pure)', () => {
  const config = parseSshConfig(`
# global option before any Host applies everywhere
ConnectTimeout 5

Host bastion
  HostName 10.0.0.1
  User jumper

Host lb? !lb9
  User deploy
  Port=2222
  IdentityFile ~/.ssh/lb_%h
  ProxyJump bastion

Host lb1
  HostName 192.168.1.11
  User ignored

Match host lb1
  User from-match

Host *
  User fallback
  IdentityFile "/keys/with space"
`);
  const opts = { sshConfig: config, home: '/home/u', localUser: 'u', env: {} };

  it('first obtained value wins; IdentityFile accumulates; tokens and ~ expand', () => {
    const t = resolveTarget({ name: 'lb1' }, opts);
    assert.equal(t.host, '192.168.1.11');
    assert.equal(t.user, 'deploy');
    assert.equal(t.port, 2222);
    assert.deepEqual(t.identityFiles, ['/home/u/.ssh/lb_192.168.1.11', '/keys/with space']);
    assert.equal(t.proxyJump?.host, '10.0.0.1');
    assert.equal(t.proxyJump?.user, 'jumper');
    assert.equal(t.proxyJump?.port, 22);
    assert.equal(t.proxyJump?.sudo, false);
  });

  it('negated patterns exclude; `*` catches the rest', () => {
    const t = resolveTarget({ name: 'lb9' }, opts);
    assert.equal(t.host, 'lb9');
    assert.equal(t.user, 'fallback');
    assert.equal(t.port, 22);
    assert.equal(t.proxyJump, undefined);
  });

  it('explicit inventory values win over ssh_config', () => {
    const t = resolveTarget({ name: 'lb1', user: 'root', port: 22, identityFiles: ['~/k'], proxyJump: 'none' }, opts);
    assert.deepEqual([t.host, t.user, t.port, t.identityFiles, t.proxyJump], ['192.168.1.11', 'root', 22, ['/home/u/k'], undefined]);
  });

  it('`host` is the ssh_config alias when given, like the argument to ssh', () => {
    assert.equal(resolveTarget({ name: 'node-a', host: 'lb1' }, opts).host, '192.168.1.11');
    assert.equal(resolveTarget({ name: 'node-a', host: '10.9.9.9' }, opts).host, '10.9.9.9');
  });

  it('a ProxyJump list is chained: the last hop is the one next to the target', () => {
    const t = resolveTarget({ name: 'x', host: '10.1.1.1', proxyJump: 'ops@gw:2201,inner' }, { ...opts, sshConfig: [] });
    assert.equal(t.proxyJump?.host, 'inner');
    assert.equal(t.proxyJump?.proxyJump?.host, 'gw');
    assert.equal(t.proxyJump?.proxyJump?.user, 'ops');
    assert.equal(t.proxyJump?.proxyJump?.port, 2201);
    assert.deepEqual(t.proxyJump?.identityFiles, t.identityFiles, 'hops fall back to the node identity');
  });

  it('a ProxyJump loop is an error, not a hang', () => {
    const loop = parseSshConfig('Host a\n  ProxyJump a\n');
    assert.throws(() => resolveTarget({ name: 'a' }, { ...opts, sshConfig: loop }), /ProxyJump chain longer than/);
  });

  it('defaults: port 22, known_hosts in ~/.ssh, agent from SSH_AUTH_SOCK, sudo for non-root', () => {
    const t = resolveTarget({ name: 'h' }, { sshConfig: [], home: '/nonexistent', localUser: 'alice', env: { SSH_AUTH_SOCK: '/s' } });
    assert.deepEqual(
      [t.host, t.port, t.user, t.identityFiles, t.knownHostsFile, t.hostKeyPolicy, t.useAgent, t.sudo],
      ['h', 22, 'alice', [], '/nonexistent/.ssh/known_hosts', 'strict', true, true],
    );
    assert.equal(resolveTarget({ name: 'h', user: 'root' }, { sshConfig: [], home: '/nonexistent', env: {} }).sudo, false);
  });

  it('from inventory settings: explicit fields win, inventory defaults only fill gaps', () => {
    const settings = {
      host: 'lb1',
      port: 22,
      user: 'root',
      knownHosts: '/kh',
      hostKeyPolicy: 'accept-new' as const,
      useAgent: false,
      sudo: false,
      connectTimeoutMs: 1000,
      commandTimeoutMs: 2000,
      explicit: { user: false, port: false, identityFile: false, host: true },
    };
    const fromConfig = targetFromSettings('n1', settings, opts);
    assert.deepEqual([fromConfig.host, fromConfig.user, fromConfig.port], ['192.168.1.11', 'deploy', 2222]);
    const plain = targetFromSettings('n2', { ...settings, host: '10.0.0.5' }, { ...opts, sshConfig: [] });
    assert.deepEqual([plain.user, plain.port, plain.knownHostsFile, plain.hostKeyPolicy], ['root', 22, '/kh', 'accept-new']);
    const explicit = targetFromSettings('n3', { ...settings, user: 'ops', identityFile: '/id', explicit: { ...settings.explicit, user: true, identityFile: true } }, opts);
    assert.deepEqual([explicit.user, explicit.identityFiles], ['ops', ['/id']]);
  });
});

describe('known_hosts parsing (pure)', () => {
  const ed = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
  const edKey = Buffer.from(ed, 'base64');
  const other = Buffer.from(ed, 'base64');
  other.writeUInt8(other.readUInt8(other.length - 1) ^ 1, other.length - 1);

  it('plain, [host]:port, comma lists, wildcards and negation', () => {
    const entries = parseKnownHosts(`# comment\n\nlb1,10.0.0.11 ssh-ed25519 ${ed}\n[10.0.0.12]:2222 ssh-ed25519 ${ed} c\n*.lab,!bad.lab ssh-ed25519 ${ed}\ngarbage\n@weird x ssh-ed25519 ${ed}\n`);
    assert.equal(entries.length, 3);
    assert.equal(checkHostKey(entries, '10.0.0.11', edKey).status, 'known');
    assert.equal(checkHostKey(entries, '[10.0.0.12]:2222', edKey).status, 'known');
    assert.equal(checkHostKey(entries, '10.0.0.12', edKey).status, 'unknown', 'port 22 is a different name');
    assert.equal(checkHostKey(entries, 'n1.lab', edKey).status, 'known');
    assert.equal(checkHostKey(entries, 'bad.lab', edKey).status, 'unknown');
    assert.equal(checkHostKey(entries, 'lb1', other).status, 'changed');
    assert.deepEqual(hostKeyAlgorithms(entries, 'lb1'), ['ssh-ed25519']);
  });

  it('skips @cert-authority for key checks and honours @revoked for any host', () => {
    const entries = parseKnownHosts(`@cert-authority * ssh-ed25519 ${ed}\n@revoked * ssh-ed25519 ${ed}\n`);
    assert.equal(checkHostKey(entries, 'anything', edKey).status, 'revoked');
    assert.equal(checkHostKey(parseKnownHosts(`@cert-authority * ssh-ed25519 ${ed}\n`), 'anything', edKey).status, 'unknown');
  });

  it('hashed entries match only their host', () => {
    const kh = file('kh_pure');
    writeFileSync(kh, `[10.0.0.12]:2222 ssh-ed25519 ${ed}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
    const entries = parseKnownHosts(readFileSync(kh, 'utf8'));
    assert.ok(entries[0]?.hashed);
    assert.equal(checkHostKey(entries, '[10.0.0.12]:2222', edKey).status, 'known');
    assert.equal(checkHostKey(entries, '10.0.0.12', edKey).status, 'unknown');
  });
});

describe('sudo wrapping (pure)', () => {
  it('uses sudo -n without a password, sudo -S with prompt and start markers with one; the password is never in the command', () => {
    assert.equal(sudoCommand('systemctl reload keepalived'), `sudo -n -- sh -c 'systemctl reload keepalived'`);
    assert.equal(
      sudoCommand(`echo 'x'`, { prompt: '[P]', started: '[S]' }),
      `sudo -S -k -p '[P]' -- sh -c 'printf %s '\\''[S]'\\'' >&2; echo '\\''x'\\'''`,
    );
  });
});
