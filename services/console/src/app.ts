import { createBaseHttpApp, startHttpServer, type HttpServerHandle } from '#libs/http/index.ts';
import { checkHealth, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import type { Logger, Telemetry } from '#libs/telemetry/index.ts';
import { serviceNames } from '#libs/config/index.ts';
import { consolePage } from './console-page.ts';
import { createConsolePeers } from './console-peers.ts';
import { createAdminApi } from './http/admin-api.ts';
import { consoleCss } from './http/console-css.ts';

export interface ConsoleAppConfig {
  host: string;
  httpPort: number;
  peers: PeerDirectory;
  clientTls?: RpcClientTlsConfig | undefined;
}

export interface ConsoleDeps {
  logger: Logger;
  telemetry: Telemetry;
  secretKey: Uint8Array;
}

/**
 * The operator plane's HTTP side: the REST admin API (`/api/v1`, a translation onto the services'
 * RPCs with the caller's credential), the web console, health and metrics. It holds no policy.
 */
export function createConsoleApp(config: ConsoleAppConfig, deps: ConsoleDeps) {
  const peers = createConsolePeers(config.peers, config.clientTls, deps.secretKey);

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

  const app = createBaseHttpApp({ service: 'console', telemetry: deps.telemetry, logger: deps.logger });
  app.get('/', (c) => c.html(consolePage()));
  app.get('/assets/console.css', (c) => c.body(consoleCss, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }));
  app.route('/api/v1', createAdminApi({ peers, telemetry: deps.telemetry, serviceHealth, sessionCredential: async () => undefined }));

  let server: HttpServerHandle | undefined;
  return {
    name: 'console',
    /** The Hono app itself, for in-process requests in tests. */
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
