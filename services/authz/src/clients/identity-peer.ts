import { createLazyClient, type RpcClientOptions } from '#libs/rpc/index.ts';
import { AccountState, IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { passwordRefusalOf, type PasswordRefusal } from '../domain/decision-reason.ts';

const roleNames: Partial<Record<Role, string>> = { [Role.OWNER]: 'owner', [Role.ADMIN]: 'admin', [Role.MEMBER]: 'member', [Role.VIEWER]: 'viewer' };

/** What authz needs from identity. */
export interface IdentityPeer {
  /** Root first, the account last; empty when unknown. `suspended` is the effective state. */
  accountPath(accountId: string): Promise<{ id: string; suspended: boolean }[]>;
  verifyPassword(input: { username: string; password: string; peerIp: string; accountId?: string | undefined }): Promise<
    { allowed: true; userId: string; accountId: string; role: string } | { allowed: false; reason: PasswordRefusal }
  >;
  close(): void;
}

export function createGrpcIdentityPeer(address: () => string, options: RpcClientOptions): IdentityPeer {
  const client = createLazyClient(IdentityService, address, { defaultDeadlineMs: 2_000, ...options });
  return {
    async accountPath(accountId) {
      try {
        const tree = await client.getAccountTree({ accountId });
        return [...tree.ancestors, tree.account!].map((a) => ({ id: a.id, suspended: a.effectivelySuspended || a.state === AccountState.SUSPENDED }));
      } catch (error) {
        if ((error as { code?: string }).code === 'NOT_FOUND') return [];
        throw error;
      }
    },
    async verifyPassword(input) {
      const res = await client.verifyPassword({ username: input.username, password: input.password, peerIp: input.peerIp, accountId: input.accountId ?? '' });
      if (!res.allowed) return { allowed: false, reason: passwordRefusalOf(res.reason) };
      return { allowed: true, userId: res.userId, accountId: res.accountId, role: roleNames[res.role] ?? 'viewer' };
    },
    close: () => client.close(),
  };
}
