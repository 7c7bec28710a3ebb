import { invalidArgument } from '#libs/errors/index.ts';
import { isId } from '#libs/crypto/ids.ts';
import { requireService } from '#libs/admin-auth/admin-guard.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import { RateLimitResponse_Code, RateLimitResponse_RateLimit_Unit, type RateLimitService } from '#gen/envoy/service/ratelimit/v3/rls_pb.js';
import type { QuotaCore } from '../quota-core.ts';
import type { RateLimitForwarder } from '../clients/ratelimit-forwarder.ts';
import { isForwarded, type ReplicaOptions } from '../clients/shard-router.ts';

const MAX_HITS = BigInt(Number.MAX_SAFE_INTEGER);

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
 * Bad input (no `account` entry, not an account id, an unknown account, an unknown metric, hits
 * below 1) is INVALID_ARGUMENT naming the descriptor's field. Envoy presents a service credential
 * minted for `envoy` as `authorization` initial metadata in its grpc_service config
 * (services/quota/README.md, "Envoy rate limit"); without one the call is UNAUTHENTICATED.
 */
export function envoyRateLimitHandlers(core: QuotaCore, secretKey: Uint8Array, replicas?: RateLimitForwarder, replicaSet?: ReplicaOptions): ServiceImpl<typeof RateLimitService> {
  return {
    async shouldRateLimit(req, ctx) {
      requireService(secretKey, ctx);
      if (req.descriptors.length === 0 || req.descriptors.length > 64) throw invalidArgument('descriptors', 'between 1 and 64 descriptors');
      // Validated before any lookup, so a bad request names its first bad field.
      const named = req.descriptors.map((d, i) => {
        if (d.entries.length > 32) throw invalidArgument(`descriptors[${i}].entries`, 'at most 32 entries');
        const entry = (key: string) => d.entries.find((e) => e.key === key)?.value;
        const accountId = entry('account');
        if (!accountId) throw invalidArgument(`descriptors[${i}].entries`, 'an entry with key "account" is required');
        if (!isId(accountId, 'acc')) throw invalidArgument(`descriptors[${i}].entries.account`, 'must be an account id (acc_…)');
        // Request hits_addend 0 means 1 (proto3 cannot tell unset from 0); a descriptor's is a wrapper, so 0 is 0.
        const hits = d.hitsAddend ?? BigInt(req.hitsAddend || 1);
        // Counted as exact integers: past 2^53 − 1 a count could not be kept exactly, and no limit is
        // that large (a hit that big is an error in the caller, not a request to refuse quietly).
        const field = d.hitsAddend === undefined ? 'hits_addend' : `descriptors[${i}].hits_addend`;
        if (hits < 1n) throw invalidArgument(field, 'must be ≥ 1');
        if (hits > MAX_HITS) throw invalidArgument(field, `must be at most ${MAX_HITS} (2^53 − 1)`);
        return { accountId, metric: entry('metric') ?? 'api.requests', amount: Number(hits) };
      });
      const inputs = await Promise.all(
        named.map(async (n, i) => {
          try {
            return { path: await core.levels(n.accountId), metric: n.metric, amount: n.amount };
          } catch (error) {
            if ((error as { code?: string }).code === 'NOT_FOUND') throw invalidArgument(`descriptors[${i}].entries.account`, 'no such account');
            throw error;
          }
        }),
      );
      if (!isForwarded(ctx, replicaSet) && replicas) {
        // Several replicas: the owner of the account trees decides (all or nothing needs one owner).
        const owners = new Set(inputs.map((input) => replicas.ownerOf(input.path[0]!.accountId)));
        if (owners.size > 1) throw invalidArgument('descriptors', 'name account trees held by different quota replicas: send them in separate requests');
        const [owner] = owners;
        if (owner !== replicas.self) return replicas.shouldRateLimit(owner!, req);
      }
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
