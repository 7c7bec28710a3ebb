import type { Account } from '#gen/tollgate/identity/v1/identity_pb.js';
import { UsageError } from '../output.ts';
import { iso, str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

const accountJson = (a: Account) => ({ id: a.id, name: a.name, parent_id: a.parentId || null, depth: a.depth, suspended: a.effectivelySuspended, created_at: iso(a.createdAt) });

/** `tollgate account create|suspend|resume|list`. */
export async function runAccount(args: AdminArgs): Promise<number> {
  const [, verb, ...rest] = args.positionals;
  return withAdminSession(args, async ({ identity, auth, callerAccount }) => {
    switch (verb) {
      case 'create': {
        const name = rest[0];
        if (!name) throw new UsageError('usage: tollgate account create NAME [--parent ID]');
        const res = await identity.createAccount({ name, parentId: str(args.flags, 'parent') ?? (await callerAccount()) }, auth);
        const a = accountJson(res.account!);
        args.out.result(a, () => `created account ${a.id} (${a.name}) at depth ${a.depth}`);
        return 0;
      }
      case 'suspend':
      case 'resume': {
        const id = rest[0];
        if (!id) throw new UsageError(`usage: tollgate account ${verb} ACCOUNT_ID`);
        const res = verb === 'suspend' ? await identity.suspendAccount({ accountId: id }, auth) : await identity.resumeAccount({ accountId: id }, auth);
        const a = accountJson(res.account!);
        args.out.result(a, () => `${verb === 'suspend' ? 'suspended' : 'resumed'} ${a.id} (${a.name})`);
        return 0;
      }
      case 'list': {
        const root = str(args.flags, 'account') ?? (await callerAccount());
        const tree = await identity.getAccountTree({ accountId: root, includeDescendants: true }, auth);
        const accounts = [tree.account!, ...tree.descendants].map(accountJson);
        args.out.result({ accounts }, () => accounts.map((a) => `${'  '.repeat(a.depth - 1)}${a.id}  ${a.name}${a.suspended ? '  (suspended)' : ''}`).join('\n'));
        return 0;
      }
      default:
        throw unknownCommand(args);
    }
  });
}
