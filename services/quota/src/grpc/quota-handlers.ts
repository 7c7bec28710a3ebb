import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { invalidArgument } from '#libs/errors/index.ts';
import { requireService, type RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import type { CallContext, ServiceImpl } from '#libs/rpc/index.ts';
import { isForwarded, type ReplicaOptions, type ShardRouter } from '../clients/shard-router.ts';
import { LimitEventKind, LimitKind as ProtoKind, Period as ProtoPeriod, type Limit as ProtoLimit, type QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import type { EffectiveLimit, Limit } from '../domain/limits.ts';
import type { LimitKind, Period } from '../domain/metrics.ts';
import type { QuotaCore } from '../quota-core.ts';

const kinds: [LimitKind, ProtoKind][] = [['rate', ProtoKind.RATE], ['volume', ProtoKind.VOLUME], ['concurrency', ProtoKind.CONCURRENCY], ['count', ProtoKind.COUNT]];
const periods: [Period, ProtoPeriod][] = [['second', ProtoPeriod.SECOND], ['minute', ProtoPeriod.MINUTE], ['day', ProtoPeriod.DAY], ['month', ProtoPeriod.MONTH]];

function limitFromProto(l: ProtoLimit, at: string): Limit {
  const kind = kinds.find(([, p]) => p === l.kind)?.[0];
  if (!kind) throw invalidArgument(`${at}.kind`, 'must be LIMIT_KIND_RATE, _VOLUME, _CONCURRENCY or _COUNT');
  const period = l.period === ProtoPeriod.UNSPECIFIED ? undefined : periods.find(([, p]) => p === l.period)?.[0];
  return { metric: l.metric, kind, value: Number(l.value), period, burst: l.burst > 0n ? Number(l.burst) : undefined, shadow: l.shadow };
}

const effectiveToProto = (e: EffectiveLimit) => ({
  limit: {
    metric: e.limit.metric,
    kind: kinds.find(([k]) => k === e.limit.kind)![1],
    value: BigInt(e.limit.value),
    period: e.limit.period ? periods.find(([p]) => p === e.limit.period)![1] : ProtoPeriod.UNSPECIFIED,
    burst: BigInt(e.limit.burst ?? 0),
    shadow: e.limit.shadow,
  },
  sourceAccountId: e.sourceAccountId,
});

const required = (v: string, field: string) => {
  if (!v) throw invalidArgument(field, 'is required');
  if (v.length > 128) throw invalidArgument(field, 'must be at most 128 characters');
  return v;
};
const positive = (v: bigint, field: string) => {
  if (v < 1n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(field, 'must be a whole number ≥ 1');
  return Number(v);
};

/** gRPC ⇄ quota core. Limits: account admins. Consume/leases/slots/usage reports: mesh services. */
export function quotaHandlers(core: QuotaCore, requireAdmin: RequireAdmin, secretKey: Uint8Array, router?: ShardRouter, replicas?: ReplicaOptions): Partial<ServiceImpl<typeof QuotaService>> {
  const forwarded = (ctx: CallContext) => isForwarded(ctx, replicas);
  /** The owner replica of this account's tree, when it is another one (and this call was not forwarded already). */
  const ownerElsewhere = async (accountId: string, ctx: CallContext): Promise<number | undefined> => {
    if (forwarded(ctx) || !router) return undefined;
    const path = await core.levels(accountId);
    const owner = router.ownerOf(path[0]!.accountId);
    return owner === router.self ? undefined : owner;
  };
  const slotOwner = (slotId: string): number | undefined => {
    const m = /^r(\d+)\./.exec(slotId);
    return m ? Number(m[1]) : undefined;
  };
  return {
    async setLimits(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_limits');
      if (req.limits.length === 0 || req.limits.length > 100) throw invalidArgument('limits', 'between 1 and 100 limits');
      const effective = await core.setLimits(req.accountId, req.limits.map((l, i) => limitFromProto(l, `limits[${i}]`)));
      return { limits: [...effective.values()].map(effectiveToProto) };
    },
    async getLimits(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      return { limits: [...(await core.getLimits(req.accountId)).values()].map(effectiveToProto) };
    },
    async consume(req, ctx) {
      requireService(secretKey, ctx);
      const owner = await ownerElsewhere(required(req.accountId, 'account_id'), ctx);
      if (owner !== undefined) return router!.peer(owner).consume(req);
      const r = core.engine.consume({ path: await core.levels(required(req.accountId, 'account_id')), metric: req.metric, amount: positive(req.amount, 'amount'), idempotencyKey: req.idempotencyKey || undefined });
      return { allowed: r.allowed, remaining: BigInt(r.remaining), resetAfterMs: BigInt(r.resetAfterMs), limit: BigInt(r.limit), limitingAccountId: r.limitingAccountId, shadowed: r.shadowed };
    },
    async lease(req, ctx) {
      requireService(secretKey, ctx);
      const owner = await ownerElsewhere(required(req.accountId, 'account_id'), ctx);
      if (owner !== undefined) return router!.peer(owner).lease(req);
      const r = core.engine.lease({ path: await core.levels(required(req.accountId, 'account_id')), metric: req.metric, want: positive(req.want, 'want'), edgeId: required(req.edgeId, 'edge_id') });
      if (r.volumeExhausted) core.emit({ kind: 'volume_exhausted', accountId: req.accountId, metric: req.metric });
      return { granted: BigInt(r.granted), validForMs: 10_000n, refillBelow: BigInt(r.refillBelow), limitingAccountId: r.limitingAccountId, retryAfterMs: BigInt(Number.isFinite(r.retryAfterMs) ? r.retryAfterMs : 60_000), volumeExhausted: r.volumeExhausted };
    },
    async acquireSlot(req, ctx) {
      requireService(secretKey, ctx);
      const owner = await ownerElsewhere(required(req.accountId, 'account_id'), ctx);
      if (owner !== undefined) return router!.peer(owner).acquireSlot(req);
      // The owner's index leads the slot id, so renewals and releases find their way back.
      const slotId = `r${router?.self ?? 0}.${required(req.holderId, 'holder_id')}:${req.metric}`;
      const ttlMs = req.ttlMs === 0n ? 30_000 : Math.min(Number(req.ttlMs), 3_600_000);
      const r = core.engine.acquireSlot({ path: await core.levels(required(req.accountId, 'account_id')), metric: req.metric, slotId, ttlMs });
      return { allowed: r.allowed, slotId: r.allowed ? slotId : '', limitingAccountId: r.limitingAccountId, expiresInMs: BigInt(ttlMs) };
    },
    async leaseSlots(req, ctx) {
      requireService(secretKey, ctx);
      const owner = await ownerElsewhere(required(req.accountId, 'account_id'), ctx);
      if (owner !== undefined) return router!.peer(owner).leaseSlots(req);
      // One block per (holder, metric) on the owner replica: the id is the holder's, so a retried or
      // repeated resize replaces the block instead of adding another.
      const slotId = `r${router?.self ?? 0}.${required(req.holderId, 'holder_id')}:${req.metric}`;
      const ttlMs = req.ttlMs === 0n ? 30_000 : Math.min(Number(req.ttlMs), 3_600_000);
      const count = (v: bigint, field: string) => {
        if (v > 1_000_000_000n) throw invalidArgument(field, 'must be at most 1000000000');
        return Number(v);
      };
      const r = core.engine.leaseSlots({ path: await core.levels(req.accountId), metric: req.metric, slotId, held: count(req.held, 'held'), want: count(req.want, 'want'), ttlMs });
      return { granted: BigInt(r.granted), slotId: r.granted > 0 ? slotId : '', limitingAccountId: r.limitingAccountId, expiresInMs: BigInt(ttlMs), limited: r.limited };
    },
    async renewSlots(req, ctx) {
      requireService(secretKey, ctx);
      const ttlMs = req.ttlMs === 0n ? 30_000 : Math.min(Number(req.ttlMs), 3_600_000);
      const isForwardedCall = forwarded(ctx);
      const mine: string[] = [];
      const expired: string[] = [];
      const elsewhere = new Map<number, string[]>();
      for (const id of req.slotIds) {
        const owner = slotOwner(id);
        if (!router || isForwardedCall || owner === undefined || owner === router.self) mine.push(id);
        else elsewhere.set(owner, [...(elsewhere.get(owner) ?? []), id]);
      }
      expired.push(...core.engine.renewSlots(mine, ttlMs));
      for (const [owner, ids] of elsewhere) expired.push(...(await router!.peer(owner).renewSlots({ slotIds: ids, ttlMs: req.ttlMs })).expiredSlotIds);
      return { expiredSlotIds: expired };
    },
    async releaseSlot(req, ctx) {
      requireService(secretKey, ctx);
      const owner = slotOwner(required(req.slotId, 'slot_id'));
      if (!forwarded(ctx) && router && owner !== undefined && owner !== router.self) return router.peer(owner).releaseSlot(req);
      core.engine.releaseSlot(req.slotId);
      return {};
    },
    async reportUsage(req, ctx) {
      requireService(secretKey, ctx);
      if (req.items.length > 10_000) throw invalidArgument('items', 'at most 10000 per batch');
      return core.reportUsage(req.batchId, req.edgeId, req.items.map((i) => ({ accountId: i.accountId, metric: i.metric, amount: Number(i.amount) })));
    },
    async getUsage(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const toMs = req.to ? timestampMs(req.to) : Date.now();
      const fromMs = req.from ? timestampMs(req.from) : toMs - 3_600_000;
      const stepMs = (req.stepSeconds === 0 ? 60 : req.stepSeconds) * 1000;
      const metrics = req.metric ? [req.metric] : ['mqtt.messages.in', 'mqtt.bytes.in', 'api.requests'];
      const series = [];
      for (const metric of metrics) {
        const s = await core.usageSeries(req.accountId, metric, fromMs, toMs, stepMs, req.subtree);
        series.push({ metric, total: BigInt(s.total), points: s.series.map((p) => ({ at: timestampFromMs(p.atMs), amount: BigInt(p.amount) })) });
      }
      return { series };
    },
    async *watchLimits(_req, ctx) {
      requireService(secretKey, ctx);
      const queue: { kind: 'changed' | 'volume_exhausted'; accountId: string; metric: string }[] = [];
      let wake: (() => void) | undefined;
      const off = core.onEvent((e) => {
        queue.push(e);
        wake?.();
      });
      ctx.signal.addEventListener('abort', () => wake?.(), { once: true });
      let sequence = 0n;
      try {
        while (!ctx.signal.aborted) {
          const e = queue.shift();
          if (!e) {
            await new Promise<void>((r) => (wake = r));
            continue;
          }
          yield { kind: e.kind === 'changed' ? LimitEventKind.CHANGED : LimitEventKind.VOLUME_EXHAUSTED, accountId: e.accountId, metric: e.metric, sequence: ++sequence };
        }
      } finally {
        off();
      }
    },
  };
}
