import { randomBytes } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import * as oidc from 'openid-client';
import type { SecretBox } from '#libs/crypto/secret-box.ts';
import { AppError, invalidArgument, isAppError, notFound } from '#libs/errors/index.ts';
import type { AuditEventInput } from '../domain/audit-event.ts';
import { decideSsoLink, type SsoProvisioning, type SsoRefusal } from '../domain/sso-policy.ts';
import type { Clock, SsoConnectionRecord, SsoStore } from '../domain/ports.ts';
import type { IdentityCore } from '../identity-core.ts';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const DISCOVERY_TTL_MS = 5 * 60_000;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function newConnectionId(): string {
  let id = 'sso_';
  for (const b of randomBytes(20)) id += ALPHABET[b & 31];
  return id;
}

const aad = (id: string) => `sso-connection:${id}`;

/** Claims identity uses from an upstream ID token or SAML assertion. */
export interface UpstreamClaims {
  sub: string;
  preferred_username?: unknown;
  email?: unknown;
  /** The upstream vouches for `email` (OIDC `email_verified: true`; SAML: the IdP's email attribute). */
  emailTrusted: boolean;
}

export type UpstreamUser = { ok: true; userId: string } | { ok: false; reason: SsoRefusal; message: string };

const refusalText: Record<SsoRefusal, string> = {
  NOT_INVITED: 'You are not a member of this account. Ask an administrator to invite you.',
  NOT_A_MEMBER: 'You are no longer a member of this account.',
  EMAIL_AMBIGUOUS: 'More than one member of this account has your email address. Ask an administrator.',
  EMAIL_LINKED_ELSEWHERE: 'The member with your email address is already linked to another identity at this provider.',
};

function parseProvisioning(value: string | undefined): SsoProvisioning {
  const provisioning = value || 'invited';
  if (provisioning !== 'invited' && provisioning !== 'jit') throw invalidArgument('provisioning', 'must be invited or jit');
  return provisioning;
}

/**
 * Single sign-on from an account's upstream OpenID Connect provider (openid-client as the relying
 * party) or SAML IdP. Who the person is here is `decideSsoLink` (domain/sso-policy.ts): linked by
 * (connection, upstream subject), or on first sign-in by an email the upstream vouches for, or —
 * on a `jit` connection only — created as a member with the connection's default role. Every
 * link, refusal and sign-in is audited (`sso_linked`, `sso_refused`, `sso_login`).
 */
