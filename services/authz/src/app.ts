import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { createAdminGuard } from '#libs/admin-auth/admin-guard.ts';
import { authenticatedFirst } from '#libs/admin-auth/authenticated-first.ts';
import { createBaseHttpApp } from '#libs/http/index.ts';
import { createLazyClient, createRpcServer, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { countLimitsOnPath } from '#libs/quota-client/count-limits.ts';
import { createJwksVerifier } from './clients/jwks-cache.ts';
import { followAccounts } from './clients/account-follower.ts';
import { createBrokerCredentials } from './http/broker-credentials.ts';
import { rabbitmqRoutes } from './http/rabbitmq-routes.ts';
import { emqxRoutes } from './http/emqx-routes.ts';
import { goAuthRoutes } from './http/go-auth-routes.ts';
import type { SharedBrokerNamespace } from './http/adapter-topic.ts';
import { envoyAuthorizationHandlers } from './grpc/envoy-authz-handlers.ts';
import { goAuthGrpcHandlers } from './grpc/go-auth-handlers.ts';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { AuthService } from '#gen/grpc/auth_pb.js';
import { DecisionLog } from './decision-log.ts';
import { readinessChecks } from '#libs/service/readiness.ts';
import { hostService, type ServiceApp, type ServiceDeps, type ServiceListen } from '#libs/service/service-host.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createAuthzCore, type AuthzCore } from './authz-core.ts';
import { createInvalidationHub } from './invalidation-hub.ts';
import { createGrpcIdentityPeer } from './clients/identity-peer.ts';
import { decodeAuthorizeRequest } from './grpc/authorize-request.ts';
import { authzHandlers } from './grpc/authz-handlers.ts';
import { PostgresTokenStore } from './store/postgres-token-store.ts';
import { BufferedAuditSink } from '#libs/audit/buffered-audit-sink.ts';
import { createIdentityAuditSender } from '#libs/audit/identity-audit-sender.ts';

export const authzMigrations = { schema: 'authz', dir: fileURLToPath(new URL('../migrations', import.meta.url)) };

export interface AuthzAppConfig {
  listen: ServiceListen;
  peers: PeerDirectory;
  clientTls?: RpcClientTlsConfig | undefined;
  /** Default decision cache TTL (ms). */
  decisionTtlMs?: number | undefined;
  /** The account RabbitMQ's default vhost `/` stands for; unset: `/` is refused (TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT). */
  rabbitmqDefaultVhostAccountId?: string | undefined;
  /** How EMQX and go-auth topics name their account; unset: `account-prefix` (TOLLGATE_SHARED_BROKER_NAMESPACE). */
  sharedBrokerNamespace?: SharedBrokerNamespace | undefined;
  /** mosquitto-go-auth subscribe checks: grant a filter overlapping a deny rule (`filter`, deliveries are checked) or refuse it. */
  subscribeOverlap?: 'filter' | 'refuse' | undefined;
}

export interface AuthzApp extends ServiceApp {
  readonly core: AuthzCore;
}

/** Composition root of the authz service. */
export function createAuthzApp(config: AuthzAppConfig, deps: ServiceDeps): AuthzApp {
  const telemetry = deps.telemetry.forService('authz');
  const identity = createGrpcIdentityPeer(() => config.peers.address('identity'), {
    tls: config.clientTls,
    tracer: telemetry.tracer,
    headers: { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'authz')}` },
  });
  const store = new PostgresTokenStore(deps.database.db);
  const identityClient = createLazyClient(IdentityService, () => config.peers.address('identity'), {
    tls: config.clientTls,
    tracer: telemetry.tracer,
    defaultDeadlineMs: 2_000,
    headers: { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'authz')}` },
  });
  const jwks = createJwksVerifier({ identity: identityClient });
  const quotaClient = createLazyClient(QuotaService, () => config.peers.address('quota'), { tls: config.clientTls, tracer: telemetry.tracer, defaultDeadlineMs: 2_000, headers: { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'authz')}` } });
  const core = createAuthzCore({
    store,
    ...(deps.clock ? { clock: deps.clock } : {}),
    identity,
    decisionTtlMs: config.decisionTtlMs,
    decisionLog: new DecisionLog({ meter: telemetry.meter }),
    verifyJwt: jwks.verify,
    // Count limits (quota's `tokens` metric) are checked here, on create; without a quota service
    // in this mesh there are none.
    tokenCountLimits: async (accountId) =>
      config.peers.has('quota') ? countLimitsOnPath(quotaClient, (await identity.accountPath(accountId)).map((a) => a.id), 'tokens') : [],
    subtreeOf: async (accountId) => {
      const tree = await identityClient.getAccountTree({ accountId, includeDescendants: true });
      return [tree.account!.id, ...tree.descendants.map((a) => a.id)];
    },
  });
  const hub = createInvalidationHub({ database: deps.database, store, logger: deps.logger, onEvent: core.onInvalidation, clock: core.clock });
  const requireAdmin = createAdminGuard({
    secretKey: deps.secretKey,
    async authenticate(bearer, peerIp) {
      const outcome = await core.authenticate({ bearer, username: '', password: '', peerIp });
      if (!outcome.allowed) return { denied: outcome.reason };
      return { accountId: outcome.principal.accountId, subject: outcome.principal.subject, kind: outcome.principal.kind, role: outcome.principal.role };
    },
    // The same short-lived path cache the credential check just used (cleared by the account
    // feed): an admin action in a known account goes on for a moment while identity is away.
    accountPath: async (accountId) => (await core.accountPath(accountId)).map((a) => a.id),
  });
  // Token changes go to identity's audit log in the background (libs/audit): never blocking them.
  const audit = new BufferedAuditSink({ sender: createIdentityAuditSender(identityClient), logger: deps.logger, meter: telemetry.meter });
  const rpc = createRpcServer({ logger: deps.logger, tls: config.listen.grpcTls, telemetry });
  // GetDecisionStats' figures are this process's: callers tell replicas (and restarts) apart by this.
  const replica = { id: `azr_${randomBytes(8).toString('hex')}`, startedAtMs: Date.now() };
  rpc.add(
    AuthzService,
    authenticatedFirst(AuthzService, authzHandlers(core, requireAdmin, { hub, secretKey: deps.secretKey, replica }, audit), requireAdmin, {
      authenticate: 'the credential to check is the request itself (brokers, the edge, services)',
      authorize: 'the credential to check is the request itself',
      authorizeBatch: 'the credential to check is the request itself',
    }),
    // The hottest request, read by hand (authorize-request.ts); protobuf-es for anything unusual.
    { decoders: { authorize: decodeAuthorizeRequest } },
  );
  rpc.add(Authorization, envoyAuthorizationHandlers(core));
  const http = createBaseHttpApp({
    service: 'authz',
    telemetry: deps.telemetry,
    logger: deps.logger,
    readiness: readinessChecks({ database: deps.database, peers: config.peers, uses: ['identity', 'quota'], tls: config.clientTls }),
  });
  // Foreign brokers delegate to the same engine (services/authz/README.md, "Adapters").
  const brokerCredentials = createBrokerCredentials(core);
  http.route('/rabbitmq', rabbitmqRoutes(core, brokerCredentials, deps.logger, { defaultVhostAccountId: config.rabbitmqDefaultVhostAccountId }));
  // EMQX and Mosquitto share one topic space among accounts: the namespace mode keeps them apart.
  const namespace = { namespace: config.sharedBrokerNamespace };
  http.route('/emqx', emqxRoutes(core, brokerCredentials, deps.logger, namespace));
  // mosquitto-go-auth checks every delivery (acc 1), so it may grant overlapping subscriptions; EMQX cannot.
  const goAuth = { ...namespace, subscribeOverlap: config.subscribeOverlap };
  http.route('/mosquitto', goAuthRoutes(core, brokerCredentials, deps.logger, goAuth));
  rpc.add(AuthService, goAuthGrpcHandlers(core, brokerCredentials, goAuth));
  let usageTimer: NodeJS.Timeout | undefined;
  let accounts: { stop(): void } | undefined;
  const host = hostService({
    name: 'authz',
    listen: config.listen,
    rpc,
    http,
    // Brokers' HTTP clients keep idle connections longer than Node's 5 s (RabbitMQ's httpc: 120 s);
    // outliving them spares a request on a socket we just closed (contract doc §4, keep-alive).
    httpKeepAliveTimeoutMs: 125_000,
    beforeShutdown: () => hub.stop(),
    onStop: async () => {
      clearInterval(usageTimer);
      accounts?.stop();
      await audit.close();
      identityClient.close();
      quotaClient.close();
      await core.flushUsage().catch(() => {});
      identity.close();
    },
  });
  return {
    ...host,
    core,
    async start() {
      await hub.start();
      accounts = followAccounts({ identity: identityClient, store, logger: deps.logger, onChange: core.forgetAccounts });
      usageTimer = setInterval(() => core.flushUsage().catch((error: unknown) => deps.logger.warn({ err: error }, 'usage flush failed')), 5_000);
      usageTimer.unref();
      return host.start();
    },
  };
}
