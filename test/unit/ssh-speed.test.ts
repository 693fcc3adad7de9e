// The per-connection CPU savings (issue 15): patches/ssh2-speed.mjs on the installed ssh2, and the
// identity file parsed once per process. Against a real OpenSSH server on loopback (test/support/sshd.ts).
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { authMethods } from '../../src/ssh/auth.js';
import { SshConnection } from '../../src/ssh/connection.js';
import { matchPattern, matchPatternList } from '../../src/ssh/pattern.js';
import { keygen, pubBlob, sshdSkipReason, startSshd, type Sshd } from '../support/sshd.js';

const skip = sshdSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-ssh-speed-'));
let server: Sshd | undefined;

before(async () => {
  if (!skip) server = await startSshd(dir);
});
after(() => {
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw ssh2 client logged in to the test server (host key checked against its known_hosts), with ssh2's debug lines. */
function rawClient(onClient: (c: ssh2.Client) => void = () => {}, options: Partial<ssh2.ConnectConfig> = {}): Promise<{ client: ssh2.Client; debug: string[] }> {
  const known = readFileSync(server!.knownHosts, 'utf8').split('\n').filter(Boolean).map((l) => Buffer.from(l.split(' ')[2]!, 'base64'));
  const debug: string[] = [];
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    onClient(client);
    client.once('ready', () => resolve({ client, debug }));
    client.once('error', reject);
    client.connect({
      host: '127.0.0.1',
      port: server!.port,
      username: 'root',
      privateKey: readFileSync(server!.clientKey),
      hostVerifier: (key: Buffer) => known.some((k) => k.equals(key)),
      debug: (line: string) => debug.push(line),
      ...options,
    });
  });
}

/** Run `true` and wait until the server has sent whatever it sends after authentication (hostkeys-00). */
const execTrue = (client: ssh2.Client) =>
  new Promise<void>((resolve, reject) => client.exec('true', (err, ch) => (err ? reject(err) : ch.on('close', () => resolve()).resume())));

