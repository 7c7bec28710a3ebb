import { failedPrecondition, invalidArgument, notFound } from '#libs/errors/index.ts';
import type { AdminPrincipal, RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import type { CallContext, ServiceImpl } from '#libs/rpc/index.ts';
import type { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { AuditEventInput } from '../domain/audit-event.ts';
import type { TwoFactor } from '../domain/two-factor.ts';
import type { IdentityStore, TotpStore, UserRecord } from '../domain/ports.ts';
import { actorFields, required } from './proto-mapping.ts';

/** TOTP enrollment, confirmation and removal: by the user themself, or by an admin of every account they belong to. */
export function totpHandlers(deps: {
  store: IdentityStore;
  totp: TotpStore;
  twoFactor: TwoFactor;
  requireAdmin: RequireAdmin;
  audit: (events: AuditEventInput[]) => Promise<void>;
}): Partial<ServiceImpl<typeof IdentityService>> {
  const { store, requireAdmin } = deps;

  /**
   * The user and who is acting on them. Someone else than the user must administer *every*
   * account the user belongs to: an admin of A must not weaken the user's sign-in to B.
   */
  async function actingOn(ctx: CallContext, userId: string): Promise<{ user: UserRecord; actor: AdminPrincipal; self: boolean }> {
    const user = await store.getUser(required(userId, 'user_id'));
    if (!user) throw notFound('user_id', 'user');
    let actor: AdminPrincipal | undefined;
    let refusal: unknown = notFound('user_id', 'user');
    for (const m of user.memberships) {
      try {
        actor = await requireAdmin(ctx, m.accountId, 'read');
        break;
      } catch (error) {
        if ((error as { code?: string }).code === 'UNAUTHENTICATED') throw error;
        refusal = error;
      }
    }
    if (!actor) throw refusal;
    if (actor.kind === 'user' && actor.subject === user.id) return { user, actor, self: true };
    for (const m of user.memberships) await requireAdmin(ctx, m.accountId, 'manage_users');
    return { user, actor, self: false };
  }

  const audited = (kind: AuditEventInput['kind'], user: UserRecord, actor: AdminPrincipal, extra: Record<string, string> = {}) => {
    const { details, ...who } = actorFields(actor);
    return deps.audit([{ kind, outcome: 'success', ...who, subject: user.id, accountId: user.memberships[0]?.accountId ?? null, details: { ...details, ...extra } }]);
  };

  return {
    async enrollTotp(req, ctx) {
      const { user } = await actingOn(ctx, req.userId);
      const existing = await deps.totp.get(user.id);
      if (existing?.status === 'active') throw failedPrecondition('user_id: 2FA is already enrolled; disable it first');
      const { enrollment, secret, uri } = deps.twoFactor.enroll(user.username);
      await deps.totp.put(user.id, enrollment);
      return { otpauthUri: uri, secret };
    },
    async confirmTotp(req, ctx) {
      const { user, actor } = await actingOn(ctx, req.userId);
      const pending = await deps.totp.get(user.id);
      if (!pending || pending.status !== 'pending') throw failedPrecondition('user_id: no pending 2FA enrollment');
      if (!req.code || req.code.length > 16) throw invalidArgument('code', 'is required (the 6-digit code)');
      const confirmed = deps.twoFactor.confirm(pending, req.code);
      if (!confirmed.ok) throw invalidArgument('code', 'is not the current code of the enrolled secret');
      await deps.totp.put(user.id, confirmed.enrollment);
      await audited('totp_enrolled', user, actor);
      return { recoveryCodes: confirmed.recoveryCodes };
    },
    async disableTotp(req, ctx) {
      // The user proves possession (a current code or a recovery code); an admin resets without one.
      const { user, actor, self } = await actingOn(ctx, req.userId);
      const enrollment = await deps.totp.get(user.id);
      if (!enrollment) throw failedPrecondition('user_id: 2FA is not enrolled');
      if (self && enrollment.status === 'active') {
        const code = req.code.trim();
        if (!code || code.length > 16) throw invalidArgument('code', 'a current code (or a recovery code) is needed to disable 2FA');
        const checked = /[a-z-]/i.test(code) ? deps.twoFactor.useRecoveryCode(enrollment, code) : deps.twoFactor.verify(enrollment, code);
        if (!checked.ok || !(await deps.totp.advance(user.id, enrollment, checked.enrollment))) throw invalidArgument('code', 'a current code (or a recovery code) is needed to disable 2FA');
      }
      await deps.totp.delete(user.id);
      await audited('totp_disabled', user, actor, { by: self ? 'self' : 'admin' });
      return {};
    },
  };
}
