import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { ServiceClient } from '#libs/rpc/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { BrokerMetrics, TopicDenial } from '../domain/ports.ts';

export interface DecisionReporterOptions {
  authz: Pick<ServiceClient<typeof AuthzService>, 'reportDecisions'>;
  metrics: BrokerMetrics;
  logger: Logger;
  /** Denials taken per second; more are counted as dropped (default 200). */
  maxPerSecond?: number;
  /** How often the pending batch is sent (default 250 ms). */
  flushIntervalMs?: number;
  nowMs?: () => number;
}

const MAX_BATCH = 1_000; // ReportDecisions' per-call limit

/**
 * Sends the edge's own topic denials to authz's decision log (ReportDecisions), batched and best
 * effort: `report` is synchronous and O(1), memory is bounded (one batch, at most the per-second
 * cap), a failed send is dropped — never retried, never blocking a client — and every dropped
 * denial is counted here and told to authz with the next batch.
 */
export class DecisionReporter {
  readonly #options: Required<Omit<DecisionReporterOptions, 'authz' | 'metrics' | 'logger'>>;
  readonly #authz: DecisionReporterOptions['authz'];
  readonly #metrics: BrokerMetrics;
  readonly #logger: Logger;
  #pending: { denial: TopicDenial; atMs: number }[] = [];
  #dropped = 0;
  #windowStartMs = Number.NEGATIVE_INFINITY;
  #inWindow = 0;
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;

  constructor(options: DecisionReporterOptions) {
    this.#authz = options.authz;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#options = { maxPerSecond: options.maxPerSecond ?? 200, flushIntervalMs: options.flushIntervalMs ?? 250, nowMs: options.nowMs ?? Date.now };
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), this.#options.flushIntervalMs).unref();
  }

  report(denial: TopicDenial): void {
    const now = this.#options.nowMs();
    if (now - this.#windowStartMs >= 1_000) {
      this.#windowStartMs = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.#options.maxPerSecond || this.#pending.length >= MAX_BATCH) {
      this.#drop(1);
      return;
    }
    this.#inWindow++;
    this.#pending.push({ denial, atMs: now });
  }

  /** Sends what is pending (one call in flight at a time). */
  flush(): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    if (this.#pending.length === 0 && this.#dropped === 0) return Promise.resolve();
    const batch = this.#pending;
    const dropped = this.#dropped;
    this.#pending = [];
    this.#dropped = 0;
    const decisions = batch.map(({ denial: d, atMs }) => ({ at: timestampFromMs(atMs), allowed: false, reason: d.reason, action: d.action, resource: d.topic, accountId: d.account, subject: d.subject, clientId: d.clientId }));
    this.#inFlight = this.#authz
      .reportDecisions({ decisions, dropped: BigInt(dropped) }, { deadlineMs: 2_000 })
      .then(
        () => {
          this.#metrics.count('decisions_reported', batch.length);
          if (this.#failing) this.#logger.info({ event: 'decision_reports_resumed' }, 'decision reports reach authz again');
          this.#failing = false;
        },
        (error: Error) => {
          // Best effort: the batch and the drop count it carried are counted as dropped, not retried.
          this.#drop(batch.length);
          this.#dropped += dropped;
          if (!this.#failing) this.#logger.warn({ event: 'decision_reports_failing', err: error.message }, 'decision reports to authz failing; denials are dropped and counted');
          this.#failing = true;
        },
      )
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }

  /** Stops the timer and waits for a send in flight; what is still pending is dropped (best effort, and stopping never waits on authz). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }

  #drop(n: number): void {
    this.#dropped += n;
    this.#metrics.count('decisions_report_dropped', n);
  }
}
