// What kadeploy offers to log in: identity files, their OpenSSH certificates (IdentityFile-cert.pub,
// CertificateFile) and ssh-agent's keys and certificates, limited by IdentitiesOnly; checked before connecting.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, IdentityCallback, ParsedKey, SignCallback, SigningRequestOptions } from 'ssh2';
import { ConnectError } from '../errors.js';
import { FileCache } from './file-cache.js';
import { parseCertificate, readCertificateFile, SSH2_UNPATCHED, ssh2HasCertificates, validityProblem, type Certificate } from './certificate.js';
import type { SshTarget } from './target.js';

export interface AuthPlan {
  methods: AnyAuthMethod[];
  /** What was offered, for the authentication failure message. */
  tried: string[];
}

/**
 * A key that ssh2 offers under its certificate: the certificate's type and blob, the key's signing.
 * Needs the certificate patch of ssh2 (patches/ssh2-openssh-certificates.mjs), which names the
 * signature by the plain algorithm.
 */
function certifiedKey(key: ParsedKey, cert: Certificate): ParsedKey {
  return Object.create(key, { type: { value: cert.type }, getPublicSSH: { value: () => cert.blob } }) as ParsedKey;
}

function plainPublicKey(blob: Buffer): ParsedKey | undefined {
  const type = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1');
  const key = ssh2.utils.parseKey(`${type} ${blob.toString('base64')}`);
  return key instanceof Error ? undefined : key;
}

/** Certificates to use: each identity file's `-cert.pub`, then CertificateFile; each one must be valid now. */
async function certificates(target: SshTarget): Promise<Array<{ file: string; cert: Certificate }>> {
  const files = [...target.identityFiles.map((f) => `${f}-cert.pub`).filter((f) => existsSync(f)), ...(target.certificateFiles ?? [])];
  const found: Array<{ file: string; cert: Certificate }> = [];
  for (const file of new Set(files)) {
    let cert: Certificate;
    try {
      cert = await readCertificateFile(file);
    } catch (err) {
      throw new ConnectError(target.name, `certificate ${file} is not usable: ${(err as Error).message}`);
    }
    const problem = validityProblem(cert) ?? (cert.role !== 'user' ? 'it is a host certificate' : undefined);
    if (problem) throw new ConnectError(target.name, `certificate ${file} (key id "${cert.keyId}") ${problem}; get a new certificate from your CA`);
    if (!ssh2HasCertificates()) throw new ConnectError(target.name, `cannot use certificate ${file}: ${SSH2_UNPATCHED}`);
    found.push({ file, cert });
  }
  return found;
}

const identities = new FileCache<Promise<ParsedKey | Error>>();

/**
 * An identity file read and parsed once per process while it is unchanged (same inode, size and
 * mtime): a fleet connects to every node with the same key, and ssh2 then also imports the key for
 * signing only once (patches/ssh2-speed.mjs).
 */
async function parsedIdentity(file: string): Promise<ParsedKey | Error> {
  return identities.get(file, await stat(file), () => {
    const parsed = readFile(file).then((data) => ssh2.utils.parseKey(data));
    parsed.catch(() => identities.forget(file, parsed));
    return parsed;
  });
}

/** Keys are read and checked up front so a bad key file is reported as such, not as a refused login. */
export async function authMethods(target: SshTarget): Promise<AuthPlan> {
  const agent = target.useAgent ? process.env.SSH_AUTH_SOCK : undefined;
  const plan: AuthPlan = { methods: [], tried: [] };
  const certs = await certificates(target);
  const used = new Set<Certificate>();
  // Public key blobs of the identity files: with IdentitiesOnly, the only agent keys offered.
  const own: Buffer[] = [];
  for (const file of target.identityFiles) {
    let key: ParsedKey | Error;
    try {
      key = await parsedIdentity(file);
    } catch (err) {
      throw new ConnectError(target.name, `cannot read identity file ${file}: ${(err as Error).message}`);
    }
    if (key instanceof Error) {
      if (!/passphrase/i.test(key.message)) {
        throw new ConnectError(target.name, `identity file ${file} is not a usable private key: ${key.message}`);
      }
      const pub = await readFile(`${file}.pub`).then((d) => ssh2.utils.parseKey(d), () => undefined);
      if (pub && !(pub instanceof Error)) own.push(pub.getPublicSSH());
      // kadeploy never prompts: an encrypted key is usable only once unlocked in the agent.
      if (agent) {
        plan.tried.push(`key file ${file} skipped (encrypted)`);
        continue;
      }
      throw new ConnectError(
        target.name,
        `identity file ${file} is encrypted and kadeploy cannot ask for its passphrase; load it into ssh-agent (ssh-add ${file}) or use an unencrypted deploy key`,
      );
    }
    if (!key.isPrivateKey()) throw new ConnectError(target.name, `identity file ${file} is a public key; name the private key file instead`);
    own.push(key.getPublicSSH());
    for (const c of certs.filter((c) => c.cert.publicKey.equals(key.getPublicSSH()))) {
      plan.methods.push({ type: 'publickey', username: target.user, key: certifiedKey(key, c.cert) });
      plan.tried.push(`certificate ${c.file}`);
      used.add(c.cert);
    }
    plan.methods.push({ type: 'publickey', username: target.user, key });
    plan.tried.push(`key file ${file}`);
  }
  const forAgent = certs.filter((c) => !used.has(c.cert));
  if (agent) {
    plan.methods.push({ type: 'agent', username: target.user, agent: new KadeployAgent(agent, forAgent.map((c) => c.cert), target.identitiesOnly ? own : undefined) });
    plan.tried.push(target.identitiesOnly ? "agent (IdentitiesOnly: the identity files' keys only)" : 'agent');
  } else if (forAgent.length > 0) {
    throw new ConnectError(target.name, `certificate ${forAgent[0]!.file} matches no identity file and there is no ssh-agent to sign with its key`);
  }
  if (plan.methods.length === 0) {
    const why = target.useAgent ? 'no ssh-agent (SSH_AUTH_SOCK is not set)' : 'the agent is disabled';
    throw new ConnectError(target.name, `no SSH credentials for ${target.user}@${target.host}: no identity file and ${why}`);
  }
  return plan;
}

