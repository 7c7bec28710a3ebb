import type { ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import type { ConnectionSlot } from '../domain/ports.ts';

export interface ConnectionSlotBlocksOptions {
  quota: Pick<ServiceClient<typeof QuotaService>, 'leaseSlots' | 'renewSlots' | 'releaseSlot'>;
  edgeId: string;
  logger: Logger;
  /** Quota unreachable and the block full: admit (true) or refuse with `unavailable` (false). */
  failOpen: boolean;
  onUnavailable?: (() => void) | undefined;
  /** How long a resize waits for quota before it counts as unavailable (the policy answers then). Default 500 ms. */
  deadlineMs?: number | undefined;
  /** A block not renewed within this expires on quota (the edge died). Renewed every third of it. */
  ttlMs?: number | undefined;
  /** Period of the housekeeping that gives back unused slots and re-registers expired blocks. */
  tickMs?: number | undefined;
  /** An account with no connection for this long gives its whole block back. */
  idleReleaseMs?: number | undefined;
  nowMs?: (() => number) | undefined;
}

/**
 * One block of `mqtt.connections` slots per account on this edge. `reserved` is what quota holds
 * for us at every level of the account's tree; `capacity` is what we admit locally (≤ reserved,
 * lowered at once when limits change); `used` is open connections — above capacity only after a
 * fail-open admission while quota was unreachable (registered as held at the next resize).
 */
interface Block {
  readonly account: string;
  used: number;
  capacity: number;
  reserved: number;
  /** A concurrency limit applies somewhere on the path (quota says so with each answer). */
  limited: boolean;
  slotId: string;
  pending: Promise<Resize> | undefined;
  /** Bumped by a limit change: an answer to a request sent before it is not trusted. */
  epoch: number;
  idleSinceMs: number;
  /** Quota did not answer: no new request before this (the policy answers meanwhile). */
  retryAtMs: number;
}

/** `full`: quota granted less than asked (the tree is full); `stale`: limits changed meanwhile. */
type Resize = 'granted' | 'full' | 'stale' | 'unavailable';

const GRANTED: ConnectionSlot = { granted: true };
const FULL: ConnectionSlot = { granted: false, reason: 'quota_exceeded' };
const UNAVAILABLE: ConnectionSlot = { granted: false, reason: 'unavailable' };
const METRIC = 'mqtt.connections';

/**
 * Connection slots leased to the edge in blocks, as message budgets are: a CONNECT takes a slot
 * from the account's local block and a DISCONNECT gives it back with no round trip; the block is
 * resized on quota (`LeaseSlots`, reserved at every level of the tree) only when it is full, when
 * much of it goes unused under a limit, or when limits change. Blocks are renewed in one
 * `RenewSlots` call and expire on quota if the edge dies. Trade-off: a limit is never exceeded
 * across edges (blocks are reservations), but the unspent part of one edge's block is refused to
 * the others until it is given back (at the next tick when a limit applies; it is at most a fair
 * share — a quarter of the headroom — per resize).
 */
export function createConnectionSlotBlocks(options: ConnectionSlotBlocksOptions) {
  const ttlMs = options.ttlMs ?? 60_000;
  const idleReleaseMs = options.idleReleaseMs ?? 60_000;
  const now = options.nowMs ?? Date.now;
  const deadlineMs = options.deadlineMs ?? 500;
  const blocks = new Map<string, Block>();

  /**
   * How many more slots to ask for: doubling when no limit applies; under a limit a quarter of what
   * is in use (quota grants at most its fair share anyway), and no more than twice that is kept
   * unspent, so other edges are not refused for long while this one holds free slots.
   */
  const step = (b: Block) => (b.limited ? Math.max(1, Math.ceil(b.used / 4)) : Math.max(64, b.used));

  function blockOf(account: string): Block {
    let b = blocks.get(account);
    if (!b) {
      b = { account, used: 0, capacity: 0, reserved: 0, limited: false, slotId: '', pending: undefined, epoch: 0, idleSinceMs: now(), retryAtMs: 0 };
      blocks.set(account, b);
    }
    return b;
  }

  /** Sets the block on quota to `target` slots: what is in use now is kept, the rest is asked for. */
  function resize(b: Block, target: number): Promise<Resize> {
    const held = b.used;
    const want = Math.max(0, target - held);
    const epoch = b.epoch;
    // Giving back: stop admitting beyond the new size right away.
    if (target < b.capacity) b.capacity = Math.max(target, 0);
    const p = options.quota
      .leaseSlots({ accountId: b.account, metric: METRIC, holderId: `${options.edgeId}/${b.account}`, held: BigInt(held), want: BigInt(want), ttlMs: BigInt(ttlMs) }, { deadlineMs })
      .then(
        (res): Resize => {
          const granted = Number(res.granted);
          b.reserved = granted;
          b.slotId = res.slotId;
          b.limited = res.limited;
          if (epoch !== b.epoch) {
            b.capacity = Math.min(granted, b.used);
            return 'stale';
          }
          b.capacity = granted;
          return granted >= held + want ? 'granted' : 'full';
        },
        (error: unknown): Resize => {
          b.retryAtMs = now() + 1_000;
          options.logger.warn({ err: error }, 'quota slot lease failed');
          return 'unavailable';
        },
      )
      .then((outcome) => {
        b.pending = undefined;
        return outcome;
      });
    b.pending = p;
    return p;
  }

  async function acquireSlow(b: Block): Promise<ConnectionSlot> {
    for (;;) {
      const outcome = await (b.pending ?? (now() < b.retryAtMs ? 'unavailable' : resize(b, b.used + step(b))));
      if (b.used < b.capacity) {
        b.used++;
        return GRANTED;
      }
      if (outcome === 'unavailable') {
        // Quota unreachable and the last block spent: the written policy decides.
        options.onUnavailable?.();
        if (!options.failOpen) return UNAVAILABLE;
        b.used++;
        return GRANTED;
      }
      if (outcome === 'full') return FULL;
      // 'granted' but taken by connects that were waiting too, or 'stale': ask again.
    }
  }

  /** Housekeeping: gives back what is not needed, re-registers what quota does not hold. */
  function tick(): void {
    const t = now();
    for (const b of blocks.values()) {
      if (b.pending || t < b.retryAtMs) continue;
      // Gone from quota and from use: forget the account (blocks are deleted here only, never
      // while a connect may be waiting on one).
      if (b.used === 0 && b.reserved === 0 && b.capacity === 0) {
        blocks.delete(b.account);
        continue;
      }
      if (b.used > b.reserved) void resize(b, b.used); // fail-open admissions, or an expired block
      else if (b.used === 0 && t - b.idleSinceMs >= idleReleaseMs) void resize(b, 0);
      else if (b.limited && b.capacity - b.used > 2 * step(b)) void resize(b, b.used + step(b));
      else if (b.reserved > b.capacity) void resize(b, b.capacity);
    }
  }

  async function renew(): Promise<void> {
    const held = [...blocks.values()].filter((b) => b.reserved > 0 && !b.pending);
    if (held.length === 0) return;
    try {
      const res = await options.quota.renewSlots({ slotIds: held.map((b) => b.slotId), ttlMs: BigInt(ttlMs) });
      const expired = new Set(res.expiredSlotIds);
      for (const b of held) {
        if (!expired.has(b.slotId)) continue;
        // Quota restarted or we were cut off longer than the TTL: register the block again.
        b.reserved = 0;
        b.slotId = '';
        if (!b.pending) void resize(b, Math.max(b.used, b.capacity));
      }
    } catch {
      options.onUnavailable?.();
    }
  }

  const tickTimer = setInterval(tick, options.tickMs ?? 1_000);
  tickTimer.unref();
  const renewTimer = setInterval(() => void renew(), ttlMs / 3);
  renewTimer.unref();

  return {
    /** Synchronous in the common case: a slot from the local block. */
    acquire(account: string): ConnectionSlot | Promise<ConnectionSlot> {
      const b = blockOf(account);
      if (b.used < b.capacity) {
        b.used++;
        return GRANTED;
      }
      return acquireSlow(b);
    },
    release(account: string): void {
      const b = blocks.get(account);
      if (b === undefined || b.used === 0) return;
      if (--b.used === 0) b.idleSinceMs = now();
    },
    /**
     * Limits changed somewhere over `account` (or anywhere): admit nothing more before quota is
     * asked again. Local only — the next connect resizes the block at the new limits, and the tick
     * gives back what is no longer used (no burst of calls when one limit change drops every block).
     */
    forget(account?: string): void {
      for (const b of account === undefined ? blocks.values() : [blocks.get(account)].filter((x) => x !== undefined)) {
        b.epoch++;
        b.capacity = Math.min(b.capacity, b.used);
      }
    },
    tick,
    renew,
    /** For admin stats and tests: the account's block as this edge sees it. */
    block(account: string): { used: number; capacity: number; reserved: number } | undefined {
      const b = blocks.get(account);
      return b && { used: b.used, capacity: b.capacity, reserved: b.reserved };
    },
    async stop(): Promise<void> {
      clearInterval(tickTimer);
      clearInterval(renewTimer);
      await Promise.all([...blocks.values()].map((b) => b.pending)).catch(() => {});
      await Promise.all([...blocks.values()].filter((b) => b.slotId).map((b) => options.quota.releaseSlot({ slotId: b.slotId }, { deadlineMs: 500 }).catch(() => {})));
      blocks.clear();
    },
  };
}

export type ConnectionSlotBlocks = ReturnType<typeof createConnectionSlotBlocks>;
