import { describe, expect, it } from 'vitest';
import { DecisionRateTracker, type DecisionStatsSample } from './decision-rates.ts';

const T0 = Date.parse('2026-12-02T10:00:00Z');
function sample(replica: string, atS: number, f: { allowed: number; denied: number; hits: number; misses: number; startedAt?: string }): DecisionStatsSample {
  return {
    at: new Date(T0 + atS * 1_000).toISOString(),
    replica_id: replica,
    started_at: f.startedAt ?? '2026-12-02T09:00:00.000Z',
    accounts: 2,
    allowed: f.allowed,
    denied: f.denied,
    denied_by_reason: f.denied ? [{ reason: 'NO_MATCHING_RULE', count: f.denied }] : [],
    cache_hits: f.hits,
    cache_misses: f.misses,
  };
}

describe('DecisionRateTracker', () => {
  it('takes rates between samples of the same replica and adds up the replicas, even when answers alternate', () => {
    const t = new DecisionRateTracker();
    // Replica a handles 10 allowed/s, b 5 allowed/s and 1 denied/s; their cumulative figures differ widely.
    expect(t.add(sample('a', 0, { allowed: 1_000, denied: 0, hits: 900, misses: 100 }), T0)).toMatchObject({ replicas: 1, allowed_per_second: null, cache_hit_ratio: null, allowed: 1_000 });
    expect(t.add(sample('b', 1, { allowed: 50, denied: 7, hits: 10, misses: 10 }), T0 + 1_000)).toMatchObject({ replicas: 2, allowed_per_second: null, allowed: 1_050, denied: 7 });
    // Alternating answers never compare a with b (which would read as -950 allowed/s).
    expect(t.add(sample('a', 2, { allowed: 1_020, denied: 0, hits: 918, misses: 102 }), T0 + 2_000)).toMatchObject({ allowed_per_second: 10, denied_per_second: 0, cache_hit_ratio: 0.9 });
    const both = t.add(sample('b', 3, { allowed: 60, denied: 9, hits: 20, misses: 10 }), T0 + 3_000);
    expect(both).toMatchObject({ replicas: 2, allowed_per_second: 15, denied_per_second: 1, allowed: 1_080, denied: 9, cache_hits: 938, cache_misses: 112 });
    // 18 + 10 hits of 20 + 10 lookups over the last windows.
    expect(both.cache_hit_ratio).toBeCloseTo(28 / 30, 10);
    expect(both.denied_by_reason).toEqual([{ reason: 'NO_MATCHING_RULE', count: 9 }]);
  });

  it('starts a new baseline when a replica restarted, and drops a replica not heard from within the stale window', () => {
    const t = new DecisionRateTracker(10_000);
    t.add(sample('a', 0, { allowed: 100, denied: 0, hits: 0, misses: 0 }), T0);
    t.add(sample('b', 0, { allowed: 0, denied: 0, hits: 0, misses: 0 }), T0);
    expect(t.add(sample('a', 1, { allowed: 110, denied: 0, hits: 0, misses: 0 }), T0 + 1_000).allowed_per_second).toBe(10);
    // Restarted (its counters began again): no rate from 110 → 3, and a's old rate is gone.
    const restarted = t.add(sample('a', 2, { allowed: 3, denied: 0, hits: 0, misses: 0, startedAt: '2026-12-02T10:00:01.500Z' }), T0 + 2_000);
    expect(restarted).toMatchObject({ allowed_per_second: null, allowed: 3 });
    expect(t.add(sample('a', 3, { allowed: 5, denied: 0, hits: 0, misses: 0, startedAt: '2026-12-02T10:00:01.500Z' }), T0 + 3_000)).toMatchObject({ replicas: 2, allowed_per_second: 2 });
    // b was last heard at T0: 12 s later it no longer counts.
    expect(t.add(sample('a', 12, { allowed: 23, denied: 0, hits: 0, misses: 0, startedAt: '2026-12-02T10:00:01.500Z' }), T0 + 12_000)).toMatchObject({ replicas: 1, allowed_per_second: 2, allowed: 23 });
  });
});
