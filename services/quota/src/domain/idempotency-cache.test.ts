import { describe, expect, it } from 'vitest';
import { IdempotencyCache } from './idempotency-cache.ts';
import { UNLIMITED } from './consume-decision.ts';

describe('IdempotencyCache', () => {
  it('answers a key for a day, by the given clock', () => {
    const cache = new IdempotencyCache();
    cache.set('k', UNLIMITED, 0);
    expect(cache.get('k', 24 * 3_600_000 - 1)).toBe(UNLIMITED);
    expect(cache.get('k', 24 * 3_600_000)).toBeUndefined();
  });

  it('when full, forgets the least recently used key only (it used to forget every key at once)', () => {
    const cache = new IdempotencyCache(2);
    const a = { ...UNLIMITED, remaining: 1 };
    const b = { ...UNLIMITED, remaining: 2 };
    const c = { ...UNLIMITED, remaining: 3 };
    cache.set('a', a, 0);
    cache.set('b', b, 0);
    cache.get('a', 0);
    cache.set('c', c, 0);
    expect(cache.get('b', 0)).toBeUndefined();
    expect(cache.get('a', 0)).toBe(a);
    expect(cache.get('c', 0)).toBe(c);
  });
});