describe('ssh2 speed patch', { skip }, () => {
  it('skips the hostkeys-00 proof when nobody listens, still answering the announcement', async () => {
    const { client, debug } = await rawClient();
    try {
      await execTrue(client);
      assert.ok(debug.some((l) => /GLOBAL_REQUEST \(hostkeys-00@openssh\.com\)/.test(l)), `OpenSSH announced its host keys:\n${debug.join('\n')}`);
      assert.ok(!debug.some((l) => /hostkeys-prove-00/.test(l)), 'no proof was requested');
    } finally {
      client.end();
    }
  });

  it('acknowledges the hostkeys-00 announcement at once with an IGNORE (no 40 ms delayed-ACK stall), and the session goes on', async () => {
    const { client, debug } = await rawClient();
    try {
      await execTrue(client);
      const announced = debug.findIndex((l) => /GLOBAL_REQUEST \(hostkeys-00@openssh\.com\)/.test(l));
      const ignored = debug.findIndex((l) => /Outbound: Sending IGNORE/.test(l));
      assert.ok(announced >= 0, `OpenSSH announced its host keys:\n${debug.join('\n')}`);
      assert.ok(ignored > announced, `an IGNORE followed the announcement:\n${debug.join('\n')}`);
      assert.equal(debug.filter((l) => /Outbound: Sending IGNORE/.test(l)).length, 1, 'one IGNORE per connection');
      await execTrue(client); // OpenSSH discarded it: the connection still serves commands
    } finally {
      client.end();
    }
  });

  it("still proves and reports the announced keys to a 'hostkeys' listener", async () => {
    let reported: ParsedKey[] | undefined;
    const { client, debug } = await rawClient((c) => c.on('hostkeys', (keys: ParsedKey[]) => (reported = keys)));
    try {
      await execTrue(client);
      for (let i = 0; i < 50 && !reported; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(debug.some((l) => /hostkeys-prove-00/.test(l)), 'the proof was requested');
      const blobs = (reported ?? []).map((k) => k.getPublicSSH().toString('base64')).sort();
      const expected = [server!.hostEd25519, server!.hostEcdsa].map((f) => pubBlob(f).split(' ')[1]!).sort();
      assert.deepEqual(blobs, expected);
    } finally {
      client.end();
    }
  });

  it('agrees on a curve25519 secret with OpenSSH, the public keys passed raw (JWK) instead of DER', async () => {
    // A wrong public key or secret fails the exchange hash check, so a login proves both sides agree.
    const { client, debug } = await rawClient();
    client.end();
    assert.ok(debug.some((l) => /KEX algorithm: curve25519-sha256/.test(l)), debug.filter((l) => /KEX/.test(l)).join('\n'));
  });

  it('signs the publickey request at once, without asking first whether the key would do', async () => {
    const { client, debug } = await rawClient();
    client.end();
    assert.ok(debug.some((l) => /USERAUTH_SUCCESS/.test(l)), debug.join('\n'));
    assert.ok(!debug.some((l) => /publickey -- check|USERAUTH_PK_OK/.test(l)), 'no query round trip');
  });

  it('a refused key file is followed by the next one, and refusal alone is reported as before', async () => {
    const stranger = keygen(dir, 'stranger', 'ed25519');
    const conn = await SshConnection.connect(server!.target({ identityFiles: [stranger, server!.clientKey] }));
    try {
      assert.equal((await conn.exec('echo in')).stdout, 'in\n');
    } finally {
      await conn.close();
    }
    await assert.rejects(SshConnection.connect(server!.target({ identityFiles: [stranger] })), /authentication failed for root@127\.0\.0\.1 \(tried: key file .*stranger\)/);
  });

  for (const [type, algos] of [['ed25519', [undefined]], ['ecdsa', [undefined]], ['rsa', ['sha256', 'sha512']]] as const) {
    it(`a parsed ${type} key signs again and again with signatures that verify`, () => {
      const file = keygen(dir, `sign_${type}`, type);
      const key = ssh2.utils.parseKey(readFileSync(file)) as ParsedKey;
      const pub = ssh2.utils.parseKey(readFileSync(`${file}.pub`)) as ParsedKey;
      for (const algo of algos) {
        for (const data of [Buffer.from('one'), Buffer.from('two')]) {
          const sig = key.sign(data, algo);
          assert.ok(Buffer.isBuffer(sig), String(sig));
          assert.equal(pub.verify(data, sig, algo), true);
          assert.equal(pub.verify(Buffer.from('other'), sig, algo), false);
        }
      }
    });
  }
});

describe('ssh2 speed patch: zlib and dns loaded on first use', { skip }, () => {
  it('compression still works (zlib@openssh.com, after authentication)', async () => {
    const { client, debug } = await rawClient(undefined, { algorithms: { compress: ['zlib@openssh.com'] } });
    try {
      const big = 'x'.repeat(100_000);
      const out = await new Promise<string>((resolve, reject) =>
        client.exec(`printf '%s' ${big}`, (err, ch) => {
          if (err) return reject(err);
          let data = '';
          ch.on('data', (d: Buffer) => (data += d.toString())).on('close', () => resolve(data));
        }),
      );
      assert.equal(out, big);
      assert.ok(debug.some((l) => /Handshake: \(remote\) C->S compression: .*zlib@openssh\.com/.test(l) || /C->S compression: zlib@openssh\.com/.test(l)), `zlib negotiated:\n${debug.filter((l) => /compression/.test(l)).join('\n')}`);
    } finally {
      client.end();
    }
  });

  it('a host name with forceIPv4 is still looked up', async () => {
    const { client } = await rawClient(undefined, { host: 'localhost', forceIPv4: true });
    try {
      await execTrue(client);
    } finally {
      client.end();
    }
  });
});

describe('identity files parsed once per process', { skip }, () => {
  it('uses the new key when the file is replaced, the cached one otherwise', async () => {
    const a = keygen(dir, 'rot_a', 'ed25519');
    const b = keygen(dir, 'rot_b', 'ed25519');
    const path = join(dir, 'rot_current');
    copyFileSync(a, path);
    const offered = async () => {
      const plan = await authMethods(server!.target({ identityFiles: [path] }));
      return (plan.methods[0] as { key: ParsedKey }).key.getPublicSSH().toString('base64');
    };
    const first = await offered();
    assert.equal(first, pubBlob(a).split(' ')[1]);
    assert.equal(await offered(), first);
    copyFileSync(b, path);
    utimesSync(path, new Date(), new Date(Date.now() + 5_000)); // a different mtime even within one clock tick
    assert.equal(await offered(), pubBlob(b).split(' ')[1]);
  });

  it('connects to a host twice with the cached key', async () => {
    for (let i = 0; i < 2; i++) {
      const conn = await SshConnection.connect(server!.target());
      try {
        assert.equal((await conn.exec('echo ok')).stdout, 'ok\n');
      } finally {
        await conn.close();
      }
    }
  });
});

describe('host patterns without a RegExp for plain names', () => {
  it('matches plain names exactly, case-insensitively unless asked otherwise, like the RegExp did', () => {
    assert.equal(matchPattern('LB1.example.com', 'lb1.EXAMPLE.com'), true);
    assert.equal(matchPattern('lb1.example.com', 'lb1.example.co'), false);
    assert.equal(matchPattern('lb1xexample.com', 'lb1.example.com'), false, 'a dot is no wildcard');
    assert.equal(matchPattern('[10.0.0.1]:2222', '[10.0.0.1]:2222'), true);
    assert.equal(matchPattern('Web1', 'web1', false), false);
    assert.equal(matchPattern('web1', 'web1', false), true);
    // Non-ASCII names keep the RegExp's case folding.
    assert.equal(matchPattern('ÄRGER', 'ärger'), true);
  });

  it('still treats * and ? as wildcards, each time (compiled once)', () => {
    for (let i = 0; i < 2; i++) {
      assert.equal(matchPattern('lb12.example.com', 'lb?2.*.com'), true);
      assert.equal(matchPattern('lb12.example.org', 'lb?2.*.com'), false);
      assert.equal(matchPattern('LB12', 'lb*', false), false);
    }
    assert.equal(matchPatternList('lb1', ['lb*', '!lb1']), false);
    assert.equal(matchPatternList('lb2', ['lb*', '!lb1']), true);
  });
});
