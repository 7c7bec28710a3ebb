import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { invalidArgument } from '#libs/errors/index.ts';
import { peerIp, requireService } from '#libs/admin-auth/admin-guard.ts';
import { isServiceCredential } from '#libs/admin-auth/service-credential.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import { LoginOutcome, type IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { SigningKeyRing } from '../crypto/signing-key-ring.ts';
import { signingKeySubject, type AuditEvent } from '../domain/audit-event.ts';
import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import type { Session, Sessions } from '../sessions.ts';

const outcomes: Record<string, LoginOutcome> = {
  INVALID_CREDENTIALS: LoginOutcome.INVALID_CREDENTIALS,
  LOCKED_OUT: LoginOutcome.LOCKED_OUT,
  TWO_FACTOR_REQUIRED: LoginOutcome.TOTP_REQUIRED,
  TWO_FACTOR_INVALID: LoginOutcome.TOTP_INVALID,
  TWO_FACTOR_ENROLLMENT_REQUIRED: LoginOutcome.TOTP_ENROLLMENT_REQUIRED,
  ACCOUNT_SUSPENDED: LoginOutcome.ACCOUNT_SUSPENDED,
};

const sessionToProto = (s: Session) => ({
  accessToken: s.accessToken,
  refreshToken: s.refreshToken,
  accessExpiresAt: timestampFromMs(s.accessExpiresAtMs),
  refreshExpiresAt: timestampFromMs(s.refreshExpiresAtMs),
  accountId: s.accountId,
  userId: s.userId,
});

/** gRPC ⇄ sessions and signing keys. A wrong password is an outcome, never an error status. */
export function sessionHandlers(
  ready: () => { sessions: Sessions; ring: SigningKeyRing },
  secretKey: Uint8Array,
  audit: { list(filter: { accountId?: string | undefined; kind?: string | undefined; beforeMs?: number | undefined; limit: number }): Promise<AuditEvent[]> },
  requireAdmin: RequireAdmin,
): Partial<ServiceImpl<typeof IdentityService>> {
  return {
    async listAuditEvents(req, ctx) {
      if (!req.accountId) throw invalidArgument('account_id', 'is required');
      await requireAdmin(ctx, req.accountId, 'read');
      const limit = req.pageSize === 0 ? 100 : Math.min(req.pageSize, 1_000);
      const beforeMs = req.pageToken ? Number(req.pageToken) : undefined;
      if (beforeMs !== undefined && !Number.isSafeInteger(beforeMs)) throw invalidArgument('page_token', 'is not one this service gave');
      const events = await audit.list({ accountId: req.accountId, kind: req.kind || undefined, beforeMs, limit });
      return {
        events: events.map((e) => ({ id: e.id, kind: e.kind, actorId: e.actorUserId ?? '', accountId: e.accountId ?? '', subjectId: e.subject ?? '', ip: e.ip ?? '', outcome: e.reason ? `${e.outcome}:${e.reason}` : e.outcome, details: { ...e.details }, at: timestampFromMs(e.atMs) })),
        nextPageToken: events.length === limit ? String(events.at(-1)!.atMs) : '',
      };
    },
    async login(req, ctx) {
      if (req.username.length > 128) throw invalidArgument('username', 'must be at most 128 characters');
      // `peer_ip` is believed only from a mesh service logging a user in on their behalf; anyone
      // else could dodge the per-IP throttle by naming another address.
      const trusted = isServiceCredential((ctx.header('authorization') ?? '').replace(/^Bearer /, '')) ? (() => {
        requireService(secretKey, ctx);
        return true;
      })() : false;
      const ip = (trusted && req.peerIp) || peerIp(ctx.peer) || null;
      const result = await ready().sessions.login({ username: req.username, password: req.password, totpCode: req.totpCode || undefined, accountId: req.accountId || undefined, peerIp: ip });
      if (!result.allowed) return { allowed: false, outcome: outcomes[result.reason] ?? LoginOutcome.INVALID_CREDENTIALS, reason: result.reason, retryAfterMs: BigInt(result.retryAfterMs ?? 0) };
      return { allowed: true, outcome: LoginOutcome.OK, reason: 'OK', session: sessionToProto(result.session) };
    },
    async refreshSession(req) {
      const result = await ready().sessions.refresh(req.refreshToken);
      return result.allowed ? { allowed: true, reason: 'OK', session: sessionToProto(result.session) } : { allowed: false, reason: result.reason };
    },
    async logout(req) {
      if (!req.refreshToken) throw invalidArgument('refresh_token', 'is required');
      await ready().sessions.logout(req.refreshToken);
      return {};
    },
    async getJwks() {
      const { ring } = ready();
      return { jwksJson: JSON.stringify(ring.jwks()), issuer: ring.issuer };
    },
    async rotateSigningKey(_req, ctx) {
      // Key rotation is an operator action carried out through a mesh service (console/CLI) credential.
      requireService(secretKey, ctx);
      const { ring, sessions } = ready();
      const rotated = await ring.rotate();
      await sessions.audit([{ kind: 'key_rotated', outcome: 'success', subject: signingKeySubject(rotated.kid) }]);
      return { kid: rotated.kid, retiredKids: rotated.retiredKid ? [rotated.retiredKid] : [] };
    },
  };
}
