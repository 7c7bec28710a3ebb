import { iso, str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

/** `tollgate audit list [--account ID] [--kind KIND]`. */
export async function runAudit(args: AdminArgs): Promise<number> {
  const [, verb] = args.positionals;
  return withAdminSession(args, async ({ identity, auth, callerAccount }) => {
    if (verb !== 'list') throw unknownCommand(args);
    const res = await identity.listAuditEvents({ accountId: str(args.flags, 'account') ?? (await callerAccount()), kind: str(args.flags, 'kind') ?? '', pageSize: 100 }, auth);
    const events = res.events.map((e) => ({
      id: e.id,
      at: iso(e.at),
      kind: e.kind,
      outcome: e.outcome,
      actor_kind: e.actorKind || null,
      actor_id: e.actorId || null,
      account_id: e.accountId || null,
      subject_id: e.subjectId || null,
      request_id: e.requestId || null,
      source: e.source || null,
      ip: e.ip || null,
      details: e.details,
    }));
    const actor = (e: (typeof events)[number]) => (e.actor_id ? `${e.actor_kind ?? '?'}:${e.actor_id}` : '-');
    args.out.result({ events }, () => events.map((e) => `${e.at}  ${e.kind.padEnd(22)} ${e.outcome.padEnd(12)} ${actor(e).padEnd(40)} ${(e.subject_id ?? '-').padEnd(36)} ${e.request_id ?? ''}`).join('\n') || '(no events)');
    return 0;
  });
}
