// Write a desired file on a node: atomically, validated before it replaces the old one, old one kept.
import type { Desired } from '../plan/types.js';
import { sh } from '../shell/quote.js';
import type { SshConnection } from '../ssh/connection.js';
import { writeFileAtomic } from '../ssh/upload.js';

type FileDesired = Extract<Desired, { kind: 'file' }>;

/** Returns the backup path of the replaced file (undefined when the file is new). */
export async function writeDesiredFile(conn: SshConnection, d: FileDesired): Promise<string | undefined> {
  const { backupPath } = await writeFileAtomic(conn, d.path, d.content, {
    mode: parseInt(d.mode, 8),
    owner: 'root',
    group: 'root',
    validate: d.validate === 'keepalived' ? (tmp) => sh('keepalived', '-t', '-f', tmp) : undefined,
  });
  return backupPath;
}

/** Put back what was there before: the backup, or nothing when the file was new. */
export function restoreCommand(path: string, backupPath: string | undefined): string {
  return backupPath ? sh('cp', '-p', backupPath, path) : sh('rm', '-f', path);
}
