// SSH material: one client key per lab (root's authorized key in every node) and one fresh
// host key per node, collected into a known_hosts file so strict host-key checking works.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { run } from './exec.js';

/** Create the lab's client key once; it is kept across `lab down` so users' configs stay valid. */
export async function ensureClientKey(keyPath: string, comment: string): Promise<string> {
  if (!existsSync(keyPath) || !existsSync(`${keyPath}.pub`)) {
    rmSync(keyPath, { force: true });
    rmSync(`${keyPath}.pub`, { force: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', keyPath]);
  }
  return readFileSync(`${keyPath}.pub`, 'utf8').trim();
}

/** Generate a node's ed25519 host key at `keyPath` (inside its overlay); returns the public key line. */
export async function makeHostKey(keyPath: string, comment: string): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', keyPath]);
  return readFileSync(`${keyPath}.pub`, 'utf8').trim();
}

/** known_hosts lines `ADDRESS KEYTYPE KEY` (the comment dropped). */
export function writeKnownHosts(path: string, entries: Array<{ ip: string; hostKey: string }>): void {
  const lines = entries.map(({ ip, hostKey }) => `${ip} ${hostKey.split(/\s+/).slice(0, 2).join(' ')}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
}
