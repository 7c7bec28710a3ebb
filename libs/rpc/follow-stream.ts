/** Waits `ms`; the default is a timer that does not keep the process alive. */
export type Sleep = (ms: number) => Promise<void>;

const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

export interface FollowStreamOptions<E> {
  /** Opens the stream, resuming after what the caller has applied (it keeps its own cursor). */
  open(signal: AbortSignal): AsyncIterable<E>;
  /** Applies one event; awaited before the next is read. */
  onEvent(event: E): Promise<void> | void;
  /** First wait after an interruption; doubled after each further one, reset by an event. Default 200 ms. */
  initialBackoffMs?: number;
  /** Longest wait. Default 30 s. */
  maxBackoffMs?: number;
  /**
   * A wait chosen for this error instead of the doubling one (e.g. a peer that does not serve the
   * stream yet: retry slowly rather than spin); undefined for the usual backoff.
   */
  backoffAfter?(error: unknown): number | undefined;
  /** An interruption that is not answered by `backoffAfter` (for a log line). */
  onInterrupted?(error: unknown): void;
  /** Injected for tests: the wait between attempts. */
  sleep?: Sleep;
}

/**
 * Follows a resumable server stream for as long as the caller wants: reopens it whenever it ends or
 * fails, after a backoff that doubles up to a cap and starts over once an event arrives. The one way
 * services follow WatchInvalidations / WatchLimits / WatchAccounts-style feeds (authz's account
 * follower, the broker's invalidation and limit followers).
 */
export function followStream<E>(options: FollowStreamOptions<E>): { stop(): void; done: Promise<void> } {
  const initialMs = options.initialBackoffMs ?? 200;
  const maxMs = options.maxBackoffMs ?? 30_000;
  const sleep = options.sleep ?? realSleep;
  let stopped = false;
  let abort = new AbortController();
  const done = (async () => {
    let backoffMs = initialMs;
    while (!stopped) {
      abort = new AbortController();
      try {
        for await (const event of options.open(abort.signal)) {
          backoffMs = initialMs;
          await options.onEvent(event);
        }
      } catch (error) {
        if (stopped) return;
        const chosen = options.backoffAfter?.(error);
        if (chosen !== undefined) backoffMs = chosen;
        else options.onInterrupted?.(error);
      }
      if (stopped) return;
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, maxMs);
    }
  })();
  return {
    stop() {
      stopped = true;
      abort.abort();
    },
    done,
  };
}