/**
 * ssh-agent as OpenSSH uses it: its certificates too (ssh2 drops them), certificate files whose key
 * the agent holds, and with IdentitiesOnly only the identity files' keys. Certificates the agent
 * holds that are expired or not yet valid are left out.
 */
class KadeployAgent extends ssh2.OpenSSHAgent {
  /** Certificates from files, offered for a key only the agent holds: the agent signs with the plain key. */
  private readonly signWith = new WeakMap<ParsedKey, ParsedKey>();

  constructor(
    private readonly socket: string,
    private readonly certs: Certificate[],
    private readonly only?: Buffer[],
  ) {
    super(socket);
  }

  override getIdentities(cb: IdentityCallback<ParsedKey>): void {
    agentBlobs(this.socket).then(
      (blobs) => {
        const keys: ParsedKey[] = [];
        const allowed = (plain: Buffer): boolean => !this.only || this.only.some((b) => b.equals(plain));
        for (const blob of blobs) {
          let cert: Certificate | undefined;
          try {
            cert = parseCertificate(blob);
          } catch {
            cert = undefined;
          }
          const plain = cert ? cert.publicKey : blob;
          const key = plainPublicKey(plain);
          if (!key || !allowed(plain) || (cert && (cert.role !== 'user' || validityProblem(cert) || !ssh2HasCertificates()))) continue;
          // Certificates first, like ssh.
          if (cert) keys.unshift(certifiedKey(key, cert));
          else {
            keys.push(key);
            for (const c of this.certs.filter((c) => c.publicKey.equals(blob))) {
              const certified = certifiedKey(key, c);
              this.signWith.set(certified, key);
              keys.unshift(certified);
            }
          }
        }
        cb(undefined, keys);
      },
      (err: Error) => cb(err),
    );
  }

  override sign(key: ParsedKey | Buffer | string, data: Buffer, options?: SigningRequestOptions | SignCallback, cb?: SignCallback): boolean {
    const signer = typeof key === 'object' && !Buffer.isBuffer(key) ? (this.signWith.get(key) ?? key) : key;
    return typeof options === 'function' ? super.sign(signer, data, options) : super.sign(signer, data, options ?? {}, cb);
  }
}

/** SSH_AGENTC_REQUEST_IDENTITIES: every key blob the agent holds, certificates included. */
function agentBlobs(socket: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socket);
    const chunks: Buffer[] = [];
    const fail = (err: Error): void => {
      clearTimeout(timer);
      sock.destroy();
      reject(new Error(`cannot list the agent's keys: ${err.message}`));
    };
    const timer = setTimeout(() => fail(new Error('no answer within 10 s')), 10_000);
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('the agent closed the connection')));
    sock.on('connect', () => sock.write(Buffer.from([0, 0, 0, 1, 11])));
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length < 4 || all.length < 4 + all.readUInt32BE(0)) return;
      clearTimeout(timer);
      sock.removeAllListeners('close');
      sock.destroy();
      try {
        if (all[4] !== 12) throw new Error(`unexpected answer ${all[4]}`);
        let pos = 9;
        const blobs: Buffer[] = [];
        for (let n = all.readUInt32BE(5); n > 0; n--) {
          const len = all.readUInt32BE(pos);
          blobs.push(all.subarray(pos + 4, pos + 4 + len));
          pos += 4 + len;
          pos += 4 + all.readUInt32BE(pos); // comment
        }
        resolve(blobs);
      } catch (err) {
        fail(err as Error);
      }
    });
  });
}
