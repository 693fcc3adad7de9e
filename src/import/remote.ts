// Import from live nodes: read keepalived.conf (and what it includes) over the same SSH connections as
// apply, and the scripts the configuration calls, so they become managed files of the inventory.
import type { SshConnection } from '../ssh/connection.js';
import { quote } from '../shell/quote.js';
import { NeedFetch, parseConfig, type SourceReader, type Statement } from './parse.js';

export const KEEPALIVED_CONF = '/etc/keepalived/keepalived.conf';
/** Commands from these directories come with the OS packages, not with the cluster's configuration. */
const SYSTEM_DIRS = /^\/(usr\/)?(s?bin|lib|libexec)\//;

/** A reader over what has been fetched from the node so far; asks for the rest with NeedFetch. */
function cachedReader(files: Map<string, string | null>, dirs: Map<string, string[]>): SourceReader {
  return {
    read(path) {
      if (!files.has(path)) throw new NeedFetch('file', path);
      const text = files.get(path);
      if (text === null || text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return text;
    },
    exists(path) {
      if (!files.has(path)) throw new NeedFetch('file', path);
      return files.get(path) !== null;
    },
    list(dir) {
      const names = dirs.get(dir);
      if (names === undefined) throw new NeedFetch('dir', dir);
      return names;
    },
  };
}

/** The node's keepalived configuration, parsed, with includes followed over SSH. */
export async function readRemoteConfig(conn: SshConnection, path = KEEPALIVED_CONF): Promise<Statement[]> {
  const files = new Map<string, string | null>();
  const dirs = new Map<string, string[]>();
  for (let round = 0; round < 100; round++) {
    try {
      return parseConfig(path, cachedReader(files, dirs));
    } catch (e) {
      if (!(e instanceof NeedFetch)) throw e;
      if (e.kind === 'file') {
        const r = await conn.exec(`cat -- ${quote(e.path)}`, { check: false });
        files.set(e.path, r.code === 0 ? r.stdout : null);
      } else {
        const r = await conn.exec(`ls -1A -- ${quote(e.path)}`, { check: false });
        dirs.set(e.path, r.code === 0 ? r.stdout.split('\n').filter(Boolean) : []);
      }
    }
  }
  throw new Error(`${path}: too many included files`);
}

/** Absolute paths of the scripts a configuration runs (vrrp_script script, notify*), system binaries aside. */
export function calledScripts(statements: Statement[]): string[] {
  const out = new Set<string>();
  const walk = (list: Statement[]) => {
    for (const st of list) {
      if ((st.keyword === 'script' || st.keyword.startsWith('notify')) && st.args[0]) {
        const program = st.args[0].trim().split(/\s+/)[0]!;
        if (program.startsWith('/') && !SYSTEM_DIRS.test(program)) out.add(program);
      }
      if (st.children) walk(st.children);
    }
  };
  walk(statements);
  return [...out].sort();
}

/** A script's content and mode on the node, or undefined when it is not a readable regular file. */
export async function readScript(conn: SshConnection, path: string): Promise<{ content: string; mode: string } | undefined> {
  const r = await conn.exec(`test -f ${quote(path)} && stat -c %a -- ${quote(path)} && cat -- ${quote(path)}`, { check: false });
  if (r.code !== 0) return undefined;
  const nl = r.stdout.indexOf('\n');
  return { mode: `0${r.stdout.slice(0, nl).trim()}`.slice(-4), content: r.stdout.slice(nl + 1) };
}
