import type { ServiceClient } from '#libs/rpc/index.ts';
import { TokenKind, type AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { AdminPrincipal } from './admin-guard.ts';

const kinds: Partial<Record<TokenKind, AdminPrincipal['kind']>> = { [TokenKind.MASTER]: 'master', [TokenKind.STANDARD]: 'standard', [TokenKind.ACL]: 'acl' };

/** The admin guard's `authenticate` port for services other than authz: ask authz who the bearer is. */
export function authenticateThroughAuthz(authz: ServiceClient<typeof AuthzService>) {
  return async (bearer: string, peerIp: string | undefined): Promise<AdminPrincipal | { denied: string }> => {
    const res = await authz.authenticate({ bearer, peerIp: peerIp ?? '' });
    if (!res.allowed || !res.principal) return { denied: res.reason || 'CREDENTIAL_INVALID' };
    return { accountId: res.principal.accountId, subject: res.principal.subject, kind: kinds[res.principal.kind] ?? 'user', role: res.principal.role || undefined };
  };
}
