import { invalidArgument } from '#libs/errors/index.ts';
import { requireService } from '#libs/admin-auth/admin-guard.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import { RateLimitResponse_Code, RateLimitResponse_RateLimit_Unit, type RateLimitService } from '#gen/envoy/service/ratelimit/v3/rls_pb.js';
import type { QuotaCore } from '../quota-core.ts';

const units: Record<string, RateLimitResponse_RateLimit_Unit> = {
  second: RateLimitResponse_RateLimit_Unit.SECOND,
  minute: RateLimitResponse_RateLimit_Unit.MINUTE,
  day: RateLimitResponse_RateLimit_Unit.DAY,
  month: RateLimitResponse_RateLimit_Unit.MONTH,
};

/**
 * Envoy's global rate limit service over the quota engine. Mapping: each descriptor names the
 * account with an entry `account` (required) and the metric with `metric` (default
 * `api.requests`); hits are the descriptor's `hits_addend`, else the request's, else 1. All
 * descriptors of one request are decided together: when one is over its limit, nothing is counted.
 * Envoy presents a service credential (`tollgate service-credential envoy`) as `authorization`
 * metadata in its grpc_service config.
 */
export function envoyRateLimitHandlers(core: QuotaCore, secretKey: Uint8Array): ServiceImpl<typeof RateLimitService> {
  return {
    async shouldRateLimit(req, ctx) {
      requireService(secretKey, ctx);
      if (req.descriptors.length === 0 || req.descriptors.length > 64) throw invalidArgument('descriptors', 'between 1 and 64 descriptors');
      const inputs = await Promise.all(
        req.descriptors.map(async (d, i) => {
          const entry = (key: string) => d.entries.find((e) => e.key === key)?.value;
          const accountId = entry('account');
          if (!accountId) throw invalidArgument(`descriptors[${i}].entries`, 'an entry with key "account" is required');
          const hits = d.hitsAddend ?? BigInt(req.hitsAddend || 1);
          if (hits < 1n || hits > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(`descriptors[${i}].hits_addend`, 'must be ≥ 1');
          return { path: await core.levels(accountId), metric: entry('metric') ?? 'api.requests', amount: Number(hits) };
        }),
      );
      const results = core.engine.consumeAll(inputs);
      const statuses = results.map((r, i) => {
        const limit = inputs[i]!.path.flatMap((l) => l.limits).find((l) => l.metric === inputs[i]!.metric && l.value === r.limit && (l.kind === 'rate' || l.kind === 'volume'));
        return {
          code: r.allowed ? RateLimitResponse_Code.OK : RateLimitResponse_Code.OVER_LIMIT,
          ...(r.limit >= 0 ? { currentLimit: { name: `${inputs[i]!.metric}@${r.limitingAccountId}`, requestsPerUnit: Math.min(r.limit, 0xffffffff), unit: units[limit?.period ?? ''] ?? RateLimitResponse_RateLimit_Unit.UNKNOWN } } : {}),
          limitRemaining: Math.max(0, Math.min(r.remaining, 0xffffffff)),
          durationUntilReset: { seconds: BigInt(Math.floor(r.resetAfterMs / 1000)), nanos: (r.resetAfterMs % 1000) * 1_000_000 },
        };
      });
      return { overallCode: statuses.every((s) => s.code === RateLimitResponse_Code.OK) ? RateLimitResponse_Code.OK : RateLimitResponse_Code.OVER_LIMIT, statuses };
    },
  };
}
