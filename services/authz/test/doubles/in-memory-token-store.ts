import { alreadyExists } from '#libs/errors/index.ts';
import type { InvalidationEvent, InvalidationKind, NewToken, TokenPatch, TokenRecord, TokenStore } from '../../src/domain/token-record.ts';

interface StoredToken {
  record: TokenRecord;
  secretHash: string;
  shortHash: string | undefined;
  previousSecretHash: string | undefined;
  previousValidUntilMs: number | undefined;
}

const copy = (token: TokenRecord): TokenRecord => ({ ...token, rules: token.rules.map((r) => ({ ...r, actions: [...r.actions], resources: [...r.resources] })), ipAllow: [...token.ipAllow] });

/**
 * `TokenStore` in maps, for unit tests and the contract suite (`../contracts/token-store.contract.ts`).
 * It keeps the invalidation feed too, but wakes nobody: there is no NOTIFY in memory.
 */
export class InMemoryTokenStore implements TokenStore {
  readonly #tokens = new Map<string, StoredToken>();
  readonly #feed: (InvalidationEvent & { sourceKey: string | undefined })[] = [];
  /** Revoked OAuth grants and until when the record counts. */
  readonly #revokedGrants = new Map<string, number>();
  readonly #now: () => number;
  #sequence = 0;

