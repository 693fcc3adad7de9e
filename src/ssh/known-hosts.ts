// known_hosts parsing and host key verification, with OpenSSH's semantics and messages a user can act on.
import { createHash, createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConnectError } from '../errors.js';
import { CERT_SUFFIX, isCertificateType, parseCertificate, signatureValid, validityProblem, type Certificate } from './certificate.js';
import { quote, sh } from '../shell/quote.js';
import { matchPatternList } from './pattern.js';
import type { SshTarget } from './target.js';

export interface KnownHostsEntry {
  /** 1-based line number, for messages. */
  line: number;
  marker?: 'revoked' | 'cert-authority';
  /** Host patterns of a plain entry (`host`, `[host]:port`, wildcards, `!negation`). */
  patterns?: string[];
  /** Salt and HMAC-SHA1 of a hashed (`|1|salt|hash`) entry. */
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  /** The raw public key blob, as the server presents it. */
  key: Buffer;
}

export type HostKeyStatus =
  | { status: 'known' }
  | { status: 'unknown' }
  | { status: 'changed'; entries: KnownHostsEntry[] }
  | { status: 'revoked'; entry: KnownHostsEntry };

/** Parse known_hosts text; malformed lines and unknown markers are skipped like OpenSSH does. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0]!.startsWith('#')) return;
    let marker: KnownHostsEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!.slice(1);
      if (m !== 'revoked' && m !== 'cert-authority') return;
      marker = m;
    }
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64) return;
    const key = Buffer.from(keyBase64, 'base64');
    if (key.length === 0) return;
    const entry: KnownHostsEntry = { line: i + 1, keyType, key };
    if (marker) entry.marker = marker;
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      if (!salt || !hash) return;
      entry.hashed = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      entry.patterns = hosts.split(',');
    }
    entries.push(entry);
  });
  return entries;
}

const knownHostsCache = new Map<string, Promise<KnownHostsEntry[]>>();

/** Read a known_hosts file; a missing file knows no host. Parsed once per file and process (N connections, not N parses). */
export function loadKnownHosts(file: string): Promise<KnownHostsEntry[]> {
  let entries = knownHostsCache.get(file);
  if (!entries) {
    entries = readFile(file, 'utf8').then(parseKnownHosts, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    knownHostsCache.set(file, entries);
    entries.catch(() => knownHostsCache.delete(file));
  }
  return entries;
}

/** The name OpenSSH records: `host` on port 22, `[host]:port` otherwise. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function entryMatches(entry: KnownHostsEntry, name: string): boolean {
  if (entry.hashed) {
    const digest = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return digest.equals(entry.hashed.hash);
  }
  return matchPatternList(name, entry.patterns ?? []);
}

/** The key type embedded at the start of a public key blob (`ssh-ed25519`, `ssh-rsa`, …). */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** `SHA256:…` fingerprint, as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Compare a presented key with the entries for `name`. Revocation applies whatever the host.
 * Known keys of another type only also count as a change: the connection asks for known types
 * first (see `hostKeyAlgorithms`), so a server offering none of them is not the known server.
 */
export function checkHostKey(entries: readonly KnownHostsEntry[], name: string, key: Buffer): HostKeyStatus {
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const forHost = entries.filter((e) => e.marker === undefined && entryMatches(e, name));
  if (forHost.some((e) => e.key.equals(key))) return { status: 'known' };
  return forHost.length > 0 ? { status: 'changed', entries: forHost } : { status: 'unknown' };
}

// ssh2 negotiates signature algorithms; an `ssh-rsa` key can be presented under any of these.
const ALGORITHMS_BY_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * Host key algorithms to ask for first, like OpenSSH: certificates when a @cert-authority covers
 * `name`, then those matching keys already known for `name`.
 */
export function hostKeyAlgorithms(entries: readonly KnownHostsEntry[], name: string): string[] {
  const certified = entries.some((e) => e.marker === 'cert-authority' && entryMatches(e, name));
  const certs = certified ? Object.values(ALGORITHMS_BY_KEY_TYPE).flat().filter((a) => a !== 'ssh-rsa').map((a) => a + CERT_SUFFIX) : [];
  const types = entries.filter((e) => e.marker === undefined && entryMatches(e, name)).map((e) => keyBlobType(e.key));
  return [...new Set([...certs, ...types.flatMap((t) => ALGORITHMS_BY_KEY_TYPE[t] ?? [])])];
}

/**
 * A host certificate, checked like OpenSSH: signed by a CA that a @cert-authority line names for
 * this host, a host certificate, valid now, this host among its principals (when it lists any), no
 * critical options; @revoked (certificate, its key, or its CA) wins. Signed by no CA known for this
 * host, the certificate's own key is checked as a plain key. Returns undefined when trusted,
 * otherwise why not.
 */
function checkHostCertificate(target: VerifyTarget, entries: readonly KnownHostsEntry[], name: string, cert: Certificate): string | 'plain' | undefined {
  const file = target.knownHostsFile;
  const revoked = entries.find((e) => e.marker === 'revoked' && [cert.blob, cert.publicKey, cert.signatureKey].some((k) => e.key.equals(k)));
  if (revoked) return `host certificate for ${name} (key id "${cert.keyId}") is marked @revoked in ${file} line ${revoked.line}`;
  const ca = entries.find((e) => e.marker === 'cert-authority' && entryMatches(e, name) && e.key.equals(cert.signatureKey));
  if (!ca) return 'plain';
  const what = `host certificate for ${name} (key id "${cert.keyId}", CA ${fingerprint(cert.signatureKey)})`;
  if (!signatureValid(cert)) return `${what} has an invalid CA signature`;
  if (cert.role !== 'host') return `${what} is a user certificate, not a host certificate`;
  const invalid = validityProblem(cert);
  if (invalid) return `${what} ${invalid}`;
  if (cert.principals.length > 0 && !cert.principals.includes(target.host)) {
    return `${what} is not valid for the name ${target.host}: it names ${cert.principals.join(', ')}`;
  }
  if (cert.criticalOptions.length > 0) return `${what} has unsupported critical options: ${cert.criticalOptions.join(', ')}`;
  return undefined;
}

type VerifyTarget = Pick<SshTarget, 'name' | 'host' | 'port' | 'knownHostsFile' | 'hostKeyPolicy'>;

/** Accept a presented host key or throw a ConnectError saying why and what to do; accept-new records new hosts. */
export async function verifyHostKey(target: VerifyTarget, entries: readonly KnownHostsEntry[], key: Buffer): Promise<void> {
  const name = hostKeyName(target.host, target.port);
  const file = target.knownHostsFile;
  if (isCertificateType(keyBlobType(key))) {
    let cert: Certificate;
    try {
      cert = parseCertificate(key);
    } catch (err) {
      throw new ConnectError(target.name, `the host certificate presented by ${name} is malformed: ${(err as Error).message}`);
    }
    const problem = checkHostCertificate(target, entries, name, cert);
    if (problem === undefined) return;
    if (problem !== 'plain') throw new ConnectError(target.name, `${problem}; refusing to connect`);
    key = cert.publicKey;
  }
  const result = checkHostKey(entries, name, key);
  // For the messages only: a fingerprint costs a SHA-256 per connection.
  const presented = result.status === 'known' ? '' : `${keyBlobType(key)} ${fingerprint(key)}`;
  switch (result.status) {
    case 'known':
      return;
    case 'revoked':
      throw new ConnectError(target.name, `host key for ${name} (${presented}) is marked @revoked in ${file} line ${result.entry.line}; refusing to connect`);
    case 'changed': {
      const lines = result.entries.map((e) => e.line).join(', ');
      throw new ConnectError(
        target.name,
        `HOST KEY CHANGED for ${name}: the server presented ${presented}, which differs from ${file} line ${lines}; ` +
          `possible man-in-the-middle attack. If the host was legitimately reinstalled, remove the old entry (${sh('ssh-keygen', '-R', name, '-f', file)}) and connect again`,
      );
    }
    case 'unknown':
      if (target.hostKeyPolicy === 'accept-new') return appendKnownHost(file, name, key);
      throw new ConnectError(
        target.name,
        `host key for ${name} not in ${file} (the server presented ${presented}); ` +
          `add it (${sh('ssh-keyscan', '-p', target.port, target.host)} >> ${quote(file)}) or use host_key_policy: accept-new`,
      );
  }
}

async function appendKnownHost(file: string, name: string, key: Buffer): Promise<void> {
  knownHostsCache.delete(file);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const existing = await readFile(file, 'utf8').catch(() => '');
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
  // `mode` only applies when the file is created; an existing file keeps the user's permissions.
  await appendFile(file, `${separator}${name} ${keyBlobType(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
}
