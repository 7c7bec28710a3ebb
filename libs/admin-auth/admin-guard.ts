import { AppError, permissionDenied, unauthenticated } from '#libs/errors/index.ts';
import type { CallContext } from '#libs/rpc/index.ts';
import { actorMay, isRole, type Actor, type Operation } from '#libs/policy/role-policy.ts';
import { parseBearer } from './bearer-credential.ts';
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

/** The operations of the role table (libs/policy/role-policy.ts). */
export type AdminOperation = Operation;

/** The role table's column for a principal. */
export function actorOf(principal: AdminPrincipal): Actor {
  if (principal.kind === 'user') return { kind: 'user', role: isRole(principal.role) ? principal.role : undefined };
  return { kind: principal.kind };
}

export interface RequireAdmin {
  /**
   * Admin RPCs are closed by default: the caller presents `authorization: Bearer <credential>`, and the
   * credential's account must be the target account or one of its ancestors; what it may do there
   * is the role table's answer (libs/policy/role-policy.ts).
   */
  (ctx: CallContext, targetAccountId: string, operation: AdminOperation): Promise<AdminPrincipal>;
  /**
   * Who the caller is, without any account or operation: UNAUTHENTICATED when there is no valid
   * credential. Remembered for the call, so `authenticatedFirst` and the handler's check ask once.
   */
  authenticate(ctx: CallContext): Promise<AdminPrincipal>;
}

export function createAdminGuard(ports: AdminGuardPorts): RequireAdmin {
  const known = new WeakMap<CallContext, Promise<AdminPrincipal>>();

  async function resolve(ctx: CallContext): Promise<AdminPrincipal> {
    const bearer = parseBearer(ctx.header('authorization'));
    if (!bearer) throw unauthenticated('authorization: a Bearer credential is required', 'CREDENTIAL_MISSING');
    if (isServiceCredential(bearer)) {
      const service = verifyServiceCredential(ports.secretKey, bearer);
      if (!service) throw unauthenticated('authorization: unknown service credential', 'CREDENTIAL_INVALID');
      // Another Tollgate service (it holds the mesh secret key) may call every admin RPC.
      return { accountId: '*', subject: `service:${service}`, kind: 'service' };
    }
    const principal = await ports.authenticate(bearer, peerIp(ctx.peer));
    if ('denied' in principal) throw unauthenticated(`authorization: ${principal.denied}`, principal.denied);
    return principal;
  }

  function authenticate(ctx: CallContext): Promise<AdminPrincipal> {
    let pending = known.get(ctx);
    if (!pending) known.set(ctx, (pending = resolve(ctx)));
    return pending;
  }

  async function requireAdmin(ctx: CallContext, targetAccountId: string, operation: AdminOperation): Promise<AdminPrincipal> {
    const principal = await authenticate(ctx);
    if (principal.kind === 'service') return principal;
    const path = await ports.accountPath(targetAccountId);
    if (path.length === 0) throw new AppError('NOT_FOUND', 'account_id: account not found', { field: 'account_id', reason: 'NOT_FOUND' });
    if (!path.includes(principal.accountId)) throw permissionDenied('the credential has no access to this account', 'OUTSIDE_ACCOUNT_TREE');
    if (!actorMay(actorOf(principal), operation)) throw permissionDenied(`a ${principal.kind}${principal.role ? ` (${principal.role})` : ''} credential may not ${operation.replaceAll('_', ' ')}`, 'INSUFFICIENT_PRIVILEGE');
    return principal;
  }

  return Object.assign(requireAdmin, { authenticate });
}

/** For internal RPCs (feeds, usage reports): only another Tollgate service may call. */
export function requireService(secretKey: Uint8Array, ctx: CallContext): string {
  const service = verifyServiceCredential(secretKey, parseBearer(ctx.header('authorization')) ?? '');
  if (!service) throw unauthenticated('authorization: a service credential is required', 'SERVICE_CREDENTIAL_REQUIRED');
  return service;
}

/** `ipv4:127.0.0.1:5000` / `ipv6:[::1]:5000` (grpc-js peer) → the address. */
export function peerIp(peer: string): string | undefined {
  const m = /^(?:ipv[46]:)?\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return m?.[1];
}
