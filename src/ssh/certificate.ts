// OpenSSH certificates (PROTOCOL.certkeys): parse, check the CA's signature, validity and principals
// the way OpenSSH does. ssh2 only carries them (patches/ssh2-openssh-certificates.mjs); trust is decided here.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

export const CERT_SUFFIX = '-cert-v01@openssh.com';

export interface Certificate {
  /** e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  type: string;
  /** The plain key type, e.g. `ssh-ed25519`. */
  keyType: string;
  /** The certified key as a plain public key blob. */
  publicKey: Buffer;
  serial: bigint;
  role: 'user' | 'host';
  keyId: string;
  principals: string[];
  /** Seconds since the epoch; validBefore may be 2^64-1 ("forever"). */
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  /** The CA's public key blob. */
  signatureKey: Buffer;
  /** The blob that was signed, and the signature blob. */
  signed: Buffer;
  signature: Buffer;
  blob: Buffer;
}

// Fields of the certified key after the nonce, per plain key type.
const KEY_FIELDS: Record<string, number> = { 'ssh-ed25519': 1, 'ecdsa-sha2-nistp256': 2, 'ecdsa-sha2-nistp384': 2, 'ecdsa-sha2-nistp521': 2, 'ssh-rsa': 2 };

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer {
    if (this.pos + 4 > this.buf.length) throw new Error('truncated certificate');
    const len = this.buf.readUInt32BE(this.pos);
    const end = this.pos + 4 + len;
    if (end > this.buf.length) throw new Error('truncated certificate');
    const s = this.buf.subarray(this.pos + 4, end);
    this.pos = end;
    return s;
  }
  text(): string {
    return this.string().toString('utf8');
  }
  u32(): number {
    if (this.pos + 4 > this.buf.length) throw new Error('truncated certificate');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    if (this.pos + 8 > this.buf.length) throw new Error('truncated certificate');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A string holding a list of strings (principals) or of name/data pairs (options: the names). */
  list(pairs: boolean): string[] {
    const inner = new Reader(this.string());
    const out: string[] = [];
    while (inner.pos < inner.buf.length) {
      out.push(inner.text());
      if (pairs) inner.string();
    }
    return out;
  }
}

