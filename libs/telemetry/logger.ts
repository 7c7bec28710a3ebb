import { pino, type Logger, type LoggerOptions } from 'pino';
import { trace } from '@opentelemetry/api';

export type { Logger } from 'pino';

/** Paths whose values never reach a log line. */
export const redactPaths = [
  'password', '*.password', 'secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization',
  'refreshToken', '*.refreshToken', 'accessToken', '*.accessToken', 'totpCode', '*.totpCode', 'payload', '*.payload',
  'headers.authorization', 'req.headers.authorization', 'databaseUrl', '*.databaseUrl',
];

/** JSON logs with the active trace id on every line and secrets redacted. */
export function createLogger(options: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: options.name ? { service: options.name } : {},
    redact: { paths: redactPaths, censor: '[redacted]' },
    mixin() {
      const span = trace.getActiveSpan();
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { traceId, spanId };
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