export function createUpstreamSso(deps: { store: SsoStore; secretBox: SecretBox; clock: Clock; core: IdentityCore; audit: (events: AuditEventInput[]) => Promise<void> }) {
  const configs = new Map<string, { config: oidc.Configuration; atMs: number }>();

  async function create(input: { accountId: string; name: string; issuer: string; clientId: string; clientSecret: string; defaultRole: string; kind?: string; samlEntryPoint?: string; samlIdpCert?: string; provisioning?: string }): Promise<SsoConnectionRecord> {
    const kind = input.kind || 'oidc';
    parseProvisioning(input.provisioning);
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
      provisioning: parseProvisioning(input.provisioning),
      createdAtMs: deps.clock.nowMs(),
    };
    await deps.store.insert(record);
    return record;
  }

  /** A SAML 2.0 IdP: its entity ID, single sign-on URL (HTTP-Redirect) and signing certificate. */
  async function createSaml(input: { accountId: string; name: string; issuer: string; defaultRole: string; samlEntryPoint?: string; samlIdpCert?: string; provisioning?: string }): Promise<SsoConnectionRecord> {
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
      provisioning: parseProvisioning(input.provisioning),
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

  /** The Tollgate user behind an upstream sign-in (see decideSsoLink); refusals are audited. */
  async function userFor(connection: SsoConnectionRecord, claims: UpstreamClaims, ip: string | null): Promise<UpstreamUser> {
    const base = { accountId: connection.accountId, ip, details: { method: 'sso', connection: connection.id } };
    const linkedId = await deps.store.linkedUser(connection.id, claims.sub);
    const linkedUser = linkedId ? await deps.core.store.getUser(linkedId) : undefined;
    const email = typeof claims.email === 'string' && claims.email.includes('@') && claims.email.length <= 254 ? claims.email : undefined;
    const matches = !linkedId && claims.emailTrusted && email ? await deps.core.store.findMembersByEmail(connection.accountId, email) : [];
    const decision = decideSsoLink({
      linked: linkedId ? { userId: linkedId, isMember: linkedUser?.memberships.some((m) => m.accountId === connection.accountId) ?? false } : undefined,
      emailTrusted: claims.emailTrusted && email !== undefined,
      emailMatches: await Promise.all(matches.map(async (u) => ({ userId: u.id, linkedSubject: await deps.store.subjectOf(connection.id, u.id) }))),
      provisioning: connection.provisioning,
    });
    switch (decision.kind) {
      case 'linked':
        return { ok: true, userId: decision.userId };
      case 'refuse':
        await deps.audit([{ ...base, kind: 'sso_refused', outcome: 'denied', reason: decision.reason, actorUserId: linkedId ?? null, subject: linkedId ?? null }]);
        return { ok: false, reason: decision.reason, message: refusalText[decision.reason] };
      case 'link_by_email':
        try {
          await deps.store.link(connection.id, claims.sub, decision.userId, deps.clock.nowMs());
        } catch (error) {
          // A parallel first sign-in linked this member (or this subject) a moment ago.
          if (!isAppError(error) || error.code !== 'ALREADY_EXISTS') throw error;
          await deps.audit([{ ...base, kind: 'sso_refused', outcome: 'denied', reason: 'EMAIL_LINKED_ELSEWHERE', actorUserId: decision.userId, subject: decision.userId }]);
          return { ok: false, reason: 'EMAIL_LINKED_ELSEWHERE', message: refusalText.EMAIL_LINKED_ELSEWHERE };
        }
        await deps.audit([{ ...base, kind: 'sso_linked', outcome: 'success', actorUserId: decision.userId, subject: decision.userId, reason: 'VERIFIED_EMAIL' }]);
        return { ok: true, userId: decision.userId };
      case 'provision':
        break;
    }
    // Just-in-time: a member with the connection's default role. The password is never used to
    // sign in: the user exists for its upstream identity alone.
    const password = randomBytes(32).toString('base64url');
    let username = usernameFor(connection, claims);
    let created;
    try {
      created = await deps.core.createUser({ username, password, accountId: connection.accountId, role: connection.defaultRole, email: email && claims.emailTrusted ? email : undefined });
    } catch (error) {
      if (!isAppError(error) || error.code !== 'ALREADY_EXISTS') throw error;
      username = `${username.slice(0, 110)}-${randomBytes(3).toString('hex')}`;
      created = await deps.core.createUser({ username, password, accountId: connection.accountId, role: connection.defaultRole });
    }
    await deps.store.link(connection.id, claims.sub, created.id, deps.clock.nowMs());
    await deps.audit([
      { ...base, kind: 'member_added', outcome: 'success', actorUserId: null, subject: created.id, details: { ...base.details, role: connection.defaultRole } },
      { ...base, kind: 'sso_linked', outcome: 'success', actorUserId: created.id, subject: created.id, reason: 'PROVISIONED' },
    ]);
    return { ok: true, userId: created.id };
  }

  /** A completed upstream sign-in (after Tollgate's TOTP step when one applied). */
  async function signedIn(connection: SsoConnectionRecord, userId: string, secondFactor: 'upstream_mfa' | 'totp' | 'none', ip: string | null): Promise<void> {
    await deps.audit([{ kind: 'sso_login', outcome: 'success', actorUserId: userId, subject: userId, accountId: connection.accountId, ip, details: { method: 'sso', connection: connection.id, second_factor: secondFactor } }]);
  }

  /** A refusal after the link (e.g. TOTP enrollment required). */
  async function refused(connection: SsoConnectionRecord, userId: string | null, reason: string, ip: string | null): Promise<void> {
    await deps.audit([{ kind: 'sso_refused', outcome: 'denied', reason, actorUserId: userId, subject: userId, accountId: connection.accountId, ip, details: { method: 'sso', connection: connection.id } }]);
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
    signedIn,
    refused,
  };
}

export type UpstreamSso = ReturnType<typeof createUpstreamSso>;
