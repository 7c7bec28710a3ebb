import type { ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { systemClock, type Clock } from '#libs/clock/index.ts';
import type { QuotaMeter, SpendResult } from '../domain/ports.ts';
import { createConnectionSlotBlocks } from './connection-slot-blocks.ts';

export interface LeaseQuotaMeterOptions {
  quota: ServiceClient<typeof QuotaService>;
  edgeId: string;
  logger: Logger;
  /** Quota unreachable and no lease left: admit (true) or refuse (false). Counted either way. */
  failOpen: boolean;
  onUnavailable?: () => void;
  /** The edge's clock (the broker's `Clock`): retry times and throttle waits are read from it, never from Date.now directly. */
  clock?: Clock;
  /**
   * Messages (and 1,000× bytes) asked for per lease. Quota grants less where a limit is near (its
   * fair share); an unlimited account gets it all, so at 100k msgs/s an edge asks ~5 times a second.
   */
  leaseSize?: number;
  reportEveryMs?: number;
  /** Connection slot blocks expire on quota unless renewed within this (the edge died). */
  slotTtlMs?: number;
}

interface Budget {
  remaining: number;
  refillBelow: number;
  inflight: Promise<void> | undefined;
  retryAtMs: number;
  exhausted: boolean;
  unavailable: boolean;
}

const OK: SpendResult = { kind: 'ok' };

/**
 * The broker's QuotaMeter over the quota service: every inbound message and byte is spent from a
 * local lease with no round trip; a lease is refilled in the background before it runs out; usage
 * goes to quota in batches (idempotent batch ids, retried until taken); connection slots come
 * from a block per account leased the same way (connection-slot-blocks.ts), renewed while held,
 * so a crashed edge leaks nothing.
 */
export function createLeaseQuotaMeter(options: LeaseQuotaMeterOptions): QuotaMeter & { forget(account: string): void; forgetAll(): void; stop(): Promise<void> } {
  const leaseSize = options.leaseSize ?? 20_000;
  const clock = options.clock ?? systemClock;
  // Hot path: one Map lookup per message (by account), no string building, no allocation.
  const accounts = new Map<string, { messages: Budget; bytes: Budget; usedMessages: number; usedBytes: number }>();
  const pendingBatches: { batchId: string; items: { accountId: string; metric: string; amount: bigint }[] }[] = [];
  let batchSeq = 0;

  const newBudget = (): Budget => ({ remaining: 0, refillBelow: 0, inflight: undefined, retryAtMs: 0, exhausted: false, unavailable: false });
  const accountOf = (account: string) => {
    let a = accounts.get(account);
    if (!a) accounts.set(account, (a = { messages: newBudget(), bytes: newBudget(), usedMessages: 0, usedBytes: 0 }));
    return a;
  };

  function refill(account: string, metric: string, b: Budget, want: number): void {
    if (b.inflight || clock.nowMs() < b.retryAtMs) return;
    b.inflight = options.quota
      .lease({ accountId: account, metric, want: BigInt(want), edgeId: options.edgeId }, { deadlineMs: 500 })
      .then((res) => {
        b.unavailable = false;
        b.remaining += Number(res.granted);
        b.refillBelow = Number(res.refillBelow);
        b.exhausted = res.volumeExhausted;
        if (res.granted === 0n) b.retryAtMs = clock.nowMs() + Math.max(10, Math.min(Number(res.retryAfterMs), 60_000));
      })
      .catch((error: unknown) => {
        b.unavailable = true;
        b.retryAtMs = clock.nowMs() + 1_000;
        options.onUnavailable?.();
        options.logger.warn({ err: error }, 'quota lease failed');
      })
      .finally(() => {
        b.inflight = undefined;
      });
  }

  function spend(b: Budget, account: string, metric: string, amount: number, want: number): SpendResult {
    if (b.remaining >= amount) {
      b.remaining -= amount;
      if (b.remaining < b.refillBelow) refill(account, metric, b, want);
      return OK;
    }
    if (b.exhausted && !b.inflight) {
      refill(account, metric, b, want);
      return { kind: 'exhausted', cutOff: true };
    }
    if (b.unavailable) {
      refill(account, metric, b, want);
      return options.failOpen ? OK : { kind: 'throttled', retryAfterMs: 1_000 };
    }
    refill(account, metric, b, Math.max(want, amount));
    return { kind: 'throttled', retryAfterMs: Math.max(5, b.retryAtMs - clock.nowMs()) };
  }

  async function report(): Promise<void> {
    const items: { accountId: string; metric: string; amount: bigint }[] = [];
    for (const [accountId, a] of accounts) {
      if (a.usedMessages) items.push({ accountId, metric: 'mqtt.messages.in', amount: BigInt(a.usedMessages) });
      if (a.usedBytes) items.push({ accountId, metric: 'mqtt.bytes.in', amount: BigInt(a.usedBytes) });
      a.usedMessages = 0;
      a.usedBytes = 0;
    }
    if (items.length) pendingBatches.push({ batchId: `${options.edgeId}-${clock.nowMs().toString(36)}-${batchSeq++}`, items });
    while (pendingBatches.length) {
      try {
        await options.quota.reportUsage({ batchId: pendingBatches[0]!.batchId, edgeId: options.edgeId, items: pendingBatches[0]!.items });
        pendingBatches.shift();
      } catch {
        return; // kept; the same batch id is sent again next time, so it is counted once
      }
    }
  }

  const reportTimer = setInterval(() => void report(), options.reportEveryMs ?? 1_000);
  reportTimer.unref();
  const connections = createConnectionSlotBlocks({
    quota: options.quota,
    edgeId: options.edgeId,
    logger: options.logger,
    failOpen: options.failOpen,
    onUnavailable: options.onUnavailable,
    ttlMs: options.slotTtlMs,
    nowMs: () => clock.nowMs(),
  });

  return {
    acquireConnection: (account) => connections.acquire(account),
    releaseConnection: (account) => connections.release(account),
    spendInbound(account, messages, bytes) {
      const a = accountOf(account);
      const m = spend(a.messages, account, 'mqtt.messages.in', messages, leaseSize);
      if (m.kind !== 'ok') return m;
      const b = spend(a.bytes, account, 'mqtt.bytes.in', bytes, leaseSize * 1_000);
      if (b.kind !== 'ok') {
        a.messages.remaining += messages; // give the message back: it was not admitted
        return b;
      }
      a.usedMessages += messages;
      a.usedBytes += bytes;
      return OK;
    },
    /** The account's limits changed (quota's WatchLimits): drop its local budgets; the next message leases anew. */
    forget(account: string) {
      connections.forget(account);
      const a = accounts.get(account);
      if (!a) return;
      a.messages = newBudget();
      a.bytes = newBudget();
    },
    /** Limits changed on some account: every budget and connection block is asked for again. */
    forgetAll() {
      connections.forget();
      for (const a of accounts.values()) {
        a.messages = newBudget();
        a.bytes = newBudget();
      }
    },
    async stop() {
      clearInterval(reportTimer);
      await Promise.all([report(), connections.stop()]);
    },
  };
}
