import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

/** A finished span as operators (and tests) read it from the in-process buffer. */
export interface BufferedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  service: string;
  startMs: number;
  durationMs: number;
  ok: boolean;
  statusMessage: string | undefined;
  attributes: Record<string, unknown>;
}

const hrToMs = (t: [number, number]): number => t[0] * 1e3 + t[1] / 1e6;

/**
 * Keeps the most recent finished spans in a fixed ring: what the console shows when no OTLP
 * endpoint is configured. Memory is bounded by `capacity`, whatever the traffic.
 */
export class SpanBuffer implements SpanProcessor {
  readonly capacity: number;
  private readonly ring: (BufferedSpan | undefined)[];
  private next = 0;

  constructor(capacity = 2_000) {
    this.capacity = capacity;
    this.ring = new Array<BufferedSpan | undefined>(capacity);
  }

  onStart(_span: Span, _parent: Context): void {}

  onEnd(span: ReadableSpan): void {
    const ctx = span.spanContext();
    this.ring[this.next] = {
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      name: span.name,
      kind: span.kind,
      service: String(span.resource.attributes['service.name'] ?? ''),
      startMs: hrToMs(span.startTime),
      durationMs: hrToMs(span.duration),
      ok: span.status.code !== 2,
      statusMessage: span.status.message,
      // The ended span's own attributes (read-only from here on), not a copy: ending a span is on
      // every call's path, and what the ring holds is what survives into the old generation.
      attributes: span.attributes,
    };
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first; optionally one trace only. */
  list(filter: { traceId?: string; limit?: number } = {}): BufferedSpan[] {
    const out: BufferedSpan[] = [];
    const limit = filter.limit ?? this.capacity;
    for (let i = 1; i <= this.capacity && out.length < limit; i++) {
      const span = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (!span) break;
      if (filter.traceId === undefined || span.traceId === filter.traceId) out.push(span);
    }
    return out;
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
