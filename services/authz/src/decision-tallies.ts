import { LRUCache } from 'lru-cache';

/** Distinct denial reasons one account's tally keeps apart; any further reason is counted as OTHER. */
export const MAX_REASONS_PER_ACCOUNT = 64;
/** Accounts tallied at most (least recently counted out first): as many as the token cache holds. */
export const MAX_TALLIED_ACCOUNTS = 100_000;

/**
 * One account's decisions and token-cache lookups on this replica since it started: what its
 * operators see of authz (the decision metric covers every tenant, so it is for the mesh's
 * operators). Counting is an increment on the account's tally.
 */
export class AccountDecisionTally {
  allowed = 0;
  denied = 0;
  /** Denials by reason (at most MAX_REASONS_PER_ACCOUNT reasons, then OTHER). */
  readonly deniedBy = new Map<string, number>();
  cacheHits = 0;
  cacheMisses = 0;

  countDenial(reason: string): void {
    this.denied++;
    const key = this.deniedBy.has(reason) || this.deniedBy.size < MAX_REASONS_PER_ACCOUNT ? reason : 'OTHER';
    this.deniedBy.set(key, (this.deniedBy.get(key) ?? 0) + 1);
  }
}

export interface DecisionStats {
  allowed: number;
  denied: number;
  /** Most frequent first (ties by name). */
  deniedByReason: { reason: string; count: number }[];
  cacheHits: number;
  cacheMisses: number;
}

/**
 * Every account's tally on this replica, bounded by MAX_TALLIED_ACCOUNTS. Decisions without an
 * account (a credential that named none) are not tallied: no account's operators may read them.
 */
export class DecisionTallies {
  private readonly byAccount = new LRUCache<string, AccountDecisionTally>({ max: MAX_TALLIED_ACCOUNTS });

  private tallyOf(accountId: string): AccountDecisionTally {
    let tally = this.byAccount.get(accountId);
    if (!tally) {
      tally = new AccountDecisionTally();
      this.byAccount.set(accountId, tally);
    }
    return tally;
  }

  countDecision(accountId: string, allowed: boolean, reason: string): void {
    if (!accountId) return;
    const tally = this.tallyOf(accountId);
    if (allowed) tally.allowed++;
    else tally.countDenial(reason);
  }

  /** A token of `accountId` looked up in the token cache: found fresh there (hit) or read from the store (miss). */
  countCacheLookup(accountId: string, hit: boolean): void {
    const tally = this.tallyOf(accountId);
    if (hit) tally.cacheHits++;
    else tally.cacheMisses++;
  }

  /** The figures of `accounts` added up (an account never counted contributes zeros). */
  statsOf(accounts: readonly string[]): DecisionStats {
    const out = { allowed: 0, denied: 0, cacheHits: 0, cacheMisses: 0 };
    const reasons = new Map<string, number>();
    for (const accountId of new Set(accounts)) {
      // peek: reading figures is not use, and must not keep an idle account's tally from ageing out.
      const t = this.byAccount.peek(accountId);
      if (!t) continue;
      out.allowed += t.allowed;
      out.denied += t.denied;
      out.cacheHits += t.cacheHits;
      out.cacheMisses += t.cacheMisses;
      for (const [reason, n] of t.deniedBy) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
    }
    const deniedByReason = [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
    return { ...out, deniedByReason };
  }
}
