// systemd unit actions, each followed by a health check: a unit that is not active afterwards is a failure.
import type { Action } from '../types.js';
import { sh } from '../shell/quote.js';

export const serviceCommand = (action: Action, unit: string): string => sh('systemctl', action, unit);

/** Waits up to `ms` for the unit to be active; returns its state and the journal's last lines if not. */
export const activeCheckCommand = (unit: string, seconds = 5): string =>
  `i=0; while [ $i -lt ${seconds * 5} ]; do ${sh('systemctl', 'is-active', '--quiet', unit)} && exit 0; sleep 0.2; i=$((i+1)); done; ` +
  `${sh('systemctl', 'is-active', unit)}; ${sh('journalctl', '-u', unit, '-n', '5', '--no-pager', '-o', 'cat')}; exit 1`;
