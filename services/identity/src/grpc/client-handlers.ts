import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import { invalidArgument, isAppError, notFound } from '#libs/errors/index.ts';
import type { CallContext } from '#libs/rpc/index.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import type { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType as ProtoClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import type { AuditEventInput } from '../domain/audit-event.ts';
import { isConfidential, parseIdTokenAlg, type AclRule, type OAuthClient, type OAuthClientType } from '../domain/oauth-client.ts';
import { Effect, type Rule } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { OAuthClients } from '../oauth/oauth-clients.ts';
import { actorFields, required } from './proto-mapping.ts';

const typeOf: Record<number, OAuthClientType> = {
  [ProtoClientType.WEB]: 'web',
  [ProtoClientType.SPA]: 'spa',
  [ProtoClientType.NATIVE]: 'native',
  [ProtoClientType.SERVICE]: 'service',
  [ProtoClientType.DEVICE]: 'device',
};
const typeToProto: Record<OAuthClientType, ProtoClientType> = { web: ProtoClientType.WEB, spa: ProtoClientType.SPA, native: ProtoClientType.NATIVE, service: ProtoClientType.SERVICE, device: ProtoClientType.DEVICE };

function rulesFromProto(rules: readonly Rule[]): AclRule[] {
  return rules.map((r, i) => {
    if (r.effect !== Effect.ALLOW && r.effect !== Effect.DENY) throw invalidArgument(`acl_rules[${i}].effect`, 'must be EFFECT_ALLOW or EFFECT_DENY');
    return { effect: r.effect === Effect.ALLOW ? 'allow' : 'deny', actions: [...r.actions], resources: [...r.resources] };
  });
}

export function clientToProto(c: OAuthClient) {
  return {
    id: c.id,
    accountId: c.accountId,
    name: c.name,
    type: typeToProto[c.type],
    redirectUris: c.redirectUris,
    postLogoutRedirectUris: c.postLogoutRedirectUris,
    scopes: c.scopes,
    firstParty: c.firstParty,
    disabled: c.disabled,
    confidential: isConfidential(c.type),
    aclRules: (c.aclRules ?? []).map((r) => ({ effect: r.effect === 'allow' ? Effect.ALLOW : Effect.DENY, actions: r.actions, resources: r.resources })),
    aclTokenId: c.aclTokenId ?? '',
    idTokenSignedResponseAlg: c.idTokenAlg,
    createdAtMs: BigInt(c.createdAtMs),
    updatedAtMs: BigInt(c.updatedAtMs),
  };
}

/** OAuth clients: an account's owners/admins (or master/standard tokens, mesh services) manage them. */
export function clientHandlers(deps: { clients: OAuthClients; requireAdmin: RequireAdmin; audit: (events: AuditEventInput[]) => Promise<void> }): Partial<ServiceImpl<typeof IdentityService>> {
  const { clients, requireAdmin } = deps;
  const audited = (actor: Parameters<typeof actorFields>[0], client: OAuthClient, change: string) => {
    const { actorUserId, details } = actorFields(actor);
    return deps.audit([{ kind: 'oauth_client_changed', outcome: 'success', actorUserId, accountId: client.accountId, subject: client.id, details: { ...details, change } }]);
  };
  /** Authenticates before answering whether the client exists: an anonymous caller learns nothing. */
  async function guarded(ctx: CallContext, clientId: string, operation: 'read' | 'write') {
    const client = await clients.find(required(clientId, 'client_id'));
    try {
      const actor = await requireAdmin(ctx, client?.accountId ?? '', operation);
      if (!client) throw notFound('client_id', 'client');
      return { client, actor };
    } catch (error) {
      if (!client && isAppError(error) && error.code === 'NOT_FOUND') throw notFound('client_id', 'client');
      throw error;
    }
  }
  return {
    async createClient(req, ctx) {
      const accountId = required(req.accountId, 'account_id');
      const actor = await requireAdmin(ctx, accountId, 'write');
      const type = typeOf[req.type];
      if (!type) throw invalidArgument('type', 'must be WEB, SPA, NATIVE, SERVICE or DEVICE');
      const { client, secret } = await clients.create({ accountId, name: req.name, type, redirectUris: req.redirectUris, postLogoutRedirectUris: req.postLogoutRedirectUris, scopes: req.scopes, firstParty: req.firstParty, aclRules: rulesFromProto(req.aclRules), idTokenAlg: parseIdTokenAlg(req.idTokenSignedResponseAlg) });
      await audited(actor, client, 'created');
      return { client: clientToProto(client), clientSecret: secret ?? '' };
    },
    async listClients(req, ctx) {
      const accountId = required(req.accountId, 'account_id');
      await requireAdmin(ctx, accountId, 'read');
      return { clients: (await clients.list(accountId)).map(clientToProto) };
    },
    async getClient(req, ctx) {
      const { client } = await guarded(ctx, req.clientId, 'read');
      return { client: clientToProto(client) };
    },
    async updateClient(req, ctx) {
      const { client: current, actor } = await guarded(ctx, req.clientId, 'write');
      const client = await clients.update(current.id, {
        name: req.name,
        disabled: req.disabled,
        firstParty: req.firstParty,
        redirectUris: req.redirectUris?.values,
        postLogoutRedirectUris: req.postLogoutRedirectUris?.values,
        scopes: req.scopes?.values,
        aclRules: req.aclRules ? rulesFromProto(req.aclRules.rules) : undefined,
        idTokenAlg: req.idTokenSignedResponseAlg !== undefined ? parseIdTokenAlg(req.idTokenSignedResponseAlg) : undefined,
      });
      await audited(actor, client, req.disabled === true ? 'disabled' : 'updated');
      return { client: clientToProto(client) };
    },
    async rotateClientSecret(req, ctx) {
      const { client: current, actor } = await guarded(ctx, req.clientId, 'write');
      const { client, secret } = await clients.rotateSecret(current.id);
      await audited(actor, client, 'secret_rotated');
      return { client: clientToProto(client), clientSecret: secret };
    },
    async deleteClient(req, ctx) {
      const { client: current, actor } = await guarded(ctx, req.clientId, 'write');
      await clients.remove(current.id);
      await audited(actor, current, 'deleted');
      return {};
    },
  };
}
