import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Context } from 'hono';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { createBaseHttpApp, startHttpServer, type HttpServerHandle } from '#libs/http/index.ts';
import { checkHealth, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { permissionDenied } from '#libs/errors/index.ts';
import type { Logger, Telemetry } from '#libs/telemetry/index.ts';
import { serviceNames } from '#libs/config/index.ts';
import { readinessChecks } from '#libs/service/readiness.ts';
import { createConsolePeers } from './console-peers.ts';
import { createAdminApi, peerAddress } from './http/admin-api.ts';
import { consoleCss } from './http/console-css.ts';
import { consolePages } from './pages/console-pages.ts';
import { createConsoleSessions } from './session/console-sessions.ts';
import { createSessionCodec } from './session/session-codec.ts';

export interface ConsoleAppConfig {
  host: string;
  httpPort: number;
  peers: PeerDirectory;
  clientTls?: RpcClientTlsConfig | undefined;
  /** A session ends after this long without a request (default 30 min)… */
  sessionIdleMs?: number | undefined;
  /** …and this long after sign-in whatever happens (default 12 h). */
  sessionAbsoluteMs?: number | undefined;
  /** Live usage / broker-rate streams: one sample per interval (defaults 5 s / 2 s). */
  usageStreamIntervalMs?: number | undefined;
  statsStreamIntervalMs?: number | undefined;
}

export interface ConsoleDeps {
  logger: Logger;
  telemetry: Telemetry;
  secretKey: Uint8Array;
  /** The clock sessions are timed by (epoch ms); tests inject one. */
  now?: () => number;
}

const require = createRequire(import.meta.url);
/** Browser assets, served by the app from node_modules and this service (no CDN). */
function loadAssets() {
  const file = (path: string) => readFileSync(path, 'utf8');
  return {
    'htmx.js': { body: file(require.resolve('htmx.org/dist/htmx.min.js')), type: 'text/javascript; charset=utf-8' },
    'uplot.js': { body: file(require.resolve('uplot/dist/uPlot.iife.min.js')), type: 'text/javascript; charset=utf-8' },
    'uplot.css': { body: file(require.resolve('uplot/dist/uPlot.min.css')), type: 'text/css; charset=utf-8' },
    'console.js': { body: file(new URL('../assets/console.js', import.meta.url).pathname), type: 'text/javascript; charset=utf-8' },
    'console.css': { body: consoleCss, type: 'text/css; charset=utf-8' },
  } as Record<string, { body: string; type: string }>;
}

/**
 * The operator plane's HTTP side: the REST admin API (`/api/v1`, a translation onto the services'
 * RPCs with the caller's credential), the web console over it, health and metrics. It holds no
 * policy: every call is made with the caller's own credential and the services decide.
 */
export function createConsoleApp(config: ConsoleAppConfig, deps: ConsoleDeps) {
  const now = deps.now ?? Date.now;
  const peers = createConsolePeers(config.peers, config.clientTls, deps.secretKey, deps.telemetry.forService('console').tracer);
  const codec = createSessionCodec(deps.secretKey, { idleMs: config.sessionIdleMs ?? 30 * 60_000, absoluteMs: config.sessionAbsoluteMs ?? 12 * 3_600_000 }, now);
  const sessions = createConsoleSessions({ peers, codec, now, logger: deps.logger, peerAddress });
  const assets = loadAssets();

  async function serviceHealth() {
    return Promise.all(
      serviceNames.map(async (name) => {
        if (!config.peers.has(name)) return { name, address: null, status: 'NOT_CONFIGURED' };
        const address = config.peers.address(name);
        const health = await checkHealth(address, { tls: config.clientTls, timeoutMs: 1_500 });
        return { name, address, status: health.status };
      }),
    );
  }

  const app = createBaseHttpApp({
    service: 'console',
    telemetry: deps.telemetry,
    logger: deps.logger,
    readiness: readinessChecks({ peers: config.peers, uses: ['identity', 'authz', 'broker'], tls: config.clientTls }),
  });
  // No inline script or style anywhere: scripts and styles come from the app itself.
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
      referrerPolicy: 'same-origin',
    }),
  );
  // Cross-site form posts are refused by Origin / Sec-Fetch-Site; the session's CSRF token is checked as well.
  // A request with an Authorization header carries no ambient credential (a browser never adds one
  // by itself), so API clients with a Bearer credential are not held to the Origin check.
  const originCheck = csrf();
  app.use('*', async (c, next) => {
    if (c.req.header('authorization') !== undefined) return next();
    try {
      await originCheck(c, next);
    } catch (error) {
      if (error instanceof HTTPException && error.status === 403) throw permissionDenied('csrf: cross-site request refused (Origin)', 'CSRF_ORIGIN');
      throw error;
    }
  });
  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/assets/:name', (c) => {
    const asset = assets[c.req.param('name')];
    return asset ? c.body(asset.body, 200, { 'content-type': asset.type, 'cache-control': 'public, max-age=300' }) : c.notFound();
  });

  app.route(
    '/api/v1',
    createAdminApi({
      peers,
      telemetry: deps.telemetry,
      logger: deps.logger,
      serviceHealth,
      async sessionCredential(c: Context) {
        const session = await sessions.session(c);
        if (!session) return undefined;
        await sessions.requireCsrf(c, session);
        return session.cred;
      },
    }),
  );
  sessions.routes(app);
  consolePages(app, sessions, { usageStreamIntervalMs: config.usageStreamIntervalMs ?? 5_000, statsStreamIntervalMs: config.statsStreamIntervalMs ?? 2_000 });

  let server: HttpServerHandle | undefined;
  return {
    name: 'console',
    /** The Hono app itself (its route table is checked against the OpenAPI document in tests). */
    app,
    async start() {
      server = await startHttpServer(app, config.host, config.httpPort);
      return { name: 'console', httpAddress: `http://${config.host}:${server.port}` };
    },
    async stop() {
      await server?.close();
      peers.close();
    },
  };
}
