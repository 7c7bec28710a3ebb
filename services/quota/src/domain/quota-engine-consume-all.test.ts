import { describe, expect, it } from 'vitest';
import type { Limit } from './limits.ts';
import { QuotaEngine, type PathLevel } from './quota-engine.ts';

// consumeAll backs Envoy's ShouldRateLimit: all descriptors of one request are decided together.
const minuteRate = (value: number): Limit => ({ metric: 'api.requests', kind: 'rate', value, period: 'minute' }) as Limit;
const path = (parentLimits: Limit[], leaf: string, leafLimits: Limit[] = []): PathLevel[] => [
  { accountId: 'acc_parent', limits: parentLimits },
  { accountId: leaf, limits: leafLimits },
];

describe('QuotaEngine.consumeAll', () => {
  const engine = () => new QuotaEngine({ clock: { nowMs: () => 1_700_000_000_000 } });

  it('counts nothing when one descriptor is over; the others say they would fit', () => {
    const e = engine();
    const results = e.consumeAll([
      { path: path([], 'acc_a', [minuteRate(10)]), metric: 'api.requests', amount: 1 },
      { path: path([], 'acc_b', [minuteRate(2)]), metric: 'api.requests', amount: 3 },
    ]);
    expect(results.map((r) => r.allowed)).toEqual([true, false]);
    expect(results[1]).toMatchObject({ limit: 2, limitingAccountId: 'acc_b', remaining: 2 });
    // acc_a's bucket was not touched: all 10 are still there.
    expect(e.consume({ path: path([], 'acc_a', [minuteRate(10)]), metric: 'api.requests', amount: 10 }).allowed).toBe(true);
  });

  it('adds up descriptors that share a counter: two subaccounts under one limited parent', () => {
    const e = engine();
    const parent = [minuteRate(3)];
    const over = e.consumeAll([
      { path: path(parent, 'acc_a'), metric: 'api.requests', amount: 2 },
      { path: path(parent, 'acc_b'), metric: 'api.requests', amount: 2 },
    ]);
    expect(over.map((r) => r.allowed)).toEqual([false, false]); // each is short at the shared parent
    expect(over[0]).toMatchObject({ limitingAccountId: 'acc_parent', limit: 3 });
    const fits = e.consumeAll([
      { path: path(parent, 'acc_a'), metric: 'api.requests', amount: 1 },
      { path: path(parent, 'acc_b'), metric: 'api.requests', amount: 2 },
    ]);
    expect(fits.map((r) => [r.allowed, r.remaining])).toEqual([
      [true, 2],
      [true, 0],
    ]);
    expect(e.consume({ path: path(parent, 'acc_a'), metric: 'api.requests', amount: 1 }).allowed).toBe(false);
  });

  it('adds up the same account named twice', () => {
    const e = engine();
    const p = path([], 'acc_a', [minuteRate(3)]);
    expect(e.consumeAll([{ path: p, metric: 'api.requests', amount: 2 }, { path: p, metric: 'api.requests', amount: 2 }]).every((r) => !r.allowed)).toBe(true);
    expect(e.consumeAll([{ path: p, metric: 'api.requests', amount: 1 }, { path: p, metric: 'api.requests', amount: 2 }]).every((r) => r.allowed)).toBe(true);
  });

  it('names the descriptor of a bad metric or amount', () => {
    const e = engine();
    expect(() => e.consumeAll([{ path: path([], 'acc_a'), metric: 'api.requests', amount: 1 }, { path: path([], 'acc_a'), metric: 'nope', amount: 1 }])).toThrow(/descriptors\[1\]\.metric/);
    expect(() => e.consumeAll([{ path: path([], 'acc_a'), metric: 'api.requests', amount: 0 }])).toThrow(/descriptors\[0\]\.hits_addend/);
  });
});
