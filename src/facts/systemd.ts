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
  return {
    name: 'units',
    command: units
      .map((u) => {
        const q = quote(u);
        // One systemctl process per unit; older systemd lacks --timestamp (then no `since`).
        return (
          `{ systemctl show --timestamp=us+utc ${props} -- ${q} 2>/dev/null || systemctl show ${props} -- ${q} 2>/dev/null; } | ` +
          `{ e=; a=; p=; t=; while IFS='=' read -r k v; do ` +
          `case $k in UnitFileState) e=$v;; ActiveState) a=$v;; MainPID) p=$v;; StateChangeTimestamp) t=$v;; esac; done; ` +
          `printf '%s\\t%s\\t%s\\t%s\\t%s\\n' ${q} "$e" "$a" "$p" "$t"; }`
        );
      })
      .join('; '),
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
