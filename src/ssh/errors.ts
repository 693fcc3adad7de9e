// SSH-specific failures that are still command failures, so callers catching CommandError see them too.
import { CommandError, KadeployError } from '../errors.js';

/** A remote command ran past its timeout and was killed. */
export class TimeoutError extends CommandError {
  constructor(host: string, command: string, readonly timeoutMs: number, stdout: string, stderr: string) {
    super(host, command, null, stdout, stderr);
    this.message = `${host}: command timed out after ${timeoutMs} ms and was killed: ${command}`;
  }
}

/** sudo on a node would not run a command: a wrong `sudo_password`, or a password it needs and was not given. */
export class SudoPasswordError extends KadeployError {
  constructor(readonly host: string, user: string, reason: 'refused' | 'missing') {
    super(
      reason === 'refused'
        ? `sudo password refused on ${host} (user ${user}); check ssh.sudo_password in the inventory`
        : `sudo on ${host} asks user ${user} for a password and none is set; set ssh.sudo_password, or allow the user sudo without one (NOPASSWD)`,
    );
  }
}
