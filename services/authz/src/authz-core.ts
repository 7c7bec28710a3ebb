import { createHash, timingSafeEqual } from 'node:crypto';
import { newId, isId } from '#libs/crypto/ids.ts';
import { generateTokenSecret, hashTokenSecret, isWellFormedTokenSecret, shortFormOf, SHORT_FORM_LENGTH } from '#libs/crypto/token-secret.ts';
import { invalidArgument, notFound, failedPrecondition } from '#libs/errors/index.ts';
import { checkTokenUsable, decisionTtlMs, tokenKinds, type InvalidationEvent, type TokenKind, type TokenPatch, type TokenRecord, type TokenRule, type TokenStore } from './domain/token-record.ts';
import { actorMay, isRole, operationOfAction } from '#libs/policy/role-policy.ts';
import { checkAccess, compileRules, mayConnect, type CompiledAcl } from '#libs/acl/acl-engine.ts';
import { aclActions, type AclAction } from '#libs/acl/acl-rule.ts';
import { compileIpAllowList, isIpAllowed, type IpAllowList } from './domain/ip-allow-list.ts';
import type { IdentityPeer } from './clients/identity-peer.ts';
import { DecisionLog } from './decision-log.ts';
import { looksLikeJwt, type JwtOutcome } from './clients/jwks-cache.ts';

export interface AuthzCoreOptions {
  store: TokenStore;
  identity: IdentityPeer;
  nowMs?: () => number;
  /** Default decision cache TTL. */
  decisionTtlMs?: number;
  /** How long an account path (and its suspension state) is cached; the identity feed clears it sooner. */
  accountCacheMs?: number;
  decisionLog?: DecisionLog;
  /**
   * Count limits on tokens (quota's `tokens` metric): for each account on the path with a limit, its
   * value and whether it is shadow-only. Unset: no count limits.
   */
  tokenCountLimits?: ((accountId: string) => Promise<{ accountId: string; value: number; shadow: boolean }[]>) | undefined;
  /** Every account in a subtree, the root included. */
  subtreeOf?: ((accountId: string) => Promise<string[]>) | undefined;
  /** Verifies identity access tokens (JWT) offline; unset: JWTs are refused as JWT_UNSUPPORTED. */
  verifyJwt?: ((token: string) => Promise<JwtOutcome>) | undefined;
}

export interface Principal {
  accountId: string;
  subject: string;
  kind: TokenKind | 'user';
  /** For users (identity JWT or password): their role in `accountId`. */
  role?: string | undefined;
  superuser: boolean;
  tokenId: string | undefined;
  expiresAtMs: number | undefined;
}

export type AuthenticateOutcome =
  | { allowed: true; reason: 'ALLOWED'; principal: Principal; rules: TokenRule[]; cacheTtlMs: number }
  | { allowed: false; reason: string; cacheTtlMs: number };

export interface Credential {
  /** In-process adapters only: a principal resolved earlier (e.g. a broker's remembered login). */
  authenticated?: AuthenticateOutcome | undefined;
  tokenId?: string | undefined;
  bearer?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
}

export interface AuthorizeInput {
  credential: Credential;
  action: string;
  resources: string[];
  clientId: string;
  peerIp: string | undefined;
  /** Explicit subaccount selector (a parent's master token addressing a subaccount). */
  accountId: string | undefined;
  source: string;
  /**
   * The token's IP allow-list is enforced by another call of the same session (RabbitMQ checks the
   * peer address once, on `vhost`, the only call that carries it): skip it here.
   */
  ipCheckedElsewhere?: boolean | undefined;
  /** `subscribe`: grant a filter overlapping a deny rule, for a caller that checks each delivery (libs/acl). */
  subscribeOverlap?: 'filter' | 'refuse' | undefined;
}

