import { quote } from '../shell/quote.js';
import type { Fact } from './fact.js';

export interface RemoteFile {
  mode: string; // octal, e.g. "0640"
  owner: string;
  group: string;
  content: string;
}

/** path → file, or null when absent. Content is read too: managed files are small and the diff needs it. */
export type FilesFact = Record<string, RemoteFile | null>;

export function filesFact(paths: string[]): Fact<FilesFact> {
  return {
    name: 'files',
    command: paths
      .map((p) => {
        const q = quote(p);
        return `if [ -f ${q} ]; then printf 'F\\t%s\\t%s\\n' ${q} "$(stat -c '%a %U %G' ${q})"; base64 -w0 ${q}; echo; else printf 'A\\t%s\\n' ${q}; fi`;
      })
      .join('; '),
    parse(out) {
      const result: FilesFact = {};
      const lines = out.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const [kind, path, meta] = lines[i]!.split('\t');
        if (kind === 'A' && path) result[path] = null;
        if (kind === 'F' && path && meta) {
          const [mode = '', owner = '', group = ''] = meta.split(' ');
          result[path] = { mode: mode.padStart(4, '0'), owner, group, content: Buffer.from(lines[++i] ?? '', 'base64').toString('utf8') };
        }
      }
      return result;
    },
  };
}
