import type { ServiceClient } from '#libs/rpc/index.ts';
import type { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import type { RetainedLimits } from '../domain/ports.ts';

export interface QuotaRetainedLimitsOptions {
  quota: ServiceClient<typeof QuotaService>;
  /** Quota unreachable: the edge's own cap applies alone, and quota is asked again after this. Default 5 s. */
  retryAfterMs?: number;
  onUnavailable?: () => void;
  now?: () => number;
}

const METRIC = 'mqtt.retained';
/** Accounts remembered at most; past it the memory is cleared (each account asks again once). */
const MAX_ACCOUNTS = 50_000;

/**
 * Each account's `mqtt.retained` limit as quota's GetLimits reports it — the effective value for
 * the account (its own, or the nearest ancestor's; a child can never hold more than its parent) —
 * read once per account and kept until quota's WatchLimits says a limit changed (`forgetAll`).
 * The edge applies it to the retained topics the account holds (broker-core.ts `retainedCap`).
 */
export function createQuotaRetainedLimits(options: QuotaRetainedLimitsOptions): RetainedLimits & { forgetAll(): void } {
  const now = options.now ?? Date.now;
  const retryAfterMs = options.retryAfterMs ?? 5_000;
  /** `retryAtMs` set: quota did not answer; no limit until then. */
  const known = new Map<string, { limit: number | null; retryAtMs?: number }>();
  const loading = new Map<string, Promise<void>>();
  // A change seen while a GetLimits is in flight makes its answer stale: it is not kept.
  let generation = 0;

  async function read(account: string): Promise<void> {
    const asked = generation;
    let entry: { limit: number | null; retryAtMs?: number };
    try {
      const res = await options.quota.getLimits({ accountId: account }, { deadlineMs: 1_000 });
      let limit: number | null = null;
      for (const l of res.limits) {
        if (l.limit?.metric !== METRIC || l.limit.value < 0n) continue;
        const value = Number(l.limit.value);
        if (limit === null || value < limit) limit = value;
      }
      entry = { limit };
    } catch {
      options.onUnavailable?.();
      entry = { limit: null, retryAtMs: now() + retryAfterMs };
    }
    if (asked !== generation) return;
    if (known.size >= MAX_ACCOUNTS) known.clear();
    known.set(account, entry);
  }

  return {
    limitFor(account) {
      const entry = known.get(account);
      if (entry === undefined) return undefined;
      if (entry.retryAtMs !== undefined && now() >= entry.retryAtMs) {
        known.delete(account);
        return undefined;
      }
      return entry.limit;
    },
    load(account) {
      let pending = loading.get(account);
      if (!pending) {
        pending = read(account).finally(() => loading.delete(account));
        loading.set(account, pending);
      }
      return pending;
    },
    forgetAll() {
      generation++;
      known.clear();
    },
  };
}
