// OpenSSH certificates against a real sshd on loopback, with a test CA made by `ssh-keygen -s`: user
// certificates (file next to the key, CertificateFile, ssh-agent) and host certificates (@cert-authority,
// validity, principals, @revoked).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCertificate, signatureValid, ssh2HasCertificates, validityProblem } from '../../src/ssh/certificate.js';
import { SshConnection } from '../../src/ssh/connection.js';
import type { SshTarget } from '../../src/ssh/target.js';
import { connectError, keygen, pubBlob, sshdSkipReason, startSshd, type Sshd } from '../support/sshd.js';

const skip = sshdSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-cert-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `ssh-keygen -s CA`: sign `key`.pub; returns the -cert.pub path. */
function sign(ca: string, key: string, opts: { id: string; principals: string; validity?: string; host?: boolean; out?: string }): string {
  const args = ['-q', '-s', ca, '-I', opts.id, '-n', opts.principals, ...(opts.validity ? ['-V', opts.validity] : []), ...(opts.host ? ['-h'] : [])];
  execFileSync('ssh-keygen', [...args, `${key}.pub`]);
  const cert = `${key}-cert.pub`;
  if (opts.out) {
    writeFileSync(opts.out, readFileSync(cert));
    rmSync(cert);
    return opts.out;
  }
  return cert;
}

async function run(t: SshTarget, cmd = 'whoami'): Promise<string> {
  const c = await SshConnection.connect(t);
  try {
    return (await c.exec(cmd)).stdout.trim();
  } finally {
    await c.close();
  }
}

describe('certificates (pure)', () => {
  it('ssh2 carries the certificate patch, and applying it again changes nothing', () => {
    assert.equal(ssh2HasCertificates(), true, 'npm install applies patches/ssh2-openssh-certificates.mjs');
    const again = execFileSync(process.execPath, [join(import.meta.dirname, '..', '..', 'patches', 'ssh2-openssh-certificates.mjs')], { encoding: 'utf8' });
    assert.equal(again, '');
  });

  it('parses what ssh-keygen -s signs; the CA signature, validity window and role are checked', () => {
    const d = join(dir, 'pure');
    mkdirSync(d);
    const ca = keygen(d, 'ca', 'ecdsa');
    const key = keygen(d, 'k', 'ed25519');
    const file = sign(ca, key, { id: 'alice@ops', principals: 'root,deploy', validity: '20200101:20200102' });
    const cert = parseCertificate(Buffer.from(readFileSync(file, 'utf8').split(' ')[1]!, 'base64'));
    assert.deepEqual([cert.type, cert.role, cert.keyId, cert.principals], ['ssh-ed25519-cert-v01@openssh.com', 'user', 'alice@ops', ['root', 'deploy']]);
    assert.equal(`${cert.keyType} ${cert.publicKey.toString('base64')}`, pubBlob(key));
    assert.equal(signatureValid(cert), true);
    assert.equal(validityProblem(cert), 'expired at 2020-01-02T00:00:00Z');
    assert.equal(validityProblem(cert, BigInt(Date.UTC(2019, 0, 1) / 1000)), 'not valid before 2020-01-01T00:00:00Z');
    const tampered = { ...cert, signed: Buffer.from(cert.signed) };
    tampered.signed[tampered.signed.length - 1]! ^= 1;
    assert.equal(signatureValid(tampered), false);
  });
});

