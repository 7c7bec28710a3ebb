import { describe, expect, it } from 'vitest';
import { context, propagation, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTelemetry } from './telemetry.ts';

describe('startTelemetry: the in-process span ring', () => {
  it('keeps the latest spans for the console by default', async () => {
    const telemetry = startTelemetry({ serviceName: 'ring-default', spanBufferSize: 3 });
    try {
      const tracer = telemetry.forService('ring-default').tracer;
      for (const name of ['a', 'b', 'c', 'd']) tracer.startSpan(name).end();
      expect(telemetry.spans.list().map((s) => s.name)).toEqual(['d', 'c', 'b']);
    } finally {
      await telemetry.shutdown();
    }
  });

  it('records nothing in a process with no span reader (no ring, no OTLP): ids and the sampling decision still propagate', async () => {
    const telemetry = startTelemetry({ serviceName: 'ring-none', spanBufferSize: 0 });
    try {
      const tracer = telemetry.forService('ring-none').tracer;
      const span = tracer.startSpan('unread', { kind: SpanKind.SERVER });
      expect(span.isRecording()).toBe(false);
      const ids = span.spanContext();
      expect(trace.isSpanContextValid(ids)).toBe(true);
      expect(ids.traceFlags).toBe(TraceFlags.SAMPLED);
      expect(span.spanContext()).toEqual(ids); // made once, when first read
      // A child (a client call the handler makes) continues the trace, and says so on the wire.
      const child = tracer.startSpan('child', {}, trace.setSpan(context.active(), span));
      expect(child.spanContext().traceId).toBe(ids.traceId);
      expect(child.spanContext().spanId).not.toBe(ids.spanId);
      const carrier: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), child), carrier);
      expect(carrier['traceparent']).toBe(`00-${ids.traceId}-${child.spanContext().spanId}-01`);
      // startActiveSpan makes the span the active one for its callback, and returns its answer.
      const inner = tracer.startActiveSpan('active', (active) => [active.spanContext().spanId, trace.getActiveSpan()?.spanContext().spanId]);
      expect(inner[0]).toBe(inner[1]);
      span.end();
      child.end();
      expect(telemetry.spans.capacity).toBe(0);
      expect(telemetry.spans.list()).toEqual([]);
    } finally {
      await telemetry.shutdown();
    }
  });

  it("follows a caller's unsampled traceparent, a root span's fresh trace and suppressed tracing as the SDK does", async () => {
    const telemetry = startTelemetry({ serviceName: 'ring-none-parent', spanBufferSize: 0 });
    try {
      const tracer = telemetry.forService('ring-none-parent').tracer;
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const unsampled = propagation.extract(context.active(), { traceparent: `00-${traceId}-00f067aa0ba902b7-00` });
      const span = tracer.startSpan('call', {}, unsampled);
      expect(span.spanContext().traceId).toBe(traceId);
      expect(span.spanContext().traceFlags).toBe(TraceFlags.NONE);
      const sampled = propagation.extract(context.active(), { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=x' });
      const kept = tracer.startSpan('call', {}, sampled).spanContext();
      expect([kept.traceFlags, kept.traceState?.serialize()]).toEqual([TraceFlags.SAMPLED, 'vendor=x']);
      const root = tracer.startSpan('root', { root: true }, sampled).spanContext();
      expect(root.traceId).not.toBe(traceId);
      expect(trace.isSpanContextValid(root)).toBe(true);
      expect(trace.isSpanContextValid(tracer.startSpan('quiet', {}, suppressTracing(sampled)).spanContext())).toBe(false);
    } finally {
      await telemetry.shutdown();
    }
  });

  it('samples as configured without recording: always_off gives unsampled ids', async () => {
    const telemetry = startTelemetry({ serviceName: 'ring-none-off', spanBufferSize: 0, sampling: { sampler: 'always_off', ratio: 1 } });
    try {
      const ids = telemetry.forService('ring-none-off').tracer.startSpan('off').spanContext();
      expect(trace.isSpanContextValid(ids)).toBe(true);
      expect(ids.traceFlags).toBe(TraceFlags.NONE);
    } finally {
      await telemetry.shutdown();
    }
  });

  it('records as before when spans are exported (OTLP), even without the ring', async () => {
    const received: string[] = [];
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(`${req.url} ${Buffer.concat(chunks).toString('latin1')}`);
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const telemetry = startTelemetry({ serviceName: 'ring-none-otlp', spanBufferSize: 0, otlpEndpoint: `http://127.0.0.1:${(collector.address() as AddressInfo).port}` });
    try {
      const span = telemetry.forService('ring-none-otlp').tracer.startSpan('exported-span-name');
      expect(span.isRecording()).toBe(true);
      span.end();
    } finally {
      await telemetry.shutdown(); // flushes the batch to the collector
      collector.close();
    }
    expect(received.some((r) => r.startsWith('/v1/traces ') && r.includes('exported-span-name'))).toBe(true);
  });
});
