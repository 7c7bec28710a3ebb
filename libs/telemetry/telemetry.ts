import { context, propagation, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider, type Sampler, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { SpanBuffer } from './span-buffer.ts';
import { CallScopeContextManager } from './call-scope.ts';
import { BoundHistograms } from './bound-histograms.ts';
import { createSampler, describeSampling, DEFAULT_TRACE_SAMPLING, type TraceSampling } from './sampler.ts';
import { UnrecordedTracerProvider } from './unrecorded-tracer.ts';

export interface TelemetryConfig {
  /** `service.name` of spans not made by a service (the CLI, tests): `tollgate` for the one-process mesh. */
  serviceName: string;
  /** OTLP/HTTP (protobuf) base URL, e.g. http://collector:4318; unset keeps spans in process only. */
  otlpEndpoint?: string | undefined;
  /**
   * Spans kept in process for the console's trace view (default 2,000); 0 keeps none — a process
   * without the console (`tollgate start --service authz`), where nothing would ever read them.
   */
  spanBufferSize?: number | undefined;
  /** Head sampling (OTEL_TRACES_SAMPLER / _ARG, read by libs/config); default parentbased_always_on. */
  sampling?: TraceSampling | undefined;
}

/**
 * One service's own telemetry: its meter (and so its own /metrics), and its tracer, whose spans
 * carry the service's `service.name`. In the one-process mesh each service has its own, so a scrape
 * of every port counts each event once.
 */
export interface ServiceTelemetry {
  readonly serviceName: string;
  readonly meter: Meter;
  readonly tracer: Tracer;
  /** Histograms bound per attribute set (libs/rpc's call durations), exported with the meter's. */
  readonly histograms: BoundHistograms;
  /** The Prometheus text exposition of this service's metrics (plus the process's, on one service only). */
  metricsText(): Promise<string>;
}

export interface Telemetry {
  readonly spans: SpanBuffer;
  /** The trace sampler every service's tracer uses, as configured: `parentbased_always_on`, `traceidratio 0.01`, … */
  readonly sampler: string;
  /**
   * The telemetry of service `name` (memoized). The first service asking in this process also
   * serves the process/runtime metrics (CPU, memory, event loop, GC): exactly once per process.
   */
  forService(name: string): ServiceTelemetry;
  shutdown(): Promise<void>;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// Context, propagation and the span processors are process-global by design: the first caller
// registers them, later callers (other meshes in the same test process) share them, and the last
// one to stop releases them. Meter providers are per Telemetry and per service.
let shared: { spans: SpanBuffer; processors: SpanProcessor[]; users: number } | undefined;
// prom-client's default collectors register once per registry; the process has one such registry.
let processRegistry: Registry | undefined;
let processMetricsClaimed = false;

function acquireShared(config: TelemetryConfig): NonNullable<typeof shared> {
  if (shared) {
    shared.users++;
    return shared;
  }
  const spans = new SpanBuffer(config.spanBufferSize ?? 2_000);
  // The ring is a span processor only when it keeps something: each span it holds lives until 2,000
  // later ones push it out, long enough to be copied by a scavenge and promoted.
  const processors: SpanProcessor[] = spans.capacity > 0 ? [spans] : [];
  if (config.otlpEndpoint) {
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${config.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }) }));
  }
  // The trace context lives in the call scope beside libs/rpc's current call (call-scope.ts).
  context.setGlobalContextManager(new CallScopeContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  // Spans from code that is not a service (libraries, the CLI, tests) use the global provider.
  trace.setGlobalTracerProvider(tracerProvider(resourceFromAttributes({ 'service.name': config.serviceName }), processors, createSampler(config.sampling ?? DEFAULT_TRACE_SAMPLING)));
  shared = { spans, processors, users: 1 };
  return shared;
}

async function releaseShared(entry: NonNullable<typeof shared>): Promise<void> {
  entry.users--;
  if (entry.users > 0 || shared !== entry) return;
  shared = undefined;
  await Promise.all(entry.processors.map((p) => p.shutdown()));
  trace.disable();
  propagation.disable();
  context.disable();
}

/**
 * The SDK's provider when some processor reads spans; with none (no console ring, no OTLP) spans
 * are not recorded at all — ids and the sampler's decision still propagate (unrecorded-tracer.ts).
 */
function tracerProvider(resource: Resource, processors: SpanProcessor[], sampler: Sampler): TracerProvider | UnrecordedTracerProvider {
  if (processors.length === 0) return new UnrecordedTracerProvider(sampler);
  return new TracerProvider({ resource, spanProcessors: processors, sampler });
}

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function startTelemetry(config: TelemetryConfig): Telemetry {
  const entry = acquireShared(config);
  const sampling = config.sampling ?? DEFAULT_TRACE_SAMPLING;
  // One sampler for every service of this Telemetry: a service's span decides its children's (parent-based).
  const sampler = createSampler(sampling);
  const services = new Map<string, ServiceTelemetry & { provider: MeterProvider }>();
  let released = false;
  let ownsProcessMetrics = false;
  return {
    spans: entry.spans,
    sampler: describeSampling(sampling),
    forService(name) {
      const existing = services.get(name);
      if (existing) return existing;
      const resource = resourceFromAttributes({ 'service.name': name });
      const histograms = new BoundHistograms(`tollgate-${name}`);
      const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, metricProducers: [histograms] });
      const provider = new MeterProvider({ resource, readers: [exporter] });
      // Shares the processors (span buffer, OTLP) but not the resource: spans say which service made them.
      const tracers = tracerProvider(resource, entry.processors, sampler);
      const withProcess = !processMetricsClaimed;
      processMetricsClaimed = true;
      ownsProcessMetrics ||= withProcess;
      const service = {
        serviceName: name,
        provider,
        meter: provider.getMeter(`tollgate-${name}`),
        tracer: tracers.getTracer(`tollgate-${name}`),
        histograms,
        async metricsText() {
          const own = await serialize(exporter);
          return withProcess ? `${own.trimEnd()}\n${await processMetrics().metrics()}` : own;
        },
      };
      services.set(name, service);
      return service;
    },
    async shutdown() {
      if (released) return;
      released = true;
      await Promise.all([...services.values()].map((s) => s.provider.shutdown()));
      if (ownsProcessMetrics) processMetricsClaimed = false;
      await releaseShared(entry);
    },
  };
}

/** The exporter's text without its HTTP server: its request handler answers into a stand-in response. */
function serialize(exporter: PrometheusExporter): Promise<string> {
  return new Promise<string>((resolve) => {
    const chunks: string[] = [];
    const response = {
      statusCode: 200,
      setHeader() {},
      end(body?: string) {
        if (body) chunks.push(body);
        resolve(chunks.join(''));
      },
    };
    exporter.getMetricsRequestHandler({} as never, response as never);
  });
}
