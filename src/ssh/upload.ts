// Replace a remote file atomically: temp file beside it, owner and mode, optional validation, backup, rename.
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { CommandError, KadeployError } from '../errors.js';
import { quote, sh } from '../shell/quote.js';
import type { SshConnection } from './connection.js';

export interface WriteFileOptions {
  /** Permission bits, e.g. 0o640. */
  mode: number;
  owner?: string;
  group?: string;
  /** Command checking the uploaded temp file, e.g. `(tmp) => sh('keepalived', '-t', '-f', tmp)`; quote the path. */
  validate?: (tmpPath: string) => string;
  /** Appended to the path for the copy of the previous file; default `.kadeploy-bak.<UTC timestamp>`. */
  backupSuffix?: string;
}

export interface WriteFileResult {
  /** Where the previous content was kept; absent when there was no previous file. */
  backupPath?: string;
}

/**
 * Readers of `path` see the old file or the new one, never a partial write: the rename happens
 * within one directory, hence one filesystem. On any failure the temp file is removed and the
 * old file is left as it was.
 */
export async function writeFileAtomic(
  conn: SshConnection,
  path: string,
  content: string | Buffer,
  options: WriteFileOptions,
): Promise<WriteFileResult> {
  if (!posix.isAbsolute(path)) throw new KadeployError(`remote path must be absolute: ${path}`);
  const tmp = posix.join(posix.dirname(path), `.${posix.basename(path)}.kadeploy-${randomBytes(4).toString('hex')}.tmp`);
  const backup = path + (options.backupSuffix ?? `.kadeploy-bak.${timestamp()}`);
  try {
    // umask 077: the content may hold secrets and stays private until its final mode is set.
    const steps = ['umask 077', `cat > ${quote(tmp)}`];
    if (options.owner !== undefined || options.group !== undefined) {
      steps.push(sh('chown', `${options.owner ?? ''}${options.group !== undefined ? `:${options.group}` : ''}`, tmp));
    }
    // After chown, which may clear set-id bits.
    steps.push(sh('chmod', options.mode.toString(8).padStart(4, '0'), tmp));
    await conn.exec(steps.join(' && '), { stdin: content });

    if (options.validate) {
      const command = options.validate(tmp);
      const check = await conn.exec(command, { check: false });
      if (check.code !== 0) throw new CommandError(conn.target.name, command, check.code, check.stdout, check.stderr);
    }

    const kept = await conn.exec(
      `if [ -e ${quote(path)} ]; then ${sh('cp', '-p', path, backup)} && echo kept; fi && ${sh('mv', '-f', tmp, path)}`,
    );
    return kept.stdout.trim() === 'kept' ? { backupPath: backup } : {};
  } catch (err) {
    await conn.exec(sh('rm', '-f', tmp), { check: false }).catch(() => undefined);
    throw err;
  }
}

/** Compact UTC time for backup names, e.g. 20250131T235959Z. */
function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
