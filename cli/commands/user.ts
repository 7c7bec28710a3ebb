import { isIP } from 'node:net';
import { Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { UsageError } from '../output.ts';
import { str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

const roles: Record<string, Role> = { owner: Role.OWNER, admin: Role.ADMIN, member: Role.MEMBER, viewer: Role.VIEWER };

/** `tollgate user create|add-role|unlock`. */
export async function runUser(args: AdminArgs): Promise<number> {
  const [, verb, ...rest] = args.positionals;
  return withAdminSession(args, async ({ identity, auth }) => {
    switch (verb) {
      case 'add-role': {
        const userId = rest[0];
        if (!userId) throw new UsageError('usage: tollgate user add-role USER_ID --account ID --role ROLE');
        const role = roles[str(args.flags, 'role', true)!];
        if (role === undefined) throw new UsageError('--role: expected owner, admin, member or viewer');
        const res = await identity.setMembership({ userId, accountId: str(args.flags, 'account', true)!, role }, auth);
        args.out.result({ id: res.user!.id, memberships: res.user!.memberships.map((m) => ({ account_id: m.accountId, role: Object.keys(roles).find((k) => roles[k] === m.role) })) }, () => `${res.user!.username} now has ${str(args.flags, 'role')} in ${str(args.flags, 'account')}`);
        return 0;
      }
      case 'unlock': {
        const username = rest[0];
        if (!username || rest.length > 1) throw new UsageError('usage: tollgate user unlock USERNAME [--address IP]');
        const address = str(args.flags, 'address');
        if (address !== undefined && isIP(address) === 0) throw new UsageError('--address: expected an IPv4 or IPv6 address');
        const res = await identity.unlockUser({ username, address: address ?? '' }, auth);
        args.out.result({ username, address: address ?? null, lifted: res.lifted }, () =>
          res.lifted ? `lifted ${res.lifted} lockout${res.lifted === 1 ? '' : 's'} of ${username}${address ? ` from ${address}` : ''}` : `${username} was not locked out${address ? ` from ${address}` : ''}`,
        );
        return 0;
      }
      case 'create': {
        const username = rest[0];
        if (!username) throw new UsageError('usage: tollgate user create USERNAME --account ID --role ROLE  (password on stdin)');
        const role = roles[str(args.flags, 'role', true)!];
        if (role === undefined) throw new UsageError('--role: expected owner, admin, member or viewer');
        const password = (await args.readStdin()).replace(/\r?\n$/, '');
        const res = await identity.createUser({ username, password, accountId: str(args.flags, 'account', true)!, role }, auth);
        args.out.result({ id: res.user!.id, username: res.user!.username }, () => `created user ${res.user!.id} (${res.user!.username})`);
        return 0;
      }
      default:
        throw unknownCommand(args);
    }
  });
}
