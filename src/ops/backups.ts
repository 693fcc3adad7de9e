// Backups of replaced files on a node (`PATH.kadeploy-bak.<UTC stamp>`): named per run, listed,
// bounded. Listing output is parsed and selected by pure functions, so the rules are unit-tested.
import { quote, sh } from '../shell/quote.js';
import type { SshConnection } from '../ssh/connection.js';
import type { Step } from '../types.js';

export const BACKUP_MARK = '.kadeploy-bak.';
export const DEFAULT_KEEP_BACKUPS = 5;

const STAMP = /^\d{8}T\d{6}Z$/;

/** Compact UTC time, e.g. 20250131T235959Z: sorts as text in time order. */
export function backupStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * One stamp per kadeploy process: every file replaced by one apply gets the same suffix, so a
 * rollback can restore exactly the files of the last run (and none from older runs).
 */
export const RUN_BACKUP_SUFFIX = `${BACKUP_MARK}${backupStamp(new Date())}`;

export interface Backup {
  /** The file the backup is of. */
  of: string;
  /** Full path of the backup. */
  path: string;
  stamp: string;
}

/** One command listing every backup of `paths`, one per line (a path with no backup prints nothing). */
export function listBackupsCommand(paths: readonly string[]): string {
  // The glob stays outside the quotes; `[ -e ]` drops the unexpanded pattern when nothing matches
  // (written as `||` so the loop, and the command, exit 0 either way).
  return paths.map((p) => `for f in ${quote(p + BACKUP_MARK)}*; do [ ! -e "$f" ] || printf '%s\\n' "$f"; done`).join('; ') || 'true';
}

/** Backups of `paths` found in a listing, newest first per path; anything else (temp files, other suffixes) is ignored. */
export function parseBackupList(output: string, paths: readonly string[]): Backup[] {
  const found: Backup[] = [];
  for (const line of output.split('\n')) {
    for (const of of paths) {
      const prefix = of + BACKUP_MARK;
      const stamp = line.startsWith(prefix) ? line.slice(prefix.length) : '';
      if (STAMP.test(stamp)) found.push({ of, path: line, stamp });
    }
  }
  return found.sort((a, b) => a.of.localeCompare(b.of) || b.stamp.localeCompare(a.stamp));
}

/** The backups to delete so that at most `keep` remain per file; `protect` (the one just made) is never chosen. */
export function prunable(backups: readonly Backup[], keep: number, protect?: string): Backup[] {
  const seen = new Map<string, number>();
  return backups.filter((b) => {
    const n = (seen.get(b.of) ?? 0) + 1;
    seen.set(b.of, n);
    return n > Math.max(1, keep) && b.path !== protect;
  });
}

/**
 * The backups a rollback restores: those of the newest run found among `backups` (files that run
 * did not replace keep their current content, rather than going back to an older run's version).
 */
export function lastRun(backups: readonly Backup[]): Backup[] {
  const newest = backups.reduce((s, b) => (b.stamp > s ? b.stamp : s), '');
  return backups.filter((b) => b.stamp === newest);
}

export async function listBackups(conn: SshConnection, paths: readonly string[]): Promise<Backup[]> {
  const r = await conn.exec(listBackupsCommand(paths));
  return parseBackupList(r.stdout, paths);
}

/**
 * Keep at most `keep` backups of `path` on the node. Housekeeping only: it never throws, because
 * the file is already written and its new backup recorded, and a failure here must not turn a
 * good write into a failed one.
 */
export async function pruneBackups(conn: SshConnection, path: string, keep = DEFAULT_KEEP_BACKUPS, protect?: string): Promise<Backup[]> {
  try {
    const old = prunable(await listBackups(conn, [path]), keep, protect);
    if (old.length) await conn.exec(sh('rm', '-f', '--', ...old.map((b) => b.path)));
    return old;
  } catch {
    return [];
  }
}

/**
 * One command keeping the newest `keep` backups of `path` (by stamp; anything else is left alone).
 * Run right after a write, whose backup is the newest.
 */
export function pruneCommand(path: string, keep = DEFAULT_KEEP_BACKUPS): string {
  const prefix = quote(path + BACKUP_MARK);
  const stamp = '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z';
  return (
    `for f in ${prefix}*; do case \${f#${prefix}} in ${stamp}) printf '%s\\n' "$f";; esac; done | ` +
    `sort -r | tail -n +${Math.max(1, keep) + 1} | while IFS= read -r f; do rm -f -- "$f"; done`
  );
}

/** The plan step that prunes `path`'s backups after a write (optional: housekeeping never fails a run). */
export function pruneStep(path: string, keep = DEFAULT_KEEP_BACKUPS): Step {
  return { title: `keep the newest ${keep} backups of ${path}`, command: pruneCommand(path, keep), optional: true };
}
