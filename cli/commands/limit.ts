import { createRpcClient } from '#libs/rpc/index.ts';
import { LimitKind, Period, QuotaService, type EffectiveLimit } from '#gen/tollgate/quota/v1/quota_pb.js';
import { UsageError } from '../output.ts';
import { serviceAddress } from '../endpoints.ts';
import { str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

const limitJson = (l: EffectiveLimit) => ({
  metric: l.limit!.metric,
  kind: ['unspecified', 'rate', 'volume', 'concurrency', 'count'][l.limit!.kind],
  value: Number(l.limit!.value),
  per: ['', 'second', 'minute', 'day', 'month'][l.limit!.period] || null,
  burst: Number(l.limit!.burst) || null,
  shadow: l.limit!.shadow,
  source_account_id: l.sourceAccountId,
});

/** `tollgate limit set|show`: an account's limits (set on it, or inherited). */
export async function runLimit(args: AdminArgs): Promise<number> {
  const [, verb, ...rest] = args.positionals;
  return withAdminSession(args, async ({ auth, tls, callerAccount }) => {
    if (verb !== 'set' && verb !== 'show') throw unknownCommand(args);
    const quota = createRpcClient(QuotaService, serviceAddress(args.env, 'quota'), { tls });
    try {
      const accountId = str(args.flags, 'account') ?? (await callerAccount());
      if (verb === 'set') {
        const [metric, valueText] = rest;
        if (!metric || valueText === undefined) throw new UsageError('usage: tollgate limit set --account ID METRIC VALUE [--per second|minute|day|month] [--burst N] [--shadow]');
        const per = str(args.flags, 'per');
        const periodOf: Record<string, Period> = { second: Period.SECOND, minute: Period.MINUTE, day: Period.DAY, month: Period.MONTH };
        if (per !== undefined && periodOf[per] === undefined) throw new UsageError('--per: expected second, minute, day or month');
        const kind = metric === 'mqtt.connections' || metric === 'mqtt.subscriptions' ? LimitKind.CONCURRENCY : ['tokens', 'subaccounts', 'users', 'mqtt.retained'].includes(metric) ? LimitKind.COUNT : per === 'day' || per === 'month' ? LimitKind.VOLUME : LimitKind.RATE;
        if (!/^-?\d+$/.test(valueText)) throw new UsageError('VALUE: expected a whole number (-1 inherits)');
        const burst = str(args.flags, 'burst');
        const res = await quota.setLimits(
          { accountId, limits: [{ metric, kind, value: BigInt(valueText), period: per ? periodOf[per]! : Period.UNSPECIFIED, burst: burst ? BigInt(burst) : 0n, shadow: args.flags['shadow'] === true }] },
          auth,
        );
        const limits = res.limits.map(limitJson);
        args.out.result({ account_id: accountId, limits }, () => `set ${metric} on ${accountId}`);
        return 0;
      }
      const res = await quota.getLimits({ accountId }, auth);
      const limits = res.limits.map(limitJson);
      args.out.result({ account_id: accountId, limits }, () => limits.map((l) => `${l.metric.padEnd(20)} ${l.kind!.padEnd(11)} ${String(l.value).padStart(10)}${l.per ? `/${l.per}` : ''}${l.shadow ? ' (shadow)' : ''}  from ${l.source_account_id}`).join('\n') || '(no limits)');
      return 0;
    } finally {
      quota.close();
    }
  });
}
