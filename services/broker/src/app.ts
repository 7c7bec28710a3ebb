import { followStream } from '#libs/rpc/follow-stream.ts';
import { readFileSync } from 'node:fs';
import { createAdminGuard } from '#libs/admin-auth/admin-guard.ts';
import { authenticatedFirst } from '#libs/admin-auth/authenticated-first.ts';
import { authenticateThroughAuthz } from '#libs/admin-auth/authz-principal.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { AppError } from '#libs/errors/index.ts';
import { createLazyClient, createRpcServer, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { createBaseHttpApp } from '#libs/http/index.ts';
import { readinessChecks } from '#libs/service/readiness.ts';
import { systemClock, type Clock } from '#libs/clock/index.ts';
import { hostService, type ServiceApp, type ServiceDeps, type ServiceListen, type StartedService } from '#libs/service/service-host.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { BufferedAuditSink } from '#libs/audit/buffered-audit-sink.ts';
import { createIdentityAuditSender } from '#libs/audit/identity-audit-sender.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { createBroker, type Broker } from './broker.ts';
import { randomBytes } from 'node:crypto';
import { LimitEventKind, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { createLeaseQuotaMeter } from './clients/lease-quota-meter.ts';
import { createQuotaRetainedLimits } from './clients/quota-retained-limits.ts';
import { createAuthzAuthenticator } from './clients/authz-authenticator.ts';
import type { SubscribeOverlapMode } from './clients/compiled-topic-authorizer.ts';
import { followInvalidations } from './clients/invalidation-follower.ts';
import type { CountingMetrics } from './adapters/counting-metrics.ts';
import { createObservedBrokerMetrics } from './clients/observed-broker-metrics.ts';
import { brokerAdminHandlers, singleEdgeAdmin } from './grpc/broker-admin-handlers.ts';
import { NatsCluster } from './cluster/nats-cluster.ts';
import { createEdgeAdmin } from './cluster/edge-admin.ts';
import { observeCluster } from './cluster/observed-cluster-metrics.ts';
import type { CredentialThrottlePolicy } from './domain/credential-throttle.ts';
import { createBrokerTracing } from './broker-tracing.ts';
import { DecisionReporter } from './clients/decision-reporter.ts';

export interface BrokerAppConfig {
  listen: ServiceListen;
  peers: PeerDirectory;
  clientTls?: RpcClientTlsConfig | undefined;
  mqtt: {
    host: string;
    port: number;
    /** MQTT over TLS: on when cert and key are given. */
    tls?: { port: number; certFile: string; keyFile: string } | undefined;
    /** MQTT over WebSocket; `undefined` turns it off. */
    wsPort?: number | undefined;
  };
  /** acl token id whose account and rules apply to clients without credentials (unset: refused). */
  anonymousTokenId?: string | undefined;
  /** How long cached decisions are served past their TTL while authz is unreachable. */
  authzStaleLimitMs?: number | undefined;
  /** Authenticate's deadline on CONNECT (`TOLLGATE_BROKER_AUTHZ_DEADLINE`, default 200 ms). */
  authzDeadlineMs?: number | undefined;
  /** A quota lease's deadline (`TOLLGATE_BROKER_QUOTA_DEADLINE`, default 500 ms); past it quota counts as unreachable. */
  quotaDeadlineMs?: number | undefined;
  /** Quota unreachable and the local lease spent: admit (true, default) or hold clients back. */
  quotaFailOpen?: boolean | undefined;
  /** This edge's name in leases, usage batches and the cluster (default: a random one per process). */
  edgeId?: string | undefined;
  /** Security limits (broker-options.ts has the defaults). */
  maxFiltersPerSubscribe?: number | undefined;
  maxSubscriptionsPerSession?: number | undefined;
  maxRetainedPerAccount?: number | undefined;
  /** A subscribe filter overlapping a deny rule: `filter` (default) grants it and checks each delivery; `refuse`: 0x87. */
  subscribeOverlap?: SubscribeOverlapMode | undefined;
  /** Credential-failure throttle settings (defaults in domain/credential-throttle.ts). */
  credentialThrottle?: Partial<CredentialThrottlePolicy> | undefined;
  /** Limits on hostile and unauthenticated clients (see the broker README, Security); unset: defaults. */
  limits?:
    | {
        maxConnectBytes?: number | undefined;
        maxPendingConnectsPerIp?: number | undefined;
        connectTimeoutMs?: number | undefined;
        maxPacketSizeBytes?: number | undefined;
        maxKeepAliveSeconds?: number | undefined;
      }
    | undefined;
  /** Form one MQTT cluster with the other edges over NATS (cluster/); unset: a single edge. */
  cluster?: { natsUrl: string; name: string; credsFile?: string | undefined; tlsCaFile?: string | undefined; tlsCertFile?: string | undefined; tlsKeyFile?: string | undefined; kvReplicas?: number | undefined } | undefined;
  /** Share of PUBLISH/SUBSCRIBE packets traced, 0..1 (`TOLLGATE_BROKER_TRACE_SAMPLE`, default 0.001); every CONNECT is. */
  traceSampleRatio?: number | undefined;
  /** The edge's own topic denials sent to authz's decision log per second at most (`TOLLGATE_BROKER_DECISION_REPORTS_PER_SECOND`, default 200). */
  decisionReportsPerSecond?: number | undefined;
}

/** The broker edge keeps no database (ARCHITECTURE §2): everything else a service gets. */
export type BrokerDeps = Omit<ServiceDeps, 'database'> & {
  /** The edge's one clock (keep-alives, expiries, sessions, leases, credential TTLs); the system clock unless a test moves one. */
  clock?: Clock | undefined;
};

export interface BrokerApp extends ServiceApp {
  readonly broker: Broker;
  /** The edge's event counters (what /metrics exports as tollgate.broker.events). */
  readonly metrics: CountingMetrics;
  /** The edge's cluster link; undefined for a single edge. `degraded`: NATS unreachable. */
  readonly cluster: NatsCluster | undefined;
  mqttAddresses(): { tcp?: string; tls?: string; ws?: string };
}

/**
 * Composition root of the MQTT broker edge: the broker core on its listeners, authenticating
 * through authz (credential cache, in-process ACL), following authz's invalidation feed to
 * disconnect revoked clients, and the admin gRPC API.
 */
function definedOnly<T extends object>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

export function createBrokerApp(config: BrokerAppConfig, deps: BrokerDeps): BrokerApp {
  const serviceAuth = { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'broker')}` };
  const telemetry = deps.telemetry.forService('broker');
  const clock = deps.clock ?? systemClock;
  const nowMs = () => clock.nowMs();
  const authz = createLazyClient(AuthzService, () => config.peers.address('authz'), { tls: config.clientTls, tracer: telemetry.tracer, headers: serviceAuth });
  const identity = createLazyClient(IdentityService, () => config.peers.address('identity'), { tls: config.clientTls, tracer: telemetry.tracer, headers: serviceAuth });
  const metrics = createObservedBrokerMetrics(telemetry.meter, () => broker.stats().connections);
  const authenticator = createAuthzAuthenticator({
    authz,
    anonymousTokenId: config.anonymousTokenId,
    staleLimitMs: config.authzStaleLimitMs,
    authenticateDeadlineMs: config.authzDeadlineMs,
    onUnavailable: () => metrics.count('authz_unavailable'),
    subscribeOverlap: config.subscribeOverlap ?? 'filter',
    nowMs,
  });
  const edgeId = config.edgeId ?? `edge-${randomBytes(6).toString('hex')}`;
  const cluster = config.cluster ? new NatsCluster({ ...config.cluster, url: config.cluster.natsUrl, cluster: config.cluster.name, edgeId, logger: deps.logger }) : undefined;
  if (cluster) observeCluster(cluster);
  const quotaClient = createLazyClient(QuotaService, () => config.peers.address('quota'), { tls: config.clientTls, tracer: telemetry.tracer, headers: serviceAuth });
  const quotaMeter = createLeaseQuotaMeter({
    quota: quotaClient,
    edgeId,
    logger: deps.logger,
    failOpen: config.quotaFailOpen ?? true,
    onUnavailable: () => metrics.count('quota_unavailable'),
    leaseDeadlineMs: config.quotaDeadlineMs,
    clock,
  });
  // The edge's own denials (compiled ACL, in process) reach authz's decision log in batches.
  const decisionReporter = new DecisionReporter({ authz, metrics, logger: deps.logger, maxPerSecond: config.decisionReportsPerSecond ?? 200, nowMs });
  // The account's `mqtt.retained` quota, on top of the edge's own retained cap.
  const retainedLimits = createQuotaRetainedLimits({ quota: quotaClient, onUnavailable: () => metrics.count('quota_unavailable'), now: nowMs });
  const broker = createBroker({
    authenticator,
    clock,
    tracing: createBrokerTracing(telemetry.tracer, config.traceSampleRatio ?? 0.001),
    onTopicDenied: (denial) => decisionReporter.report(denial),
    quota: quotaMeter,
    retainedLimits,
    metrics,
    // One credential cache only — the authz authenticator's, which also carries the stale policy.
    cacheCredentials: false,
    ...(config.maxFiltersPerSubscribe !== undefined ? { maxFiltersPerSubscribe: config.maxFiltersPerSubscribe } : {}),
    ...(config.maxSubscriptionsPerSession !== undefined ? { maxSubscriptionsPerSession: config.maxSubscriptionsPerSession } : {}),
    ...(config.maxRetainedPerAccount !== undefined ? { maxRetainedPerAccount: config.maxRetainedPerAccount } : {}),
    credentialThrottle: config.credentialThrottle ?? {},
    // One line when an address or username starts being throttled and one when it is over (with
    // how many CONNECTs were refused meanwhile) — never one per packet. The username key is a digest.
    onCredentialThrottle: (e) => deps.logger.warn({ event: 'mqtt_credential_throttle', phase: e.phase, scope: e.scope, key: e.key, failures: e.failures, blockedForMs: e.blockedForMs, refused: e.refused }, `MQTT credential failures ${e.phase === 'started' ? 'throttled' : 'throttle over'} (${e.scope})`),
    ...definedOnly(config.limits ?? {}),
    tcp: { host: config.mqtt.host, port: config.mqtt.port },
    ...(config.mqtt.tls ? { tls: { host: config.mqtt.host, port: config.mqtt.tls.port, cert: readFileSync(config.mqtt.tls.certFile), key: readFileSync(config.mqtt.tls.keyFile) } } : {}),
    ...(config.mqtt.wsPort === undefined ? {} : { ws: { host: config.mqtt.host, port: config.mqtt.wsPort } }),
    ...(cluster ? { cluster } : {}),
  });
  const edgeAdmin = createEdgeAdmin(broker, metrics, edgeId);
  cluster?.serveAdmin(edgeAdmin);

  const requireAdmin = createAdminGuard({
    secretKey: deps.secretKey,
    authenticate: authenticateThroughAuthz(authz),
    async accountPath(accountId) {
      const tree = await identity.getAccountTree({ accountId }).catch(() => undefined);
      return tree ? [...tree.ancestors.map((a) => a.id), tree.account!.id] : [];
    },
  });
  const rpc = createRpcServer({ logger: deps.logger, tls: config.listen.grpcTls, telemetry });
  // Kicks go to identity's audit log in the background (libs/audit): never blocking them.
  const audit = new BufferedAuditSink({ sender: createIdentityAuditSender(identity), logger: deps.logger, meter: telemetry.meter });
  // Whose figures an account's GetStats covers: the account, and its subaccounts when asked.
  const subtree = async (accountId: string, includeSubaccounts: boolean) => {
    if (!includeSubaccounts) return [accountId];
    const tree = await identity.getAccountTree({ accountId, includeDescendants: true });
    return [accountId, ...tree.descendants.map((a) => a.id)];
  };
  rpc.add(BrokerAdminService, authenticatedFirst(BrokerAdminService, brokerAdminHandlers(cluster ?? singleEdgeAdmin(edgeAdmin), requireAdmin, subtree, audit), requireAdmin, {}));

  let feed: ReturnType<typeof followInvalidations> | undefined;
  /**
   * Limit changes reach this edge within a second: a change on an ancestor applies to its whole
   * subtree, which this edge cannot see, so every budget and connection block is dropped (each
   * account leases anew, at the new limit). The feed does not resume after a gap, so a reopened
   * feed drops them too: a change made while it was down is not missed.
   */
  let limitsFeedOpened = 0;
  const forgetBudgets = () => {
    quotaMeter.forgetAll();
    retainedLimits.forgetAll();
  };
  const limitsFollower = () =>
    followStream({
      open(signal) {
        if (limitsFeedOpened++ > 0) forgetBudgets();
        return quotaClient.watchLimits({ edgeId: 'broker' }, { signal });
      },
      onEvent(event) {
        if (event.kind === LimitEventKind.CHANGED) forgetBudgets();
      },
      maxBackoffMs: 5_000,
    });
  let limitsFeed: ReturnType<typeof limitsFollower> | undefined;
  let addresses: { tcp?: string; tls?: string; ws?: string } = {};
  const host = hostService({
    name: 'broker',
    listen: config.listen,
    rpc,
    // The edge keeps no database: ready when the peers it asks on every CONNECT answer.
    http: createBaseHttpApp({ service: 'broker', telemetry: deps.telemetry, logger: deps.logger, readiness: readinessChecks({ peers: config.peers, uses: ['authz', 'quota', 'identity'], tls: config.clientTls }) }),
    onStop: async () => {
      feed?.stop();
      limitsFeed?.stop();
      await broker.close();
      await decisionReporter.stop();
      await cluster?.stop();
      await quotaMeter.stop();
      quotaClient.close();
      authz.close();
      await audit.close();
      identity.close();
    },
  });

  return {
    ...host,
    broker,
    metrics,
    cluster,
    mqttAddresses: () => addresses,
    async start(): Promise<StartedService> {
      // Joins the cluster before serving MQTT, so the retained store is loaded (bounded wait: NATS
      // down means a degraded start, not none).
      await cluster?.start();
      const bound = await broker.listen().catch((error: NodeJS.ErrnoException & { port?: number; address?: string }) => {
        const where = error.port !== undefined ? `${error.address ?? config.mqtt.host}:${error.port}` : config.mqtt.host;
        const which = error.port === config.mqtt.tls?.port ? 'TOLLGATE_MQTTS_PORT' : error.port === config.mqtt.wsPort ? 'TOLLGATE_MQTT_WS_PORT' : 'TOLLGATE_MQTT_PORT';
        throw new AppError('UNAVAILABLE', `cannot listen on ${where}: ${error.code === 'EADDRINUSE' ? `port in use (set ${which})` : error.message}`, { cause: error });
      });
      const fmt = (b: { host: string; port: number } | undefined) => (b ? `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}` : undefined);
      addresses = { ...(bound.tcp ? { tcp: fmt(bound.tcp)! } : {}), ...(bound.tls ? { tls: fmt(bound.tls)! } : {}), ...(bound.ws ? { ws: fmt(bound.ws)! } : {}) };
      // Revocation: every token change disconnects the token's clients (0x98 administrative
      // action; 0x87 not authorized once expired) and drops its cached decisions.
      feed = followInvalidations({
        authz,
        logger: deps.logger,
        target: {
          onToken(tokenId, kind) {
            authenticator.dropCache(tokenId);
            broker.dropAuthCache();
            broker.disconnectWhere((c) => c.subject === tokenId, kind === 'expired' ? 0x87 : 0x98);
          },
          onGrant(grantId) {
            authenticator.dropGrant(grantId);
            broker.dropAuthCache();
            broker.disconnectWhere((c) => c.grantId === grantId, 0x98);
          },
          onAccountSuspended(accountId) {
            authenticator.dropCache();
            broker.dropAuthCache();
            broker.disconnectWhere((c) => c.account === accountId, 0x98);
          },
          onReset() {
            authenticator.dropCache();
            broker.dropAuthCache();
          },
        },
      });
      limitsFeed = limitsFollower();
      decisionReporter.start();
      return host.start();
    },
  };
}