function sshString(b: Buffer | string): Buffer {
  const data = Buffer.isBuffer(b) ? b : Buffer.from(b);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

let hasCertificates: boolean | undefined;

/** Whether the installed ssh2 carries kadeploy's certificate patch (applied by `npm install`). */
export function ssh2HasCertificates(): boolean {
  // Asked for every connection; the installed ssh2 does not change while kadeploy runs.
  if (hasCertificates === undefined) {
    const constants = createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as { SUPPORTED_SERVER_HOST_KEY: string[] };
    hasCertificates = constants.SUPPORTED_SERVER_HOST_KEY.includes(`ssh-ed25519${CERT_SUFFIX}`);
  }
  return hasCertificates;
}

export const SSH2_UNPATCHED = 'the installed ssh2 lacks kadeploy\'s OpenSSH certificate patch: run `npm install` (or `node patches/ssh2-openssh-certificates.mjs`) in kadeploy\'s directory';

export function isCertificateType(type: string): boolean {
  return type.endsWith(CERT_SUFFIX);
}

/** Parse a certificate blob (as in a `-cert.pub` file's base64, or as a server presents it). */
export function parseCertificate(blob: Buffer): Certificate {
  const r = new Reader(blob);
  const type = r.text();
  if (!isCertificateType(type)) throw new Error(`not an OpenSSH certificate (${type})`);
  const keyType = type.slice(0, -CERT_SUFFIX.length);
  const fields = KEY_FIELDS[keyType];
  if (fields === undefined) throw new Error(`unsupported certificate type ${type}`);
  r.string(); // nonce
  const keyParts = Array.from({ length: fields }, () => r.string());
  const publicKey = Buffer.concat([sshString(keyType), ...keyParts.map(sshString)]);
  const serial = r.u64();
  const roleNumber = r.u32();
  const keyId = r.text();
  const principals = r.list(false);
  const validAfter = r.u64();
  const validBefore = r.u64();
  const criticalOptions = r.list(true);
  r.string(); // extensions
  r.string(); // reserved
  const signatureKey = r.string();
  const signed = blob.subarray(0, r.pos);
  const signature = r.string();
  return {
    type,
    keyType,
    publicKey,
    serial,
    role: roleNumber === 2 ? 'host' : 'user',
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    signatureKey,
    signed,
    signature,
    blob,
  };
}

/** Read a `-cert.pub` file: `TYPE BASE64 [comment]`. */
export async function readCertificateFile(file: string): Promise<Certificate> {
  const text = await readFile(file, 'utf8');
  const [type, b64] = text.trim().split(/\s+/);
  if (!type || !b64 || !isCertificateType(type)) throw new Error('not an OpenSSH certificate file');
  const cert = parseCertificate(Buffer.from(b64, 'base64'));
  if (cert.type !== type) throw new Error(`certificate type ${cert.type} does not match the file's ${type}`);
  return cert;
}

/** A Node key from an SSH public key blob (ed25519, ecdsa, rsa). */
function keyObject(blob: Buffer): KeyObject {
  const r = new Reader(blob);
  const type = r.text();
  const b64u = (b: Buffer): string => b.toString('base64url');
  const unsigned = (b: Buffer): Buffer => (b[0] === 0 ? b.subarray(1) : b);
  if (type === 'ssh-ed25519') return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(r.string()) }, format: 'jwk' });
  if (type.startsWith('ecdsa-sha2-')) {
    r.string(); // curve name
    const q = r.string();
    const size = (q.length - 1) / 2;
    const crv = { 'ecdsa-sha2-nistp256': 'P-256', 'ecdsa-sha2-nistp384': 'P-384', 'ecdsa-sha2-nistp521': 'P-521' }[type];
    if (!crv) throw new Error(`unsupported CA key type ${type}`);
    return createPublicKey({ key: { kty: 'EC', crv, x: b64u(q.subarray(1, 1 + size)), y: b64u(q.subarray(1 + size)) }, format: 'jwk' });
  }
  if (type === 'ssh-rsa') {
    const e = r.string();
    const n = r.string();
    return createPublicKey({ key: { kty: 'RSA', e: b64u(unsigned(e)), n: b64u(unsigned(n)) }, format: 'jwk' });
  }
  throw new Error(`unsupported CA key type ${type}`);
}

/** Whether the CA's signature over the certificate is valid. */
export function signatureValid(cert: Certificate): boolean {
  try {
    const r = new Reader(cert.signature);
    const algo = r.text();
    const sig = r.string();
    const key = keyObject(cert.signatureKey);
    switch (algo) {
      case 'ssh-ed25519':
        return verify(null, cert.signed, key, sig);
      case 'rsa-sha2-256':
        return verify('sha256', cert.signed, key, sig);
      case 'rsa-sha2-512':
        return verify('sha512', cert.signed, key, sig);
      case 'ecdsa-sha2-nistp256':
      case 'ecdsa-sha2-nistp384':
      case 'ecdsa-sha2-nistp521': {
        const hash = { 'ecdsa-sha2-nistp256': 'sha256', 'ecdsa-sha2-nistp384': 'sha384', 'ecdsa-sha2-nistp521': 'sha512' }[algo];
        const size = { 'ecdsa-sha2-nistp256': 32, 'ecdsa-sha2-nistp384': 48, 'ecdsa-sha2-nistp521': 66 }[algo];
        const rs = new Reader(sig);
        const pad = (b: Buffer): Buffer => {
          const v = b[0] === 0 ? b.subarray(1) : b;
          return Buffer.concat([Buffer.alloc(Math.max(0, size - v.length)), v]);
        };
        return verify(hash, cert.signed, { key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([pad(rs.string()), pad(rs.string())]));
      }
      default:
        return false; // ssh-rsa (SHA-1) signatures: refused, as OpenSSH does by default
    }
  } catch {
    return false;
  }
}

const FOREVER = 0xffffffffffffffffn;

/** Why the certificate is not valid at `now` (seconds), or undefined when it is. */
export function validityProblem(cert: Certificate, now = BigInt(Math.floor(Date.now() / 1000))): string | undefined {
  const when = (t: bigint): string => new Date(Number(t) * 1000).toISOString().replace('.000Z', 'Z');
  if (now < cert.validAfter) return `not valid before ${when(cert.validAfter)}`;
  if (cert.validBefore !== FOREVER && now >= cert.validBefore) return `expired at ${when(cert.validBefore)}`;
  return undefined;
}
