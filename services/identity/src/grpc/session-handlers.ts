import { isIP } from 'node:net';
import { timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { AppError, invalidArgument, permissionDenied } from '#libs/errors/index.ts';
import { actorOf, requireService, type AdminPrincipal, type RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import { actorCovers } from '#libs/policy/role-policy.ts';
import type { CallContext, ServiceImpl } from '#libs/rpc/index.ts';
import { LoginOutcome, type IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { SigningKeyRing } from '../crypto/signing-key-ring.ts';
import { auditEventKinds, signingKeySubject } from '../domain/audit-event.ts';
import type { Session, Sessions } from '../sessions.ts';
import type { AuditStore, IdentityStore } from '../domain/ports.ts';
import { actorFields, loginOutcomes, required } from './proto-mapping.ts';
import { clientAddress } from './client-address.ts';

const sessionToProto = (s: Session) => ({
  accessToken: s.accessToken,
  refreshToken: s.refreshToken,
  accessExpiresAt: timestampFromMs(s.accessExpiresAtMs),
  refreshExpiresAt: timestampFromMs(s.refreshExpiresAtMs),
  accountId: s.accountId,
  userId: s.userId,
});

/** `<ms>.<id>` of the last event on a page. */
function parsePageToken(token: string): { atMs: number; id: string } | undefined {
  if (!token) return undefined;
  const dot = token.indexOf('.');
  const atMs = Number(token.slice(0, dot));
  const id = token.slice(dot + 1);
  if (dot < 1 || !Number.isSafeInteger(atMs) || !/^evt_[A-Za-z0-9]{1,64}$/.test(id)) throw invalidArgument('page_token', 'is not one this service gave');
  return { atMs, id };
}

/**
 * gRPC ⇄ sessions, signing keys and the audit log. A wrong password is an outcome, never an error
 * status; only a mesh service may name the client's address (`peer_ip`) for the per-IP throttle.
 */
export function sessionHandlers(deps: {
  ready: () => { sessions: Sessions; ring: SigningKeyRing; compatRing?: SigningKeyRing };
  secretKey: Uint8Array;
  auditLog: AuditStore;
  store: IdentityStore;
  requireAdmin: RequireAdmin;
}): Partial<ServiceImpl<typeof IdentityService>> {
  const { ready, requireAdmin } = deps;

  /**
   * The caller is the user themself (their access token), an admin of an account the user belongs
   * to, or a mesh service. Authenticated before anything about the request is looked at.
   */
  async function requireSelfOrAdmin(ctx: CallContext, userId: string): Promise<void> {
    const principal = await requireAdmin.authenticate(ctx);
    if (principal.kind === 'service') return;
    if (principal.kind === 'user' && principal.subject === userId) return;
    const user = userId ? await deps.store.getUser(userId) : undefined;
    const admin = await userAdmin(ctx, user?.memberships ?? []);
    if ('denied' in admin) throw permissionDenied('changing a password takes that user\'s own session or an admin of their account', 'NOT_THE_USER');
  }

  /**
   * The caller as someone who may manage users (the role table) on one of the accounts a user
   * belongs to; else the last refusal (undefined when the user has no account).
   */
  async function userAdmin(ctx: CallContext, memberships: readonly { accountId: string }[]): Promise<AdminPrincipal | { denied: unknown }> {
    let denied: unknown;
    for (const m of memberships) {
      try {
        return await requireAdmin(ctx, m.accountId, 'manage_users');
      } catch (error) {
        if ((error as { code?: string }).code === 'UNAUTHENTICATED') throw error;
        denied = error;
      }
    }
    return { denied };
  }

  /** The client's address: as said by a mesh service logging a user in on their behalf (or none), else the socket's. */
  const clientIp = (ctx: CallContext, claimed: string) => clientAddress(ctx, claimed, deps.secretKey);

  return {
    async login(req, ctx) {
      const result = await ready().sessions.login({ username: req.username, password: req.password, totpCode: req.totpCode || undefined, accountId: req.accountId || undefined, peerIp: clientIp(ctx, req.peerIp) });
      if (!result.allowed) return { allowed: false, outcome: loginOutcomes[result.reason] ?? LoginOutcome.INVALID_CREDENTIALS, reason: result.reason, retryAfterMs: BigInt(result.retryAfterMs ?? 0) };
      return { allowed: true, outcome: LoginOutcome.OK, reason: 'OK', session: sessionToProto(result.session) };
    },
    async refreshSession(req) {
      const result = await ready().sessions.refresh(req.refreshToken);
      return result.allowed ? { allowed: true, reason: 'OK', session: sessionToProto(result.session) } : { allowed: false, reason: result.reason };
    },
    async logout(req) {
      if (!req.refreshToken || req.refreshToken.length > 256) throw invalidArgument('refresh_token', 'is required (at most 256 characters)');
      await ready().sessions.logout(req.refreshToken);
      return {};
    },
    async switchAccount(req) {
      if (!req.refreshToken || req.refreshToken.length > 256) throw invalidArgument('refresh_token', 'is required (at most 256 characters)');
      const result = await ready().sessions.switchAccount(req.refreshToken, required(req.accountId, 'account_id'));
      return result.allowed ? { allowed: true, reason: 'OK', session: sessionToProto(result.session) } : { allowed: false, reason: result.reason };
    },
    async changePassword(req, ctx) {
      // Proof in three parts: the caller's session (the user's own, or an admin's), the current
      // password (throttled like logins) and a TOTP code when enrolled. Every session of the user ends.
      await requireSelfOrAdmin(ctx, req.userId);
      await ready().sessions.changePassword({ userId: required(req.userId, 'user_id'), currentPassword: req.currentPassword, newPassword: req.newPassword, totpCode: req.totpCode || undefined, peerIp: clientIp(ctx, '') });
      return {};
    },
    async unlockUser(req, ctx) {
      // An admin of an account the user belongs to (or a mesh service: `tollgate user unlock`).
      const principal = await requireAdmin.authenticate(ctx);
      const username = required(req.username, 'username');
      const user = await deps.store.findUserByUsername(username);
      const admin = principal.kind === 'service' ? principal : await userAdmin(ctx, user?.memberships ?? []);
      if ('denied' in admin) throw admin.denied ?? new AppError('NOT_FOUND', 'username: user not found', { field: 'username', reason: 'NOT_FOUND' });
      let address: string | null = null;
      if (req.address) {
        if (isIP(req.address.trim()) === 0) throw invalidArgument('address', 'must be an IPv4 or IPv6 address');
        address = req.address.trim();
      }
      const { details, ...who } = actorFields(admin);
      const lifted = await ready().sessions.unlock({ username, address, actor: { ...who, details }, accountId: user?.memberships[0]?.accountId ?? null, subject: user?.id ?? null });
      return { lifted };
    },
    async getJwks() {
      const { ring } = ready();
      return { jwksJson: JSON.stringify(ring.jwks()), issuer: ring.issuer };
    },
    async rotateSigningKey(_req, ctx) {
      // Keys are the mesh's: a mesh service (console / CLI with the secret key), or whoever holds
      // every power of an owner (role table: an owner, a master token) on a root account.
      const actor = await requireAdmin.authenticate(ctx);
      if (actor.kind !== 'service') {
        const root = (await deps.store.accountPath(actor.accountId)).length === 1;
        if (!root || !actorCovers(actorOf(actor), 'owner')) {
          throw permissionDenied('rotating signing keys takes a mesh service, or the master token or an owner of a root account', 'ROOT_REQUIRED');
        }
      }
      const { ring, compatRing, sessions } = ready();
      const rotated = await ring.rotate();
      // The ES256 keys (ID tokens for clients that cannot verify EdDSA) rotate with them.
      await compatRing?.rotate();
      const { details, ...who } = actorFields(actor);
      await sessions.audit([{ kind: 'key_rotated', outcome: 'success', subject: signingKeySubject(rotated.kid), ...who, accountId: actor.kind === 'service' ? null : actor.accountId, details }]);
      return { kid: rotated.kid, retiredKids: rotated.retiredKid ? [rotated.retiredKid] : [] };
    },
    async listAuditEvents(req, ctx) {
      // An account's events and its subtree's, for its admins; every event (account_id empty) for mesh services.
      let accountIds: string[] = [];
      if (req.accountId) {
        await requireAdmin(ctx, required(req.accountId, 'account_id'), 'audit_read');
        accountIds = [req.accountId, ...(await deps.store.descendants(req.accountId)).map((a) => a.id)];
      } else {
        requireService(deps.secretKey, ctx);
      }
      if (req.kind && !(auditEventKinds as readonly string[]).includes(req.kind)) throw invalidArgument('kind', `must be one of ${auditEventKinds.join(', ')}`);
      const limit = req.pageSize === 0 ? 100 : Math.min(req.pageSize, 1_000);
      const events = await deps.auditLog.list({
        accountIds,
        kind: req.kind || undefined,
        sinceMs: req.since ? timestampDate(req.since).getTime() : undefined,
        before: parsePageToken(req.pageToken),
        limit,
      });
      const last = events.at(-1);
      return {
        events: events.map((e) => ({ id: e.id, kind: e.kind, actorKind: e.actorKind ?? '', actorId: e.actorSubject ?? '', requestId: e.requestId ?? '', source: e.source, accountId: e.accountId ?? '', subjectId: e.subject ?? '', ip: e.ip ?? '', outcome: e.reason ? `${e.outcome}:${e.reason}` : e.outcome, details: { ...e.details }, at: timestampFromMs(e.atMs) })),
        nextPageToken: events.length === limit && last ? `${last.atMs}.${last.id}` : '',
      };
    },
  };
}
