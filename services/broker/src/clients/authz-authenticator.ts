import { boundedCache } from '#libs/cache/bounded-cache.ts';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { ServiceClient } from '#libs/rpc/index.ts';
import { isAppError, isUnavailable } from '#libs/errors/index.ts';
import { actorMay, isRole } from '#libs/policy/role-policy.ts';
import { AuthzService, Effect, TokenKind, type Rule } from '#gen/tollgate/authz/v1/authz_pb.js';
// The ACL engine is pure code shared with authz: the rules snapshot from Authenticate is compiled
// here so that topic checks never leave the process.
import { compileRules, mayConnect, type CompiledAcl } from '#libs/acl/acl-engine.ts';
import type { AuthenticateRequest, AuthenticateResult, Authenticator, TopicAuthorizer } from '../domain/ports.ts';
import { credentialKey } from '../domain/credential-key.ts';
import { CompiledTopicAuthorizer, type SubscribeOverlapMode } from './compiled-topic-authorizer.ts';

export interface AuthzAuthenticatorOptions {
  authz: ServiceClient<typeof AuthzService>;
  /** Decisions may be served from cache this long past their TTL while authz is unreachable. */
  staleLimitMs?: number;
  /** How long a CONNECT waits for authz's Authenticate before it is refused 0x88 (ARCHITECTURE.md §4: 200 ms). */
  authenticateDeadlineMs?: number;
  /** acl token id for clients that send no username (unset: anonymous is refused). */
  anonymousTokenId?: string | undefined;
  nowMs?: () => number;
  onUnavailable?: () => void;
  /** A subscribe filter overlapping a deny rule: granted and filtered per delivery (default), or refused. */
  subscribeOverlap?: SubscribeOverlapMode;
}

/** What a credential resolves to, independent of the connection (client id) presenting it. */
interface Grant {
  principal: { account: string; subject: string; tokenId?: string; grantId?: string; superuser: boolean };
  /** Compiled rules of an acl token; undefined for principals that act by role or kind. */
  acl: CompiledAcl | undefined;
  /** Topic rights of a principal without rules (tokens by kind, users by role), from the role table. */
  byRole: TopicAuthorizer;
  cacheTtlMs: number;
  expiresAtMs: number | undefined;
  /** The username the credential was presented with (part of the cache key): one string for every connection. */
  username: string;
}

interface CachedDecision {
  grant: Grant;
  tokenId: string | undefined;
  grantId: string | undefined;
  accountId: string;
  freshUntilMs: number;
  staleUntilMs: number;
}

/** Every topic of the account, or none, per direction: what the role table gives a principal without rules. */
function topicRights(publish: boolean, subscribe: boolean): TopicAuthorizer {
  return {
    checkPublish: () => (publish ? 'allow' : 'deny'),
    checkSubscribe: () => (subscribe ? 'allow' : 'deny'),
    authorizePublish: async () => publish,
    authorizeSubscribe: async (filters) => filters.map(() => subscribe),
    // Only users act by role with fewer than every right (master and standard tokens have all).
    denyReason: () => 'ROLE_NOT_ALLOWED',
  };
}
// The four possible answers, made once: every connection of such a principal shares one. A
// principal with all of them (RIGHTS[1][1]) is a superuser of its account: no per-topic checks.
const RIGHTS = [[topicRights(false, false), topicRights(false, true)], [topicRights(true, false), topicRights(true, true)]] as const;
/** A user acts by role, a master or standard token by kind (libs/policy/role-policy.ts): publish is `write`, subscribe `read`. */
function rightsOf(kind: TokenKind, role: string): TopicAuthorizer {
  const actor = kind === TokenKind.MASTER ? { kind: 'master' as const } : kind === TokenKind.STANDARD ? { kind: 'standard' as const } : { kind: 'user' as const, role: isRole(role) ? role : undefined };
  return RIGHTS[actorMay(actor, 'write') ? 1 : 0][actorMay(actor, 'read') ? 1 : 0];
}

const toRules = (rules: Rule[]) => rules.map((r) => ({ effect: r.effect === Effect.DENY ? 'deny' : 'allow', actions: [...r.actions], resources: [...r.resources] }));

/**
 * The broker's Authenticator over authz: a credential cache keyed by a hash of (username,
 * password, peer IP) for the TTL authz gives, the token's rules compiled in process, and the
 * failure policy — authz unreachable: new credentials are refused as `unavailable` (CONNACK 0x88),
 * known ones are served from cache up to `staleLimitMs` past their TTL.
 */
