// What was read from a file (a parsed key, a parsed ssh_config), kept while the file is unchanged:
// another inode (replaced, e.g. renamed over by an editor), size or mtime (rewritten) reads it again.
// One entry per key, so a file rewritten many times does not pile up old versions.
import type { Stats } from 'node:fs';

/** The parts of a file's stat that tell one version of it from another. */
export type FileStamp = Pick<Stats, 'ino' | 'size' | 'mtimeMs'>;

export class FileCache<T> {
  private readonly entries = new Map<string, { stamp: string; value: T }>();

  /** The value for `key` (the file, and whatever else its reading depends on) at the version `st`; `read` runs when there is none. */
  get(key: string, st: FileStamp, read: () => T): T {
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    const entry = this.entries.get(key);
    if (entry?.stamp === stamp) return entry.value;
    const value = read();
    this.entries.set(key, { stamp, value });
    return value;
  }

  /** Forget `value` (a read that failed is tried again next time); a newer value for `key` stays. */
  forget(key: string, value: T): void {
    if (this.entries.get(key)?.value === value) this.entries.delete(key);
  }
}
