import { describe, expect, it } from 'vitest';
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

  it('keeps none in a process without the console (size 0): spans still start and end', async () => {
    const telemetry = startTelemetry({ serviceName: 'ring-none', spanBufferSize: 0 });
    try {
      const span = telemetry.forService('ring-none').tracer.startSpan('unread');
      expect(span.isRecording()).toBe(true);
      span.end();
      expect(telemetry.spans.capacity).toBe(0);
      expect(telemetry.spans.list()).toEqual([]);
    } finally {
      await telemetry.shutdown();
    }
  });
});
