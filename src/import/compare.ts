// Do two keepalived configurations say the same thing? Statement by statement, order, comments,
// spacing and quoting aside: how import's round trip is judged, and how a diff that only reformats a
// hand-written configuration is recognised as formatting.
import { parseText, statementLines, type Statement } from './parse.js';

/**
 * The statements two configs must share. Documented differences, applied to the rendered side only when
 * the source lacks them: kadeploy's always-on script security, and keepalived's defaults made explicit
 * (state BACKUP, priority 100, advert_int 1). auth_pass compares on the 8 characters keepalived uses.
 */
export function compareStatements(source: Statement[], rendered: Statement[]): { missing: string[]; added: string[] } {
  const norm = (l: string) => l.replace(/^(.*> auth_pass )(\S+)$/, (_m, a: string, p: string) => a + p.slice(0, 8));
  const src = statementLines(source).map(norm);
  let out = statementLines(rendered).map(norm);
  const has = (line: string) => src.includes(line);
  const optional = [/^global_defs > enable_script_security$/, /^global_defs > script_user root$/, /^vrrp_instance \S+ > (state BACKUP|priority 100|advert_int 1)$/];
  out = out.filter((l) => has(l) || !optional.some((re) => re.test(l)));
  const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const a = count(src);
  const b = count(out);
  const missing = [...a].flatMap(([l, n]) => Array(Math.max(0, n - (b.get(l) ?? 0))).fill(l) as string[]);
  const added = [...b].flatMap(([l, n]) => Array(Math.max(0, n - (a.get(l) ?? 0))).fill(l) as string[]);
  return { missing, added };
}

/** True when `rendered` only reformats `source` (plus the documented differences). */
export const sameStatements = (source: Statement[], rendered: Statement[]): boolean => {
  const d = compareStatements(source, rendered);
  return d.missing.length === 0 && d.added.length === 0;
};

/**
 * True when two keepalived.conf texts hold exactly the same statements (order, comments, spacing and
 * quoting aside, and no documented difference allowed): a diff between them only reformats. A text
 * that does not parse is never "the same".
 */
export function sameConfigText(a: string, b: string): boolean {
  try {
    const sorted = (text: string) => statementLines(parseText(text)).sort();
    const [x, y] = [sorted(a), sorted(b)];
    return x.length === y.length && x.every((line, k) => line === y[k]);
  } catch {
    return false;
  }
}
