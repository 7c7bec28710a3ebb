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
  /**
   * How long a lease (and a connection block) waits for quota before the edge treats quota as
   * unavailable — and, failing open, admits on its own for a second. Default 500 ms.
   */
  leaseDeadlineMs?: number | undefined;
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
  /** The grants `remaining` came from, oldest first, trimmed to those that still cover it ('' ids: unlimited, nothing to give back). */
  leases: { id: string; units: number }[];
  /** Replaced (limits changed, the edge stops): what it holds or is still granted goes back to quota. */
  dropped: boolean;
}

interface PendingReturns {
  account: string;
  metric: string;
  returns: { leaseId: string; units: bigint }[];
  sending: boolean;
}

const OK: SpendResult = { kind: 'ok' };

/**
 * The broker's QuotaMeter over the quota service: every inbound message and byte is spent from a
 * local lease with no round trip; a lease is refilled in the background before it runs out; usage
 * goes to quota in batches (idempotent batch ids, retried until taken); connection slots come
 * from a block per account leased the same way (connection-slot-blocks.ts), renewed while held,
 * so a crashed edge leaks nothing. A budget dropped (limits changed, stop) gives its unspent units
 * back to quota by lease id, so a volume limit of N is N messages whatever the mesh's limit changes.
 */
export function createLeaseQuotaMeter(options: LeaseQuotaMeterOptions): QuotaMeter & { forget(account: string): void; forgetAll(): void; stop(): Promise<void> } {
  const leaseSize = options.leaseSize ?? 20_000;
  const leaseDeadlineMs = options.leaseDeadlineMs ?? 500;
  const clock = options.clock ?? systemClock;
  // Hot path: one Map lookup per message (by account), no string building, no allocation.
  const accounts = new Map<string, { messages: Budget; bytes: Budget; usedMessages: number; usedBytes: number }>();
  const pendingBatches: { batchId: string; items: { accountId: string; metric: string; amount: bigint }[] }[] = [];
  let batchSeq = 0;
  /**
   * Units leased and dropped unspent, by metric and account, until quota has credited them: sent
   * with the account's next lease of that metric (so they are credited before it is decided), and
   * on their own every report tick and at stop. Quota credits each lease id once, so a resend is safe.
   */
  const pendingReturns = new Map<string, PendingReturns>();

  const newBudget = (): Budget => ({ remaining: 0, refillBelow: 0, inflight: undefined, retryAtMs: 0, exhausted: false, unavailable: false, leases: [], dropped: false });
  const accountOf = (account: string) => {
    let a = accounts.get(account);
    if (!a) accounts.set(account, (a = { messages: newBudget(), bytes: newBudget(), usedMessages: 0, usedBytes: 0 }));
    return a;
  };

  const returnKey = (account: string, metric: string) => `${metric}\n${account}`;

  /** Queues `units` of lease `leaseId` to go back to quota. */
  function giveBack(account: string, metric: string, leaseId: string, units: number): void {
    if (!leaseId || units <= 0) return; // an unlimited grant: nothing was counted
    const key = returnKey(account, metric);
    let p = pendingReturns.get(key);
    if (!p) pendingReturns.set(key, (p = { account, metric, returns: [], sending: false }));
    p.returns.push({ leaseId, units: BigInt(units) });
  }

  /** Quota credited these: they are no longer pending. */
  function settled(account: string, metric: string, sent: readonly { leaseId: string; units: bigint }[]): void {
    if (!sent.length) return;
    const key = returnKey(account, metric);
    const p = pendingReturns.get(key);
    if (!p) return;
    p.returns = p.returns.filter((r) => !sent.includes(r));
    if (!p.returns.length && !p.sending) pendingReturns.delete(key);
  }

  /**
   * Replaces a budget: its unspent units go back, newest grant first (a budget can hold the rest of
   * an older grant); a refill still in flight gives its grant back when it lands, and the new budget
   * leases only after it has (so the account's next lease carries that return too).
   */
  function drop(account: string, metric: string, old: Budget): Budget {
    old.dropped = true;
    let left = old.remaining;
    for (let i = old.leases.length - 1; i >= 0 && left > 0; i--) {
      const units = Math.min(left, old.leases[i]!.units);
      left -= units;
      giveBack(account, metric, old.leases[i]!.id, units);
    }
    old.remaining = 0;
    old.leases = [];
    const fresh = newBudget();
    if (old.inflight) {
      const landed: Promise<void> = old.inflight.then(() => {
        if (fresh.inflight === landed) fresh.inflight = undefined;
      });
      fresh.inflight = landed;
    }
    return fresh;
  }

  function refill(account: string, metric: string, b: Budget, want: number): void {
    if (b.inflight || clock.nowMs() < b.retryAtMs) return;
    const returns = pendingReturns.size ? (pendingReturns.get(returnKey(account, metric))?.returns.slice(0, 100) ?? []) : [];
    b.inflight = options.quota
      .lease({ accountId: account, metric, want: BigInt(want), edgeId: options.edgeId, returns }, { deadlineMs: leaseDeadlineMs })
      .then((res) => {
        settled(account, metric, returns);
        if (b.dropped) {
          giveBack(account, metric, res.leaseId, Number(res.granted)); // landed on a budget dropped meanwhile
          return;
        }
        b.unavailable = false;
        const granted = Number(res.granted);
        if (granted > 0) {
          b.remaining += granted;
          b.leases.push({ id: res.leaseId, units: granted });
          let covered = 0;
          let keep = b.leases.length;
          while (keep > 0 && covered < b.remaining) covered += b.leases[--keep]!.units;
          if (keep > 0) b.leases.splice(0, keep);
        }
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

  /** Sends the returns no lease has carried yet, one request per account and metric. */
  async function flushReturns(): Promise<void> {
    const sends: Promise<void>[] = [];
    for (const p of pendingReturns.values()) {
      if (p.sending || !p.returns.length) continue;
      p.sending = true;
      const returns = p.returns.slice(0, 100);
      sends.push(
        options.quota
          .lease({ accountId: p.account, metric: p.metric, want: 0n, edgeId: options.edgeId, returns }, { deadlineMs: leaseDeadlineMs })
          .then(
            () => {
              p.sending = false;
              settled(p.account, p.metric, returns);
            },
            (error: unknown) => {
              p.sending = false; // kept: sent again next tick (quota credits a lease once)
              options.logger.warn({ err: error }, 'quota lease return failed');
            },
          ),
      );
    }
    await Promise.all(sends);
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

  const reportTimer = setInterval(() => {
    void report();
    void flushReturns();
  }, options.reportEveryMs ?? 1_000);
  reportTimer.unref();
  const connections = createConnectionSlotBlocks({
    quota: options.quota,
    edgeId: options.edgeId,
    logger: options.logger,
    failOpen: options.failOpen,
    onUnavailable: options.onUnavailable,
    deadlineMs: leaseDeadlineMs,
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
    /** The account's limits changed (quota's WatchLimits): drop its local budgets (unspent units go back); the next message leases anew. */
    forget(account: string) {
      connections.forget(account);
      const a = accounts.get(account);
      if (!a) return;
      a.messages = drop(account, 'mqtt.messages.in', a.messages);
      a.bytes = drop(account, 'mqtt.bytes.in', a.bytes);
    },
    /** Limits changed on some account: every budget (unspent units go back) and connection block is asked for again. */
    forgetAll() {
      connections.forget();
      for (const [account, a] of accounts) {
        a.messages = drop(account, 'mqtt.messages.in', a.messages);
        a.bytes = drop(account, 'mqtt.bytes.in', a.bytes);
      }
    },
    /** Reports usage, gives back every unspent unit (and grants still in flight), releases connection blocks. */
    async stop() {
      clearInterval(reportTimer);
      const landing: Promise<void>[] = [];
      for (const [account, a] of accounts) {
        if (a.messages.inflight) landing.push(a.messages.inflight);
        if (a.bytes.inflight) landing.push(a.bytes.inflight);
        a.messages = drop(account, 'mqtt.messages.in', a.messages);
        a.bytes = drop(account, 'mqtt.bytes.in', a.bytes);
      }
      await Promise.all(landing);
      await Promise.all([report(), flushReturns(), connections.stop()]);
    },
  };
}
