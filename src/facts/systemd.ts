import { quote } from '../shell/quote.js';
import type { Fact } from './fact.js';

export interface UnitState {
  enabled: boolean;
  active: boolean;
  /** Main process ID; 0 when not running. */
  pid: number;
  /**
   * When the unit last became active (start or reload finished), microseconds since the epoch;
   * absent when unknown (systemd < 248 has no --timestamp=us+utc). See ./loaded.ts.
   */
  since?: number;
  /** Masked (systemctl mask): present only then. */
  masked?: true;
}

export type UnitsFact = Record<string, UnitState>;

/** "Sun 2026-11-22 03:33:13.123456 UTC" → microseconds since the epoch; undefined when not in that form. */
export function parseUsUtc(text: string): number | undefined {
  const m = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.(\d{6}) UTC$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isNaN(ms) ? undefined : ms * 1000 + Number(m[3]);
}

export function unitsFact(units: string[]): Fact<UnitsFact> {
  const props = '-p UnitFileState -p ActiveState -p MainPID -p StateChangeTimestamp';
  // Older systemd lacks --timestamp (then no `since`).
  const show = (units: string) => `systemctl show --timestamp=us+utc ${props} -- ${units} 2>/dev/null || systemctl show ${props} -- ${units} 2>/dev/null`;
  // "NAME<TAB>enabled<TAB>active<TAB>pid<TAB>stamp" from `KEY=value` lines, a blank line ending each unit.
  const fields = `e=; a=; p=; t=; while IFS='=' read -r k v; do case $k in UnitFileState) e=$v;; ActiveState) a=$v;; MainPID) p=$v;; StateChangeTimestamp) t=$v;; ` +
    `'') [ $# -gt 0 ] || break; printf '%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$e" "$a" "$p" "$t"; shift; e=; a=; p=; t=;; esac; done`;
  return {
    name: 'units',
    // One systemctl for all the units (each costs ~4 ms of a node's CPU, and the facts are read from
    // every node of a fleet): it prints one block per unit, in the order asked, blank-line separated.
    // A name systemctl refuses fails the whole call (after printing the blocks before it): then one
    // call per unit, as before.
    command: units.length
      ? `set -- ${units.map(quote).join(' ')}; ` +
        `if out=$(systemctl show --timestamp=us+utc ${props} -- "$@" 2>/dev/null) || out=$(systemctl show ${props} -- "$@" 2>/dev/null); ` +
        `then printf '%s\\n\\n' "$out" | { ${fields}; }; ` +
        `else for u; do set -- "$u"; { ${show('"$u"')}; printf '\\n\\n'; } | { ${fields}; }; done; fi`
      : '',
    parse(out) {
      const result: UnitsFact = {};
      for (const line of out.split('\n')) {
        const [name, enabled, active, pid, stamp = ''] = line.split('\t');
        if (!name) continue;
        const since = parseUsUtc(stamp);
        result[name] = { enabled: enabled === 'enabled', active: active === 'active', pid: Number(pid) || 0, ...(since !== undefined ? { since } : {}), ...(enabled === 'masked' ? { masked: true as const } : {}) };
      }
      return result;
    },
  };
}
