import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { parseDurationMs } from '#libs/config/index.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { UsageError } from '../output.ts';
import { serviceAddress } from '../endpoints.ts';
import { iso, str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

/** `tollgate usage show [--since 1h] [--metric M] [--subtree]`: an account's recorded usage. */
export async function runUsage(args: AdminArgs): Promise<number> {
  const [, verb] = args.positionals;
  return withAdminSession(args, async ({ auth, tls, callerAccount }) => {
    if (verb !== 'show') throw unknownCommand(args);
    const quota = createRpcClient(QuotaService, serviceAddress(args.env, 'quota'), { tls });
    try {
      const accountId = str(args.flags, 'account') ?? (await callerAccount());
      const since = parseDurationMs(str(args.flags, 'since') ?? '1h');
      if (since === undefined) throw new UsageError('--since: expected a duration like 1h or 7d');
      const res = await quota.getUsage({ accountId, metric: str(args.flags, 'metric') ?? '', from: timestampFromMs(Date.now() - since), subtree: args.flags['subtree'] === true, stepSeconds: 60 }, auth);
      const series = res.series.map((s) => ({ metric: s.metric, total: Number(s.total), points: s.points.map((p) => ({ at: iso(p.at), amount: Number(p.amount) })) }));
      args.out.result({ account_id: accountId, series }, () => series.map((s) => `${s.metric.padEnd(20)} ${s.total}`).join('\n'));
      return 0;
    } finally {
      quota.close();
    }
  });
}
