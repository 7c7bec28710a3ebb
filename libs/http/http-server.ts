import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { AppError, statusTable, toAppError } from '#libs/errors/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { Telemetry } from '#libs/telemetry/index.ts';

export interface HttpServerHandle {
  port: number;
  close(): Promise<void>;
}

/** RFC 9457 problem+json for an error; unknown errors become a generic 500 and are logged once. */
export function problemResponse(c: Context, error: unknown, logger: Logger): Response {
  const appError = toAppError(error);
  const status = statusTable[appError.code].http;
  if (appError.code === 'INTERNAL') logger.error({ err: appError.cause ?? appError, path: c.req.path }, 'http request failed');
  return c.json(
    {
      type: `https://tollgate.dev/problems/${appError.reason.toLowerCase().replaceAll('_', '-')}`,
      title: appError.code,
      status,
      detail: appError.publicMessage,
      ...(appError.field ? { field: appError.field } : {}),
    },
    status as 400,
    { 'content-type': 'application/problem+json' },
  );
}

/** A Hono app with the routes every Tollgate HTTP port has: /healthz, /metrics, problem+json errors, a body limit. */
export function createBaseHttpApp(options: { service: string; telemetry: Telemetry; logger: Logger; isReady?: () => boolean }): Hono {
  const app = new Hono();
  app.onError((error, c) => problemResponse(c, error, options.logger));
  app.notFound((c) => problemResponse(c, new AppError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`, { reason: 'ROUTE_NOT_FOUND' }), options.logger));
  app.get('/healthz', (c) => {
    const ready = options.isReady?.() ?? true;
    return c.json({ service: options.service, status: ready ? 'SERVING' : 'NOT_SERVING' }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => c.body(await options.telemetry.metricsText(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));
  return app;
}

export interface HttpServerOptions {
  /** How long an idle keep-alive connection is kept open; Node's default (5 s) when unset. */
  keepAliveTimeoutMs?: number | undefined;
}

export async function startHttpServer(app: Hono, host: string, port: number, options: HttpServerOptions = {}): Promise<HttpServerHandle> {
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host });
  // Created without `createServer` options, the adaptor's server is a plain node:http one.
  if (options.keepAliveTimeoutMs !== undefined) (server as HttpServer).keepAliveTimeout = options.keepAliveTimeoutMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new AppError('UNAVAILABLE', `cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'port in use' : error.message}`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
