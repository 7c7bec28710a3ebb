import { createHash, timingSafeEqual } from 'node:crypto';
import { isId } from '#libs/crypto/ids.ts';
import { hasTokenSecretShape, isWellFormedTokenSecret, SHORT_FORM_LENGTH } from '#libs/crypto/token-secret.ts';
import { invalidArgument } from '#libs/errors/index.ts';
import type { TokenStore } from '../domain/token-record.ts';
import type { IdentityPeer } from '../clients/identity-peer.ts';
import { looksLikeJwt } from '../clients/jwks-cache.ts';
import { resolvePeerIp, type AuthenticateOutcome, type Credential, type PeerIp } from './credential.ts';
import type { CachedToken, TokenCache } from './token-cache.ts';
import type { DecideToken } from './token-decision.ts';
import type { DecideJwt } from './jwt-decision.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** `value` when it is a well-formed token secret (checksum included). */
const tokenSecretOf = (value: string): string | undefined => (value && isWellFormedTokenSecret(value) ? value : undefined);

/** A credential's outcome, and its token's cache entry when it is a token. */
export interface Principal {
  outcome: AuthenticateOutcome;
  entry: CachedToken | undefined;
}

export interface AuthenticateInput {
  username: string;
  password: string;
  bearer: string;
  peerIp: PeerIp;
  ipCheckedElsewhere?: boolean | undefined;
}

/**
 * Which kind of credential was presented — a token secret in any field, flespi's short form, an
 * identity JWT, or a user's password — and who it is. A bad credential is an answer, not an error.
 */
export function createCredentialSniffer(options: { store: TokenStore; identity: IdentityPeer; cache: TokenCache; decideToken: DecideToken; decideJwt: DecideJwt; defaultTtlMs: number }) {
  const { store, identity, cache, decideToken, decideJwt, defaultTtlMs } = options;

  /**
   * A presented credential → who it is. A bad credential is an answer, not an error. A token secret
   * whose token and account are cached is answered at once (no promise); anything else, a promise.
   */
  function authenticate(input: AuthenticateInput): AuthenticateOutcome | Promise<AuthenticateOutcome> {
    // The usual case first: the first field given is a secret this replica has cached (looked up by
    // its SHA-256, as always). A secret found there was issued, so its checksum needs no reading;
    // and with the fields before it empty, it is the one the rules below would have picked.
    const first = input.bearer || input.username || input.password;
    if (hasTokenSecretShape(first)) {
      const cached = cache.freshTokenBySecret(first);
      if (cached) return decideToken(cached, input.peerIp, input.ipCheckedElsewhere);
    }
    const secret = tokenSecretOf(input.bearer) ?? tokenSecretOf(input.username) ?? tokenSecretOf(input.password);
    if (secret !== undefined) {
      const entry = cache.tokenBySecret(secret);
      if (entry instanceof Promise) return entry.then((read) => decideToken(read, input.peerIp, input.ipCheckedElsewhere));
      return decideToken(entry, input.peerIp, input.ipCheckedElsewhere);
    }
    return authenticateOther(input);
  }

  /** Any credential but a token secret: short form, JWT, password (each awaits a store, a key set or identity). */
  async function authenticateOther(input: AuthenticateInput): Promise<AuthenticateOutcome> {
    // flespi short form: username = token id, password = first 16 characters of the secret.
    if (isId(input.username, 'tok') && input.password.length === SHORT_FORM_LENGTH) {
      const entry = await cache.tokenById(input.username);
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
      const outcome = await identity.verifyPassword({ username: input.username, password: input.password, peerIp: resolvePeerIp(input.peerIp) ?? '' });
      if (!outcome.allowed) return { allowed: false, reason: outcome.reason, cacheTtlMs: 0 };
      return {
        allowed: true,
        reason: 'ALLOWED',
        principal: { accountId: outcome.accountId, subject: outcome.userId, kind: 'user', role: outcome.role, superuser: false, tokenId: undefined, expiresAtMs: undefined },
        rules: [],
        cacheTtlMs: defaultTtlMs,
      };
    }
    return { allowed: false, reason: 'CREDENTIAL_MISSING', cacheTtlMs: 0 };
  }

  /**
   * Any `Credential` (token id, secret, JWT, password, remembered login) → its outcome and cached
   * token: at once (no promise) for a token whose entry and account path are cached.
   */
  function principalOf(credential: Credential, peerIp: PeerIp, ipCheckedElsewhere = false): Principal | Promise<Principal> {
    if (credential.authenticated) return rememberedPrincipal(credential.authenticated);
    if (credential.tokenId) {
      if (!isId(credential.tokenId, 'tok')) throw invalidArgument('credential.token_id', 'must be a tok_ id');
      const entry = cache.tokenById(credential.tokenId);
      if (entry instanceof Promise) return entry.then((read) => withOutcome(read, peerIp, ipCheckedElsewhere));
      return withOutcome(entry, peerIp, ipCheckedElsewhere);
    }
    const outcome = authenticate({ username: credential.username ?? '', password: credential.password ?? '', bearer: credential.bearer ?? '', peerIp, ipCheckedElsewhere });
    return outcome instanceof Promise ? outcome.then(withEntry) : withEntry(outcome);
  }

  function withOutcome(entry: CachedToken | undefined, peerIp: PeerIp, ipCheckedElsewhere: boolean): Principal | Promise<Principal> {
    const outcome = decideToken(entry, peerIp, ipCheckedElsewhere);
    return outcome instanceof Promise ? outcome.then((decided) => ({ outcome: decided, entry })) : { outcome, entry };
  }

  function withEntry(outcome: AuthenticateOutcome): Principal {
    const entry = outcome.allowed && outcome.principal.tokenId ? cache.cachedToken(outcome.principal.tokenId) : undefined;
    return { outcome, entry };
  }

  async function rememberedPrincipal(remembered: AuthenticateOutcome): Promise<Principal> {
    // A login remembered by an adapter (a foreign broker's later checks for the same user): the
    // account may have been suspended since, so its state is read again (cached, and dropped on
    // identity's account feed).
    if (remembered.allowed && (await cache.accountPath(remembered.principal.accountId)).some((a) => a.suspended)) {
      return { outcome: { allowed: false, reason: 'ACCOUNT_SUSPENDED', cacheTtlMs: 0 }, entry: undefined };
    }
    return { outcome: remembered, entry: undefined };
  }

  return { authenticate, principalOf };
}

export type CredentialSniffer = ReturnType<typeof createCredentialSniffer>;
