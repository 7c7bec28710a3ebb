import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import { isAppError, notFound } from '#libs/errors/index.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import type { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { AuditEventInput } from '../domain/audit-event.ts';
import type { UpstreamSso } from '../oauth/upstream-sso.ts';
import type { SsoConnectionRecord } from '../domain/ports.ts';
import { actorFields, required } from './proto-mapping.ts';
import { samlUrls } from '../oauth/sso-http.ts';

const toProto = (c: SsoConnectionRecord) => ({ id: c.id, accountId: c.accountId, kind: c.kind, name: c.name, issuer: c.issuer, clientId: c.clientId ?? '', samlEntryPoint: c.samlEntryPoint ?? '', defaultRole: c.defaultRole, provisioning: c.provisioning, createdAtMs: BigInt(c.createdAtMs) });

/** Upstream OIDC connections: managed by owners/admins of the account (the client secret never comes back). */
export function ssoHandlers(deps: { sso: UpstreamSso; requireAdmin: RequireAdmin; audit: (events: AuditEventInput[]) => Promise<void>; issuer: () => string }): Partial<ServiceImpl<typeof IdentityService>> {
  const { sso, requireAdmin } = deps;
  return {
    async createSsoConnection(req, ctx) {
      const accountId = required(req.accountId, 'account_id');
      const actor = await requireAdmin(ctx, accountId, 'write');
      const connection = await sso.create({ accountId, name: req.name, issuer: req.issuer, clientId: req.clientId, clientSecret: req.clientSecret, defaultRole: req.defaultRole, kind: req.kind, samlEntryPoint: req.samlEntryPoint, samlIdpCert: req.samlIdpCertificate, provisioning: req.provisioning });
      const { actorUserId, details } = actorFields(actor);
      await deps.audit([{ kind: 'account_policy_changed', outcome: 'success', actorUserId, accountId, subject: connection.id, details: { ...details, change: 'sso_connection_created', issuer: connection.issuer } }]);
      const urls = samlUrls(deps.issuer(), connection.id);
      return connection.kind === 'saml' ? { connection: toProto(connection), redirectUri: urls.acs, samlSpEntityId: urls.spEntityId } : { connection: toProto(connection), redirectUri: `${deps.issuer()}/oauth/sso/callback` };
    },
    async listSsoConnections(req, ctx) {
      const accountId = required(req.accountId, 'account_id');
      await requireAdmin(ctx, accountId, 'read');
      return { connections: (await sso.list([accountId])).map(toProto) };
    },
    async deleteSsoConnection(req, ctx) {
      const connection = await sso.find(required(req.connectionId, 'connection_id'));
      let actor;
      try {
        // Authenticated before the caller learns whether the connection exists.
        actor = await requireAdmin(ctx, connection?.accountId ?? '', 'write');
      } catch (error) {
        if (!connection && isAppError(error) && error.code === 'NOT_FOUND') throw notFound('connection_id', 'SSO connection');
        throw error;
      }
      if (!connection) throw notFound('connection_id', 'SSO connection');
      await sso.remove(connection.id);
      const { actorUserId, details } = actorFields(actor);
      await deps.audit([{ kind: 'account_policy_changed', outcome: 'success', actorUserId, accountId: connection.accountId, subject: connection.id, details: { ...details, change: 'sso_connection_deleted' } }]);
      return {};
    },
  };
}