export interface AuthorizeDecision {
  allowed: boolean;
  reason: string;
  cacheTtlMs: number;
  accountId: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const MAX_NAME = 128;

interface CachedToken {
  token: TokenRecord;
  acl: CompiledAcl | undefined;
  ips: IpAllowList | undefined;
  fetchedAtMs: number;
}

/**
 * Authz's use cases: token lifecycle, credential checks and decisions, over caches that the
 * invalidation feed clears on every write (this replica's and, through NOTIFY, every other's).
 */
export function createAuthzCore(options: AuthzCoreOptions) {
  const { store, identity } = options;
  const now = options.nowMs ?? Date.now;
  const defaultTtl = options.decisionTtlMs ?? 60_000;
  const accountCacheMs = options.accountCacheMs ?? 5_000;
  const decisions = options.decisionLog ?? new DecisionLog();
  const tokensById = new Map<string, CachedToken>();
  const idBySecretHash = new Map<string, string>();
  const accountPaths = new Map<string, { path: { id: string; suspended: boolean }[]; atMs: number }>();
  const used = new Set<string>();

  function cacheToken(token: TokenRecord): CachedToken {
    const entry: CachedToken = {
      token,
      acl: token.kind === 'acl' ? compileRules(token.rules) : undefined,
      ips: token.ipAllow.length ? compileIpAllowList(token.ipAllow) : undefined,
      fetchedAtMs: now(),
    };
    if (tokensById.size > 100_000) tokensById.clear();
    tokensById.set(token.id, entry);
    return entry;
  }

  async function tokenById(id: string): Promise<CachedToken | undefined> {
    const hit = tokensById.get(id);
    if (hit && now() - hit.fetchedAtMs < defaultTtl) return hit;
    const token = await store.get(id);
    return token ? cacheToken(token) : undefined;
  }

  async function tokenBySecret(secret: string): Promise<CachedToken | undefined> {
    const hash = hashTokenSecret(secret);
    const id = idBySecretHash.get(hash);
    if (id) {
      const hit = await tokenById(id);
      if (hit) return hit;
    }
    const token = await store.findBySecretHash(hash, now());
    if (!token) return undefined;
    if (idBySecretHash.size > 100_000) idBySecretHash.clear();
    idBySecretHash.set(hash, token.id);
    return cacheToken(token);
  }

  async function accountPath(accountId: string): Promise<{ id: string; suspended: boolean }[]> {
    const hit = accountPaths.get(accountId);
    if (hit && now() - hit.atMs < accountCacheMs) return hit.path;
    const path = await identity.accountPath(accountId);
    if (accountPaths.size > 100_000) accountPaths.clear();
    accountPaths.set(accountId, { path, atMs: now() });
    return path;
  }

  function validateTokenFields(input: { kind: TokenKind; rules: TokenRule[]; ipAllow: string[]; shortForm: boolean; name?: string }): void {
    if (!tokenKinds.includes(input.kind)) throw invalidArgument('kind', 'must be master, standard or acl');
    if (input.name !== undefined && input.name.length > MAX_NAME) throw invalidArgument('name', `must be at most ${MAX_NAME} characters`);
    if (input.kind !== 'acl' && input.rules.length) throw invalidArgument('rules', 'only acl tokens carry rules');
    if (input.kind !== 'acl' && input.shortForm) throw invalidArgument('short_form', 'only acl tokens may use the short form');
    if (input.kind === 'acl') compileRules(input.rules);
    compileIpAllowList(input.ipAllow, 'ip_allow');
  }

  async function createToken(input: {
    accountId: string;
    name: string;
    kind: TokenKind;
    rules: TokenRule[];
    ipAllow: string[];
    expiresAtMs: number | undefined;
    ttlSeconds: number;
    shortForm: boolean;
    createdBy: string;
  }): Promise<{ token: TokenRecord; secret: string }> {
    validateTokenFields(input);
    if (input.expiresAtMs !== undefined && input.expiresAtMs <= now()) throw invalidArgument('expires_at', 'must be in the future');
    if (input.ttlSeconds < 0 || input.ttlSeconds > 10 * 365 * 86_400) throw invalidArgument('ttl_seconds', 'must be between 0 and ten years');
    const path = await identity.accountPath(input.accountId);
    if (path.length === 0) throw notFound('account_id', 'account');
    if (path.some((a) => a.suspended)) throw failedPrecondition('account_id: the account is suspended');
    await assertTokenCount(input.accountId);
    const secret = generateTokenSecret();
    const token = await store.create({
      id: newId('tok'),
      accountId: input.accountId,
      name: input.name,
      kind: input.kind,
      rules: input.rules,
      ipAllow: input.ipAllow,
      expiresAtMs: input.expiresAtMs,
      ttlSeconds: input.ttlSeconds,
      secretHash: hashTokenSecret(secret),
      shortHash: input.shortForm ? sha256(shortFormOf(secret)) : undefined,
      createdBy: input.createdBy,
    });
    return { token, secret };
  }

  /** A `tokens` count limit on the account or an ancestor counts the live tokens of its whole subtree. */
  async function assertTokenCount(accountId: string): Promise<void> {
    if (!options.tokenCountLimits || !options.subtreeOf) return;
    let limits: { accountId: string; value: number; shadow: boolean }[];
    try {
      limits = await options.tokenCountLimits(accountId);
    } catch (error) {
      // Quota unreachable: the count limit cannot be read; creating tokens fails open (logged by the caller's span).
      if ((error as { code?: string }).code === 'UNAVAILABLE' || (error as { code?: string }).code === 'DEADLINE_EXCEEDED') return;
      throw error;
    }
    for (const limit of limits) {
      if (limit.shadow) continue;
      const live = await store.countLive(await options.subtreeOf(limit.accountId), now());
      if (live >= limit.value) {
        throw failedPrecondition(`account_id: the token limit of ${limit.value} set on ${limit.accountId} is reached (${live} live tokens)`, { limiting_account: limit.accountId, limit: String(limit.value) });
      }
    }
  }

  async function decideToken(entry: CachedToken | undefined, peerIp: string | undefined, ipCheckedElsewhere = false): Promise<AuthenticateOutcome> {
    if (!entry) return { allowed: false, reason: 'TOKEN_UNKNOWN', cacheTtlMs: 0 };
    const { token } = entry;
    const t = now();
    const usable = checkTokenUsable(token, t, () => ipCheckedElsewhere || !entry.ips || (peerIp !== undefined && isIpAllowed(entry.ips, peerIp)));
    if (!usable.usable) return { allowed: false, reason: usable.reason, cacheTtlMs: 0 };
    // An acl token whose rules deny `connect` is refused here, so that every path that admits a
    // client — the edge, RabbitMQ, EMQX, go-auth, Envoy, admin RPCs — refuses it alike.
    if (entry.acl && !mayConnect(entry.acl)) return { allowed: false, reason: 'CONNECT_DENIED', cacheTtlMs: 0 };
    const path = await accountPath(token.accountId);
    if (path.length === 0) return { allowed: false, reason: 'ACCOUNT_UNKNOWN', cacheTtlMs: 0 };
    if (path.some((a) => a.suspended)) return { allowed: false, reason: 'ACCOUNT_SUSPENDED', cacheTtlMs: 0 };
    if (token.ttlSeconds > 0) {
      // Sliding TTL: remembered in memory now, written in batches by flushUsage().
      token.lastUsedAtMs = t;
      used.add(token.id);
    }
    return {
      allowed: true,
      reason: 'ALLOWED',
      principal: { accountId: token.accountId, subject: token.id, kind: token.kind, superuser: token.kind === 'master', tokenId: token.id, expiresAtMs: token.expiresAtMs },
      rules: token.rules,
      cacheTtlMs: decisionTtlMs(token, t, defaultTtl),
    };
  }

  /** A presented credential → who it is. A bad credential is an answer, not an error. */
  async function authenticate(input: { username: string; password: string; bearer: string; peerIp: string | undefined; ipCheckedElsewhere?: boolean | undefined }): Promise<AuthenticateOutcome> {
    for (const candidate of [input.bearer, input.username, input.password]) {
      if (candidate && isWellFormedTokenSecret(candidate)) return decideToken(await tokenBySecret(candidate), input.peerIp, input.ipCheckedElsewhere);
    }
    // flespi short form: username = token id, password = first 16 characters of the secret.
    if (isId(input.username, 'tok') && input.password.length === SHORT_FORM_LENGTH) {
      const entry = await tokenById(input.username);
      const expected = entry?.token.shortForm ? await store.getShortHash(entry.token.id) : undefined;
      const given = Buffer.from(sha256(input.password));
      if (!entry || !expected || !timingSafeEqual(given, Buffer.from(expected))) return { allowed: false, reason: 'TOKEN_UNKNOWN', cacheTtlMs: 0 };
      return decideToken(entry, input.peerIp, input.ipCheckedElsewhere);
    }
    const jwt = [input.bearer, input.password].find((v) => v && looksLikeJwt(v));
    if (jwt) return decideJwt(jwt, input.peerIp, input.ipCheckedElsewhere);
    if (input.bearer || input.username.startsWith('tg_') || input.password.startsWith('tg_')) {
      // Looks like a token but the checksum fails: rejected without a database lookup.
      return { allowed: false, reason: 'TOKEN_MALFORMED', cacheTtlMs: 0 };
    }
    if (input.username && input.password) {
      const outcome = await identity.verifyPassword({ username: input.username, password: input.password, peerIp: input.peerIp ?? '' });
      if (!outcome.allowed) return { allowed: false, reason: outcome.reason, cacheTtlMs: 0 };
      return {
        allowed: true,
        reason: 'ALLOWED',
        principal: { accountId: outcome.accountId, subject: outcome.userId, kind: 'user', role: outcome.role, superuser: false, tokenId: undefined, expiresAtMs: undefined },
        rules: [],
        cacheTtlMs: defaultTtl,
      };
    }
    return { allowed: false, reason: 'CREDENTIAL_MISSING', cacheTtlMs: 0 };
  }

  async function decideJwt(token: string, peerIp: string | undefined, ipCheckedElsewhere = false): Promise<AuthenticateOutcome> {
    if (!options.verifyJwt) return { allowed: false, reason: 'JWT_UNSUPPORTED', cacheTtlMs: 0 };
    const verified = await options.verifyJwt(token);
    if (!verified.valid) return { allowed: false, reason: verified.reason, cacheTtlMs: 0 };
    const { claims } = verified;
    if (!claims.acc) return { allowed: false, reason: 'JWT_INVALID', cacheTtlMs: 0 };
    // An OAuth client's token (identity's provider) bound to acl rules: it is exactly that client's
    // acl token — its rules, its revocation (disabling or deleting the client revokes it, and the
    // invalidation feed disconnects its MQTT clients: brokers match the token id as subject), its
    // account — and never outliving the JWT.
    if (typeof claims['tok'] === 'string') {
      const tokenId = claims['tok'];
      if (!isId(tokenId, 'tok')) return { allowed: false, reason: 'JWT_INVALID', cacheTtlMs: 0 };
      const decided = await decideToken(await tokenById(tokenId), peerIp, ipCheckedElsewhere);
      if (!decided.allowed) return decided;
      if (decided.principal.accountId !== claims.acc || decided.principal.kind !== 'acl') return { allowed: false, reason: 'JWT_INVALID', cacheTtlMs: 0 };
      const jwtExpiresAtMs = typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity;
      const expiresAtMs = Math.min(decided.principal.expiresAtMs ?? Infinity, jwtExpiresAtMs);
      return {
        ...decided,
        principal: { ...decided.principal, expiresAtMs: Number.isFinite(expiresAtMs) ? expiresAtMs : undefined },
        cacheTtlMs: Math.max(0, Math.min(decided.cacheTtlMs, jwtExpiresAtMs - now())),
      };
    }
    // A client-credentials token of a client bound to no rules grants nothing in the mesh.
    if (typeof claims['client_id'] === 'string' && claims.sub === claims['client_id']) return { allowed: false, reason: 'OAUTH_CLIENT_UNBOUND', cacheTtlMs: 0 };
    const path = await accountPath(claims.acc);
    if (path.length === 0) return { allowed: false, reason: 'ACCOUNT_UNKNOWN', cacheTtlMs: 0 };
    if (path.some((a) => a.suspended)) return { allowed: false, reason: 'ACCOUNT_SUSPENDED', cacheTtlMs: 0 };
    const expiresAtMs = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
    const role = ['owner', 'admin', 'member', 'viewer'].find((r) => claims.roles?.includes(r));
    return {
      allowed: true,
      reason: 'ALLOWED',
      principal: { accountId: claims.acc, subject: claims.sub, kind: 'user', role, superuser: false, tokenId: undefined, expiresAtMs },
      rules: [],
      cacheTtlMs: Math.max(0, Math.min(defaultTtl, (expiresAtMs ?? Infinity) - now())),
    };
  }

  async function principalOf(credential: Credential, peerIp: string | undefined, ipCheckedElsewhere = false): Promise<{ outcome: AuthenticateOutcome; entry: CachedToken | undefined }> {
    if (credential.authenticated) {
      // A login remembered by an adapter (a foreign broker's later checks for the same user): the
      // account may have been suspended since, so its state is read again (cached, and dropped on
      // identity's account feed).
      const remembered = credential.authenticated;
      if (remembered.allowed && (await accountPath(remembered.principal.accountId)).some((a) => a.suspended)) {
        return { outcome: { allowed: false, reason: 'ACCOUNT_SUSPENDED', cacheTtlMs: 0 }, entry: undefined };
      }
      return { outcome: remembered, entry: undefined };
    }
    if (credential.tokenId) {
      if (!isId(credential.tokenId, 'tok')) throw invalidArgument('credential.token_id', 'must be a tok_ id');
      const entry = await tokenById(credential.tokenId);
      return { outcome: await decideToken(entry, peerIp, ipCheckedElsewhere), entry };
    }
    const outcome = await authenticate({ username: credential.username ?? '', password: credential.password ?? '', bearer: credential.bearer ?? '', peerIp, ipCheckedElsewhere });
    const entry = outcome.allowed && outcome.principal.tokenId ? tokensById.get(outcome.principal.tokenId) : undefined;
    return { outcome, entry };
  }

  /** May this credential do `action` on each resource? One answer per resource, in order. */
  async function authorize(input: AuthorizeInput): Promise<AuthorizeDecision[]> {
    if (!(aclActions as readonly string[]).includes(input.action)) throw invalidArgument('action', `must be one of ${aclActions.join(', ')}`);
    if (input.resources.length === 0 && input.action !== 'connect') throw invalidArgument('resource', 'is required');
    if (input.resources.length > 1_000) throw invalidArgument('resources', 'at most 1000 per call');
    const action = input.action as AclAction;
    const { outcome, entry } = await principalOf(input.credential, input.peerIp, input.ipCheckedElsewhere ?? false);
    const resources = input.resources.length ? input.resources : [''];
    const answer = (allowed: boolean, reason: string, ttl: number, accountId: string) =>
      resources.map((resource) => {
        decisions.record({ atMs: now(), allowed, reason, action, resource, accountId, subject: outcome.allowed ? outcome.principal.subject : '', clientId: input.clientId, peerIp: input.peerIp ?? '', source: input.source });
        return { allowed, reason, cacheTtlMs: ttl, accountId };
      });
    if (!outcome.allowed) return answer(false, outcome.reason, 0, '');
    const principal = outcome.principal;
    let accountId = principal.accountId;
    if (input.accountId && input.accountId !== principal.accountId) {
      // A parent's master token reaches a subaccount only when the request names it.
      const path = await accountPath(input.accountId);
      // Recorded in the caller's own account: the account it named learns nothing of a stranger's attempt.
      if (principal.kind !== 'master' || !path.some((a) => a.id === principal.accountId)) return answer(false, 'ACCOUNT_NOT_IN_SCOPE', 0, principal.accountId);
      if (path.some((a) => a.suspended)) return answer(false, 'ACCOUNT_SUSPENDED', 0, input.accountId);
      accountId = input.accountId;
    }
    const ttl = outcome.cacheTtlMs;
    if (principal.kind !== 'acl') {
      // Users by role, master and standard tokens by kind: the role table (libs/policy/role-policy.ts).
      const actor = principal.kind === 'user' ? { kind: 'user' as const, role: isRole(principal.role) ? principal.role : undefined } : { kind: principal.kind };
      if (actorMay(actor, operationOfAction(action))) return answer(true, 'ALLOWED', ttl, accountId);
      return answer(false, principal.kind === 'user' ? 'ROLE_NOT_ALLOWED' : 'KIND_NOT_ALLOWED', ttl, accountId);
    }
    const acl = entry?.acl ?? compileRules(outcome.rules);
    const vars = { account: accountId, token: principal.tokenId ?? '', client_id: input.clientId, username: input.credential.username ?? '' };
    return resources.map((resource) => {
      const decision = checkAccess(acl, input.subscribeOverlap ? { action, resource, vars, subscribeOverlap: input.subscribeOverlap } : { action, resource, vars });
      decisions.record({ atMs: now(), allowed: decision.allowed, reason: decision.reason, action, resource, accountId, subject: principal.subject, clientId: input.clientId, peerIp: input.peerIp ?? '', source: input.source });
      return { allowed: decision.allowed, reason: decision.reason, cacheTtlMs: ttl, accountId };
    });
  }

  async function updateToken(id: string, patch: TokenPatch): Promise<TokenRecord> {
    const current = (await store.get(id)) ?? (() => { throw notFound('token_id', 'token'); })();
    if (patch.name !== undefined && patch.name.length > MAX_NAME) throw invalidArgument('name', `must be at most ${MAX_NAME} characters`);
    if (patch.rules !== undefined) validateTokenFields({ kind: current.kind, rules: patch.rules, ipAllow: [], shortForm: false });
    if (patch.ipAllow !== undefined) compileIpAllowList(patch.ipAllow, 'ip_allow');
    if (typeof patch.expiresAtMs === 'number' && patch.expiresAtMs <= now()) throw invalidArgument('expires_at', 'must be in the future');
    if (patch.ttlSeconds !== undefined && (patch.ttlSeconds < 0 || patch.ttlSeconds > 10 * 365 * 86_400)) throw invalidArgument('ttl_seconds', 'must be between 0 and ten years');
    const token = await store.update(id, patch, now());
    if (!token) throw notFound('token_id', 'token');
    forget(id);
    return token;
  }

  async function rotateToken(id: string, graceSeconds: number): Promise<{ token: TokenRecord; secret: string }> {
    if (graceSeconds < 0 || graceSeconds > 30 * 86_400) throw invalidArgument('grace_seconds', 'must be between 0 and 30 days');
    const secret = generateTokenSecret();
    const token = await store.rotate(id, hashTokenSecret(secret), sha256(shortFormOf(secret)), graceSeconds > 0 ? now() + graceSeconds * 1000 : undefined, now());
    if (!token) throw notFound('token_id', 'token');
    forget(id);
    return { token, secret };
  }

  async function revokeToken(id: string): Promise<TokenRecord> {
    const token = await store.revoke(id, now());
    if (!token) throw notFound('token_id', 'token');
    forget(id);
    return token;
  }

  function forget(tokenId: string): void {
    tokensById.delete(tokenId);
    for (const [hash, id] of idBySecretHash) if (id === tokenId) idBySecretHash.delete(hash);
  }

  /** Applies one feed event to this replica's caches. */
  function onInvalidation(event: InvalidationEvent): void {
    if (event.kind === 'RESET') {
      tokensById.clear();
      idBySecretHash.clear();
      accountPaths.clear();
      return;
    }
    if (event.tokenId) forget(event.tokenId);
    if (event.kind === 'ACCOUNT_SUSPENDED') accountPaths.clear();
  }

  /** An account changed (identity's feed): account paths and suspension states are read again. */
  function forgetAccounts(): void {
    accountPaths.clear();
  }

  /**
   * A token already known by id (an adapter remembered its login) decided again as of now, from
   * `peerIp`: revoked, expired, suspended or outside its IP allow-list since.
   */
  async function authenticateTokenId(tokenId: string, peerIp: string | undefined): Promise<AuthenticateOutcome> {
    return decideToken(await tokenById(tokenId), peerIp);
  }

  /** Writes last-use times for sliding TTLs in one batch. */
  async function flushUsage(): Promise<void> {
    if (used.size === 0) return;
    const ids = [...used];
    used.clear();
    await store.touch(ids, now());
  }

  return { store, identity, decisions, accountPath, authenticateTokenId, createToken, updateToken, rotateToken, authenticate, authorize, revokeToken, onInvalidation, forgetAccounts, flushUsage };
}

export type AuthzCore = ReturnType<typeof createAuthzCore>;