  /** `now` stamps `createdAtMs` (Postgres uses the server's `now()`). */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async create(token: NewToken): Promise<TokenRecord> {
    const hashes = [...this.#tokens.values()].flatMap((t) => [t.secretHash, t.shortHash, t.previousSecretHash]);
    if (this.#tokens.has(token.id)) throw alreadyExists('id', 'a token with this id or secret');
    if (hashes.includes(token.secretHash) || (token.shortHash !== undefined && hashes.includes(token.shortHash))) throw alreadyExists('id', 'a token with this id or secret');
    const record: TokenRecord = {
      id: token.id,
      accountId: token.accountId,
      name: token.name,
      kind: token.kind,
      rules: token.rules,
      ipAllow: token.ipAllow,
      expiresAtMs: token.expiresAtMs,
      ttlSeconds: token.ttlSeconds,
      shortForm: token.shortHash !== undefined,
      createdBy: token.createdBy,
      createdAtMs: this.#now(),
      revokedAtMs: undefined,
      lastUsedAtMs: undefined,
    };
    this.#tokens.set(token.id, { record: copy(record), secretHash: token.secretHash, shortHash: token.shortHash, previousSecretHash: undefined, previousValidUntilMs: undefined });
    return copy(record);
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const stored = this.#tokens.get(id);
    return stored && copy(stored.record);
  }

  async countLive(accountIds: readonly string[], nowMs: number): Promise<number> {
    return [...this.#tokens.values()].filter(({ record: t }) => accountIds.includes(t.accountId) && t.revokedAtMs === undefined && (t.expiresAtMs === undefined || t.expiresAtMs > nowMs)).length;
  }

  async getShortHash(id: string): Promise<string | undefined> {
    return this.#tokens.get(id)?.shortHash;
  }

  async findBySecretHash(hash: string, nowMs: number): Promise<TokenRecord | undefined> {
    for (const t of this.#tokens.values()) {
      if (t.secretHash === hash || (t.previousSecretHash === hash && t.previousValidUntilMs !== undefined && t.previousValidUntilMs > nowMs)) return copy(t.record);
    }
    return undefined;
  }

  async list(accountIds: readonly string[], options: { includeRevoked: boolean; limit: number; afterId?: string | undefined }): Promise<TokenRecord[]> {
    return [...this.#tokens.values()]
      .map((t) => t.record)
      .filter((t) => accountIds.includes(t.accountId) && (options.includeRevoked || t.revokedAtMs === undefined) && (!options.afterId || t.id > options.afterId))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, options.limit)
      .map(copy);
  }

  async update(id: string, patch: TokenPatch, _nowMs: number): Promise<TokenRecord | undefined> {
    const stored = this.#tokens.get(id);
    if (!stored) return undefined;
    const t = stored.record;
    if (patch.name !== undefined) t.name = patch.name;
    if (patch.rules !== undefined) t.rules = patch.rules;
    if (patch.ipAllow !== undefined) t.ipAllow = patch.ipAllow;
    if (patch.expiresAtMs !== undefined) t.expiresAtMs = patch.expiresAtMs ?? undefined;
    if (patch.ttlSeconds !== undefined) t.ttlSeconds = patch.ttlSeconds;
    stored.record = copy(t);
    this.#append('TOKEN_UPDATED', id, t.accountId);
    return copy(t);
  }

  async rotate(id: string, secretHash: string, shortHash: string | undefined, graceUntilMs: number | undefined, _nowMs: number): Promise<TokenRecord | undefined> {
    const stored = this.#tokens.get(id);
    if (!stored) return undefined;
    stored.previousSecretHash = graceUntilMs === undefined ? undefined : stored.secretHash;
    stored.previousValidUntilMs = graceUntilMs;
    stored.secretHash = secretHash;
    stored.shortHash = stored.shortHash === undefined ? undefined : shortHash;
    stored.record.shortForm = stored.shortHash !== undefined;
    this.#append('TOKEN_UPDATED', id, stored.record.accountId);
    return copy(stored.record);
  }

  async revoke(id: string, nowMs: number): Promise<TokenRecord | undefined> {
    const stored = this.#tokens.get(id);
    if (!stored) return undefined;
    stored.record.revokedAtMs ??= nowMs;
    this.#append('TOKEN_REVOKED', id, stored.record.accountId);
    return copy(stored.record);
  }

  async recordAccountSuspended(accountId: string, sourceKey: string): Promise<void> {
    if (this.#feed.some((e) => e.sourceKey === sourceKey)) return;
    this.#append('ACCOUNT_SUSPENDED', undefined, accountId, sourceKey);
  }

  async revokeGrants(grantIds: readonly string[], expiresAtMs: number, _nowMs: number): Promise<void> {
    for (const grantId of new Set(grantIds)) {
      const known = this.#revokedGrants.get(grantId);
      this.#revokedGrants.set(grantId, Math.max(known ?? expiresAtMs, expiresAtMs));
      if (known === undefined) this.#append('GRANT_REVOKED', undefined, undefined, undefined, grantId);
    }
  }

  async isGrantRevoked(grantId: string, nowMs: number): Promise<boolean> {
    const until = this.#revokedGrants.get(grantId);
    return until !== undefined && until > nowMs;
  }

  async invalidationsSince(afterSequence: number, limit: number): Promise<InvalidationEvent[]> {
    return this.#feed
      .filter((e) => e.sequence > afterSequence)
      .slice(0, limit)
      .map(({ sequence, kind, tokenId, accountId, grantId }) => ({ sequence, kind, tokenId, accountId, grantId }));
  }

  async oldestInvalidationSequence(): Promise<number | undefined> {
    return this.#feed[0]?.sequence;
  }

  async latestInvalidationSequence(): Promise<number> {
    return this.#feed.at(-1)?.sequence ?? 0;
  }

  async recordExpiries(nowMs: number): Promise<number> {
    const recorded = new Set(this.#feed.filter((e) => e.kind === 'TOKEN_EXPIRED').map((e) => e.tokenId));
    const expired = [...this.#tokens.values()]
      .map((t) => t.record)
      .filter((t) => t.revokedAtMs === undefined && t.expiresAtMs !== undefined && t.expiresAtMs <= nowMs && !recorded.has(t.id))
      .slice(0, 1_000);
    for (const t of expired) this.#append('TOKEN_EXPIRED', t.id, t.accountId);
    return expired.length;
  }

  async touch(ids: readonly string[], nowMs: number): Promise<void> {
    for (const id of ids) {
      const stored = this.#tokens.get(id);
      if (stored) stored.record.lastUsedAtMs = nowMs;
    }
  }

  #append(kind: InvalidationKind, tokenId: string | undefined, accountId: string | undefined, sourceKey?: string, grantId?: string): void {
    this.#feed.push({ sequence: ++this.#sequence, kind, tokenId, accountId, grantId, sourceKey });
  }
}
