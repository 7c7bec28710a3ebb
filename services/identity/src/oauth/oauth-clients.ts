import { randomBytes } from 'node:crypto';
import { failedPrecondition, invalidArgument, notFound } from '#libs/errors/index.ts';
import { canBindRules, isConfidential, validateClientSettings, type AclRule, type IdTokenAlg, type OAuthClient, type OAuthClientType } from '../domain/oauth-client.ts';
import type { Clock, OAuthClientStore } from '../domain/ports.ts';
import { hashClientSecret } from './oidc-provider-factory.ts';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** `cli_` + 20 Crockford base32 characters (100 random bits), like every other Tollgate id. */
export function newClientId(): string {
  let id = 'cli_';
  for (const b of randomBytes(20)) id += ALPHABET[b & 31];
  return id;
}

/** `tgcs_` + 43 base64url characters: 32 random bytes, so SHA-256 at rest is enough (no slow hash needed). */
export function newClientSecret(): string {
  return `tgcs_${randomBytes(32).toString('base64url')}`;
}

/**
 * authz's acl tokens, written with identity's service credential: a bound client's rules live in
 * one acl token, so authz validates them (one rule module) and revoking it reaches every broker
 * through authz's invalidation feed.
 */
export interface AclTokens {
  create(input: { accountId: string; clientId: string; rules: AclRule[] }): Promise<string>;
  update(tokenId: string, rules: AclRule[]): Promise<void>;
  revoke(tokenId: string): Promise<void>;
}

export interface ClientChange {
  name?: string | undefined;
  disabled?: boolean | undefined;
  firstParty?: boolean | undefined;
  redirectUris?: string[] | undefined;
  postLogoutRedirectUris?: string[] | undefined;
  scopes?: string[] | undefined;
  /** Replaces the bound rules; an empty list unbinds. */
  aclRules?: AclRule[] | undefined;
  idTokenAlg?: IdTokenAlg | undefined;
}

/** The client registry's use cases; a secret leaves only in the create/rotate answer. */
export function createOAuthClients(deps: { clients: OAuthClientStore; payloads: { revokeClient(clientId: string): Promise<void> }; clock: Clock; aclTokens: AclTokens }) {
  const { clients } = deps;

  async function find(id: string): Promise<OAuthClient | undefined> {
    return /^cli_[0-9a-z]{20}$/.test(id) ? clients.get(id) : undefined;
  }

  async function get(id: string): Promise<OAuthClient> {
    const client = await find(id);
    if (!client) throw notFound('client_id', 'client');
    return client;
  }

  function checkRules(type: OAuthClientType, rules: AclRule[] | undefined): AclRule[] | null {
    if (!rules || rules.length === 0) return null;
    if (!canBindRules(type)) throw invalidArgument('acl_rules', `only service and device clients are bound to acl rules (this is a ${type} client)`);
    return rules;
  }

  async function create(input: { accountId: string; name: string; type: OAuthClientType; redirectUris: string[]; postLogoutRedirectUris: string[]; scopes: string[]; firstParty: boolean; aclRules?: AclRule[] | undefined; idTokenAlg?: IdTokenAlg | undefined }) {
    const settings = validateClientSettings(input);
    const aclRules = checkRules(input.type, input.aclRules);
    const id = newClientId();
    // The token first: authz validates the rules, and a refusal leaves no client behind.
    const aclTokenId = aclRules ? await deps.aclTokens.create({ accountId: input.accountId, clientId: id, rules: aclRules }) : null;
    const secret = isConfidential(input.type) ? newClientSecret() : undefined;
    const nowMs = deps.clock.nowMs();
    const client: OAuthClient = {
      id,
      accountId: input.accountId,
      ...settings,
      secretHash: secret ? hashClientSecret(secret) : null,
      aclRules,
      aclTokenId,
      firstParty: input.firstParty,
      idTokenAlg: input.idTokenAlg ?? 'EdDSA',
      disabled: false,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
    try {
      await clients.insert(client);
    } catch (error) {
      if (aclTokenId) await deps.aclTokens.revoke(aclTokenId);
      throw error;
    }
    return { client, secret };
  }

  async function update(id: string, change: ClientChange): Promise<OAuthClient> {
    const current = await get(id);
    const settings = validateClientSettings({
      type: current.type,
      name: change.name ?? current.name,
      redirectUris: change.redirectUris ?? current.redirectUris,
      postLogoutRedirectUris: change.postLogoutRedirectUris ?? current.postLogoutRedirectUris,
      scopes: change.scopes ?? current.scopes,
    });
    const aclRules = change.aclRules !== undefined ? checkRules(current.type, change.aclRules) : current.aclRules;
    const disabled = change.disabled ?? current.disabled;
    // The acl token follows the client: rules rewritten in place; disabling revokes it (brokers
    // disconnect the client's connections); enabling again mints a fresh one.
    let aclTokenId = current.aclTokenId;
    if (aclTokenId && (disabled || !aclRules)) {
      await deps.aclTokens.revoke(aclTokenId);
      aclTokenId = null;
    } else if (aclTokenId && aclRules && change.aclRules !== undefined) {
      await deps.aclTokens.update(aclTokenId, aclRules);
    }
    if (!aclTokenId && !disabled && aclRules) aclTokenId = await deps.aclTokens.create({ accountId: current.accountId, clientId: id, rules: aclRules });
    const updated = await clients.update(id, {
      aclRules,
      aclTokenId,
      name: settings.name,
      redirectUris: settings.redirectUris,
      postLogoutRedirectUris: settings.postLogoutRedirectUris,
      scopes: settings.scopes,
      ...(change.disabled !== undefined ? { disabled: change.disabled } : {}),
      ...(change.firstParty !== undefined ? { firstParty: change.firstParty } : {}),
      ...(change.idTokenAlg !== undefined ? { idTokenAlg: change.idTokenAlg } : {}),
      updatedAtMs: deps.clock.nowMs(),
    });
    if (!updated) throw notFound('client_id', 'client');
    // A disabled client's grants and tokens end now, not when they expire.
    if (change.disabled === true) await deps.payloads.revokeClient(id);
    return updated;
  }

  async function rotateSecret(id: string): Promise<{ client: OAuthClient; secret: string }> {
    const current = await get(id);
    if (!isConfidential(current.type)) throw failedPrecondition(`client_id: a ${current.type} client is public and has no secret`);
    const secret = newClientSecret();
    const updated = await clients.update(id, { secretHash: hashClientSecret(secret), updatedAtMs: deps.clock.nowMs() });
    if (!updated) throw notFound('client_id', 'client');
    return { client: updated, secret };
  }

  async function remove(id: string): Promise<OAuthClient> {
    const current = await get(id);
    if (current.aclTokenId) await deps.aclTokens.revoke(current.aclTokenId);
    await deps.payloads.revokeClient(id);
    await clients.delete(id);
    return current;
  }

  return { find, get, create, update, rotateSecret, remove, list: (accountId: string) => clients.listByAccount(accountId) };
}

export type OAuthClients = ReturnType<typeof createOAuthClients>;
