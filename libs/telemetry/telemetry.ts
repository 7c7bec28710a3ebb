import type { IncomingMessage, ServerResponse } from 'node:http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { SpanBuffer } from './span-buffer.ts';

export interface TelemetryConfig {
  /** `service.name` resource attribute: `tollgate` for the one-process mesh, the service name otherwise. */
  serviceName: string;
  /** OTLP/HTTP (protobuf) base URL, e.g. http://collector:4318; unset keeps spans in process only. */
  otlpEndpoint?: string | undefined;
  spanBufferSize?: number | undefined;
}

export interface Telemetry {
  readonly spans: SpanBuffer;
  /** Serves the Prometheus text exposition (mount it at GET /metrics). */
  serveMetrics(request: IncomingMessage, response: ServerResponse): void;
  /** Returns the exposition as text (for Hono routes). */
  metricsText(): Promise<string>;
  shutdown(): Promise<void>;
}

// OpenTelemetry's providers are process-global by design: the first caller starts them and later
// callers (other services in the same process, tests) share them. Released when the last one stops.
let shared: { telemetry: Telemetry; users: number } | undefined;

export function startTelemetry(config: TelemetryConfig): Telemetry {
  if (shared) {
    shared.users++;
    return wrap(shared);
  }
  const spans = new SpanBuffer(config.spanBufferSize ?? 2_000);
  const processors: SpanProcessor[] = [spans];
  if (config.otlpEndpoint) {
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${config.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }) }));
  }
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const sdk = new NodeSDK({
    serviceName: config.serviceName,
    autoDetectResources: false,
    contextManager: new AsyncLocalStorageContextManager(),
    textMapPropagator: new W3CTraceContextPropagator(),
    spanProcessors: processors,
    metricReaders: [prometheus],
    instrumentations: [],
  });
  sdk.start();
  const telemetry: Telemetry = {
    spans,
    serveMetrics: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    metricsText: () =>
      new Promise<string>((resolve) => {
        const chunks: string[] = [];
        const fake = {
          statusCode: 200,
          setHeader() {},
          end(body?: string) {
            if (body) chunks.push(body);
            resolve(chunks.join(''));
          },
        };
        prometheus.getMetricsRequestHandler({} as IncomingMessage, fake as unknown as ServerResponse);
      }),
    shutdown: async () => {
      await sdk.shutdown();
    },
  };
  shared = { telemetry, users: 1 };
  return wrap(shared);
}

function wrap(entry: { telemetry: Telemetry; users: number }): Telemetry {
  let released = false;
  return {
    ...entry.telemetry,
    shutdown: async () => {
      if (released) return;
      released = true;
      entry.users--;
      if (entry.users === 0 && shared === entry) {
        shared = undefined;
        await entry.telemetry.shutdown();
      }
    },
  };
}
