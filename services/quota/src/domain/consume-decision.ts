import type { CounterCheck } from './rate-volume-counters.ts';

export interface ConsumeResult {
  allowed: boolean;
  /** Smallest headroom left across the levels that limit this metric (-1: unlimited). */
  remaining: number;
  resetAfterMs: number;
  /** The limit value at the level that said no (or the tightest level when allowed; -1: none). */
  limit: number;
  limitingAccountId: string;
  /** Allowed only because the refusing limit is in shadow mode. */
  shadowed: boolean;
}

export const UNLIMITED: ConsumeResult = { allowed: true, remaining: -1, resetAfterMs: 0, limit: -1, limitingAccountId: '', shadowed: false };

/**
 * Decides consumes together, and commits them only when every enforcing level of every consume
 * says yes: when any is refused, none is counted (the multi-limit bug of unkey#1995 is exactly a
 * partial commit). Consumes can share a counter (the same account and metric twice, or two
 * subaccounts under one limited parent): their amounts add up there, so they are refused when the
 * sum does not fit, and `remaining` counts what the earlier consumes took. A single consume is the
 * case of one.
 */
export function decideConsumes(planned: readonly { amount: number; checks: readonly CounterCheck[] }[]): ConsumeResult[] {
  const demand = new Map<string, number>();
  for (const p of planned) for (const c of p.checks) demand.set(c.counter, (demand.get(c.counter) ?? 0) + p.amount);
  const short = (c: CounterCheck) => !c.limit.shadow && c.headroom < demand.get(c.counter)!;
  if (planned.some((p) => p.checks.some(short))) {
    return planned.map((p) => {
      const no = p.checks.filter(short).at(-1); // the deepest level that said no
      if (no) return { allowed: false, remaining: Math.max(0, no.headroom), resetAfterMs: no.waitMs, limit: no.limit.value, limitingAccountId: no.accountId, shadowed: false };
      const tightest = p.checks.length ? p.checks.reduce((a, b) => (b.headroom < a.headroom ? b : a)) : undefined;
      return tightest ? { allowed: true, remaining: Math.max(0, tightest.headroom), resetAfterMs: tightest.waitMs, limit: tightest.limit.value, limitingAccountId: tightest.accountId, shadowed: false } : UNLIMITED;
    });
  }
  const taken = new Map<string, number>();
  return planned.map(({ amount, checks }) => {
    if (checks.length === 0) return UNLIMITED;
    let tightest = checks[0]!;
    let least = Infinity;
    let shadowed = false;
    for (const c of checks) {
      const left = c.headroom - (taken.get(c.counter) ?? 0);
      if (left < amount) shadowed = true; // only a shadow limit can be short here
      if (left < least) [least, tightest] = [left, c];
    }
    for (const c of checks) {
      c.commit(amount);
      taken.set(c.counter, (taken.get(c.counter) ?? 0) + amount);
    }
    return { allowed: true, remaining: Math.max(0, least - amount), resetAfterMs: tightest.waitMs, limit: tightest.limit.value, limitingAccountId: tightest.accountId, shadowed };
  });
}
