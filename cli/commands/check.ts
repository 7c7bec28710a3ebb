import { str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

/** `tollgate check --action A [--resource R]`: may the CLI's credential do this? Exit 3 on deny. */
export async function runCheck(args: AdminArgs): Promise<number> {
  const [, verb] = args.positionals;
  return withAdminSession(args, async ({ authz, token }) => {
    // `check` takes no verb; anything after it is an unknown command, as before the split.
    if (verb) throw unknownCommand(args);
    const res = await authz.authorize({
      credential: { bearer: token },
      action: str(args.flags, 'action', true)!,
      resource: str(args.flags, 'resource') ?? '',
      clientId: str(args.flags, 'client-id') ?? '',
      peerIp: str(args.flags, 'ip') ?? '',
      accountId: str(args.flags, 'account') ?? '',
    });
    const d = { allowed: res.allowed, reason: res.reason, account_id: res.accountId, cache_ttl_ms: Number(res.cacheTtlMs) };
    args.out.result(d, () => `${d.allowed ? 'ALLOW' : 'DENY'} (${d.reason})`);
    return d.allowed ? 0 : 3;
  });
}
