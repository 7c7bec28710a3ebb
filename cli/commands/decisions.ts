import { iso, str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

/**
 * `tollgate decisions stats [--account ID] [--subtree]`: an account's decisions by result and
 * reason and its token-cache lookups, as counted by the authz replica that answers (since it
 * started; with several replicas, each call may reach another: see `replica_id`).
 */
export async function runDecisions(args: AdminArgs): Promise<number> {
  const [, verb] = args.positionals;
  return withAdminSession(args, async ({ auth, authz, callerAccount }) => {
    if (verb !== 'stats') throw unknownCommand(args);
    const accountId = str(args.flags, 'account') ?? (await callerAccount());
    const subtree = args.flags['subtree'] === true;
    const s = await authz.getDecisionStats({ accountId, includeSubaccounts: subtree }, auth);
    const lookups = Number(s.cacheHits) + Number(s.cacheMisses);
    const stats = {
      account_id: accountId, subtree, accounts: s.accounts, replica_id: s.replicaId, started_at: iso(s.startedAt), at: iso(s.at),
      allowed: Number(s.allowed), denied: Number(s.denied), denied_by_reason: s.deniedByReason.map((r) => ({ reason: r.reason, count: Number(r.count) })),
      cache_hits: Number(s.cacheHits), cache_misses: Number(s.cacheMisses), cache_hit_ratio: lookups === 0 ? null : Number(s.cacheHits) / lookups,
    };
    args.out.result(stats, () =>
      [
        ...(['account_id', 'accounts', 'replica_id', 'started_at', 'allowed', 'denied'] as const).map((k) => `${k.padEnd(16)} ${stats[k] ?? '—'}`),
        ...stats.denied_by_reason.map((r) => `  ${r.reason.padEnd(22)} ${r.count}`),
        `${'cache_hits'.padEnd(16)} ${stats.cache_hits}`,
        `${'cache_misses'.padEnd(16)} ${stats.cache_misses}`,
        `${'cache_hit_ratio'.padEnd(16)} ${stats.cache_hit_ratio === null ? '—' : `${(stats.cache_hit_ratio * 100).toFixed(1)}%`}`,
      ].join('\n'),
    );
    return 0;
  });
}
