import { createHash } from 'node:crypto';
import { newId } from '#libs/crypto/ids.ts';
import { generateTokenSecret, hashTokenSecret, shortFormOf } from '#libs/crypto/token-secret.ts';
import { invalidArgument, isUnavailable, notFound, failedPrecondition } from '#libs/errors/index.ts';
import { compileRules } from '#libs/acl/acl-engine.ts';
import { tokenKinds, type TokenKind, type TokenPatch, type TokenRecord, type TokenRule, type TokenStore } from '../domain/token-record.ts';
import { compileIpAllowList } from '../domain/ip-allow-list.ts';
import type { IdentityPeer } from '../clients/identity-peer.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const MAX_NAME = 128;

export interface CreateTokenInput {
  accountId: string;
  name: string;
  kind: TokenKind;
  rules: TokenRule[];
  ipAllow: string[];
  expiresAtMs: number | undefined;
  ttlSeconds: number;
  shortForm: boolean;
  createdBy: string;
}

export interface TokenLifecycleOptions {
  store: TokenStore;
  identity: IdentityPeer;
  now: () => number;
  /** Drops a token from this replica's caches after a write. */
  forget: (tokenId: string) => void;
  /** Count limits on tokens (quota's `tokens` metric); unset: no count limits. */
  tokenCountLimits?: ((accountId: string) => Promise<{ accountId: string; value: number; shadow: boolean }[]>) | undefined;
  /** Every account in a subtree, the root included. */
  subtreeOf?: ((accountId: string) => Promise<string[]>) | undefined;
}

/** Tokens created, changed, rotated and revoked: validated on write, caches forgotten after. */
export function createTokenLifecycle(options: TokenLifecycleOptions) {
  const { store, identity, now, forget } = options;

  function validateTokenFields(input: { kind: TokenKind; rules: TokenRule[]; ipAllow: string[]; shortForm: boolean; name?: string }): void {
    if (!tokenKinds.includes(input.kind)) throw invalidArgument('kind', 'must be master, standard or acl');
    if (input.name !== undefined && input.name.length > MAX_NAME) throw invalidArgument('name', `must be at most ${MAX_NAME} characters`);
    if (input.kind !== 'acl' && input.rules.length) throw invalidArgument('rules', 'only acl tokens carry rules');
    if (input.kind !== 'acl' && input.shortForm) throw invalidArgument('short_form', 'only acl tokens may use the short form');
    if (input.kind === 'acl') compileRules(input.rules);
    compileIpAllowList(input.ipAllow, 'ip_allow');
  }

  async function createToken(input: CreateTokenInput): Promise<{ token: TokenRecord; secret: string }> {
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
      if (isUnavailable(error)) return;
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

  return { createToken, updateToken, rotateToken, revokeToken };
}
