import { randomBytes } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import * as oidc from 'openid-client';
import type { SecretBox } from '#libs/crypto/secret-box.ts';
import { AppError, invalidArgument, isAppError, notFound } from '#libs/errors/index.ts';
import type { AuditEventInput } from '../domain/audit-event.ts';
import type { Clock } from '../domain/ports.ts';
import type { IdentityCore } from '../identity-core.ts';
import type { PostgresSsoStore, SsoConnectionRecord } from '../store/postgres-sso-store.ts';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const DISCOVERY_TTL_MS = 5 * 60_000;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function newConnectionId(): string {
  let id = 'sso_';
  for (const b of randomBytes(20)) id += ALPHABET[b & 31];
  return id;
}

const aad = (id: string) => `sso-connection:${id}`;

/** Claims identity uses from an upstream ID token. */
export interface UpstreamClaims {
  sub: string;
  preferred_username?: unknown;
  email?: unknown;
}

/**
 * Single sign-on from an account's upstream OpenID Connect provider (openid-client as the relying
 * party). A user who signs in through a connection is linked by (connection, upstream `sub`) — never
 * by email, which the upstream may let anyone claim — and is created on first sign-in as a member
 * of the connection's account with its default role.
 */
export function createUpstreamSso(deps: { store: PostgresSsoStore; secretBox: SecretBox; clock: Clock; core: IdentityCore; audit: (events: AuditEventInput[]) => Promise<void> }) {
  const configs = new Map<string, { config: oidc.Configuration; atMs: number }>();

  async function create(input: { accountId: string; name: string; issuer: string; clientId: string; clientSecret: string; defaultRole: string; kind?: string; samlEntryPoint?: string; samlIdpCert?: string }): Promise<SsoConnectionRecord> {
    const kind = input.kind || 'oidc';
    if (kind !== 'oidc' && kind !== 'saml') throw invalidArgument('kind', 'must be oidc or saml');
    if (kind === 'saml') return createSaml(input);
    const name = input.name.trim();
    if (name.length < 1 || name.length > 60) throw invalidArgument('name', 'must be 1-60 characters');
    let issuer: URL;
    try {
      issuer = new URL(input.issuer);
    } catch {
      throw invalidArgument('issuer', 'must be an absolute URL');
    }
    if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname))) throw invalidArgument('issuer', 'must use https (http only for localhost)');
    if (issuer.search || issuer.hash) throw invalidArgument('issuer', 'must not have a query or fragment');
    if (!input.clientId || input.clientId.length > 255) throw invalidArgument('client_id', 'is required (at most 255 characters)');
    if (!input.clientSecret || input.clientSecret.length > 512) throw invalidArgument('client_secret', 'is required (at most 512 characters)');
    const defaultRole = input.defaultRole || 'member';
    if (!['admin', 'member', 'viewer'].includes(defaultRole)) throw invalidArgument('default_role', 'must be admin, member or viewer');
    await deps.core.getAccount(input.accountId);
    const id = newConnectionId();
    const record: SsoConnectionRecord = {
      id,
      accountId: input.accountId,
      kind: 'oidc',
      samlEntryPoint: null,
      samlIdpCert: null,
      name,
      issuer: input.issuer.replace(/\/+$/, ''),
      clientId: input.clientId,
      sealedClientSecret: deps.secretBox.seal(input.clientSecret, aad(id)),
      defaultRole: defaultRole as SsoConnectionRecord['defaultRole'],
      createdAtMs: deps.clock.nowMs(),
    };
    await deps.store.insert(record);
    return record;
  }

  /** A SAML 2.0 IdP: its entity ID, single sign-on URL (HTTP-Redirect) and signing certificate. */
  async function createSaml(input: { accountId: string; name: string; issuer: string; defaultRole: string; samlEntryPoint?: string; samlIdpCert?: string }): Promise<SsoConnectionRecord> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 60) throw invalidArgument('name', 'must be 1-60 characters');
    if (!input.issuer || input.issuer.length > 1024) throw invalidArgument('issuer', "is required: the IdP's entity ID");
    let entry: URL;
    try {
      entry = new URL(input.samlEntryPoint ?? '');
    } catch {
      throw invalidArgument('saml_entry_point', 'must be an absolute URL');
    }
    if (entry.protocol !== 'https:' && !(entry.protocol === 'http:' && LOOPBACK.has(entry.hostname))) throw invalidArgument('saml_entry_point', 'must use https (http only for localhost)');
    try {
      new X509Certificate(input.samlIdpCert ?? '');
    } catch {
      throw invalidArgument('saml_idp_certificate', 'must be a PEM X.509 certificate');
    }
    const defaultRole = input.defaultRole || 'member';
    if (!['admin', 'member', 'viewer'].includes(defaultRole)) throw invalidArgument('default_role', 'must be admin, member or viewer');
    await deps.core.getAccount(input.accountId);
    const record: SsoConnectionRecord = {
      id: newConnectionId(),
      accountId: input.accountId,
      kind: 'saml',
      name,
      issuer: input.issuer,
      clientId: null,
      sealedClientSecret: null,
      samlEntryPoint: entry.href,
      samlIdpCert: input.samlIdpCert!,
      defaultRole: defaultRole as SsoConnectionRecord['defaultRole'],
      createdAtMs: deps.clock.nowMs(),
    };
    await deps.store.insert(record);
    return record;
  }

  /**
   * node-saml for one SAML exchange: the request id is ours (carried in the sealed RelayState), and
   * the "cache" node-saml checks InResponseTo against knows exactly that id — so a response must
   * answer the request this browser started, on any replica.
   */
  function samlFor(connection: SsoConnectionRecord, urls: { spEntityId: string; acs: string }, request: { id: string; createdAtMs: number }): SAML {
    return new SAML({
      issuer: urls.spEntityId,
      callbackUrl: urls.acs,
      entryPoint: connection.samlEntryPoint!,
      idpCert: connection.samlIdpCert!,
      idpIssuer: connection.issuer,
      audience: urls.spEntityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: 30_000,
      generateUniqueId: () => request.id,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: 600_000,
      cacheProvider: {
        saveAsync: async (key, value) => ({ value, createdAt: deps.clock.nowMs() }),
        getAsync: async (key) => (key === request.id ? new Date(request.createdAtMs).toISOString() : null),
        removeAsync: async (key) => key,
      },
    });
  }

  /** The upstream's configuration (discovery), cached a few minutes per connection. */
  async function configFor(connection: SsoConnectionRecord): Promise<oidc.Configuration> {
    const cached = configs.get(connection.id);
    if (cached && deps.clock.nowMs() - cached.atMs < DISCOVERY_TTL_MS) return cached.config;
    if (connection.kind !== 'oidc' || !connection.clientId || !connection.sealedClientSecret) throw new AppError('FAILED_PRECONDITION', 'not an OIDC connection');
    const secret = deps.secretBox.openText(connection.sealedClientSecret, aad(connection.id));
    const insecure = new URL(connection.issuer).protocol === 'http:';
    const config = await oidc.discovery(new URL(connection.issuer), connection.clientId, undefined, oidc.ClientSecretBasic(secret), insecure ? { execute: [oidc.allowInsecureRequests] } : undefined);
    configs.set(connection.id, { config, atMs: deps.clock.nowMs() });
    return config;
  }

  function usernameFor(connection: SsoConnectionRecord, claims: UpstreamClaims): string {
    const wanted = [claims.preferred_username, claims.email, claims.sub].find((v): v is string => typeof v === 'string' && v.length > 0) ?? 'user';
    const clean = wanted.replace(/[^A-Za-z0-9._@+-]/g, '-').slice(0, 100);
    return `${clean.length >= 2 ? clean : 'user'}.${connection.id.slice(-6)}`;
  }

  /** The Tollgate user behind an upstream sign-in: linked, or created now. */
  async function userFor(connection: SsoConnectionRecord, claims: UpstreamClaims, ip: string | null): Promise<string> {
    const linked = await deps.store.linkedUser(connection.id, claims.sub);
    if (linked) {
      const user = await deps.core.store.getUser(linked);
      if (!user?.memberships.some((m) => m.accountId === connection.accountId)) throw new AppError('PERMISSION_DENIED', 'the linked user is no longer a member of the account', { reason: 'NOT_A_MEMBER' });
      await deps.audit([{ kind: 'login_ok', outcome: 'success', actorUserId: linked, accountId: connection.accountId, subject: linked, ip, details: { method: 'sso', connection: connection.id } }]);
      return linked;
    }
    // Never used to sign in: the account exists for its upstream identity alone.
    const password = randomBytes(32).toString('base64url');
    let username = usernameFor(connection, claims);
    let created;
    try {
      created = await deps.core.createUser({ username, password, accountId: connection.accountId, role: connection.defaultRole });
    } catch (error) {
      if (!isAppError(error) || error.code !== 'ALREADY_EXISTS') throw error;
      username = `${username.slice(0, 110)}-${randomBytes(3).toString('hex')}`;
      created = await deps.core.createUser({ username, password, accountId: connection.accountId, role: connection.defaultRole });
    }
    await deps.store.link(connection.id, claims.sub, created.id, deps.clock.nowMs());
    await deps.audit([
      { kind: 'member_added', outcome: 'success', actorUserId: null, accountId: connection.accountId, subject: created.id, ip, details: { method: 'sso', connection: connection.id, role: connection.defaultRole } },
      { kind: 'login_ok', outcome: 'success', actorUserId: created.id, accountId: connection.accountId, subject: created.id, ip, details: { method: 'sso', connection: connection.id } },
    ]);
    return created.id;
  }

  async function get(id: string): Promise<SsoConnectionRecord> {
    const found = /^sso_[0-9a-z]{20}$/.test(id) ? await deps.store.get(id) : undefined;
    if (!found) throw notFound('connection_id', 'SSO connection');
    return found;
  }

  return {
    create,
    get,
    find: (id: string) => (/^sso_[0-9a-z]{20}$/.test(id) ? deps.store.get(id) : Promise.resolve(undefined)),
    list: (accountIds: string[]) => deps.store.listByAccounts(accountIds),
    async remove(id: string) {
      configs.delete(id);
      return deps.store.delete(id);
    },
    configFor,
    samlFor,
    userFor,
  };
}

export type UpstreamSso = ReturnType<typeof createUpstreamSso>;
