// Live progress of a fleet apply, on stderr. Clusters run in parallel with listr2 silent (its renderer
// draws one run at a time), so a long fleet apply would say nothing until the recap. On a terminal one
// status line is kept up to date (clusters done, the latest step); in a log (CI, a pipe) each step
// is a line prefixed by its cluster, and each cluster's end is a line.

export interface FleetProgress {
  /** A node of `cluster` started `text` (a step title), or printed a line of output (`line`). */
  step(cluster: string, node: string, text: string, kind: 'step' | 'line'): void;
  /** `cluster` finished: `failure` is the first line of its error, if any. */
  done(cluster: string, failure?: string): void;
  /** Clear the status line (before other output: a plan block, the recap). */
  end(): void;
}

type Stream = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };

export function fleetProgress(total: number, stream: Stream = process.stderr): FleetProgress {
  let finished = 0;
  let failed = 0;
  let last = '';
  const tty = stream.isTTY === true;
  const redraw = () => {
    const head = `${finished}/${total} clusters done${failed ? `, ${failed} failed` : ''}`;
    stream.write(`\r\x1b[K${`${head}${last ? ` — ${last}` : ''}`.slice(0, Math.max(20, (stream.columns ?? 80) - 1))}`);
  };
  return {
    step(cluster, node, text, kind) {
      if (tty) {
        last = `[${cluster}] ${node}: ${text}`;
        redraw();
      } else if (kind === 'step') {
        stream.write(`[${cluster}] ${node}: ${text}\n`);
      }
    },
    done(cluster, failure) {
      finished++;
      if (failure !== undefined) failed++;
      if (tty) redraw();
      else stream.write(`[${cluster}] ${failure === undefined ? 'done' : `FAILED: ${failure}`}\n`);
    },
    end() {
      if (tty) stream.write('\r\x1b[K');
    },
  };
}
