import { quote } from '../shell/quote.js';
import type { Fact } from './fact.js';

export interface UnitState {
  enabled: boolean;
  active: boolean;
  /** Main process ID; 0 when not running. */
  pid: number;
}

export type UnitsFact = Record<string, UnitState>;

export function unitsFact(units: string[]): Fact<UnitsFact> {
  return {
    name: 'units',
    command: units
      .map((u) => {
        const q = quote(u);
        return `printf '%s\\t%s\\t%s\\t%s\\n' ${q} "$(systemctl is-enabled ${q} 2>/dev/null)" "$(systemctl is-active ${q} 2>/dev/null)" "$(systemctl show -p MainPID --value ${q} 2>/dev/null)"`;
      })
      .join('; '),
    parse(out) {
      const result: UnitsFact = {};
      for (const line of out.split('\n')) {
        const [name, enabled, active, pid] = line.split('\t');
        if (!name) continue;
        result[name] = { enabled: enabled === 'enabled', active: active === 'active', pid: Number(pid) || 0 };
      }
      return result;
    },
  };
}
