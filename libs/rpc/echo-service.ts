import { setTimeout as sleep } from 'node:timers/promises';
import { trace } from '@opentelemetry/api';
import { AppError, errorCodes, invalidArgument, type ErrorCode } from '#libs/errors/index.ts';
import { EchoService } from '#gen/tollgate/echo/v1/echo_pb.js';
import type { ServiceImpl } from './types.ts';
import { createRpcClient } from './client.ts';

/**
 * The adapter's own test service: unary, server-streaming and bidi. With `forwardTo`, Echo calls
 * the same service at that address first — the shape of a real cross-service hop.
 */
export function createEchoService(options: { forwardTo?: string } = {}): ServiceImpl<typeof EchoService> & { close(): void } {
  const next = options.forwardTo ? createRpcClient(EchoService, options.forwardTo) : undefined;
  return {
    async echo(request, ctx) {
      if (request.failWith) {
        if (!(errorCodes as readonly string[]).includes(request.failWith)) throw invalidArgument('fail_with', 'not an error code');
        throw new AppError(request.failWith as ErrorCode, `asked to fail with ${request.failWith}`, { field: 'fail_with', details: { secretless: 'yes' } });
      }
      if (request.delayMs) await sleep(request.delayMs, undefined, { signal: ctx.signal }).catch(() => undefined);
      const message = next ? (await next.echo({ message: request.message })).message : request.message;
      return { message, requestId: ctx.requestId, traceId: trace.getActiveSpan()?.spanContext().traceId ?? '' };
    },
    async *echoStream(request) {
      if (request.count > 10_000) throw invalidArgument('count', 'at most 10000');
      for (let index = 0; index < request.count; index++) yield { message: request.message, index };
    },
    async *echoBidi(requests) {
      for await (const request of requests) yield { message: request.message.toUpperCase() };
    },
    close() {
      next?.close();
    },
  };
}
