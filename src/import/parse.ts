// keepalived.conf as keepalived reads it: statements of words, `{ … }` blocks, `#`/`!` comments,
// double-quoted strings, and `include` (glob, relative to the including file). Each statement keeps
// its file and line, so whatever import cannot take names the place it came from.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { ImportError } from '../errors.js';

export interface Statement {
  keyword: string;
  /** Words after the keyword, quotes removed. */
  args: string[];
  /** The statement's words as written (quotes kept), for verbatim copies. */
  raw: string;
  file: string;
  line: number;
  /** Present when the statement opens a block. */
  children?: Statement[];
}


/** Thrown by a reader that has to fetch something first (remote reads are asynchronous): fetch, then parse again. */
export class NeedFetch extends Error {
  constructor(readonly kind: 'file' | 'dir', readonly path: string) {
    super(`need ${kind} ${path}`);
  }
}

interface Token {
  text: string;
  quoted: boolean;
  line: number;
}

/** Words of one line: quoted strings are one word; `{` and `}` are words of their own. */
function lineTokens(text: string, line: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r') i++;
    else if (ch === '#' || ch === '!') break;
    else if (ch === '{' || ch === '}') {
      out.push({ text: ch, quoted: false, line });
      i++;
    } else if (ch === '"') {
      const end = text.indexOf('"', i + 1);
      const stop = end === -1 ? text.length : end;
      out.push({ text: text.slice(i + 1, stop), quoted: true, line });
      i = stop + 1;
    } else {
      let j = i;
      while (j < text.length && !' \t\r{}"#!'.includes(text[j]!)) j++;
      out.push({ text: text.slice(i, j), quoted: false, line });
      i = j;
    }
  }
  return out;
}

/** Files an `include` names: a path or a glob (`*`, `?`) in its last component. */
function includeTargets(pattern: string, from: string, reader: SourceReader): string[] {
  const full = isAbsolute(pattern) ? pattern : resolve(dirname(from), pattern);
  const name = basename(full);
  if (!/[*?]/.test(name)) return reader.exists(full) ? [full] : [];
  const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return reader.list(dirname(full)).filter((f) => re.test(f)).sort().map((f) => join(dirname(full), f));
}

/** Where configuration files come from: this machine, or a node over SSH (src/import/remote.ts). */
export interface SourceReader {
  read(path: string): string;
  exists(path: string): boolean;
  /** File names in a directory ([] when it does not exist). */
  list(dir: string): string[];
}

export const localFiles: SourceReader = {
  read: (p) => readFileSync(p, 'utf8'),
  exists: (p) => existsSync(p),
  list: (d) => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  },
};

/** Parse a keepalived configuration file (and what it includes) into statements. */
export function parseConfig(file: string, reader: SourceReader = localFiles, depth = 0): Statement[] {
  let text: string;
  try {
    text = reader.read(file);
  } catch (e) {
    if (e instanceof NeedFetch) throw e;
    throw new ImportError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (depth > 8) throw new ImportError(`${file}: include nested more than 8 deep`);

  // Statements end at the end of a line; a line that is only `{` opens the previous statement's block.
  const root: Statement[] = [];
  const stack: Statement[][] = [root];
  let last: Statement | undefined;
  const lines = text.split('\n');
  lines.forEach((content, k) => {
    const line = k + 1;
    const tokens = lineTokens(content, line);
    if (tokens.length === 0) return;
    if (!tokens[0]!.quoted && (tokens[0]!.text.startsWith('@') || tokens[0]!.text.startsWith('$'))) {
      throw new ImportError(`${file}:${line}: ${tokens[0]!.text}: keepalived's conditional and variable configuration is not supported by import; expand it first`);
    }
    let current: Token[] = [];
    const flush = (opensBlock: boolean) => {
      if (current.length === 0) {
        if (opensBlock) {
          if (!last || last.children) throw new ImportError(`${file}:${line}: "{" without a statement before it`);
          last.children = [];
          stack.push(last.children);
        }
        return;
      }
      const [head, ...rest] = current;
      const st: Statement = {
        keyword: head!.text,
        args: rest.map((t) => t.text),
        raw: current.map((t) => (t.quoted ? `"${t.text}"` : t.text)).join(' '),
        file,
        line,
      };
      current = [];
      if (st.keyword === 'include' && !opensBlock) {
        const targets = includeTargets(st.args[0] ?? '', file, reader);
        if (targets.length === 0) throw new ImportError(`${file}:${line}: include ${st.args[0] ?? ''}: no such file`);
        for (const t of targets) stack[stack.length - 1]!.push(...parseConfig(t, reader, depth + 1));
        last = undefined;
        return;
      }
      stack[stack.length - 1]!.push(st);
      last = st;
      if (opensBlock) {
        st.children = [];
        stack.push(st.children);
      }
    };
    for (const t of tokens) {
      if (!t.quoted && t.text === '{') flush(true);
      else if (!t.quoted && t.text === '}') {
        flush(false);
        if (stack.length === 1) throw new ImportError(`${file}:${line}: "}" closes nothing`);
        stack.pop();
        last = undefined;
      } else current.push(t);
    }
    flush(false);
  });
  if (stack.length > 1) throw new ImportError(`${file}: a block opened is never closed ("}" missing)`);
  return root;
}

/** The statement (and its block) as keepalived.conf text, indented, for verbatim blocks. */
export function statementText(st: Statement, indent = ''): string {
  if (!st.children) return `${indent}${st.raw}`;
  const inner = st.children.map((c) => statementText(c, `${indent}    `));
  return [`${indent}${st.raw} {`, ...inner, `${indent}}`].join('\n');
}

/**
 * Every leaf statement as one line "parent > … > keyword args", quotes and spacing normalised: what
 * two configurations must share to mean the same to keepalived (order and comments aside).
 */
export function statementLines(statements: Statement[], prefix = ''): string[] {
  return statements.flatMap((st) => {
    const here = `${prefix}${[st.keyword, ...st.args].join(' ')}`;
    if (!st.children) return [here];
    return statementLines(st.children, `${here} > `);
  });
}

/** Parse configuration text that is not in a file (a rendered config, one read over SSH); no includes. */
export function parseText(text: string, name = '<text>'): Statement[] {
  return parseConfig(name, { read: () => text, exists: () => false, list: () => [] });
}
