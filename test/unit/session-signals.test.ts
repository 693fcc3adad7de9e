// One helper opens a session for every command: SIGINT, SIGTERM and SIGHUP abort it alike, the
// session is always closed (locks released), and the handlers go away afterwards.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withSession, type Connected } from '../../src/apply/session.js';
import { ApplyInterrupted } from '../../src/errors.js';

const fake = (log: string[]) => ({ close: async () => void log.push('closed') }) as unknown as Connected;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

describe('withSession', () => {
  for (const sig of SIGNALS) {
    it(`${sig} aborts the run (not the process), the session is closed, the handlers removed`, async () => {
      const before = SIGNALS.map((s) => process.listenerCount(s));
      const log: string[] = [];
      const seen: string[] = [];
      const aborted = await withSession(
        async () => fake(log),
        async (_s, signal) => {
          process.emit(sig, sig);
          process.emit(sig, sig);
          return signal.aborted;
        },
        (name) => seen.push(name),
      );
      assert.equal(aborted, true);
      assert.deepEqual(seen, [sig], 'told once');
      assert.deepEqual(log, ['closed']);
      assert.deepEqual(SIGNALS.map((s) => process.listenerCount(s)), before);
    });
  }

  it('a signal while connecting ends the run before any change, and still closes', async () => {
    const log: string[] = [];
    let ran = false;
    const seen: string[] = [];
    await assert.rejects(
      withSession(
        async () => {
          process.emit('SIGTERM', 'SIGTERM');
          return fake(log);
        },
        async () => void (ran = true),
        (name) => seen.push(name),
      ),
      (e: Error) => e instanceof ApplyInterrupted && e.message === 'interrupted before any change',
    );
    assert.equal(ran, false);
    assert.deepEqual(log, ['closed']);
    assert.deepEqual(seen, [], 'no "rolling back" announcement: nothing is being changed');
  });

  it('a signal while opening fails (a node wait interrupted): its own error, no announcement', async () => {
    const seen: string[] = [];
    await assert.rejects(
      withSession(
        async () => {
          process.emit('SIGINT', 'SIGINT');
          throw new ApplyInterrupted('interrupted while waiting for lb1 to boot: nothing was changed on any node');
        },
        async () => {},
        (name) => seen.push(name),
      ),
      /interrupted while waiting for lb1 to boot/,
    );
    assert.deepEqual(seen, []);
  });

  it('a fleet of 60 sessions at once: one listener per signal, and a signal aborts every one', async () => {
    const before = SIGNALS.map((s) => process.listenerCount(s));
    let started = 0;
    let go!: () => void;
    const allStarted = new Promise<void>((resolve) => (go = resolve));
    const runs = Array.from({ length: 60 }, () =>
      withSession(
        async () => fake([]),
        async (_s, signal) => {
          if (++started === 60) go();
          assert.deepEqual(SIGNALS.map((s) => process.listenerCount(s)), before.map((n) => n + 1));
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          return signal.aborted;
        },
      ),
    );
    await allStarted;
    process.emit('SIGINT', 'SIGINT');
    assert.deepEqual(await Promise.all(runs), Array(60).fill(true));
    assert.deepEqual(SIGNALS.map((s) => process.listenerCount(s)), before);
  });
});
