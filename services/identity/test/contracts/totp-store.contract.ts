/**
 * The contract every `TotpStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case enrolls users of its own.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { TotpStore } from '../../src/domain/ports.ts';
import type { TotpEnrollment } from '../../src/domain/two-factor.ts';

export function describeTotpStoreContract(name: string, createStore: () => Promise<TotpStore> | TotpStore, options: { skip?: string | undefined } = {}): void {
  const user = () => `usr_${randomBytes(6).toString('hex')}`;
  const pending = (): TotpEnrollment => ({ status: 'pending', secret: 'JBSWY3DPEHPK3PXP', createdAtMs: 1_000, confirmedAtMs: null, lastUsedStep: null, recoveryCodeHashes: [] });
  const active = (over: Partial<TotpEnrollment> = {}): TotpEnrollment => ({ status: 'active', secret: 'JBSWY3DPEHPK3PXP', createdAtMs: 1_000, confirmedAtMs: 2_000, lastUsedStep: null, recoveryCodeHashes: ['h1', 'h2', 'h3'], ...over });

  describe.skipIf(options.skip !== undefined)(`TotpStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('puts, reads back (the secret as given), replaces and deletes an enrollment', async () => {
      const store = await createStore();
      const u = user();
      expect(await store.get(u)).toBeUndefined();
      await store.put(u, pending());
      expect(await store.get(u)).toEqual(pending());
      await store.put(u, active({ lastUsedStep: 41 }));
      expect(await store.get(u)).toEqual(active({ lastUsedStep: 41 }));
      await store.delete(u);
      expect(await store.get(u)).toBeUndefined();
    });

    it('advances an active enrollment only from the state it is in (compare-and-set)', async () => {
      const store = await createStore();
      const u = user();
      const before = active({ lastUsedStep: 10 });
      await store.put(u, before);
      const byCode = active({ lastUsedStep: 11 });
      const results = await Promise.all([store.advance(u, before, byCode), store.advance(u, before, active({ lastUsedStep: 12 }))]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const now = await store.get(u);
      expect([11, 12]).toContain(now?.lastUsedStep);
      const spent = { ...now!, recoveryCodeHashes: ['h1', 'h3'] };
      expect(await store.advance(u, before, spent)).toBe(false); // stale `before`
      expect(await store.advance(u, now!, spent)).toBe(true);
      expect((await store.get(u))?.recoveryCodeHashes).toEqual(['h1', 'h3']);
      expect(await store.advance(u, now!, spent)).toBe(false); // recovery code already spent

      const p = user();
      await store.put(p, pending());
      expect(await store.advance(p, pending(), { ...pending(), lastUsedStep: 5 })).toBe(false); // pending: never advanced
      expect(await store.advance(user(), before, byCode)).toBe(false);
    });

    it('tells which users have 2FA active, pending ones not', async () => {
      const store = await createStore();
      const [a, b, c] = [user(), user(), user()];
      await store.put(a, active());
      await store.put(b, pending());
      expect(await store.activeAmong([a, b, c])).toEqual(new Set([a]));
      expect(await store.activeAmong([])).toEqual(new Set());
    });
  });
}
