import type { ServiceClient } from '#libs/rpc/index.ts';
import { LimitKind, type QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';

export interface CountLimit {
  accountId: string;
  value: number;
  shadow: boolean;
}

/**
 * The count limits (`tokens`, `subaccounts`, `users`) set on each account of a path (root first):
 * each level's own limit holds over that level's whole subtree, so every one is returned, not only
 * the nearest. Services that create those things check them on create.
 */
export async function countLimitsOnPath(quota: ServiceClient<typeof QuotaService>, pathIds: readonly string[], metric: 'tokens' | 'subaccounts' | 'users'): Promise<CountLimit[]> {
  const out: CountLimit[] = [];
  for (const accountId of pathIds) {
    const res = await quota.getLimits({ accountId });
    for (const l of res.limits) {
      if (l.sourceAccountId === accountId && l.limit?.metric === metric && l.limit.kind === LimitKind.COUNT && l.limit.value >= 0n) {
        out.push({ accountId, value: Number(l.limit.value), shadow: l.limit.shadow });
      }
    }
  }
  return out;
}
