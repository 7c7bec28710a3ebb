import { describe, expect, it } from 'vitest';
import { DecisionTallies, MAX_REASONS_PER_ACCOUNT } from './decision-tallies.ts';

describe('DecisionTallies', () => {
  it('adds up the accounts asked for, reasons most frequent first, and ignores decisions without an account', () => {
    const t = new DecisionTallies();
    t.countDecision('acc_a', true, 'ALLOWED');
    t.countDecision('acc_a', false, 'NO_MATCHING_RULE');
    t.countDecision('acc_b', false, 'DENIED_BY_RULE');
    t.countDecision('acc_b', false, 'DENIED_BY_RULE');
    t.countDecision('', false, 'TOKEN_UNKNOWN');
    t.countCacheLookup('acc_a', true);
    t.countCacheLookup('acc_b', false);
    expect(t.statsOf(['acc_a', 'acc_b', 'acc_a', 'acc_none'])).toEqual({
      allowed: 1,
      denied: 3,
      deniedByReason: [{ reason: 'DENIED_BY_RULE', count: 2 }, { reason: 'NO_MATCHING_RULE', count: 1 }],
      cacheHits: 1,
      cacheMisses: 1,
    });
    expect(t.statsOf([''])).toMatchObject({ denied: 0 });
  });

  it('keeps at most MAX_REASONS_PER_ACCOUNT reasons apart per account, the rest as OTHER', () => {
    const t = new DecisionTallies();
    for (let i = 0; i < MAX_REASONS_PER_ACCOUNT + 3; i++) t.countDecision('acc_a', false, `R${i}`);
    const s = t.statsOf(['acc_a']);
    expect(s.denied).toBe(MAX_REASONS_PER_ACCOUNT + 3);
    expect(s.deniedByReason).toHaveLength(MAX_REASONS_PER_ACCOUNT + 1);
    expect(s.deniedByReason[0]).toEqual({ reason: 'OTHER', count: 3 });
  });

  it('tallies at most maxAccounts accounts: past it, the one tallied first starts again at zero', () => {
    const t = new DecisionTallies(2);
    t.countDecision('acc_a', true, 'ALLOWED');
    t.countDecision('acc_b', true, 'ALLOWED');
    t.countDecision('acc_c', true, 'ALLOWED');
    expect(t.statsOf(['acc_a']).allowed).toBe(0);
    expect(t.statsOf(['acc_b', 'acc_c']).allowed).toBe(2);
  });
});
