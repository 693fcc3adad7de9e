// Small named error classes: the CLI prints `message` (never a stack) and exits with `exitCode`.

export class KadeployError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** One problem found in an inventory, located precisely for the user. */
export interface Issue {
  file: string;
  line?: number;
  column?: number;
  /** Dotted field path, e.g. `nodes[1].priority`. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export function formatIssue(i: Issue): string {
  const where = i.line ? `${i.file}:${i.line}:${i.column ?? 1}` : i.file;
  return `${where}: ${i.severity}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** An inventory that cannot be used; carries every problem found, not just the first. */
export class InventoryError extends KadeployError {
  override readonly exitCode = 3;
  constructor(readonly issues: Issue[]) {
    super(issues.filter((i) => i.severity === 'error').map(formatIssue).join('\n'));
  }
}

/** A host could not be reached, authenticated or trusted. */
export class ConnectError extends KadeployError {
  constructor(readonly host: string, message: string) {
    super(`${host}: ${message}`);
  }
}

/** A remote command failed: the result is the error (stdout, stderr and exit code included). */
export class CommandError extends KadeployError {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const detail = (stderr || stdout).trim().split('\n').slice(-3).join(' | ');
    super(`${host}: command failed (exit ${code ?? 'signal'}): ${command}${detail ? `\n  ${detail}` : ''}`);
  }
}

export class LabError extends KadeployError {}

/** A template could not be rendered for a node. */
export class RenderError extends KadeployError {}

/** A planned step failed on a node; the message already names the node (never twice). */
export class StepError extends KadeployError {
  constructor(readonly node: string, message: string) {
    super(message.startsWith(`${node}: `) ? message : `${node}: ${message}`);
  }
}

/** apply stopped: a node failed (and was rolled back), or the VIP check failed. */
export class ApplyError extends KadeployError {}

/** Interrupted (Ctrl-C, SIGTERM, SIGHUP): the current node was put back, no further node was touched. */
export class ApplyInterrupted extends KadeployError {
  override readonly exitCode = 130;
}

/** A node could not be put back to its previous files. */
export class RollbackError extends KadeployError {}

/** A saved plan that cannot be used (unreadable, another version, or the nodes or inventory changed). */
export class PlanError extends KadeployError {}

// SSH failures that are still command failures, so callers catching CommandError see them too.
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

/** An ssh_config kadeploy cannot evaluate like OpenSSH: named by file and line. */
export class SshConfigError extends KadeployError {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
  }
}

/** A node's lock could not be taken (held by a live run) or kept. */
export class LockError extends KadeployError {}

/** A keepalived.conf import cannot represent: named by file and line, like an inventory error. */
export class ImportError extends KadeployError {
  override readonly exitCode = 3;
}

/** The failover drill was interrupted; every service it stopped was started again. */
export class DrillAborted extends KadeployError {
  override readonly exitCode = 130;
}