export function createAuthzAuthenticator(options: AuthzAuthenticatorOptions): Authenticator & { dropCache(tokenId?: string): void; dropGrant(grantId: string): void; size(): number } {
  const now = options.nowMs ?? Date.now;
  const staleLimitMs = options.staleLimitMs ?? 5 * 60_000;
  const overlap = options.subscribeOverlap ?? 'filter';
  // Bounded: the least recently used credentials go first (never an all-at-once flush).
  const cache = boundedCache<string, CachedDecision>(100_000);

  function grantOf(username: string, res: { principal: { accountId: string; subject: string; kind: TokenKind; tokenId: string; grantId?: string; role?: string; expiresAt?: Parameters<typeof timestampMs>[0] | undefined }; rules: Rule[]; cacheTtlMs: bigint }): Grant | 'connect_denied' {
    const p = res.principal;
    const acl = p.kind === TokenKind.ACL ? compileRules(toRules(res.rules)) : undefined;
    const byRole = rightsOf(p.kind, p.role ?? '');
    // Authenticate refuses such tokens already (CONNECT_DENIED); the anonymous token is read
    // directly, so the engine's one answer is asked here too.
    if (acl && !mayConnect(acl)) return 'connect_denied';
    return {
      principal: { account: p.accountId, subject: p.subject, ...(p.tokenId ? { tokenId: p.tokenId } : {}), ...(p.grantId ? { grantId: p.grantId } : {}), superuser: !acl && byRole === RIGHTS[1][1] },
      acl,
      byRole,
      cacheTtlMs: Number(res.cacheTtlMs),
      expiresAtMs: p.expiresAt ? timestampMs(p.expiresAt) : undefined,
      username,
    };
  }

  /**
   * The per-connection answer: placeholders such as ${client_id} are bound to *this* connection's
   * values — never to whichever connection first presented the same credential.
   */
  function resultFor(grant: Grant, req: AuthenticateRequest): AuthenticateResult {
    const acl = grant.acl ? new CompiledTopicAuthorizer(grant.acl, { account: grant.principal.account, token: grant.principal.tokenId ?? '', client_id: req.clientId, username: grant.username }, overlap) : grant.byRole;
    return { allowed: true, principal: grant.principal, acl, cacheTtlMs: grant.cacheTtlMs, ...(grant.expiresAtMs !== undefined ? { expiresAtMs: grant.expiresAtMs } : {}) };
  }

  async function ask(req: AuthenticateRequest): Promise<Grant | Extract<AuthenticateResult, { allowed: false }>> {
    if (req.username === undefined) {
      if (!options.anonymousTokenId) return { allowed: false, reason: 'not_authorized' };
      const { token } = await options.authz.getToken({ tokenId: options.anonymousTokenId });
      if (!token || token.kind !== TokenKind.ACL || token.revokedAt) return { allowed: false, reason: 'not_authorized' };
      const grant = grantOf('', { principal: { accountId: token.accountId, subject: token.id, kind: token.kind, tokenId: token.id, expiresAt: token.expiresAt }, rules: token.rules, cacheTtlMs: 60_000n });
      return grant === 'connect_denied' ? { allowed: false, reason: 'not_authorized' } : grant;
    }
    const res = await options.authz.authenticate({ protocol: 1, username: req.username, password: req.password?.toString('utf8') ?? '', clientId: req.clientId, peerIp: req.peerIp }, { deadlineMs: options.authenticateDeadlineMs ?? 200 });
    if (!res.allowed || !res.principal) {
      // A known credential that may not connect now is "not authorized" (0x87); an unknown one "bad credentials" (0x86).
      const reason = res.reason === 'TOKEN_EXPIRED' ? 'expired' : res.reason === 'ACCOUNT_SUSPENDED' || res.reason === 'IP_NOT_ALLOWED' || res.reason === 'CONNECT_DENIED' ? 'not_authorized' : 'bad_credentials';
      return { allowed: false, reason };
    }
    const grant = grantOf(req.username, { principal: res.principal, rules: res.rules, cacheTtlMs: res.cacheTtlMs });
    return grant === 'connect_denied' ? { allowed: false, reason: 'not_authorized' } : grant;
  }

  /** A credential not (or no longer) fresh in the cache: asks authz, and applies the failure policy. */
  async function askAndCache(req: AuthenticateRequest, key: string, t: number, hit: CachedDecision | undefined): Promise<AuthenticateResult> {
    try {
      const answer = await ask(req);
      if ('allowed' in answer) {
        cache.delete(key);
        return answer;
      }
      if (answer.cacheTtlMs > 0) {
        cache.set(key, { grant: answer, tokenId: answer.principal.tokenId, grantId: answer.principal.grantId, accountId: answer.principal.account, freshUntilMs: t + answer.cacheTtlMs, staleUntilMs: t + answer.cacheTtlMs + staleLimitMs });
      }
      return resultFor(answer, req);
    } catch (error) {
      // authz unreachable, late, or failing inside: the failure policy below; any other answer stands.
      if (isAppError(error) && !isUnavailable(error) && error.code !== 'INTERNAL') throw error;
      options.onUnavailable?.();
      // Failure policy: keep serving what we knew, up to the stale limit; refuse the unknown.
      if (hit && hit.staleUntilMs > t && (hit.grant.expiresAtMs === undefined || hit.grant.expiresAtMs > t)) return resultFor(hit.grant, req);
      return { allowed: false, reason: 'unavailable', unavailable: true };
    }
  }

  return {
    // A fresh cached credential is answered synchronously (no promise per CONNECT).
    authenticate(req) {
      const key = credentialKey(req, false);
      const t = now();
      const hit = cache.get(key);
      if (hit && hit.freshUntilMs > t) return resultFor(hit.grant, req);
      return askAndCache(req, key, t, hit);
    },
    dropCache(tokenId) {
      if (tokenId === undefined) return cache.clear();
      for (const [key, entry] of [...cache.entries()]) if (entry.tokenId === tokenId) cache.delete(key);
    },
    dropGrant(grantId) {
      for (const [key, entry] of [...cache.entries()]) if (entry.grantId === grantId) cache.delete(key);
    },
    size: () => cache.size,
  };
}
