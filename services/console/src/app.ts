import { createBaseHttpApp, startHttpServer, type HttpServerHandle } from '#libs/http/index.ts';
import { checkHealth, createLazyClient, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { unauthenticated, permissionDenied } from '#libs/errors/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import type { Logger, Telemetry } from '#libs/telemetry/index.ts';
import { serviceNames } from '#libs/config/index.ts';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { AuthzService, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { readinessChecks } from '#libs/service/readiness.ts';
import { consolePage } from './console-page.ts';
import { clientsQuery, decisionsQuery, parseQuery, tracesQuery } from './query-params.ts';

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
  const { tracer } = deps.telemetry.forService('console');
  const authz = createLazyClient(AuthzService, () => config.peers.address('authz'), { tls: config.clientTls, tracer, headers: serviceAuth });
  const identity = createLazyClient(IdentityService, () => config.peers.address('identity'), { tls: config.clientTls, tracer, headers: serviceAuth });

  const broker = createLazyClient(BrokerAdminService, () => config.peers.address('broker'), { tls: config.clientTls, tracer });

  async function requireOperator(authorization: string | undefined): Promise<string> {
    const bearer = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined;
    if (!bearer) throw unauthenticated('authorization: a Bearer master token is required', 'CREDENTIAL_MISSING');
    const res = await authz.authenticate({ bearer });
    if (!res.allowed || !res.principal) throw unauthenticated(`authorization: ${res.reason}`, res.reason);
    if (res.principal.kind !== TokenKind.MASTER) throw permissionDenied('operators use a master token', 'INSUFFICIENT_PRIVILEGE');
    const tree = await identity.getAccountTree({ accountId: res.principal.accountId });
    if (tree.ancestors.length > 0) throw permissionDenied('operators use a master token of a root account', 'INSUFFICIENT_PRIVILEGE');
    return res.principal.accountId;
  }

  const app = createBaseHttpApp({
    service: 'console',
    telemetry: deps.telemetry,
    logger: deps.logger,
    readiness: readinessChecks({ peers: config.peers, uses: ['identity', 'authz', 'broker'], tls: config.clientTls }),
  });
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
    const query = parseQuery(tracesQuery, c.req.query());
    return c.json({ spans: deps.telemetry.spans.list({ ...(query.trace_id ? { traceId: query.trace_id } : {}), limit: query.limit ?? 200 }) });
  });

  // Operator views over the services' own admin RPCs, called with the operator's own credential.
  app.get('/api/v1/decisions', async (c) => {
    const authorization = c.req.header('authorization');
    const root = await requireOperator(authorization);
    const query = parseQuery(decisionsQuery, c.req.query());
    const res = await authz.listRecentDecisions(
      { accountId: query.account_id ?? root, denialsOnly: query.denials_only === 'true', limit: query.limit ?? 100 },
      { headers: { authorization: authorization! } },
    );
    return c.json({
      decisions: res.decisions.map((d) => ({ at: d.at ? new Date(timestampMs(d.at)).toISOString() : null, allowed: d.allowed, reason: d.reason, action: d.action, resource: d.resource, account_id: d.accountId, subject: d.subject, client_id: d.clientId, peer_ip: d.peerIp, source: d.source })),
    });
  });
  app.get('/api/v1/clients', async (c) => {
    const authorization = c.req.header('authorization');
    const root = await requireOperator(authorization);
    const query = parseQuery(clientsQuery, c.req.query());
    const res = await broker.listClients({ accountId: query.account_id ?? root }, { headers: { authorization: authorization! } });
    return c.json({
      clients: res.clients.map((cl) => ({ client_id: cl.clientId, account_id: cl.accountId, subject: cl.subject, peer: cl.peer, protocol_version: cl.protocolVersion, transport: cl.transport, connected_at: cl.connectedAt ? new Date(timestampMs(cl.connectedAt)).toISOString() : null, subscriptions: cl.subscriptions })),
    });
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
      broker.close();
    },
  };
}
