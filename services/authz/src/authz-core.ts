import { createHash, timingSafeEqual } from 'node:crypto';
import { newId, isId } from '#libs/crypto/ids.ts';
import { generateTokenSecret, hashTokenSecret, isWellFormedTokenSecret, shortFormOf, SHORT_FORM_LENGTH } from '#libs/crypto/token-secret.ts';
import { invalidArgument, notFound, failedPrecondition } from '#libs/errors/index.ts';
import { checkTokenUsable, decisionTtlMs, tokenKinds, type TokenKind, type TokenRecord, type TokenRule, type TokenStore } from './domain/token-record.ts';
import type { IdentityPeer } from './clients/identity-peer.ts';

export interface AuthzCoreOptions {
  store: TokenStore;
  identity: IdentityPeer;
  nowMs?: () => number;
  /** Default decision cache TTL. */
  decisionTtlMs?: number;
  /** IP allow-list check (CIDR and flespi masks). */
  ipAllowed?: (token: TokenRecord, ip: string | undefined) => boolean;
  /** Rule validation for acl tokens (throws INVALID_ARGUMENT naming the rule). */
  validateRules?: (rules: TokenRule[]) => void;
}

export type AuthenticateOutcome =
  | {
      allowed: true;
      reason: 'ALLOWED';
      principal: { accountId: string; subject: string; kind: TokenKind | 'user'; superuser: boolean; tokenId: string | undefined; expiresAtMs: number | undefined };
      rules: TokenRule[];
      cacheTtlMs: number;
    }
  | { allowed: false; reason: string; cacheTtlMs: number };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const MAX_NAME = 128;

/** Token lifecycle and credential checks. ACL rule evaluation lives in domain/ (the ACL engine). */
export function createAuthzCore(options: AuthzCoreOptions) {
  const { store, identity } = options;
  const now = options.nowMs ?? Date.now;
  const defaultTtl = options.decisionTtlMs ?? 60_000;
  const ipAllowed = options.ipAllowed ?? ((t: TokenRecord) => t.ipAllow.length === 0);

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
    if (!tokenKinds.includes(input.kind)) throw invalidArgument('kind', 'must be master, standard or acl');
    if (input.name.length > MAX_NAME) throw invalidArgument('name', `must be at most ${MAX_NAME} characters`);
    if (input.kind !== 'acl' && input.rules.length) throw invalidArgument('rules', 'only acl tokens carry rules');
    if (input.kind !== 'acl' && input.shortForm) throw invalidArgument('short_form', 'only acl tokens may use the short form');
    if (input.kind === 'acl') options.validateRules?.(input.rules);
    if (input.ipAllow.length > 100) throw invalidArgument('ip_allow', 'at most 100 entries');
    if (input.expiresAtMs !== undefined && input.expiresAtMs <= now()) throw invalidArgument('expires_at', 'must be in the future');
    if (input.ttlSeconds < 0 || input.ttlSeconds > 10 * 365 * 86_400) throw invalidArgument('ttl_seconds', 'must be between 0 and ten years');
    const path = await identity.accountPath(input.accountId);
    if (path.length === 0) throw notFound('account_id', 'account');
    if (path.some((a) => a.suspended)) throw failedPrecondition('account_id: the account is suspended');
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

  async function decideToken(token: TokenRecord | undefined, peerIp: string | undefined): Promise<AuthenticateOutcome> {
    if (!token) return { allowed: false, reason: 'TOKEN_UNKNOWN', cacheTtlMs: 0 };
    const t = now();
    const usable = checkTokenUsable(token, t, (tok) => ipAllowed(tok, peerIp));
    if (!usable.usable) return { allowed: false, reason: usable.reason, cacheTtlMs: 0 };
    const path = await identity.accountPath(token.accountId);
    if (path.length === 0) return { allowed: false, reason: 'ACCOUNT_UNKNOWN', cacheTtlMs: 0 };
    if (path.some((a) => a.suspended)) return { allowed: false, reason: 'ACCOUNT_SUSPENDED', cacheTtlMs: 0 };
    return {
      allowed: true,
      reason: 'ALLOWED',
      principal: { accountId: token.accountId, subject: token.id, kind: token.kind, superuser: token.kind === 'master', tokenId: token.id, expiresAtMs: token.expiresAtMs },
      rules: token.rules,
      cacheTtlMs: decisionTtlMs(token, t, defaultTtl),
    };
  }

  /** A presented credential → who it is. A bad credential is an answer, not an error. */
  async function authenticate(input: { username: string; password: string; bearer: string; peerIp: string | undefined }): Promise<AuthenticateOutcome> {
    for (const candidate of [input.bearer, input.username, input.password]) {
      if (candidate && isWellFormedTokenSecret(candidate)) {
        return decideToken(await store.findBySecretHash(hashTokenSecret(candidate), now()), input.peerIp);
      }
    }
    // flespi short form: username = token id, password = first 16 characters of the secret.
    if (isId(input.username, 'tok') && input.password.length === SHORT_FORM_LENGTH) {
      const token = await store.get(input.username);
      const expected = token?.shortForm ? await store.getShortHash(token.id) : undefined;
      const given = Buffer.from(sha256(input.password));
      if (!token || !expected || !timingSafeEqual(given, Buffer.from(expected))) return { allowed: false, reason: 'TOKEN_UNKNOWN', cacheTtlMs: 0 };
      return decideToken(token, input.peerIp);
    }
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
        principal: { accountId: outcome.accountId, subject: outcome.userId, kind: 'user', superuser: false, tokenId: undefined, expiresAtMs: undefined },
        rules: [],
        cacheTtlMs: defaultTtl,
      };
    }
    return { allowed: false, reason: 'CREDENTIAL_MISSING', cacheTtlMs: 0 };
  }

  async function revokeToken(id: string): Promise<TokenRecord> {
    const token = await store.revoke(id, now());
    if (!token) throw notFound('token_id', 'token');
    return token;
  }

  return { store, identity, createToken, authenticate, revokeToken };
}

export type AuthzCore = ReturnType<typeof createAuthzCore>;
