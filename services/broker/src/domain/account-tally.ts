/**
 * One account's traffic on this edge since it started: what its tenants see of the broker (the
 * edge-wide counters cover every tenant, so only a mesh service credential reads those). Each
 * session holds its account's tally, so counting a message is an increment, not a lookup.
 */
export class AccountTally {
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  /** Publishes and subscriptions the ACL refused. */
  denied = 0;
  /** Publishes refused because a quota was exhausted. */
  quotaRejected = 0;
}

export interface AccountStats {
  connections: number;
  sessions: number;
  subscriptions: number;
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  denied: number;
  quotaRejected: number;
}

export function emptyAccountStats(): AccountStats {
  return { connections: 0, sessions: 0, subscriptions: 0, messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, denied: 0, quotaRejected: 0 };
}

/** Figures of several edges added up (answers from other edges are checked field by field). */
export function sumAccountStats(parts: readonly unknown[]): AccountStats {
  const out = emptyAccountStats();
  const keys = Object.keys(out) as (keyof AccountStats)[];
  for (const part of parts) {
    if (typeof part !== 'object' || part === null) continue;
    for (const k of keys) {
      const v = (part as Record<string, unknown>)[k];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] += v;
    }
  }
  return out;
}
