import { metrics, type Counter, type Meter, type ObservableResult } from '@opentelemetry/api';
import { DecisionTallies } from './decision-tallies.ts';

export interface DecisionRecord {
  atMs: number;
  allowed: boolean;
  reason: string;
  action: string;
  resource: string;
  accountId: string;
  subject: string;
  clientId: string;
  peerIp: string;
  /** grpc, broker, rabbitmq, emqx, go-auth, envoy. */
  source: string;
}

/**
 * Every decision is counted (by result, reason and source); every denial and a sample of
 * allowances are kept in a fixed ring for operators. Memory is bounded by `capacity`. Each
 * account's figures are tallied too (`tallies`: GetDecisionStats).
 */
export class DecisionLog {
  private readonly ring: (DecisionRecord | undefined)[];
  /** The sequence number of each kept record (beside the ring): a page cursor survives new records. */
  private readonly seqs: number[];
  private seq = 0;
  private next = 0;
  private allowedSeen = 0;
  /** Decisions so far by source, then reason: [allowed, denied]. Read by the counter at each collection. */
  private readonly counts = new Map<string, Map<string, [number, number]>>();
  private observed = false;
  private dropped: Counter | undefined;
  readonly capacity: number;
  readonly sampleEvery: number;
  /** Per-account counts of every decision recorded here (and of token-cache lookups, by the token cache). */
  readonly tallies = new DecisionTallies();
  private readonly meter: () => Meter;

  /** `meter`: authz's own (its /metrics); the global meter when unset (unit tests). */
  constructor(options: { capacity?: number; sampleEvery?: number; meter?: Meter | undefined } = {}) {
    const meter = options.meter;
    this.meter = meter ? () => meter : () => metrics.getMeter('tollgate-authz');
    this.capacity = options.capacity ?? 1_000;
    this.sampleEvery = options.sampleEvery ?? 100;
    this.ring = new Array<DecisionRecord | undefined>(this.capacity);
    this.seqs = new Array<number>(this.capacity).fill(0);
  }

  record(decision: DecisionRecord): void {
    if (this.countDecision(decision.allowed, decision.reason, decision.source, decision.accountId)) this.keep(decision);
  }

  /**
   * `record` in two steps, for the hot path: counts a decision (metric and account tally) and says
   * whether the ring keeps it — every denial, one allowance in `sampleEvery` — so that the caller
   * builds the record (and reads the clock) only then, and hands it to `keep`.
   */
  countDecision(allowed: boolean, reason: string, source: string, accountId: string): boolean {
    this.count(allowed, reason, source);
    this.tallies.countDecision(accountId, allowed, reason);
    return !allowed || this.allowedSeen++ % this.sampleEvery === 0;
  }

  /** Keeps a decision `countDecision` counted and asked for. */
  keep(decision: DecisionRecord): void {
    this.ring[this.next] = decision;
    this.seqs[this.next] = ++this.seq;
    this.next = (this.next + 1) % this.capacity;
  }

  /**
   * Every decision is counted, so the count is kept here — two map look-ups, nothing allocated —
   * and handed to an observable counter when metrics are collected, rather than a counter's add()
   * hashing a new attribute set on every decision. The exposition is the same monotonic counter.
   */
  private count(allowed: boolean, reason: string, source: string): void {
    if (!this.observed) {
      // Made on first use: a meter taken before the SDK starts would stay a no-op.
      this.observed = true;
      this.meter()
        .createObservableCounter('tollgate.authz.decisions', { description: 'authorization decisions, by result, reason and source (grpc, broker, rabbitmq, emqx, go-auth, envoy)' })
        .addCallback((result) => this.observe(result));
    }
    let byReason = this.counts.get(source);
    if (!byReason) this.counts.set(source, (byReason = new Map()));
    let pair = byReason.get(reason);
    if (!pair) byReason.set(reason, (pair = [0, 0]));
    pair[allowed ? 0 : 1]++;
  }

  private observe(result: ObservableResult): void {
    for (const [source, byReason] of this.counts) {
      for (const [reason, [allowed, denied]] of byReason) {
        if (allowed > 0) result.observe(allowed, { result: 'allow', reason, source });
        if (denied > 0) result.observe(denied, { result: 'deny', reason, source });
      }
    }
  }

  /** Decisions a reporting edge could not send (over its rate cap, or a failed report): counted, not kept. */
  recordDropped(source: string, count: number): void {
    this.dropped ??= this.meter().createCounter('tollgate.authz.decisions_dropped', { description: 'decisions a reporting edge (source) dropped before they reached the log: over its rate cap or unreachable authz' });
    this.dropped.add(count, { source });
  }

  /** Newest first. */
  list(filter: { accountId?: string; denialsOnly?: boolean; limit?: number } = {}): DecisionRecord[] {
    const out: DecisionRecord[] = [];
    const limit = filter.limit ?? this.capacity;
    for (let i = 1; i <= this.capacity && out.length < limit; i++) {
      const d = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (!d) break;
      if (filter.denialsOnly && d.allowed) continue;
      if (filter.accountId && d.accountId !== filter.accountId) continue;
      out.push(d);
    }
    return out;
  }

  /**
   * Newest first, filtered, a page at a time: `before` is the previous page's `nextBefore` (the
   * sequence number of its last record), so new decisions arriving meanwhile do not shift the
   * pages. `nextBefore` is undefined on the last page the ring still holds.
   */
  page(filter: DecisionFilter & { limit: number; before?: number | undefined }): { decisions: DecisionRecord[]; nextBefore: number | undefined } {
    const out: DecisionRecord[] = [];
    let lastSeq = 0;
    for (let i = 1; i <= this.capacity; i++) {
      const at = (this.next - i + this.capacity) % this.capacity;
      const d = this.ring[at];
      if (!d) break;
      if (filter.before !== undefined && this.seqs[at]! >= filter.before) continue;
      if (!matches(d, filter)) continue;
      // One more match than the page holds proves there is a next page.
      if (out.length === filter.limit) return { decisions: out, nextBefore: lastSeq };
      out.push(d);
      lastSeq = this.seqs[at]!;
    }
    return { decisions: out, nextBefore: undefined };
  }
}

export interface DecisionFilter {
  accountId?: string | undefined;
  denialsOnly?: boolean | undefined;
  reason?: string | undefined;
  source?: string | undefined;
  clientId?: string | undefined;
}

function matches(d: DecisionRecord, f: DecisionFilter): boolean {
  return (!f.denialsOnly || !d.allowed) && (!f.accountId || d.accountId === f.accountId) && (!f.reason || d.reason === f.reason) && (!f.source || d.source === f.source) && (!f.clientId || d.clientId === f.clientId);
}
