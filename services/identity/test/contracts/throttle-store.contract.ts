/**
 * The contract every `ThrottleStore` adapter passes: in-memory, PGlite and Postgres
 * (`../identity-stores.contract.test.ts`). Each case's keys carry its own tag.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ThrottleStore } from '../../src/domain/ports.ts';

export function describeThrottleStoreContract(name: string, createStore: () => Promise<ThrottleStore> | ThrottleStore, options: { skip?: string | undefined } = {}): void {
  const tag = () => randomBytes(5).toString('hex');

  describe.skipIf(options.skip !== undefined)(`ThrottleStore contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`, () => {
    it('puts, reads back, overwrites and deletes a key', async () => {
      const store = await createStore();
      const key = `u:${tag()}`;
      expect(await store.get(key)).toBeUndefined();
      await store.put(key, { failures: 1, lastFailureAtMs: 1_000, lockedUntilMs: null });
      expect(await store.get(key)).toEqual({ failures: 1, lastFailureAtMs: 1_000, lockedUntilMs: null });
      await store.put(key, { failures: 5, lastFailureAtMs: 2_000, lockedUntilMs: 62_000 });
      expect(await store.get(key)).toEqual({ failures: 5, lastFailureAtMs: 2_000, lockedUntilMs: 62_000 });
      await store.put(key, undefined);
      expect(await store.get(key)).toBeUndefined();
      await store.put(key, undefined); // deleting what is gone is no error
    });

    it('counts the live keys under a prefix, other than the excepted one', async () => {
      const store = await createStore();
      const p = `p:${tag()}|`;
      await store.put(`${p}10.0.0.1`, { failures: 1, lastFailureAtMs: 5_000, lockedUntilMs: null }); // recent failure
      await store.put(`${p}10.0.0.2`, { failures: 3, lastFailureAtMs: 1_000, lockedUntilMs: 20_000 }); // old failure, lockout running
      await store.put(`${p}10.0.0.3`, { failures: 1, lastFailureAtMs: 1_000, lockedUntilMs: 9_000 }); // old, lockout over
      await store.put(`${p}10.0.0.4`, { failures: 2, lastFailureAtMs: 6_000, lockedUntilMs: null }); // the excepted key
      expect(await store.countLive(p, `${p}10.0.0.4`, 4_000, 10_000)).toBe(2);
      expect(await store.countLive(p, `${p}none`, 4_000, 10_000)).toBe(3);
      expect(await store.countLive(p, `${p}none`, 5_001, 20_000)).toBe(1);
      expect(await store.countLive(`p:${tag()}|`, '', 0, 0)).toBe(0);
    });

    it('takes a prefix literally: % and _ in it are no wildcards', async () => {
      const store = await createStore();
      const t = tag();
      const state = { failures: 1, lastFailureAtMs: 5_000, lockedUntilMs: null };
      await store.put(`p:${t}:a_b|1`, state);
      await store.put(`p:${t}:axb|1`, state);
      await store.put(`p:${t}:a%|1`, state);
      await store.put(`p:${t}:azzz|1`, state);
      expect(await store.countLive(`p:${t}:a_b|`, '', 0, 0)).toBe(1);
      expect(await store.countLive(`p:${t}:a%|`, '', 0, 0)).toBe(1);
      expect((await store.clear([], [`p:${t}:a_`], 0)).sort()).toEqual([]);
      expect(await store.get(`p:${t}:a_b|1`)).toBeUndefined();
      expect(await store.get(`p:${t}:axb|1`)).toEqual(state);
    });

    it('clears named keys and prefixes, answering the ones that were locked out at that moment', async () => {
      const store = await createStore();
      const t = tag();
      await store.put(`u:${t}`, { failures: 5, lastFailureAtMs: 1_000, lockedUntilMs: 50_000 });
      await store.put(`p:${t}|1`, { failures: 5, lastFailureAtMs: 1_000, lockedUntilMs: 50_000 });
      await store.put(`p:${t}|2`, { failures: 5, lastFailureAtMs: 1_000, lockedUntilMs: 9_000 });
      await store.put(`p:${t}|3`, { failures: 1, lastFailureAtMs: 1_000, lockedUntilMs: null });
      await store.put(`ip:${t}`, { failures: 5, lastFailureAtMs: 1_000, lockedUntilMs: 50_000 });
      expect((await store.clear([`u:${t}`, `u:${t}_missing`], [`p:${t}|`], 10_000)).sort()).toEqual([`p:${t}|1`, `u:${t}`].sort());
      for (const gone of [`u:${t}`, `p:${t}|1`, `p:${t}|2`, `p:${t}|3`]) expect(await store.get(gone)).toBeUndefined();
      expect(await store.get(`ip:${t}`)).toEqual({ failures: 5, lastFailureAtMs: 1_000, lockedUntilMs: 50_000 });
      expect(await store.clear([], [], 10_000)).toEqual([]);
    });
  });
}
