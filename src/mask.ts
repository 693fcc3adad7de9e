// Secrets never reach output: every printed text goes through maskSecrets first.

export const MASK = '********';

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  // Each secret also as it appears inside a JSON string (a " or \ in it is escaped there), since
  // --json output is masked after serialising. Longest first, so a secret containing another is
  // masked whole.
  const forms = secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
  for (const secret of [...new Set(forms)].sort((a, b) => b.length - a.length)) {
    if (secret) out = out.split(secret).join(MASK);
  }
  return out;
}
