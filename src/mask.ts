// Secrets never reach output: every printed text goes through maskSecrets first.

export const MASK = '********';

export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret that contains another is masked whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret) out = out.split(secret).join(MASK);
  }
  return out;
}
