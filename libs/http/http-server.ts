import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { AppError, statusTable, toAppError } from '#libs/errors/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { PROMETHEUS_CONTENT_TYPE, type Telemetry } from '#libs/telemetry/index.ts';

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

/**
 * One thing a service needs to answer requests: its database, a peer. Rejects when it is not
 * there; resolves `'not configured'` for an optional peer this deployment does not have.
 */
export type ReadinessCheck = () => Promise<void | 'not configured'>;

/**
 * A Hono app with the routes every Tollgate HTTP port has: `/healthz` (the process is up),
 * `/readyz` (every readiness check passes: database and peers reachable — 503 naming what is not),
 * `/metrics` (this service's own Prometheus metrics), problem+json errors.
 */
export function createBaseHttpApp(options: { service: string; telemetry: Telemetry; logger: Logger; readiness?: Record<string, ReadinessCheck> | undefined; readinessTimeoutMs?: number }): Hono {
  const app = new Hono();
  const metrics = options.telemetry.forService(options.service);
  app.onError((error, c) => problemResponse(c, error, options.logger));
  app.notFound((c) => problemResponse(c, new AppError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`, { reason: 'ROUTE_NOT_FOUND' }), options.logger));
  app.get('/healthz', (c) => c.json({ service: options.service, status: 'SERVING' }));
  app.get('/readyz', async (c) => {
    const timeoutMs = options.readinessTimeoutMs ?? 2_000;
    const entries = Object.entries(options.readiness ?? {});
    const results = await Promise.all(
      entries.map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          const outcome = await Promise.race([check(), timeout]);
          return [name, outcome ?? 'ok'] as const;
        } catch (error) {
          // The reason stays in the log: a driver message may carry an address or user name.
          options.logger.warn({ check: name, err: error }, 'readiness check failed');
          return [name, 'unavailable'] as const;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = results.every(([, status]) => status !== 'unavailable');
    return c.json({ service: options.service, status: ready ? 'READY' : 'NOT_READY', checks: Object.fromEntries(results) }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => c.body(await metrics.metricsText(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }));
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
