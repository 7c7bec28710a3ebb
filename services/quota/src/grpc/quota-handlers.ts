import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { invalidArgument } from '#libs/errors/index.ts';
import { requireService, type AdminPrincipal, type RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import { auditActor, type AdminAuditEvent, type AuditSink } from '#libs/audit/audit-sink.ts';
import type { CallContext, ServiceImpl } from '#libs/rpc/index.ts';
import { isForwarded, type ReplicaOptions, type ShardRouter } from '../clients/shard-router.ts';
import { createShardPlacement } from '../shard-placement.ts';
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

/** `limits_set` for the audit log: the metrics as target, each limit as `metric=kind:value[/period][+burst][ shadow]`. */
function limitsSetEvent(admin: AdminPrincipal, accountId: string, limits: Limit[], requestId: string): AdminAuditEvent {
  const clip = (text: string) => (text.length > 256 ? `${text.slice(0, 255)}…` : text);
  const shown = limits.map((l) => `${l.metric}=${l.kind}:${l.value}${l.period ? `/${l.period}` : ''}${l.burst ? `+${l.burst}` : ''}${l.shadow ? ' shadow' : ''}`);
  return { kind: 'limits_set', actor: auditActor(admin), accountId, target: clip(limits.map((l) => l.metric).join(',')), requestId, details: { limits: clip(shown.join(',')), count: String(limits.length) } };
}

/** gRPC ⇄ quota core. Limits: account admins. Consume/leases/slots/usage reports: mesh services. */
export function quotaHandlers(core: QuotaCore, requireAdmin: RequireAdmin, secretKey: Uint8Array, router?: ShardRouter, audit?: AuditSink, replicas?: ReplicaOptions): Partial<ServiceImpl<typeof QuotaService>> {
  const placement = createShardPlacement({ router, levels: core.levels });
  // A call another replica forwarded here (its replica list checked against ours: shard-router.ts).
  const forwarded = (ctx: CallContext) => isForwarded(ctx, replicas);
  return {
    async setLimits(req, ctx) {
      const admin = await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_limits');
      if (req.limits.length === 0 || req.limits.length > 100) throw invalidArgument('limits', 'between 1 and 100 limits');
      const limits = req.limits.map((l, i) => limitFromProto(l, `limits[${i}]`));
      const effective = await core.setLimits(req.accountId, limits);
      audit?.record(limitsSetEvent(admin, req.accountId, limits, ctx.requestId));
      return { limits: [...effective.values()].map(effectiveToProto) };
    },
    async getLimits(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      return { limits: [...(await core.getLimits(req.accountId)).values()].map(effectiveToProto) };
    },
    async consume(req, ctx) {
      requireService(secretKey, ctx);
      const owner = await placement.ownerElsewhere(required(req.accountId, 'account_id'), forwarded(ctx));
      if (owner) return owner.consume(req);
      const r = core.engine.consume({ path: await core.levels(required(req.accountId, 'account_id')), metric: req.metric, amount: positive(req.amount, 'amount'), idempotencyKey: req.idempotencyKey || undefined });
      return { allowed: r.allowed, remaining: BigInt(r.remaining), resetAfterMs: BigInt(r.resetAfterMs), limit: BigInt(r.limit), limitingAccountId: r.limitingAccountId, shadowed: r.shadowed };
    },
    async lease(req, ctx) {
      requireService(secretKey, ctx);
      const owner = await placement.ownerElsewhere(required(req.accountId, 'account_id'), forwarded(ctx));
      if (owner) return owner.lease(req);
      if (req.returns.length > 100) throw invalidArgument('returns', 'at most 100 per request');
      const returns = req.returns.map((r, i) => ({ leaseId: r.leaseId, units: positive(r.units, `returns[${i}].units`) }));
      const want = returns.length && req.want === 0n ? 0 : positive(req.want, 'want');
      const r = core.engine.lease({ path: await core.levels(required(req.accountId, 'account_id')), metric: req.metric, want, edgeId: required(req.edgeId, 'edge_id'), returns });
      if (r.volumeExhausted) core.emit({ kind: 'volume_exhausted', accountId: req.accountId, metric: req.metric });
      return { granted: BigInt(r.granted), leaseId: r.leaseId, validForMs: 10_000n, refillBelow: BigInt(r.refillBelow), limitingAccountId: r.limitingAccountId, retryAfterMs: BigInt(Number.isFinite(r.retryAfterMs) ? r.retryAfterMs : 60_000), volumeExhausted: r.volumeExhausted, returned: BigInt(r.returned) };
    },
    async acquireSlot(req, ctx) {
      requireService(secretKey, ctx);
      const owner = await placement.ownerElsewhere(required(req.accountId, 'account_id'), forwarded(ctx));
      if (owner) return owner.acquireSlot(req);
      const slotId = placement.mintSlotId(required(req.holderId, 'holder_id'), req.metric);
      const ttlMs = req.ttlMs === 0n ? 30_000 : Math.min(Number(req.ttlMs), 3_600_000);
      const r = core.engine.acquireSlot({ path: await core.levels(required(req.accountId, 'account_id')), metric: req.metric, slotId, ttlMs });
      return { allowed: r.allowed, slotId: r.allowed ? slotId : '', limitingAccountId: r.limitingAccountId, expiresInMs: BigInt(ttlMs) };
    },
    async leaseSlots(req, ctx) {
      requireService(secretKey, ctx);
      const owner = await placement.ownerElsewhere(required(req.accountId, 'account_id'), forwarded(ctx));
      if (owner) return owner.leaseSlots(req);
      // One block per (holder, metric) on the owner replica.
      const slotId = placement.mintSlotId(required(req.holderId, 'holder_id'), req.metric);
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
      const expired: string[] = [];
      const { mine, elsewhere } = placement.partitionSlots(req.slotIds, forwarded(ctx));
      expired.push(...core.engine.renewSlots(mine, ttlMs));
      for (const [owner, ids] of elsewhere) expired.push(...(await owner.renewSlots({ slotIds: ids, ttlMs: req.ttlMs })).expiredSlotIds);
      return { expiredSlotIds: expired };
    },
    async releaseSlot(req, ctx) {
      requireService(secretKey, ctx);
      const owner = placement.slotElsewhere(required(req.slotId, 'slot_id'), forwarded(ctx));
      if (owner) return owner.releaseSlot(req);
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
