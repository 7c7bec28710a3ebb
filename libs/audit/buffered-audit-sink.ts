import { randomUUID } from 'node:crypto';
import { metrics, type Counter, type Meter } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { AdminAuditEvent, AuditSink } from './audit-sink.ts';

/** An event as it waits to be sent: its id (identity stores each id once) and when it happened. */
export interface PendingAuditEvent extends AdminAuditEvent {
  id: string;
  atMs: number;
}

/** Sends one batch to the audit log; throws when it could not be delivered. */
export interface AuditBatchSender {
  send(events: readonly PendingAuditEvent[]): Promise<{ refused: number }>;
}

/** Time for the sink: injected so tests run backoff without sleeping. */
export interface AuditSinkTimer {
  nowMs(): number;
  schedule(fn: () => void, delayMs: number): { cancel(): void };
}

export const realAuditSinkTimer: AuditSinkTimer = {
  nowMs: () => Date.now(),
  schedule(fn, delayMs) {
    const handle = setTimeout(fn, delayMs);
    // A pending retry never keeps the process alive: close() drains what it can.
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

export interface BufferedAuditSinkOptions {
  sender: AuditBatchSender;
  timer?: AuditSinkTimer | undefined;
  /** Events held while the log is away; past it the oldest are dropped (and counted). */
  capacity?: number | undefined;
  maxBatch?: number | undefined;
  /** Wait after the first event of a batch, so a burst goes out in one call. */
  flushDelayMs?: number | undefined;
  backoffBaseMs?: number | undefined;
  backoffMaxMs?: number | undefined;
  newId?: (() => string) | undefined;
  logger?: Logger | undefined;
  /** The service's own meter (its /metrics); the global meter when unset. */
  meter?: Meter | undefined;
}

/** Codes that mean "this batch will never be taken": dropped at once. Everything else is retried. */
const FINAL = new Set(['INVALID_ARGUMENT', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'FAILED_PRECONDITION', 'NOT_FOUND', 'OUT_OF_RANGE']);

export type AuditDropReason = 'overflow' | 'refused' | 'rejected' | 'shutdown';

/**
 * An `AuditSink` that buffers in memory and sends in the background, in batches, retrying with
 * exponential backoff while the log is unavailable. `record` only appends: the admin action never
 * waits for the log nor fails with it. The price is that events held here when the process dies
 * are lost, and a full buffer drops its oldest; every drop is counted
 * (`tollgate.audit.events{result="dropped",reason}`) and logged.
 */
export class BufferedAuditSink implements AuditSink {
  private readonly options: Required<Omit<BufferedAuditSinkOptions, 'logger' | 'meter'>> & Pick<BufferedAuditSinkOptions, 'logger'>;
  private readonly meter: () => Meter;
  private counter: Counter | undefined;
  private pending: PendingAuditEvent[] = [];
  private sending = false;
  private closed = false;
  private timer: { cancel(): void } | undefined;
  private failures = 0;
  private readonly counts = { sent: 0, dropped: 0 };

  constructor(options: BufferedAuditSinkOptions) {
    this.options = {
      sender: options.sender,
      timer: options.timer ?? realAuditSinkTimer,
      capacity: options.capacity ?? 10_000,
      maxBatch: Math.min(options.maxBatch ?? 200, 500),
      flushDelayMs: options.flushDelayMs ?? 50,
      backoffBaseMs: options.backoffBaseMs ?? 250,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      newId: options.newId ?? (() => `evt_${randomUUID().replaceAll('-', '')}`),
      logger: options.logger,
    };
    const meter = options.meter;
    this.meter = meter ? () => meter : () => metrics.getMeter('tollgate-audit');
  }

  record(event: AdminAuditEvent): void {
    if (this.closed) {
      this.drop(1, 'shutdown');
      return;
    }
    this.pending.push({ ...event, details: { ...event.details }, id: this.options.newId(), atMs: this.options.timer.nowMs() });
    this.trim();
    if (!this.sending && !this.timer) this.later(this.options.flushDelayMs);
  }

  /** Events waiting (not counting a batch in flight), sent and dropped so far. */
  stats(): { pending: number; sent: number; dropped: number; failures: number } {
    return { pending: this.pending.length, sent: this.counts.sent, dropped: this.counts.dropped, failures: this.failures };
  }

  /** Sends what is waiting, once, without retrying, and stops; what could not be sent is dropped (counted). */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    while (this.sending) await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.options.maxBatch);
      if (!(await this.deliver(batch))) {
        this.drop(batch.length + this.pending.length, 'shutdown');
        this.pending = [];
      }
    }
  }

  private later(delayMs: number): void {
    this.timer = this.options.timer.schedule(() => {
      this.timer = undefined;
      void this.pump();
    }, delayMs);
  }

  private async pump(): Promise<void> {
    if (this.sending || this.closed || this.pending.length === 0) return;
    this.sending = true;
    const batch = this.pending.splice(0, this.options.maxBatch);
    let retryInMs: number | undefined;
    try {
      if (await this.deliver(batch)) {
        this.failures = 0;
      } else {
        // Back at the front, in order; ids are kept, so a batch identity did store is not stored twice.
        this.pending.unshift(...batch);
        this.trim();
        this.failures += 1;
        retryInMs = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** (this.failures - 1));
      }
    } finally {
      this.sending = false;
    }
    if (this.closed || this.timer || this.pending.length === 0) return;
    this.later(retryInMs ?? 0);
  }

  /** true when the batch is done with (stored, refused or finally rejected); false to try again. */
  private async deliver(batch: PendingAuditEvent[]): Promise<boolean> {
    try {
      const { refused } = await this.options.sender.send(batch);
      this.counts.sent += batch.length - refused;
      this.count(batch.length - refused, 'sent');
      if (refused > 0) this.drop(refused, 'refused');
      return true;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && FINAL.has(code)) {
        this.options.logger?.error({ code, events: batch.length }, 'audit log refused a batch; dropped');
        this.drop(batch.length, 'rejected');
        return true;
      }
      if (this.failures === 0) this.options.logger?.warn({ code, pending: this.pending.length + batch.length }, 'audit log unavailable; holding events and retrying');
      return false;
    }
  }

  private trim(): void {
    const over = this.pending.length - this.options.capacity;
    if (over <= 0) return;
    this.pending.splice(0, over);
    this.drop(over, 'overflow');
  }

  private drop(n: number, reason: AuditDropReason): void {
    this.counts.dropped += n;
    this.count(n, 'dropped', reason);
    if (reason === 'overflow' || reason === 'shutdown') this.options.logger?.error({ dropped: n, reason }, 'audit events dropped');
  }

  private count(n: number, result: 'sent' | 'dropped', reason?: AuditDropReason): void {
    if (n <= 0) return;
    // Made on first use: a meter taken before the SDK starts would stay a no-op.
    this.counter ??= this.meter().createCounter('tollgate.audit.events', { description: 'administrative audit events sent to identity, or dropped (overflow, refused, rejected, shutdown)' });
    this.counter.add(n, reason ? { result, reason } : { result });
  }
}
