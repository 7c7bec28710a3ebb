import { describe, expect, it } from 'vitest';
import { boundedCache } from './bounded-cache.ts';

describe('boundedCache', () => {
  it('holds at most max entries, the least recently used going first', () => {
    const cache = boundedCache<string, number>(3);
    cache.set('a', 1).set('b', 2).set('c', 3);
    expect(cache.get('a')).toBe(1); // a is now the most recently used
    cache.set('d', 4);
    expect([...cache.keys()].sort()).toEqual(['a', 'c', 'd']);
    expect(cache.size).toBe(3);
    for (let i = 0; i < 1_000; i++) cache.set(`k${i}`, i);
    expect(cache.size).toBe(3);
    expect([...cache.keys()].sort()).toEqual(['k997', 'k998', 'k999']);
  });

  it('tells dispose of each entry it evicts', () => {
    const evicted: string[] = [];
    const cache = boundedCache<string, number>(2, { dispose: (_v, key, reason) => reason === 'evict' && evicted.push(key) });
    cache.set('a', 1).set('b', 2).set('c', 3).set('d', 4);
    expect(evicted).toEqual(['a', 'b']);
  });

  it('allocates nothing up front for its bound', () => {
    // lru-cache with `max: 100_000` preallocates ≈ 2.8 MB per cache: 200 of them would be ≈ 560 MB.
    const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const before = used();
    const caches = Array.from({ length: 200 }, () => boundedCache<string, number>(100_000));
    for (const [i, cache] of caches.entries()) cache.set('k', i);
    expect(used() - before).toBeLessThan(20_000_000);
    expect(caches[199]!.get('k')).toBe(199);
  });

  it('refuses a bound that is not a positive integer', () => {
    for (const max of [0, -1, 1.5, Number.NaN, Infinity]) expect(() => boundedCache(max)).toThrow(/max must be a positive integer/);
  });
});
