/**
 * The contract every `TokenStore` adapter passes: in-memory, PGlite and Postgres
 * (`../token-store.contract.test.ts`). Each case makes its own account and token ids, so adapters
 * backed by one database per suite need no cleanup; feed assertions look only at the case's own ids.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { InvalidationEvent, NewToken, TokenStore } from '../../src/domain/token-record.ts';

export function describeTokenStoreContract(name: string, createStore: () => Promise<TokenStore> | TokenStore, options: { skip?: string | undefined } = {}): void {
  /** Ids of one case: sortable the same way by every collation (same prefix, fixed-width counter). */
  const scope = () => {
    const tag = randomBytes(5).toString('hex');
    let n = 0;
    return {
      account: (label = 'a') => `acc_${tag}_${label}`,
      grant: (label: string) => `grt_${tag}_${label}`,
      token: (accountId: string, over: Partial<NewToken> = {}): NewToken => ({
        id: `tok_${tag}_${String(++n).padStart(3, '0')}`,
        accountId,
        name: `token ${n}`,
        kind: 'standard',
        rules: [],
        ipAllow: [],
        expiresAtMs: undefined,
        ttlSeconds: 0,
        secretHash: randomBytes(32).toString('hex'),
        shortHash: undefined,
        createdBy: 'usr_contract',
        ...over,
      }),
    };
  };
  const mine = (events: InvalidationEvent[], ids: readonly string[]) => events.filter((e) => (e.tokenId !== undefined && ids.includes(e.tokenId)) || (e.accountId !== undefined && ids.includes(e.accountId)));
  const T0 = Date.UTC(2031, 0, 1);

  describe.skipIf(options.skip !== undefined)(`TokenStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('creates a token and reads it back by id and by secret hash, with every field', async () => {
      const store = await createStore();
      const s = scope();
      const input = s.token(s.account(), {
        kind: 'acl',
        rules: [{ effect: 'allow', actions: ['publish'], resources: ['devices/+/up'] }],
        ipAllow: ['10.0.0.0/8', '192.168.?.*'],
        expiresAtMs: T0 + 60_000,
        ttlSeconds: 300,
        shortHash: randomBytes(32).toString('hex'),
      });
      const before = Date.now();
      const created = await store.create(input);
      expect(created).toEqual({
        id: input.id,
        accountId: input.accountId,
        name: input.name,
        kind: 'acl',
        rules: input.rules,
        ipAllow: input.ipAllow,
        expiresAtMs: T0 + 60_000,
        ttlSeconds: 300,
        shortForm: true,
        createdBy: 'usr_contract',
        createdAtMs: expect.any(Number),
        revokedAtMs: undefined,
        lastUsedAtMs: undefined,
      });
      expect(created.createdAtMs).toBeGreaterThanOrEqual(before - 60_000);
      expect(created.createdAtMs).toBeLessThanOrEqual(Date.now() + 60_000);
      expect(await store.get(input.id)).toEqual(created);
      expect(await store.findBySecretHash(input.secretHash, T0)).toEqual(created);
      expect(await store.getShortHash(input.id)).toBe(input.shortHash);
      expect(await store.get(`${input.id}_missing`)).toBeUndefined();
      expect(await store.findBySecretHash(randomBytes(32).toString('hex'), T0)).toBeUndefined();
      expect(await store.getShortHash(`${input.id}_missing`)).toBeUndefined();
    });

    it('refuses a second token with the same id or the same secret (ALREADY_EXISTS), keeping the first', async () => {
      const store = await createStore();
      const s = scope();
      const first = await store.create(s.token(s.account()));
      const sameId = { ...s.token(s.account('b')), id: first.id };
      await expect(store.create(sameId)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      const original = s.token(s.account());
      await store.create(original);
      await expect(store.create({ ...s.token(s.account('b')), secretHash: original.secretHash })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      expect(await store.get(first.id)).toEqual(first);
      expect((await store.findBySecretHash(original.secretHash, T0))?.id).toBe(original.id);
    });

    it('lists the given accounts only, in id order, without revoked ones unless asked, a page at a time', async () => {
      const store = await createStore();
      const s = scope();
      const [a, b, other] = [s.account('a'), s.account('b'), s.account('c')];
      const made = [];
      for (const accountId of [a, b, a, other, b]) made.push(await store.create(s.token(accountId)));
      await store.revoke(made[2]!.id, T0);
      const ids = (list: { id: string }[]) => list.map((t) => t.id);
      expect(ids(await store.list([a, b], { includeRevoked: false, limit: 10 }))).toEqual([made[0]!.id, made[1]!.id, made[4]!.id]);
      expect(ids(await store.list([a, b], { includeRevoked: true, limit: 10 }))).toEqual([made[0]!.id, made[1]!.id, made[2]!.id, made[4]!.id]);
      const page1 = await store.list([a, b], { includeRevoked: true, limit: 2 });
      const page2 = await store.list([a, b], { includeRevoked: true, limit: 2, afterId: page1.at(-1)!.id });
      const page3 = await store.list([a, b], { includeRevoked: true, limit: 2, afterId: page2.at(-1)!.id });
      expect([ids(page1), ids(page2), ids(page3)]).toEqual([[made[0]!.id, made[1]!.id], [made[2]!.id, made[4]!.id], []]);
      expect(await store.list([], { includeRevoked: true, limit: 10 })).toEqual([]);
      expect((await store.list([a], { includeRevoked: true, limit: 10 })).every((t) => t.accountId === a)).toBe(true);
    });

    it('counts live tokens: neither revoked nor past their absolute expiry', async () => {
      const store = await createStore();
      const s = scope();
      const [a, b] = [s.account('a'), s.account('b')];
      await store.create(s.token(a));
      await store.create(s.token(b, { expiresAtMs: T0 + 1_000 }));
      await store.create(s.token(a, { expiresAtMs: T0 }));
      const revoked = await store.create(s.token(a));
      await store.revoke(revoked.id, T0 - 5_000);
      expect(await store.countLive([a, b], T0)).toBe(2);
      expect(await store.countLive([a], T0)).toBe(1);
      expect(await store.countLive([a, b], T0 + 1_000)).toBe(1);
      expect(await store.countLive([a, b], T0 - 1)).toBe(3);
      expect(await store.countLive([], T0)).toBe(0);
    });

    it('updates only the named fields, clears the expiry on null, and feeds TOKEN_UPDATED', async () => {
      const store = await createStore();
      const s = scope();
      const token = await store.create(s.token(s.account(), { expiresAtMs: T0 + 5_000, ipAllow: ['10.0.0.1'] }));
      const since = await store.latestInvalidationSequence();
      const renamed = await store.update(token.id, { name: 'renamed', ttlSeconds: 60 }, T0);
      expect(renamed).toEqual({ ...token, name: 'renamed', ttlSeconds: 60 });
      const cleared = await store.update(token.id, { expiresAtMs: null, rules: [{ effect: 'deny', actions: ['subscribe'], resources: ['#'] }], ipAllow: [] }, T0);
      expect(cleared).toEqual({ ...token, name: 'renamed', ttlSeconds: 60, expiresAtMs: undefined, rules: [{ effect: 'deny', actions: ['subscribe'], resources: ['#'] }], ipAllow: [] });
      expect(await store.get(token.id)).toEqual(cleared);
      expect(await store.update(`${token.id}_missing`, { name: 'x' }, T0)).toBeUndefined();
      const events = mine(await store.invalidationsSince(since, 1_000), [token.id]);
      expect(events.map((e) => [e.kind, e.tokenId, e.accountId])).toEqual([
        ['TOKEN_UPDATED', token.id, token.accountId],
        ['TOKEN_UPDATED', token.id, token.accountId],
      ]);
    });

    it('rotates the secret: the old one works until the grace ends, or not at all without grace', async () => {
      const store = await createStore();
      const s = scope();
      const input = s.token(s.account(), { shortHash: randomBytes(32).toString('hex') });
      const token = await store.create(input);
      const [next, nextShort] = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
      const rotated = await store.rotate(token.id, next, nextShort, T0 + 10_000, T0);
      expect(rotated).toEqual(token);
      expect((await store.findBySecretHash(next, T0))?.id).toBe(token.id);
      expect((await store.findBySecretHash(input.secretHash, T0 + 9_999))?.id).toBe(token.id);
      expect(await store.findBySecretHash(input.secretHash, T0 + 10_000)).toBeUndefined();
      expect(await store.getShortHash(token.id)).toBe(nextShort);

      const third = randomBytes(32).toString('hex');
      await store.rotate(token.id, third, undefined, undefined, T0 + 1);
      expect(await store.findBySecretHash(next, T0 + 1)).toBeUndefined();
      expect((await store.findBySecretHash(third, T0 + 1))?.id).toBe(token.id);
      expect(await store.rotate(`${token.id}_missing`, randomBytes(32).toString('hex'), undefined, undefined, T0)).toBeUndefined();

      const long = await store.create(s.token(s.account()));
      await store.rotate(long.id, randomBytes(32).toString('hex'), randomBytes(32).toString('hex'), undefined, T0);
      expect(await store.getShortHash(long.id)).toBeUndefined(); // a token made without a short form never gains one
      expect((await store.get(long.id))?.shortForm).toBe(false);
    });

    it('revokes idempotently: the first time stays, every call feeds TOKEN_REVOKED, unknown ids feed nothing', async () => {
      const store = await createStore();
      const s = scope();
      const token = await store.create(s.token(s.account()));
      const since = await store.latestInvalidationSequence();
      expect((await store.revoke(token.id, T0))?.revokedAtMs).toBe(T0);
      expect((await store.revoke(token.id, T0 + 5_000))?.revokedAtMs).toBe(T0);
      expect((await store.get(token.id))?.revokedAtMs).toBe(T0);
      expect(await store.revoke(`${token.id}_missing`, T0)).toBeUndefined();
      const events = mine(await store.invalidationsSince(since, 1_000), [token.id, `${token.id}_missing`]);
      expect(events.map((e) => e.kind)).toEqual(['TOKEN_REVOKED', 'TOKEN_REVOKED']);
    });

    it('keeps the feed in order and pages it by sequence', async () => {
      const store = await createStore();
      const s = scope();
      const since = await store.latestInvalidationSequence();
      const tokens = [];
      for (let i = 0; i < 3; i++) tokens.push(await store.create(s.token(s.account())));
      for (const t of tokens) await store.revoke(t.id, T0);
      const latest = await store.latestInvalidationSequence();
      expect(latest).toBeGreaterThanOrEqual(since + 3);
      expect(await store.oldestInvalidationSequence()).toBeLessThanOrEqual(since + 1);
      const all = await store.invalidationsSince(since, 1_000);
      const sequences = all.map((e) => e.sequence);
      expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
      expect(new Set(sequences).size).toBe(sequences.length);
      expect(sequences.every((n) => n > since && n <= latest)).toBe(true);
      expect(mine(all, tokens.map((t) => t.id)).map((e) => e.tokenId)).toEqual(tokens.map((t) => t.id));
      const first = await store.invalidationsSince(since, 1);
      expect(first).toHaveLength(1);
      expect(first[0]).toEqual(all[0]);
      expect(await store.invalidationsSince(latest, 10)).toEqual([]);
    });

    it('records an account suspension once per source event, whichever replica is first', async () => {
      const store = await createStore();
      const s = scope();
      const account = s.account();
      const since = await store.latestInvalidationSequence();
      await Promise.all([store.recordAccountSuspended(account, `${account}:1`), store.recordAccountSuspended(account, `${account}:1`)]);
      await store.recordAccountSuspended(account, `${account}:1`);
      await store.recordAccountSuspended(account, `${account}:2`);
      const events = mine(await store.invalidationsSince(since, 1_000), [account]);
      expect(events.map((e) => [e.kind, e.accountId, e.tokenId])).toEqual([
        ['ACCOUNT_SUSPENDED', account, undefined],
        ['ACCOUNT_SUSPENDED', account, undefined],
      ]);
    });

    it('revokes OAuth grants until their expiry, feeding GRANT_REVOKED once per grant', async () => {
      const store = await createStore();
      const s = scope();
      const [g1, g2, g3] = [s.grant('1'), s.grant('2'), s.grant('3')];
      const since = await store.latestInvalidationSequence();
      await store.revokeGrants([g1, g2, g1], T0 + 60_000, T0);
      await store.revokeGrants([], T0 + 60_000, T0);
      expect(await store.isGrantRevoked(g1, T0)).toBe(true);
      expect(await store.isGrantRevoked(g2, T0 + 59_999)).toBe(true);
      expect(await store.isGrantRevoked(g1, T0 + 60_000)).toBe(false); // past its expiry the record no longer counts
      expect(await store.isGrantRevoked(g3, T0)).toBe(false);
      await store.revokeGrants([g1], T0 + 120_000, T0 + 1); // a retried delivery with a later expiry
      await store.revokeGrants([g1], T0 + 30_000, T0 + 2); // an earlier one never shortens it
      expect(await store.isGrantRevoked(g1, T0 + 119_999)).toBe(true);
      expect(await store.isGrantRevoked(g2, T0 + 60_000)).toBe(false);
      const events = (await store.invalidationsSince(since, 1_000)).filter((e) => e.grantId !== undefined && [g1, g2, g3].includes(e.grantId));
      expect(events.map((e) => [e.kind, e.grantId, e.tokenId, e.accountId])).toEqual([
        ['GRANT_REVOKED', g1, undefined, undefined],
        ['GRANT_REVOKED', g2, undefined, undefined],
      ]);
    });

    it('feeds TOKEN_EXPIRED once per token past its absolute expiry, not for revoked or live ones', async () => {
      const store = await createStore();
      const s = scope();
      const account = s.account();
      const expired = await store.create(s.token(account, { expiresAtMs: T0 - 1 }));
      const atNow = await store.create(s.token(account, { expiresAtMs: T0 }));
      const later = await store.create(s.token(account, { expiresAtMs: T0 + 60_000 }));
      const revoked = await store.create(s.token(account, { expiresAtMs: T0 - 1 }));
      await store.revoke(revoked.id, T0 - 10);
      const forever = await store.create(s.token(account));
      const since = await store.latestInvalidationSequence();
      expect(await store.recordExpiries(T0)).toBeGreaterThanOrEqual(2);
      await store.recordExpiries(T0 + 1);
      const ids = [expired, atNow, later, revoked, forever].map((t) => t.id);
      const expiredEvents = () => store.invalidationsSince(since, 1_000).then((all) => mine(all, ids).map((e) => [e.kind, e.tokenId]));
      expect((await expiredEvents()).sort()).toEqual([['TOKEN_EXPIRED', atNow.id], ['TOKEN_EXPIRED', expired.id]].sort());
      await store.recordExpiries(T0 + 60_000);
      expect(await expiredEvents()).toContainEqual(['TOKEN_EXPIRED', later.id]);
      expect(await expiredEvents()).toHaveLength(3);
    });

    it('touch records last use for the named tokens only', async () => {
      const store = await createStore();
      const s = scope();
      const [a, b] = [await store.create(s.token(s.account())), await store.create(s.token(s.account()))];
      await store.touch([a.id, `${a.id}_missing`], T0 + 123);
      await store.touch([], T0 + 999);
      expect((await store.get(a.id))?.lastUsedAtMs).toBe(T0 + 123);
      expect((await store.get(b.id))?.lastUsedAtMs).toBeUndefined();
    });
  });
}