describe('user certificates on a real sshd', { skip }, () => {
  let server: Sshd;
  let ca = '';
  const d = join(dir, 'user');
  before(async () => {
    mkdirSync(d);
    ca = keygen(d, 'user_ca', 'ed25519');
    // The key in authorized_keys is the server's default client key; the certified keys below are not in it.
    server = await startSshd(d, [`TrustedUserCAKeys=${ca}.pub`]);
  });
  after(() => server?.stop());

  it('logs in with IdentityFile + its -cert.pub, and not without the certificate', async () => {
    const key = keygen(d, 'certified', 'ed25519');
    const target = server.target({ identityFiles: [key] });
    assert.match((await connectError(target)).message, /authentication failed .*tried: key file/);
    sign(ca, key, { id: 'deployer', principals: 'root', validity: '-5m:+1h' });
    assert.equal(await run(target), 'root');
  });

  it('logs in with a CertificateFile kept elsewhere', async () => {
    const key = keygen(d, 'elsewhere', 'ecdsa');
    const cert = sign(ca, key, { id: 'ecdsa', principals: 'root', out: join(d, 'stored-cert.pub') });
    assert.equal(await run(server.target({ identityFiles: [key], certificateFiles: [cert] })), 'root');
  });

  it('an expired or not yet valid certificate is a clear error before connecting', async () => {
    const key = keygen(d, 'expired', 'ed25519');
    const cert = sign(ca, key, { id: 'old', principals: 'root', validity: '20200101:20200102' });
    const err = await connectError(server.target({ identityFiles: [key], port: 1 }));
    assert.equal(err.message, `lb1: certificate ${cert} (key id "old") expired at 2020-01-02T00:00:00Z; get a new certificate from your CA`);
    const future = keygen(d, 'future', 'ed25519');
    sign(ca, future, { id: 'soon', principals: 'root', validity: '+1d:+2d' });
    assert.match((await connectError(server.target({ identityFiles: [future], port: 1 }))).message, /key id "soon"\) not valid before 20\d\d-/);
  });

  it('a certificate for another principal is refused by sshd', async () => {
    const key = keygen(d, 'other', 'ed25519');
    sign(ca, key, { id: 'other', principals: 'someone-else' });
    assert.match((await connectError(server.target({ identityFiles: [key] }))).message, /authentication failed .*certificate .*other-cert\.pub/);
  });

  it('uses a certificate held by ssh-agent (and a CertificateFile whose key only the agent has)', async () => {
    const key = keygen(d, 'agented', 'ed25519');
    sign(ca, key, { id: 'agent', principals: 'root' });
    const sock = join(d, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    const saved = process.env.SSH_AUTH_SOCK;
    try {
      for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      // ssh-add loads the key and the certificate beside it.
      execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      assert.match(execFileSync('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: sock }, encoding: 'utf8' }), /CERT/);
      process.env.SSH_AUTH_SOCK = sock;
      assert.equal(await run(server.target({ identityFiles: [], useAgent: true })), 'root');
      // Only the plain key in the agent, the certificate in a file.
      execFileSync('ssh-add', ['-q', '-D'], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const plain = keygen(d, 'agent-plain', 'ed25519');
      const cert = sign(ca, plain, { id: 'file-for-agent-key', principals: 'root', out: join(d, 'for-agent-cert.pub') });
      execFileSync('ssh-add', ['-q', plain], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      assert.equal(await run(server.target({ identityFiles: [], useAgent: true, certificateFiles: [cert] })), 'root');
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      agent.kill('SIGTERM');
    }
  });
});

describe('host certificates on a real sshd', { skip }, () => {
  const d = join(dir, 'host');
  let ca = '';
  const servers: Sshd[] = [];
  before(() => {
    mkdirSync(d);
    ca = keygen(d, 'host_ca', 'ed25519');
  });
  after(() => servers.forEach((s) => s.stop()));

  /** An sshd whose ed25519 host key carries a certificate signed by `signer` with these principals/validity. */
  async function certifiedServer(name: string, principals: string, validity?: string, signer = ca): Promise<Sshd> {
    const sub = join(d, name);
    mkdirSync(sub);
    const s = await startSshd(sub, ({ hostEd25519 }) => {
      sign(signer, hostEd25519, { id: `host-${principals}`, principals, host: true, ...(validity ? { validity } : {}) });
      return [`HostCertificate=${hostEd25519}-cert.pub`];
    });
    servers.push(s);
    return s;
  }

  function caKnownHosts(name: string, lines: string[]): string {
    const file = join(d, `${name}_known_hosts`);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  it('trusts a host certificate signed by a @cert-authority for its name, under strict checking', async () => {
    const s = await certifiedServer('good', '127.0.0.1,lb1.example', '-5m:+1h');
    const kh = caKnownHosts('good', [`@cert-authority [127.0.0.1]:* ${pubBlob(ca)}`]);
    assert.equal(await run(s.target({ knownHostsFile: kh })), 'root');
  });

  it('refuses a host certificate for another name, an expired one, a revoked CA, and an unknown CA', async () => {
    const other = await certifiedServer('other', 'lb2.example');
    const kh = caKnownHosts('other', [`@cert-authority [127.0.0.1]:* ${pubBlob(ca)}`]);
    assert.match(
      (await connectError(other.target({ knownHostsFile: kh }))).message,
      /^lb1: host certificate for \[127\.0\.0\.1\]:\d+ \(key id "host-lb2\.example", CA SHA256:\S+\) is not valid for the name 127\.0\.0\.1: it names lb2\.example; refusing to connect$/,
    );
    const expired = await certifiedServer('expired', '127.0.0.1', '20200101:20200102');
    assert.match((await connectError(expired.target({ knownHostsFile: kh }))).message, /host certificate .* expired at 2020-01-02T00:00:00Z; refusing to connect$/);
    const good = await certifiedServer('revoked', '127.0.0.1');
    const revoked = caKnownHosts('revoked', [`@cert-authority [127.0.0.1]:* ${pubBlob(ca)}`, `@revoked * ${pubBlob(ca)}`]);
    assert.match((await connectError(good.target({ knownHostsFile: revoked }))).message, /host certificate .* is marked @revoked in .* line 2/);
    const stranger = keygen(d, 'stranger_ca', 'ed25519');
    const unknown = await certifiedServer('stranger', '127.0.0.1', undefined, stranger);
    assert.match((await connectError(unknown.target({ knownHostsFile: kh }))).message, /host key for \[127\.0\.0\.1\]:\d+ not in /);
  });
});
