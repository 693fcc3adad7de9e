// SSH-specific failures that are still command failures, so callers catching CommandError see them too.
import { CommandError } from '../errors.js';

/** A remote command ran past its timeout and was killed. */
export class TimeoutError extends CommandError {
  constructor(host: string, command: string, readonly timeoutMs: number, stdout: string, stderr: string) {
    super(host, command, null, stdout, stderr);
    this.message = `${host}: command timed out after ${timeoutMs} ms and was killed: ${command}`;
  }
}
