import { posix } from 'node:path';
import { quote } from '../shell/quote.js';
import type { Fact } from './fact.js';

export interface RemoteFile {
  mode: string; // octal, e.g. "0640"
  owner: string;
  group: string;
  content: string;
  /**
   * Its inode's last change (ctime: content, rename into place, mode), microseconds since the
   * epoch; absent when unknown (stat without %.6Z). See ./loaded.ts.
   */
  changed?: number;
}

/** path → file, or null when absent. Content is read too: managed files are small and the diff needs it. */
export type FilesFact = Record<string, RemoteFile | null>;

/** "1795318555.243526" → microseconds; undefined when not in that form. */
const micros = (text: string | undefined): number | undefined => {
  const m = /^(\d+)\.(\d{6})$/.exec(text ?? '');
  return m ? Number(m[1]) * 1e6 + Number(m[2]) : undefined;
};

export function filesFact(paths: string[]): Fact<FilesFact> {
  return {
    name: 'files',
    command: paths
      .map((p) => {
        const q = quote(p);
        const stat = `"$(stat -c '%a %U %G %.6Z' ${q} 2>/dev/null || stat -c '%a %U %G' ${q})"`;
        return `if [ -f ${q} ]; then printf 'F\\t%s\\t%s\\n' ${q} ${stat}; base64 -w0 ${q}; echo; else printf 'A\\t%s\\n' ${q}; fi`;
      })
      .join('; '),
    parse(out) {
      const result: FilesFact = {};
      const lines = out.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const [kind, path, meta] = lines[i]!.split('\t');
        if (kind === 'A' && path) result[path] = null;
        if (kind === 'F' && path && meta) {
          const [mode = '', owner = '', group = '', ctime] = meta.split(' ');
          const changed = micros(ctime);
          const content = Buffer.from(lines[++i] ?? '', 'base64').toString('utf8');
          result[path] = { mode: mode.padStart(4, '0'), owner, group, content, ...(changed !== undefined ? { changed } : {}) };
        }
      }
      return result;
    },
  };
}

/**
 * Where an upload of `path` that was cut short leaves its temp file (tasks/file.ts:
 * `.NAME.kadeploy-<run>.tmp` beside it), and where a rollback does (ops/rollback.ts). Such a file
 * may hold secrets (keepalived.conf's auth_pass): the next run removes it.
 */
export const tempPrefix = (path: string): string => posix.join(posix.dirname(path), `.${posix.basename(path)}.kadeploy-`);
export const restoreTemp = (path: string): string => `${path}.kadeploy-restore.tmp`;

/** path → the leftover temp files of it on the node (names only: their content is never read). */
export type TempsFact = Record<string, string[]>;

export function tempsFact(paths: string[]): Fact<TempsFact> {
  return {
    name: 'temps',
    // The glob stays outside the quotes; `[ -e ]` drops an unexpanded pattern.
    command: paths
      .map((p) => `for f in ${quote(tempPrefix(p))}*.tmp ${quote(restoreTemp(p))}; do [ ! -e "$f" ] || printf '%s\\t%s\\n' ${quote(p)} "$f"; done`)
      .join('; '),
    parse(out) {
      const result: TempsFact = {};
      for (const line of out.split('\n')) {
        const [path, file] = line.split('\t');
        if (!path || !file || !paths.includes(path)) continue;
        // Only names of the two forms above (a glob match can never be anything else, but be strict).
        const ok = file === restoreTemp(path) || (file.startsWith(tempPrefix(path)) && /^[A-Za-z0-9]+\.tmp$/.test(file.slice(tempPrefix(path).length)));
        if (ok) (result[path] ??= []).push(file);
      }
      return result;
    },
  };
}
