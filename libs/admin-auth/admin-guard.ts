import { AppError, permissionDenied, unauthenticated } from '#libs/errors/index.ts';
import type { CallContext } from '#libs/rpc/index.ts';
import { isServiceCredential, verifyServiceCredential } from './service-credential.ts';

/** Who is calling an admin RPC, as authz answered for the bearer credential. */
export interface AdminPrincipal {
  accountId: string;
  subject: string;
  kind: 'master' | 'standard' | 'acl' | 'user' | 'service';
  /** For identity users: their role in `accountId`. */
  role?: string | undefined;
}

export interface AdminGuardPorts {
  /** The mesh secret key: service credentials (`tgsvc_…`) verify against it. */
  secretKey: Uint8Array;
  /** Resolves a bearer credential (token secret or identity JWT); undefined when it is not valid. */
  authenticate(bearer: string, peerIp: string | undefined): Promise<AdminPrincipal | { denied: string }>;
  /** The account's path, root first and the account itself last; empty when unknown. */
  accountPath(accountId: string): Promise<string[]>;
}

export type AdminOperation = 'read' | 'write' | 'manage_tokens' | 'manage_accounts';

/**
 * Admin RPCs are closed by default: the caller presents `authorization: Bearer <credential>`, and the
 * credential's account must be the target account or one of its ancestors. Master tokens may do
 * everything there; standard tokens everything but managing tokens and subaccounts; acl tokens no
 * admin at all; users by role (owner/admin write, member/viewer read).
 */
export function createAdminGuard(ports: AdminGuardPorts) {
  return async function requireAdmin(ctx: CallContext, targetAccountId: string, operation: AdminOperation): Promise<AdminPrincipal> {
    const header = ctx.header('authorization');
    const bearer = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!bearer) throw unauthenticated('authorization: a Bearer credential is required', 'CREDENTIAL_MISSING');
    const service = isServiceCredential(bearer) ? verifyServiceCredential(ports.secretKey, bearer) : undefined;
    if (isServiceCredential(bearer) && !service) throw unauthenticated('authorization: unknown service credential', 'CREDENTIAL_INVALID');
    // Another Tollgate service (it holds the mesh secret key) may call every admin RPC.
    if (service) return { accountId: '*', subject: `service:${service}`, kind: 'service' };
    const principal = await ports.authenticate(bearer, peerIp(ctx.peer));
    if ('denied' in principal) throw unauthenticated(`authorization: ${principal.denied}`, principal.denied);
    const path = await ports.accountPath(targetAccountId);
    if (path.length === 0) throw new AppError('NOT_FOUND', 'account_id: account not found', { field: 'account_id', reason: 'NOT_FOUND' });
    if (!path.includes(principal.accountId)) throw permissionDenied('the credential has no access to this account', 'OUTSIDE_ACCOUNT_TREE');
    if (!allows(principal, operation)) throw permissionDenied(`a ${principal.kind}${principal.role ? ` (${principal.role})` : ''} credential may not ${operation.replace('_', ' ')}`, 'INSUFFICIENT_PRIVILEGE');
    return principal;
  };
}

export type RequireAdmin = ReturnType<typeof createAdminGuard>;

/** For internal RPCs (feeds, usage reports): only another Tollgate service may call. */
export function requireService(secretKey: Uint8Array, ctx: CallContext): string {
  const header = ctx.header('authorization');
  const bearer = header?.startsWith('Bearer ') ? header.slice(7).trim() : '';
  const service = verifyServiceCredential(secretKey, bearer);
  if (!service) throw unauthenticated('authorization: a service credential is required', 'SERVICE_CREDENTIAL_REQUIRED');
  return service;
}

function allows(p: AdminPrincipal, operation: AdminOperation): boolean {
  switch (p.kind) {
    case 'master':
    case 'service':
      return true;
    case 'standard':
      return operation === 'read' || operation === 'write';
    case 'acl':
      return false;
    case 'user':
      if (p.role === 'owner' || p.role === 'admin') return true;
      return operation === 'read' && (p.role === 'member' || p.role === 'viewer');
  }
}

/** `ipv4:127.0.0.1:5000` / `ipv6:[::1]:5000` (grpc-js peer) → the address. */
export function peerIp(peer: string): string | undefined {
  const m = /^(?:ipv[46]:)?\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return m?.[1];
}
