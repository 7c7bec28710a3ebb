import { randomBytes } from 'node:crypto';
import { failedPrecondition, notFound } from '#libs/errors/index.ts';
import { isConfidential, validateClientSettings, type OAuthClient, type OAuthClientType } from '../domain/oauth-client.ts';
import type { Clock } from '../domain/ports.ts';
import type { PostgresOAuthClientStore, PostgresOidcPayloads } from '../store/postgres-oauth-store.ts';
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

export interface ClientChange {
  name?: string | undefined;
  disabled?: boolean | undefined;
  firstParty?: boolean | undefined;
  redirectUris?: string[] | undefined;
  postLogoutRedirectUris?: string[] | undefined;
  scopes?: string[] | undefined;
}

/** The client registry's use cases; a secret leaves only in the create/rotate answer. */
export function createOAuthClients(deps: { clients: PostgresOAuthClientStore; payloads: PostgresOidcPayloads; clock: Clock }) {
  const { clients } = deps;

  async function find(id: string): Promise<OAuthClient | undefined> {
    return /^cli_[0-9a-z]{20}$/.test(id) ? clients.get(id) : undefined;
  }

  async function get(id: string): Promise<OAuthClient> {
    const client = await find(id);
    if (!client) throw notFound('client_id', 'client');
    return client;
  }

  async function create(input: { accountId: string; name: string; type: OAuthClientType; redirectUris: string[]; postLogoutRedirectUris: string[]; scopes: string[]; firstParty: boolean }) {
    const settings = validateClientSettings(input);
    const secret = isConfidential(input.type) ? newClientSecret() : undefined;
    const nowMs = deps.clock.nowMs();
    const client: OAuthClient = {
      id: newClientId(),
      accountId: input.accountId,
      ...settings,
      secretHash: secret ? hashClientSecret(secret) : null,
      aclRules: null,
      firstParty: input.firstParty,
      disabled: false,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
    await clients.insert(client);
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
    const updated = await clients.update(id, {
      name: settings.name,
      redirectUris: settings.redirectUris,
      postLogoutRedirectUris: settings.postLogoutRedirectUris,
      scopes: settings.scopes,
      ...(change.disabled !== undefined ? { disabled: change.disabled } : {}),
      ...(change.firstParty !== undefined ? { firstParty: change.firstParty } : {}),
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
    await deps.payloads.revokeClient(id);
    await clients.delete(id);
    return current;
  }

  return { find, get, create, update, rotateSecret, remove, list: (accountId: string) => clients.listByAccount(accountId) };
}

export type OAuthClients = ReturnType<typeof createOAuthClients>;
