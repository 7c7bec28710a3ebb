import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { createLogger } from './logger.ts';
import { startTelemetry } from './telemetry.ts';

describe('logger', () => {
  it('carries the active trace id and redacts secrets', async () => {
    const telemetry = startTelemetry({ serviceName: 'logger-test' });
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) });
    const logger = createLogger({ destination: sink });
    const span = trace.getTracer('t').startSpan('work');
    await new Promise<void>((resolve) =>
      trace.getTracer('t').startActiveSpan('op', (active) => {
        logger.info({ password: 'hunter2', user: { token: 'tg_abc' }, authorization: 'Bearer x' }, 'hello');
        active.end();
        resolve();
      }),
    );
    span.end();
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(entry.password).toBe('[redacted]');
    expect((entry.user as Record<string, unknown>).token).toBe('[redacted]');
    expect(entry.authorization).toBe('[redacted]');
    expect(lines[0]).not.toContain('hunter2');
    await telemetry.shutdown();
  });
});
