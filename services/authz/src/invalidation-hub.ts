import { systemClock, type Clock } from '#libs/clock/index.ts';
import type { Database } from '#libs/db/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { InvalidationEvent, TokenStore } from './domain/token-record.ts';
import { INVALIDATION_CHANNEL } from './store/postgres-token-store.ts';

export interface InvalidationHub {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Events after `afterSequence` (0: from now), then live ones, until `signal` aborts. A subscriber
   * whose position is older than the retained feed gets one RESET first (drop every cache).
   */
  subscribe(afterSequence: number, signal: AbortSignal): AsyncIterable<InvalidationEvent>;
}

export interface InvalidationHubOptions {
  database: Database;
  store: TokenStore;
  logger: Logger;
  /** Called once per event, before subscribers hear it: drop the replica's own caches here. */
  onEvent(event: InvalidationEvent): void;
  /** Safety net for missed notifications (a dropped LISTEN connection): poll the feed this often. */
  pollMs?: number;
  /** How often absolute token expiries are turned into TOKEN_EXPIRED events. */
  expiryScanMs?: number;
  /** What time it is (libs/clock). */
  clock?: Clock;
}

/**
 * The revocation feed of one authz replica: Postgres NOTIFY (sent in the writing transaction)
 * wakes every replica, which clears its caches and pushes the event to its WatchInvalidations
 * subscribers. A periodic poll of `authz.invalidations` catches anything a dropped connection missed.
 */
export function createInvalidationHub(options: InvalidationHubOptions): InvalidationHub {
  const { store, logger } = options;
  const clock = options.clock ?? systemClock;
  const now = () => clock.nowMs();
  const subscribers = new Set<(event: InvalidationEvent) => void>();
  const wakers = new Set<() => void>();
  let stopping = false;
  const seen = new Set<number>();
  const seenOrder: number[] = [];
  let lastSequence = 0;
  let unlisten: (() => Promise<void>) | undefined;
  let timers: NodeJS.Timeout[] = [];

  function ingest(event: InvalidationEvent): void {
    if (seen.has(event.sequence)) return;
    seen.add(event.sequence);
    seenOrder.push(event.sequence);
    if (seenOrder.length > 10_000) seen.delete(seenOrder.shift()!);
    if (event.sequence > lastSequence) lastSequence = event.sequence;
    try {
      options.onEvent(event);
    } catch (error) {
      logger.error({ err: error }, 'invalidation handler failed');
    }
    for (const deliver of subscribers) deliver(event);
  }

  async function poll(): Promise<void> {
    try {
      for (const event of await store.invalidationsSince(lastSequence, 1_000)) ingest(event);
    } catch (error) {
      logger.warn({ err: error }, 'invalidation poll failed; retrying');
    }
  }

  return {
    async start() {
      lastSequence = await store.latestInvalidationSequence();
      unlisten = await options.database.listen(INVALIDATION_CHANNEL, (payload) => {
        try {
          const e = JSON.parse(payload) as InvalidationEvent;
          ingest({ sequence: Number(e.sequence), kind: e.kind, tokenId: e.tokenId ?? undefined, accountId: e.accountId ?? undefined, grantId: e.grantId ?? undefined });
        } catch (error) {
          logger.warn({ err: error }, 'unreadable invalidation notification');
        }
      });
      const pollTimer = setInterval(() => void poll(), options.pollMs ?? 2_000);
      const expiryTimer = setInterval(() => {
        store.recordExpiries(now()).catch((error: unknown) => logger.warn({ err: error }, 'expiry scan failed'));
      }, options.expiryScanMs ?? 1_000);
      pollTimer.unref();
      expiryTimer.unref();
      timers = [pollTimer, expiryTimer];
    },
    async stop() {
      // End every open stream so the gRPC server can shut down without waiting out its grace.
      stopping = true;
      for (const wakeUp of wakers) wakeUp();
      timers.forEach(clearInterval);
      timers = [];
      await unlisten?.().catch(() => {});
      unlisten = undefined;
    },
    subscribe(afterSequence, signal) {
      const queue: InvalidationEvent[] = [];
      let wake: (() => void) | undefined;
      const deliver = (event: InvalidationEvent) => {
        queue.push(event);
        wake?.();
      };
      subscribers.add(deliver);
      const onAbort = () => wake?.();
      signal.addEventListener('abort', onAbort, { once: true });
      wakers.add(onAbort);
      return (async function* () {
        try {
          const delivered = new Set<number>();
          if (afterSequence > 0) {
            const oldest = await store.oldestInvalidationSequence();
            if (oldest !== undefined && oldest > afterSequence + 1) {
              yield { sequence: oldest - 1, kind: 'RESET', tokenId: undefined, accountId: undefined } satisfies InvalidationEvent;
            }
            let cursor = afterSequence;
            for (;;) {
              const batch = await store.invalidationsSince(cursor, 1_000);
              for (const event of batch) {
                delivered.add(event.sequence);
                yield event;
              }
              if (batch.length < 1_000) break;
              cursor = batch.at(-1)!.sequence;
            }
          }
          while (!signal.aborted && !stopping) {
            const event = queue.shift();
            if (event) {
              if (!delivered.has(event.sequence)) yield event;
              continue;
            }
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          subscribers.delete(deliver);
          wakers.delete(onAbort);
          signal.removeEventListener('abort', onAbort);
        }
      })();
    },
  };
}
