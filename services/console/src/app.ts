import { createBaseHttpApp, startHttpServer, type HttpServerHandle } from '#libs/http/index.ts';
import { checkHealth, createLazyClient, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { unauthenticated, permissionDenied } from '#libs/errors/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import type { Logger, Telemetry } from '#libs/telemetry/index.ts';
import { serviceNames } from '#libs/config/index.ts';
import { AuthzService, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { consolePage } from './console-page.ts';

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
 * The operator plane's HTTP side: health of every service, recent traces, metrics. Its API needs a
 * master token of a root account (operators); the page itself holds no data.
 */
export function createConsoleApp(config: ConsoleAppConfig, deps: ConsoleDeps) {
  const serviceAuth = { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'console')}` };
  const authz = createLazyClient(AuthzService, () => config.peers.address('authz'), { tls: config.clientTls, headers: serviceAuth });
  const identity = createLazyClient(IdentityService, () => config.peers.address('identity'), { tls: config.clientTls, headers: serviceAuth });

  async function requireOperator(authorization: string | undefined): Promise<void> {
    const bearer = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined;
    if (!bearer) throw unauthenticated('authorization: a Bearer master token is required', 'CREDENTIAL_MISSING');
    const res = await authz.authenticate({ bearer });
    if (!res.allowed || !res.principal) throw unauthenticated(`authorization: ${res.reason}`, res.reason);
    if (res.principal.kind !== TokenKind.MASTER) throw permissionDenied('operators use a master token', 'INSUFFICIENT_PRIVILEGE');
    const tree = await identity.getAccountTree({ accountId: res.principal.accountId });
    if (tree.ancestors.length > 0) throw permissionDenied('operators use a master token of a root account', 'INSUFFICIENT_PRIVILEGE');
  }

  const app = createBaseHttpApp({ service: 'console', telemetry: deps.telemetry, logger: deps.logger });
  app.get('/', (c) => c.html(consolePage()));
  app.get('/api/v1/services', async (c) => {
    const services = await Promise.all(
      serviceNames.map(async (name) => {
        if (!config.peers.has(name)) return { name, address: null, status: 'NOT_CONFIGURED' };
        const address = config.peers.address(name);
        const health = await checkHealth(address, { tls: config.clientTls, timeoutMs: 1_500 });
        return { name, address, status: health.status };
      }),
    );
    return c.json({ services });
  });
  app.get('/api/v1/traces', async (c) => {
    await requireOperator(c.req.header('authorization'));
    const traceId = c.req.query('trace_id');
    const limit = Math.min(Number(c.req.query('limit') ?? 200) || 200, 2_000);
    return c.json({ spans: deps.telemetry.spans.list({ ...(traceId ? { traceId } : {}), limit }) });
  });

  let server: HttpServerHandle | undefined;
  return {
    name: 'console',
    async start() {
      server = await startHttpServer(app, config.host, config.httpPort);
      return { name: 'console', httpAddress: `http://${config.host}:${server.port}` };
    },
    async stop() {
      await server?.close();
      authz.close();
      identity.close();
    },
  };
}
