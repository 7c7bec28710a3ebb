import { AppError, isAppError } from '#libs/errors/index.ts';
import type { ServiceClient } from '#libs/rpc/index.ts';
import { Effect, TokenKind, type AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { AclRule } from '../domain/oauth-client.ts';
import type { AclTokens } from '../oauth/oauth-clients.ts';

const toProto = (rules: AclRule[]) => rules.map((r) => ({ effect: r.effect === 'allow' ? Effect.ALLOW : Effect.DENY, actions: r.actions, resources: r.resources }));

/** authz's field names (`rules[0].resources[1]`) are the client's `acl_rules[…]`. */
function renamed(error: unknown): unknown {
  if (isAppError(error) && error.code === 'INVALID_ARGUMENT' && error.field?.startsWith('rules')) {
    const field = `acl_${error.field}`;
    return new AppError('INVALID_ARGUMENT', error.publicMessage.replace(error.field, field), { field, reason: error.reason, cause: error });
  }
  return error;
}

/** The OAuth clients' acl tokens, kept in authz with identity's service credential. */
export function createAuthzAclTokens(authz: ServiceClient<typeof AuthzService>): AclTokens {
  return {
    async create({ accountId, clientId, rules }) {
      try {
        const res = await authz.createToken({ accountId, name: `oauth client ${clientId}`, kind: TokenKind.ACL, rules: toProto(rules), ipAllow: [], ttlSeconds: 0n, shortForm: false });
        return res.token!.id;
      } catch (error) {
        throw renamed(error);
      }
    },
    async update(tokenId, rules) {
      try {
        await authz.updateToken({ tokenId, updateMask: ['rules'], rules: toProto(rules) });
      } catch (error) {
        throw renamed(error);
      }
    },
    async revoke(tokenId) {
      try {
        await authz.revokeToken({ tokenId });
      } catch (error) {
        // Already gone (revoked by an admin, or expired): nothing left to end.
        if (isAppError(error) && (error.code === 'NOT_FOUND' || error.code === 'FAILED_PRECONDITION')) return;
        throw error;
      }
    },
  };
}
