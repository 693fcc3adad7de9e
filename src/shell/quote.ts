// The one place where values become shell words. Never build a command by concatenating raw values.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one value for a POSIX shell (single quotes; embedded quotes closed and escaped). */
export function quote(value: string | number): string {
  const s = String(value);
  if (s !== '' && SAFE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Build a command line from words, quoting each one. */
export function sh(...words: Array<string | number>): string {
  return words.map(quote).join(' ');
}
