import { afterAll, describe, expect, it } from 'vitest';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { decodeExportTraceRequest, startOtlpReceiver } from './otlp-receiver.ts';

/** Two real SDK spans, parent and child, of service `svc`. */
async function makeSpans() {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'svc' }), spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
  const tracer = provider.getTracer('t');
  const parent = tracer.startSpan('MQTT CONNECT', { kind: SpanKind.SERVER, attributes: { 'messaging.client.id': 'dev-1', 'mqtt.connect.accepted': true, n: 7 } });
  tracer.startSpan('pkg.Service/Method', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), parent)).end();
  parent.end();
  await provider.forceFlush();
  return memory.getFinishedSpans();
}

describe('the test OTLP receiver decodes what the OpenTelemetry SDK sends', () => {
  const receivers: Awaited<ReturnType<typeof startOtlpReceiver>>[] = [];
  afterAll(async () => Promise.all(receivers.map((r) => r.close())));

  it("round-trips @opentelemetry/otlp-transformer's protobuf serialization", async () => {
    const spans = await makeSpans();
    const decoded = decodeExportTraceRequest(ProtobufTraceSerializer.serializeRequest(spans)!);
    const [child, parent] = spans;
    expect(decoded).toEqual([
      { service: 'svc', traceId: child!.spanContext().traceId, spanId: child!.spanContext().spanId, parentSpanId: parent!.spanContext().spanId, name: 'pkg.Service/Method', kind: 3, attributes: {} },
      { service: 'svc', traceId: parent!.spanContext().traceId, spanId: parent!.spanContext().spanId, parentSpanId: undefined, name: 'MQTT CONNECT', kind: 2, attributes: { 'messaging.client.id': 'dev-1', 'mqtt.connect.accepted': true, n: 7 } },
    ]);
  });

  it('receives an export from the real OTLP/HTTP protobuf exporter', async () => {
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    const spans = await makeSpans();
    const exporter = new OTLPTraceExporter({ url: `${receiver.url}/v1/traces` });
    const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(spans, resolve));
    await exporter.shutdown();
    expect(result).toEqual({ code: 0 });
    expect(receiver.errors()).toEqual([]);
    expect(receiver.spans().map((s) => [s.service, s.name, s.parentSpanId === spans[1]!.spanContext().spanId])).toEqual([
      ['svc', 'pkg.Service/Method', true],
      ['svc', 'MQTT CONNECT', false],
    ]);
  });
});
