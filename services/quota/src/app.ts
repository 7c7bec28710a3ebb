import { observeQuotaEngine } from './observed-quota-engine.ts';
import { fileURLToPath } from 'node:url';
import { createAdminGuard } from '#libs/admin-auth/admin-guard.ts';
import { authenticatedFirst } from '#libs/admin-auth/authenticated-first.ts';
import { authenticateThroughAuthz } from '#libs/admin-auth/authz-principal.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { createBaseHttpApp } from '#libs/http/index.ts';
import { createLazyClient, createRpcServer, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { readinessChecks } from '#libs/service/readiness.ts';
import { hostService, type ServiceApp, type ServiceDeps, type ServiceListen } from '#libs/service/service-host.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { BufferedAuditSink } from '#libs/audit/buffered-audit-sink.ts';
import { createIdentityAuditSender } from '#libs/audit/identity-audit-sender.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { quotaHandlers } from './grpc/quota-handlers.ts';
import { envoyRateLimitHandlers } from './grpc/envoy-ratelimit-handlers.ts';
import { RateLimitService } from '#gen/envoy/service/ratelimit/v3/rls_pb.js';
import { createShardRouter } from './clients/shard-router.ts';
import { createRateLimitForwarder } from './clients/ratelimit-forwarder.ts';
import { createQuotaCore, type QuotaCore } from './quota-core.ts';
import { PostgresLimitStore } from './store/postgres-limit-store.ts';
import { PostgresQuotaStateStore } from './store/postgres-quota-state-store.ts';
import { PostgresUsageStore } from './store/postgres-usage-store.ts';

export const quotaMigrations = { schema: 'quota', dir: fileURLToPath(new URL('../migrations', import.meta.url)) };

export interface QuotaAppConfig {
  listen: ServiceListen;
  peers: PeerDirectory;
  clientTls?: RpcClientTlsConfig | undefined;
  /** How often buffered volume counters and usage batches are written. */
  flushIntervalMs?: number | undefined;
  /** Several replicas: every replica's gRPC address in the same order, and which one this is. */
  replicas?: { addresses: () => readonly string[]; self: number } | undefined;
  /** How long a starting replica waits for each peer's answer when comparing replica lists. */
  replicaCheckTimeoutMs?: number | undefined;
}

export interface QuotaApp extends ServiceApp {
  readonly core: QuotaCore;
}

/** Composition root of the quota service. */
export function createQuotaApp(config: QuotaAppConfig, deps: ServiceDeps): QuotaApp {
  const serviceAuth = { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'quota')}` };
  const telemetry = deps.telemetry.forService('quota');
  const identity = createLazyClient(IdentityService, () => config.peers.address('identity'), { tls: config.clientTls, tracer: telemetry.tracer, defaultDeadlineMs: 2_000, headers: serviceAuth });
  const authz = createLazyClient(AuthzService, () => config.peers.address('authz'), { tls: config.clientTls, tracer: telemetry.tracer, defaultDeadlineMs: 2_000, headers: serviceAuth });
  const pathOf = async (accountId: string) => {
    const tree = await identity.getAccountTree({ accountId }).catch((error: { code?: string }) => {
      if (error.code === 'NOT_FOUND') return undefined;
      throw error;
    });
    return tree ? [...tree.ancestors.map((a) => a.id), tree.account!.id] : [];
  };
  const LIMITS_CHANNEL = 'tollgate_quota_limits';
  const core = createQuotaCore({
    limits: new PostgresLimitStore(deps.database.db),
    usage: new PostgresUsageStore(deps.database.db),
    state: new PostgresQuotaStateStore(deps.database.db),
    accounts: { pathOf },
    logger: deps.logger,
    onLimitsWritten: (accountId) => deps.database.notify(LIMITS_CHANNEL, accountId),
  });
  observeQuotaEngine(core.engine, telemetry.meter);
  let unlisten: (() => Promise<void>) | undefined;
  const requireAdmin = createAdminGuard({
    secretKey: deps.secretKey,
    authenticate: authenticateThroughAuthz(authz),
    accountPath: pathOf,
  });
  const router = config.replicas ? createShardRouter({ ...config.replicas, serviceCredential: mintServiceCredential(deps.secretKey, 'quota'), tls: config.clientTls, logger: deps.logger }) : undefined;
  // Limit changes go to identity's audit log in the background (libs/audit): never blocking them.
  const audit = new BufferedAuditSink({ sender: createIdentityAuditSender(identity), logger: deps.logger, meter: telemetry.meter });
  const rpc = createRpcServer({ logger: deps.logger, tls: config.listen.grpcTls, telemetry });
  rpc.add(QuotaService, authenticatedFirst(QuotaService, quotaHandlers(core, requireAdmin, deps.secretKey, router, audit, config.replicas), requireAdmin, {}));
  const rateLimitForwarder = config.replicas ? createRateLimitForwarder({ ...config.replicas, serviceCredential: mintServiceCredential(deps.secretKey, 'quota'), tls: config.clientTls }) : undefined;
  rpc.add(RateLimitService, envoyRateLimitHandlers(core, deps.secretKey, rateLimitForwarder, config.replicas));
  const http = createBaseHttpApp({
    service: 'quota',
    telemetry: deps.telemetry,
    logger: deps.logger,
    readiness: readinessChecks({ database: deps.database, peers: config.peers, uses: ['identity', 'authz'], tls: config.clientTls }),
  });
  let timer: NodeJS.Timeout | undefined;
  const host = hostService({
    name: 'quota',
    listen: config.listen,
    rpc,
    http,
    onStop: async () => {
      clearInterval(timer);
      await unlisten?.().catch(() => {});
      await core.flush().catch(() => {});
      await audit.close();
      identity.close();
      authz.close();
      router?.close();
      rateLimitForwarder?.close();
    },
  });
  return {
    ...host,
    core,
    async start() {
      await core.restore();
      unlisten = await deps.database.listen(LIMITS_CHANNEL, (accountId) => core.forgetLimits(accountId));
      timer = setInterval(() => void core.flush().catch((error: unknown) => deps.logger.warn({ err: error }, 'quota flush failed')), config.flushIntervalMs ?? 1_000);
      timer.unref();
      const started = await host.start();
      // A replica whose list disagrees with a reachable peer's would own trees that peer owns too: refuse to run.
      if (router) {
        try {
          await router.verifyPeers(config.replicaCheckTimeoutMs ?? 1_500);
        } catch (error) {
          await host.stop().catch(() => {});
          throw error;
        }
      }
      return started;
    },
  };
}
