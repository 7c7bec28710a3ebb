import { LRUCache } from 'lru-cache';

/** What a bounded cache may add to the count bound: a disposal hook (the credential throttle closes an episode on eviction). */
export type BoundedCacheOptions<K extends {}, V extends {}> = Pick<LRUCache.Options<K, V, unknown>, 'dispose'>;

/**
 * An LRU cache of at most `max` entries, least recently used out first, whose memory grows with
 * what it holds. lru-cache's `max` option allocates its slot arrays for `max` entries up front
 * (≈ 2.8 MB at 100,000, old-generation and large-object space that every major GC walks); bounding
 * by `maxSize` with each entry counting 1 keeps the same bound without the preallocation — a lone
 * authz holds six such caches, mostly near-empty (docs/BENCHMARKS.md "footprint"). Gets cost the
 * same; a set that evicts costs ≈ 0.1–0.2 µs more, paid on cache misses only.
 */
export function boundedCache<K extends {}, V extends {}>(max: number, options: BoundedCacheOptions<K, V> = {}): LRUCache<K, V> {
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`boundedCache: max must be a positive integer, got ${max}`);
  return new LRUCache<K, V>({ ...options, maxSize: max, sizeCalculation: one });
}

const one = (): number => 1;
