import { quote } from '../shell/quote.js';
import type { Fact } from './fact.js';

export interface UnitState {
  enabled: boolean;
  active: boolean;
  /** Main process ID; 0 when not running. */
  pid: number;
  /** Masked (systemctl mask): present only then. */
  masked?: true;
}

export type UnitsFact = Record<string, UnitState>;

export function unitsFact(units: string[]): Fact<UnitsFact> {
  return {
    name: 'units',
    command: units
      .map((u) => {
        const q = quote(u);
        // One systemctl process per unit (is-enabled + is-active + show was three).
        return (
          `e=; a=; p=; for kv in $(systemctl show -p UnitFileState -p ActiveState -p MainPID -- ${q} 2>/dev/null); do ` +
          `case $kv in UnitFileState=*) e=\${kv#*=};; ActiveState=*) a=\${kv#*=};; MainPID=*) p=\${kv#*=};; esac; done; ` +
          `printf '%s\\t%s\\t%s\\t%s\\n' ${q} "$e" "$a" "$p"`
        );
      })
      .join('; '),
    parse(out) {
      const result: UnitsFact = {};
      for (const line of out.split('\n')) {
        const [name, enabled, active, pid] = line.split('\t');
        if (!name) continue;
        result[name] = { enabled: enabled === 'enabled', active: active === 'active', pid: Number(pid) || 0, ...(enabled === 'masked' ? { masked: true as const } : {}) };
      }
      return result;
    },
  };
}
