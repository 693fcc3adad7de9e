// Where a run's time went (`--timings` of apply, diff, verify): start-up (process start to the
// command's first line), then each phase and step as the command records it, in order.
import { performance } from 'node:perf_hooks';

export interface Timing {
  name: string;
  ms: number;
}

export class Timings {
  readonly entries: Timing[] = [];

  /** Created when the command starts: everything before it (Node, loading kadeploy) is start-up. */
  constructor() {
    this.add('start-up', performance.now());
  }

  add(name: string, ms: number): void {
    this.entries.push({ name, ms: Math.round(ms * 10) / 10 });
  }

  /** Run `fn`, record how long it took under `name` (also when it fails). */
  async time<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(name, performance.now() - t0);
    }
  }

  /** The entries and the total so far (process start to now), for --json. */
  toJSON(): { entries: Timing[]; total_ms: number } {
    return { entries: this.entries, total_ms: Math.round(performance.now() * 10) / 10 };
  }

  format(): string {
    const { entries, total_ms } = this.toJSON();
    const width = Math.max(...entries.map((e) => e.name.length), 'total'.length);
    const line = (name: string, ms: number) => `  ${name.padEnd(width)}  ${ms.toFixed(1).padStart(8)} ms`;
    return `timings:\n${entries.map((e) => line(e.name, e.ms)).join('\n')}\n${line('total', total_ms)}\n`;
  }
}

/** Time `fn` when there is a Timings, else just run it. */
export const timed = <T>(t: Timings | undefined, name: string, fn: () => Promise<T> | T): Promise<T> => (t ? t.time(name, fn) : Promise.resolve().then(fn));
