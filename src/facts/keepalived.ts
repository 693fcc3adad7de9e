import type { Fact } from './fact.js';

/** keepalived's version ("2.2.7"), or null when not installed. */
export const keepalivedVersionFact: Fact<string | null> = {
  name: 'keepalived',
  command: 'command -v keepalived >/dev/null && keepalived --version 2>&1 | head -n 1',
  parse(out, rc) {
    return rc === 0 ? (out.match(/Keepalived v(\S+)/)?.[1] ?? null) : null;
  },
};
