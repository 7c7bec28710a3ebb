/** Distinct denial reasons one account's tally keeps apart; any further reason is counted as OTHER. */
export const MAX_REASONS_PER_ACCOUNT = 64;
/** Accounts tallied at most (the longest tallied out first): as many as the token cache holds. */
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
    const n = this.deniedBy.get(reason);
    if (n !== undefined) this.deniedBy.set(reason, n + 1);
    else if (this.deniedBy.size < MAX_REASONS_PER_ACCOUNT) this.deniedBy.set(reason, 1);
    else this.deniedBy.set('OTHER', (this.deniedBy.get('OTHER') ?? 0) + 1);
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
  // A plain Map (one hash lookup per count, no recency bookkeeping): past the cap, the account
  // tallied first goes (insertion order). Its figures then start again at zero, which a reader
  // sees as a restart (counters that went down).
  private readonly byAccount = new Map<string, AccountDecisionTally>();

  private readonly maxAccounts: number;

  constructor(maxAccounts = MAX_TALLIED_ACCOUNTS) {
    this.maxAccounts = maxAccounts;
  }

  private tallyOf(accountId: string): AccountDecisionTally {
    let tally = this.byAccount.get(accountId);
    if (!tally) {
      if (this.byAccount.size >= this.maxAccounts) this.byAccount.delete(this.byAccount.keys().next().value!);
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
      const t = this.byAccount.get(accountId);
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
