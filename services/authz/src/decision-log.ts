import { metrics, type Counter, type Meter } from '@opentelemetry/api';

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
 * allowances are kept in a fixed ring for operators. Memory is bounded by `capacity`.
 */
export class DecisionLog {
  private readonly ring: (DecisionRecord | undefined)[];
  private next = 0;
  private allowedSeen = 0;
  private counter: Counter | undefined;
  private dropped: Counter | undefined;
  readonly capacity: number;
  readonly sampleEvery: number;
  private readonly meter: () => Meter;

  /** `meter`: authz's own (its /metrics); the global meter when unset (unit tests). */
  constructor(options: { capacity?: number; sampleEvery?: number; meter?: Meter | undefined } = {}) {
    const meter = options.meter;
    this.meter = meter ? () => meter : () => metrics.getMeter('tollgate-authz');
    this.capacity = options.capacity ?? 1_000;
    this.sampleEvery = options.sampleEvery ?? 100;
    this.ring = new Array<DecisionRecord | undefined>(this.capacity);
  }

  record(decision: DecisionRecord): void {
    // Made on first use: a meter taken before the SDK starts would stay a no-op.
    this.counter ??= this.meter().createCounter('tollgate.authz.decisions', { description: 'authorization decisions, by result, reason and source (grpc, broker, rabbitmq, emqx, go-auth, envoy)' });
    this.counter.add(1, { result: decision.allowed ? 'allow' : 'deny', reason: decision.reason, source: decision.source });
    if (decision.allowed && this.allowedSeen++ % this.sampleEvery !== 0) return;
    this.ring[this.next] = decision;
    this.next = (this.next + 1) % this.capacity;
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
}
