import { context as contextApi, INVALID_SPAN_CONTEXT, SamplingDecision, SpanKind, TraceFlags, trace, type Context, type Span, type SpanContext, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { RandomIdGenerator, type Sampler } from '@opentelemetry/sdk-trace';

/**
 * The tracer of a process whose spans nobody can read: no span processor (no console ring, no
 * OTLP exporter). Recording a span there builds its attributes, times and events only to drop
 * them at `end()`; this tracer records nothing and still does what a trace needs of this hop —
 * its trace and span ids, and the sampler's decision in the trace flags — so a call it makes to
 * another service carries the same `traceparent` the SDK's tracer would give it, and that
 * service (which may export) records the trace as it would have. `isRecording()` is false, so
 * callers that guard attribute work with it (libs/rpc) skip it.
 */
export class UnrecordedTracer implements Tracer {
  readonly #sampler: Sampler;
  readonly #ids = new RandomIdGenerator();

  constructor(sampler: Sampler) {
    this.#sampler = sampler;
  }

  startSpan(name: string, options: SpanOptions = {}, context: Context = contextApi.active()): Span {
    // The SDK tracer's order, less the recording: a root span forgets its parent, suppressed
    // tracing gives the invalid context.
    if (options.root) context = trace.deleteSpan(context);
    if (isTracingSuppressed(context)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    return new UnrecordedSpan(this, name, options, context);
  }

  /** The span's ids and the sampler's decision: what the SDK's tracer decides at start, made when first asked for. */
  spanContextOf(name: string, options: SpanOptions, context: Context): SpanContext {
    // A valid parent lends its trace id and state.
    const parent = trace.getSpanContext(context);
    const inherited = parent !== undefined && trace.isSpanContextValid(parent);
    const traceId = inherited ? parent.traceId : this.#ids.generateTraceId();
    const result = this.#sampler.shouldSample(context, traceId, name, options.kind ?? SpanKind.INTERNAL, options.attributes ?? {}, options.links ?? []);
    const traceState = result.traceState ?? (inherited ? parent.traceState : undefined);
    return {
      traceId,
      spanId: this.#ids.generateSpanId(),
      traceFlags: result.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
      ...(traceState ? { traceState } : {}),
    };
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, context: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: [F] | [SpanOptions, F] | [SpanOptions, Context, F]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : undefined;
    const parent = rest.length > 2 ? (rest[1] as Context) : contextApi.active();
    const span = this.startSpan(name, options, parent);
    return contextApi.with(trace.setSpan(parent, span), fn as (span: Span) => ReturnType<F>, undefined, span);
  }
}

/**
 * A span that records nothing and makes its ids only when something reads them (a child span, a
 * client call's `traceparent`, a log line): a call answered from memory never does, and so never
 * pays for two random ids and their hex. The decision is the one the sampler would have made at
 * start: it reads only the start context, name and options, kept here unchanged.
 */
class UnrecordedSpan implements Span {
  readonly #tracer: UnrecordedTracer;
  readonly #name: string;
  readonly #options: SpanOptions;
  readonly #context: Context;
  #spanContext: SpanContext | undefined;

  constructor(tracer: UnrecordedTracer, name: string, options: SpanOptions, context: Context) {
    this.#tracer = tracer;
    this.#name = name;
    this.#options = options;
    this.#context = context;
  }

  spanContext(): SpanContext {
    return (this.#spanContext ??= this.#tracer.spanContextOf(this.#name, this.#options, this.#context));
  }

  isRecording(): boolean {
    return false;
  }

  setAttribute(): this {
    return this;
  }

  setAttributes(): this {
    return this;
  }

  addEvent(): this {
    return this;
  }

  addLink(): this {
    return this;
  }

  addLinks(): this {
    return this;
  }

  setStatus(): this {
    return this;
  }

  updateName(): this {
    return this;
  }

  end(): void {}

  recordException(): void {}
}

/** Hands out one UnrecordedTracer (the scope's name and version change nothing it does). */
export class UnrecordedTracerProvider implements TracerProvider {
  readonly #tracer: UnrecordedTracer;

  constructor(sampler: Sampler) {
    this.#tracer = new UnrecordedTracer(sampler);
  }

  getTracer(): Tracer {
    return this.#tracer;
  }
}
