// What runs a command line on a node: an SSH connection, or a fake in tests. Facts, the executor and
// the rollback need nothing more.

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface Runner {
  exec(command: string, opts?: { check?: boolean; timeoutMs?: number; extraTimeoutMs?: number; stdin?: string | Buffer; onLine?: (line: string) => void }): Promise<RunResult>;
}
