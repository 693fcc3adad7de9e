// Write a desired file on a node: atomically, validated before it replaces the old one, old one kept
// (a bounded number of backups per file, all of one run sharing a suffix; see backups.ts).
import type { Desired } from '../plan/types.js';
import { pruneBackups, RUN_BACKUP_SUFFIX } from './backups.js';
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
    backupSuffix: RUN_BACKUP_SUFFIX,
  });
  if (backupPath) await pruneBackups(conn, d.path, undefined, backupPath);
  return backupPath;
}

/** Put back what was there before: the backup, or nothing when the file was new. */
export function restoreCommand(path: string, backupPath: string | undefined): string {
  return backupPath ? sh('cp', '-p', backupPath, path) : sh('rm', '-f', path);
}
