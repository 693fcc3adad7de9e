// systemd's own word on the node as a whole (`systemctl is-system-running`): up (running, degraded),
// still booting (initializing, starting), shutting down or rebooting (stopping), in rescue or emergency
// mode (maintenance). Read with the other facts, in the same round trip.
import type { Fact } from './fact.js';

/** What a run does about the node: go on, wait for its boot to finish, wait for it to come back, or refuse. */
export type Readiness = 'up' | 'booting' | 'stopping' | 'maintenance';

/** The state as systemctl prints it; `unknown` when it printed nothing (no systemctl). */
export const systemFact: Fact<string> = {
  name: 'system',
  // Exits non-zero whenever the state is not `running`: the state is the answer, not the exit code.
  command: 'systemctl is-system-running',
  parse: (out) => out.trim().split('\n').pop()?.trim() || 'unknown',
};

export function readinessOf(state: string | undefined): Readiness {
  switch (state) {
    case 'initializing':
    case 'starting':
      return 'booting';
    case 'stopping':
      return 'stopping';
    case 'maintenance':
      return 'maintenance';
    default:
      // running, degraded; offline (systemd is not PID 1) and unknown: nothing to wait for.
      return 'up';
  }
}

/** The node's failed units (`systemctl --failed`): what makes systemd say `degraded`. */
export const failedUnitsFact: Fact<string[]> = {
  name: 'failed',
  command: 'systemctl --failed --no-legend --plain',
  // "NAME LOAD ACTIVE SUB DESCRIPTION…": the first word of each line.
  parse: (out) => out.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean),
};
