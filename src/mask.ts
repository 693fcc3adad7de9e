// Secrets never reach output. Two layers:
// - maskedDiff: the diff of a managed file masks secrets by POSITION, in the old content (what is on
//   the node: the cluster's live password, which the inventory may no longer know) and the new one;
//   a secret that differs shows as "auth_pass changed", never with either value.
// - maskSecrets: every printed text goes through it: the inventory's known values, and the value
//   after any `auth_pass` keyword, whatever it is.
import { createTwoFilesPatch } from 'diff';

export const MASK = '********';

/** `auth_pass VALUE` at the start of a line (after a diff marker or indentation), or after `{`, `;` or a JSON string's opening quote. */
const AUTH_PASS_TOKEN = /((?:^|\\n|[{;"])(?:[ \t+-]|\\t)*auth_pass[ \t]+)(?!\*{8})[^\s"\\]+/gim;

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  // Each secret also as it appears inside a JSON string (a " or \ in it is escaped there), since
  // --json output is masked after serialising. Longest first, so a secret containing another is
  // masked whole.
  const forms = secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
  for (const secret of [...new Set(forms)].sort((a, b) => b.length - a.length)) {
    if (secret) out = out.split(secret).join(MASK);
  }
  return out.replace(AUTH_PASS_TOKEN, `$1${MASK}`);
}

/** A secret-bearing line: what precedes the secret (kept), the secret to the end of the line (masked), and its name. */
interface Slot {
  prefix: string;
  value: string;
  label: string;
}

const AUTH_PASS_LINE = /^(.*?\bauth_pass\b[ \t]*)(\S.*)$/i;

function slotAt(line: string, at: number): Slot {
  const prefix = line.slice(0, at);
  return { prefix, value: line.slice(at), label: /([A-Za-z_][\w.-]*)\W*$/.exec(prefix)?.[1] ?? 'secret' };
}

/** Where a line carries a secret: after `auth_pass`, where a known secret sits, or after a prefix a secret sits behind in the new file. */
function slotOf(line: string, secrets: readonly string[], prefixes: readonly string[]): Slot | undefined {
  const kw = AUTH_PASS_LINE.exec(line);
  if (kw) return { prefix: kw[1]!, value: kw[2]!, label: 'auth_pass' };
  for (const s of secrets) {
    const at = s ? line.indexOf(s) : -1;
    if (at >= 0) return slotAt(line, at);
  }
  const p = prefixes.find((x) => line.startsWith(x));
  return p !== undefined && line.length > p.length ? slotAt(line, p.length) : undefined;
}

/** A value as keepalived reads it: without quotes or a trailing comment. */
const norm = (v: string) => v.replace(/\s+[#!].*$/, '').trim().replace(/^"(.*)"$/, '$1');

/**
 * The unified diff of a managed file from `before` (the node's content) to `after` (the rendered one),
 * with every secret masked by position in both. The n-th secret of a name whose value differs is
 * shown on the new side as `NAME ******** (NAME changed)`.
 */
export function maskedDiff(path: string, before: string, after: string, secrets: readonly string[]): string {
  const afterLines = after.split('\n');
  const afterSlots = afterLines.map((l) => slotOf(l, secrets, []));
  const prefixes = afterSlots.flatMap((s) => (s && s.prefix.trim() ? [s.prefix] : []));
  const beforeLines = before.split('\n');
  const beforeSlots = beforeLines.map((l) => slotOf(l, secrets, prefixes));

  const oldValues = new Map<string, string[]>();
  for (const s of beforeSlots) if (s) oldValues.set(s.label, [...(oldValues.get(s.label) ?? []), norm(s.value)]);
  const seen = new Map<string, number>();
  const maskedAfter = afterLines.map((line, i) => {
    const s = afterSlots[i];
    if (!s) return line;
    const n = seen.get(s.label) ?? 0;
    seen.set(s.label, n + 1);
    const old = oldValues.get(s.label)?.[n];
    return `${s.prefix}${MASK}${old !== undefined && old !== norm(s.value) ? ` (${s.label} changed)` : ''}`;
  });
  const maskedBefore = beforeLines.map((line, i) => {
    const s = beforeSlots[i];
    return s ? `${s.prefix}${MASK}` : line;
  });
  const diff = createTwoFilesPatch(`a${path}`, `b${path}`, maskedBefore.join('\n'), maskedAfter.join('\n'), undefined, undefined, { context: 3 });
  return maskSecrets(diff, secrets);
}
