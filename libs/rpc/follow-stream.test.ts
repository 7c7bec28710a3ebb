import { describe, expect, it } from 'vitest';
import { followStream } from './follow-stream.ts';

/** A stream script: each attempt yields these events, then ends or fails with the error. */
function scripted(attempts: { events: number[]; error?: unknown }[]) {
  let i = 0;
  return (signal: AbortSignal) =>
    (async function* () {
      const attempt = attempts[i++];
      if (!attempt) {
        // Past the script: stay open until stopped.
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return;
      }
      yield* attempt.events;
      if (attempt.error) throw attempt.error;
    })();
}

describe('followStream', () => {
  it('reopens after a failure with a doubling backoff, reset by an event, and delivers every event in order', async () => {
    const waits: number[] = [];
    const seen: number[] = [];
    let reachedEnd!: () => void;
    const end = new Promise<void>((resolve) => (reachedEnd = resolve));
    const fail = new Error('connection reset');
    const follower = followStream({
      open: scripted([{ events: [1], error: fail }, { events: [], error: fail }, { events: [], error: fail }, { events: [2, 3] }]),
      onEvent: (e) => {
        seen.push(e);
        if (e === 3) reachedEnd();
      },
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    await end;
    // The stream ending normally after 3 is an interruption too: one more wait, reset by the events.
    await new Promise((resolve) => setImmediate(resolve));
    follower.stop();
    await follower.done;
    expect(seen).toEqual([1, 2, 3]);
    expect(waits).toEqual([200, 400, 800, 200]);
  });

  it('caps the backoff and lets an error choose its own wait', async () => {
    const waits: number[] = [];
    const unimplemented = Object.assign(new Error('no feed'), { code: 'UNIMPLEMENTED' });
    const other = new Error('down');
    const interrupted: unknown[] = [];
    let sleeps = 0;
    let stop!: () => void;
    const follower = followStream<number>({
      open: scripted([{ events: [], error: other }, { events: [], error: unimplemented }, { events: [], error: other }, { events: [], error: other }]),
      onEvent: () => undefined,
      maxBackoffMs: 1_000,
      backoffAfter: (error) => ((error as { code?: string }).code === 'UNIMPLEMENTED' ? 30_000 : undefined),
      onInterrupted: (error) => interrupted.push(error),
      sleep: async (ms) => {
        waits.push(ms);
        if (++sleeps === 4) stop();
      },
    });
    stop = follower.stop;
    await follower.done;
    expect(waits).toEqual([200, 30_000, 1_000, 1_000]);
    expect(interrupted).toEqual([other, other, other]);
  });
});
