import { resolve } from 'node:path';
import { openDatabase, migrate, type Database, type MigrationResult } from '#libs/db/index.ts';
import { AppError } from '#libs/errors/index.ts';
import { PeerDirectory, type RpcClientTlsConfig, type RpcTlsConfig } from '#libs/rpc/index.ts';
import { createLogger, startTelemetry, type Logger, type Telemetry } from '#libs/telemetry/index.ts';
import { resolveQuotaReplicas, type MeshEnv, type ServiceName, type StartableService } from '#libs/config/index.ts';
import type { StartedService } from '#libs/service/service-host.ts';
import { createIdentityApp, identityMigrations, type IdentityApp } from '#services/identity/src/app.ts';
import { createAuthzApp, authzMigrations, type AuthzApp } from '#services/authz/src/app.ts';
import { createQuotaApp, quotaMigrations, type QuotaApp } from '#services/quota/src/app.ts';
import { createBrokerApp, type BrokerApp } from '#services/broker/src/app.ts';
import { createConsoleApp } from '#services/console/src/app.ts';
import { resolveSecretKey } from './secret-key.ts';
import { bootstrapIfEmpty, type BootstrapCredentials } from './bootstrap.ts';

export const migrationSets = { identity: identityMigrations, authz: authzMigrations, quota: quotaMigrations } as const;

export interface MeshOptions {
  /** The one service to run here (one of the four, or the console); all of them when unset. */
  only?: StartableService | undefined;
  /** Overrides for tests: an already open database, a logger, telemetry, cheap argon2. */
  database?: Database | undefined;
  logger?: Logger | undefined;
  telemetry?: Telemetry | undefined;
  secretKey?: Uint8Array | undefined;
  argon2?: { memoryCost?: number; timeCost?: number } | undefined;
  console?: boolean | undefined;
  bootstrap?: boolean | undefined;
  /**
   * MQTT ports left at their defaults that another broker already holds are replaced by free ones
   * (development convenience; `notes` says so). Explicitly configured ports are never changed.
   */
  mqttDefaultPortFallback?: boolean | undefined;
}

/** Whether host:port can be bound right now. */
async function isPortFree(host: string, port: number): Promise<boolean> {
  if (port === 0) return true;
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

export interface RunningMesh {
  services: StartedService[];
  console: { httpAddress: string } | undefined;
  bootstrap: { created: boolean; file: string; credentials: BootstrapCredentials | undefined } | undefined;
  migrations: MigrationResult[];
  peers: PeerDirectory;
  /** Unset when only the broker or the console runs: neither keeps a database. */
  database: Database | undefined;
  identity: IdentityApp | undefined;
  authz: AuthzApp | undefined;
  broker: BrokerApp | undefined;
  quota: QuotaApp | undefined;
  /** Things the operator should know about this start (e.g. a port that was taken). */
  notes: string[];
  stop(): Promise<void>;
}

/** The services that keep state in the database (a schema each); the broker edge and the console keep none. */
export const databaseServices: readonly StartableService[] = ['identity', 'authz', 'quota'];

export async function openMeshDatabase(env: MeshEnv, only: StartableService | undefined): Promise<Database> {
  if (!env.DATABASE_URL && only) {
    throw new AppError('INVALID_ARGUMENT', `DATABASE_URL: required to run ${only} alone (the embedded database serves one process only)`, { field: 'DATABASE_URL' });
  }
  return openDatabase({ url: env.DATABASE_URL, dataDir: env.DATABASE_URL ? undefined : resolve(env.TOLLGATE_DATA_DIR) });
}

export async function migrateAll(database: Database, only?: StartableService): Promise<MigrationResult[]> {
  const names = (only ? [only].filter((n) => n in migrationSets) : Object.keys(migrationSets)) as (keyof typeof migrationSets)[];
  const results: MigrationResult[] = [];
  for (const name of names) if (migrationSets[name]) results.push(await migrate(database, migrationSets[name]));
  return results;
}

function grpcTls(env: MeshEnv): { server: RpcTlsConfig | undefined; client: RpcClientTlsConfig | undefined } {
  if (!env.TOLLGATE_GRPC_TLS_CERT && !env.TOLLGATE_GRPC_TLS_KEY) return { server: undefined, client: undefined };
  if (!env.TOLLGATE_GRPC_TLS_CERT || !env.TOLLGATE_GRPC_TLS_KEY) {
    throw new AppError('INVALID_ARGUMENT', 'TOLLGATE_GRPC_TLS_CERT and TOLLGATE_GRPC_TLS_KEY: set both or neither', { field: 'TOLLGATE_GRPC_TLS_CERT' });
  }
  return {
    server: { certFile: env.TOLLGATE_GRPC_TLS_CERT, keyFile: env.TOLLGATE_GRPC_TLS_KEY, caFile: env.TOLLGATE_GRPC_TLS_CA },
    // With a CA configured the mesh runs mutual TLS: each service presents its own certificate.
    client: { caFile: env.TOLLGATE_GRPC_TLS_CA ?? env.TOLLGATE_GRPC_TLS_CERT, certFile: env.TOLLGATE_GRPC_TLS_CERT, keyFile: env.TOLLGATE_GRPC_TLS_KEY },
  };
}

/**
 * Runs the mesh (or one service of it) in this process: database, migrations, telemetry, each
 * service on its port, the console, and on first start the bootstrap credentials.
 */
export async function startMesh(env: MeshEnv, options: MeshOptions = {}): Promise<RunningMesh> {
  const only = options.only;
  const runs = (name: ServiceName) => !only || only === name;
  const dataDir = resolve(env.TOLLGATE_DATA_DIR);
  const logger = options.logger ?? createLogger({ level: env.TOLLGATE_LOG_LEVEL, name: only ?? 'tollgate' });
  const secretKey = options.secretKey ?? resolveSecretKey({ configured: env.TOLLGATE_SECRET_KEY, env: env.TOLLGATE_ENV, dataDir });
  const tls = grpcTls(env);
  // Ownership is derived: the replica list is the same everywhere, and each replica finds itself in
  // it by host name. Checked before anything opens, so a bad list is the one error the start reports.
  const replicas = runs('quota') ? resolveQuotaReplicas({ replicas: env.TOLLGATE_QUOTA_REPLICAS, index: env.TOLLGATE_QUOTA_REPLICA_INDEX, hostname: env.HOSTNAME }) : undefined;
  const needsDatabase = !only || databaseServices.includes(only);
  const ownsDatabase = !options.database && needsDatabase;
  const database = options.database ?? (needsDatabase ? await openMeshDatabase(env, only) : undefined);
  const ownsTelemetry = !options.telemetry;
  const telemetry = options.telemetry ?? startTelemetry({ serviceName: only ?? 'tollgate', otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((error: unknown) => logger.warn({ err: error }, 'stop failed'));
    if (ownsTelemetry) await telemetry.shutdown();
    if (ownsDatabase) await database?.close();
  };

  try {
    const autoMigrate = env.TOLLGATE_ENV === 'development' || !!options.database;
    const migrations = autoMigrate && database ? await migrateAll(database, only) : [];
    const peers = new PeerDirectory({
      identity: env.TOLLGATE_IDENTITY_URL,
      authz: env.TOLLGATE_AUTHZ_URL,
      quota: env.TOLLGATE_QUOTA_URL,
      broker: env.TOLLGATE_BROKER_URL,
    });
    const edgeDeps = { logger, telemetry, secretKey };
    const withDatabase = () => {
      if (!database) throw new AppError('INTERNAL', 'no database opened for a service that keeps one');
      return { ...edgeDeps, database };
    };
    const listen = (grpcPort: number, httpPort?: number) => ({ host: env.TOLLGATE_HOST, grpcPort, httpPort, grpcTls: tls.server });
    const services: StartedService[] = [];
    const startOne = async (app: { start(): Promise<StartedService>; stop(): Promise<void> }) => {
      const started = await app.start();
      stops.push(() => app.stop());
      services.push(started);
      peers.set(started.name, started.grpcAddress);
      return started;
    };

    let identity: IdentityApp | undefined;
    let authz: AuthzApp | undefined;
    if (runs('identity')) {
      identity = createIdentityApp(
        { listen: listen(env.TOLLGATE_IDENTITY_GRPC_PORT, env.TOLLGATE_IDENTITY_HTTP_PORT), peers, clientTls: tls.client, argon2: options.argon2 ?? { memoryCost: env.TOLLGATE_ARGON2_MEMORY_KIB, timeCost: env.TOLLGATE_ARGON2_ITERATIONS }, accessTokenTtlMs: env.TOLLGATE_ACCESS_TOKEN_TTL, issuer: env.TOLLGATE_JWT_ISSUER, lockout: { maxFailures: env.TOLLGATE_LOGIN_MAX_FAILURES, lockoutMs: env.TOLLGATE_LOGIN_LOCKOUT, maxFailuresPerAddress: env.TOLLGATE_LOGIN_MAX_FAILURES_PER_ADDRESS, distinctAddresses: env.TOLLGATE_LOGIN_DISTRIBUTED_ADDRESSES } },
        withDatabase(),
      );
      await startOne(identity);
    }
    if (runs('authz')) {
      authz = createAuthzApp(
        { listen: listen(env.TOLLGATE_AUTHZ_GRPC_PORT, env.TOLLGATE_AUTHZ_HTTP_PORT), peers, clientTls: tls.client, rabbitmqDefaultVhostAccountId: env.TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT, sharedBrokerNamespace: env.TOLLGATE_SHARED_BROKER_NAMESPACE, subscribeOverlap: env.TOLLGATE_ACL_SUBSCRIBE_OVERLAP },
        withDatabase(),
      );
      await startOne(authz);
    }
    let quota: QuotaApp | undefined;
    if (runs('quota')) {
      quota = createQuotaApp(
        {
          listen: listen(env.TOLLGATE_QUOTA_GRPC_PORT, env.TOLLGATE_QUOTA_HTTP_PORT),
          peers,
          clientTls: tls.client,
          replicas: replicas ? { addresses: () => replicas.addresses, self: replicas.self } : undefined,
        },
        withDatabase(),
      );
      await startOne(quota);
    }
    let broker: BrokerApp | undefined;
    const notes: string[] = [];
    const mqttPort = async (port: number, name: string) => {
      if (!options.mqttDefaultPortFallback || (await isPortFree(env.TOLLGATE_HOST, port))) return port;
      notes.push(`port ${port} is taken (another MQTT broker?): ${name} uses a free port instead; set ${name} to choose one`);
      return 0;
    };
    if (runs('broker')) {
      if (!!env.TOLLGATE_MQTT_TLS_CERT !== !!env.TOLLGATE_MQTT_TLS_KEY) {
        throw new AppError('INVALID_ARGUMENT', 'TOLLGATE_MQTT_TLS_CERT and TOLLGATE_MQTT_TLS_KEY: set both or neither', { field: 'TOLLGATE_MQTT_TLS_CERT' });
      }
      broker = createBrokerApp(
        {
          listen: listen(env.TOLLGATE_BROKER_GRPC_PORT, env.TOLLGATE_BROKER_HTTP_PORT),
          peers,
          clientTls: tls.client,
          mqtt: {
            host: env.TOLLGATE_HOST,
            port: await mqttPort(env.TOLLGATE_MQTT_PORT, 'TOLLGATE_MQTT_PORT'),
            tls:
              env.TOLLGATE_MQTT_TLS_CERT && env.TOLLGATE_MQTT_TLS_KEY
                ? { port: await mqttPort(env.TOLLGATE_MQTTS_PORT, 'TOLLGATE_MQTTS_PORT'), certFile: env.TOLLGATE_MQTT_TLS_CERT, keyFile: env.TOLLGATE_MQTT_TLS_KEY }
                : undefined,
            wsPort: await mqttPort(env.TOLLGATE_MQTT_WS_PORT, 'TOLLGATE_MQTT_WS_PORT'),
          },
          anonymousTokenId: env.TOLLGATE_BROKER_ANONYMOUS_TOKEN,
          authzStaleLimitMs: env.TOLLGATE_BROKER_AUTHZ_STALE_LIMIT,
          authzDeadlineMs: env.TOLLGATE_BROKER_AUTHZ_DEADLINE,
          quotaFailOpen: env.TOLLGATE_BROKER_QUOTA_FAIL_OPEN,
          maxFiltersPerSubscribe: env.TOLLGATE_BROKER_MAX_FILTERS_PER_SUBSCRIBE,
          maxSubscriptionsPerSession: env.TOLLGATE_BROKER_MAX_SUBSCRIPTIONS_PER_SESSION,
          maxRetainedPerAccount: env.TOLLGATE_BROKER_MAX_RETAINED_PER_ACCOUNT,
          subscribeOverlap: env.TOLLGATE_ACL_SUBSCRIBE_OVERLAP,
          credentialThrottle: {
            maxFailuresPerAddress: env.TOLLGATE_MQTT_AUTH_FAILURES_PER_ADDRESS,
            maxFailuresPerUsername: env.TOLLGATE_MQTT_AUTH_FAILURES_PER_USERNAME,
            backoffBaseMs: env.TOLLGATE_MQTT_AUTH_BACKOFF,
            backoffMaxMs: env.TOLLGATE_MQTT_AUTH_BACKOFF_MAX,
            windowMs: env.TOLLGATE_MQTT_AUTH_FAILURE_WINDOW,
          },
          limits: {
            maxConnectBytes: env.TOLLGATE_BROKER_MAX_CONNECT_BYTES,
            maxPendingConnectsPerIp: env.TOLLGATE_BROKER_MAX_PENDING_CONNECTS_PER_IP,
            connectTimeoutMs: env.TOLLGATE_BROKER_CONNECT_TIMEOUT,
            maxPacketSizeBytes: env.TOLLGATE_BROKER_MAX_PACKET_BYTES,
            maxKeepAliveSeconds: env.TOLLGATE_BROKER_MAX_KEEPALIVE,
          },
          edgeId: env.TOLLGATE_BROKER_EDGE_ID,
          cluster: env.TOLLGATE_NATS_URL ? { natsUrl: env.TOLLGATE_NATS_URL, name: env.TOLLGATE_BROKER_CLUSTER, credsFile: env.TOLLGATE_NATS_CREDS, tlsCaFile: env.TOLLGATE_NATS_TLS_CA, tlsCertFile: env.TOLLGATE_NATS_TLS_CERT, tlsKeyFile: env.TOLLGATE_NATS_TLS_KEY, kvReplicas: env.TOLLGATE_NATS_KV_REPLICAS } : undefined,
          traceSampleRatio: env.TOLLGATE_BROKER_TRACE_SAMPLE,
          decisionReportsPerSecond: env.TOLLGATE_BROKER_DECISION_REPORTS_PER_SECOND,
        },
        edgeDeps,
      );
      await startOne(broker);
    }

    let consoleInfo: { httpAddress: string } | undefined;
    if ((!only && options.console !== false) || only === 'console') {
      const consoleApp = createConsoleApp({ host: env.TOLLGATE_HOST, httpPort: env.TOLLGATE_CONSOLE_HTTP_PORT, peers, clientTls: tls.client, sessionIdleMs: env.TOLLGATE_CONSOLE_SESSION_IDLE, sessionAbsoluteMs: env.TOLLGATE_CONSOLE_SESSION_MAX }, { logger, telemetry, secretKey });
      consoleInfo = await consoleApp.start();
      stops.push(() => consoleApp.stop());
    }

    const bootstrap = identity && authz && options.bootstrap !== false ? await bootstrapIfEmpty({ identity, authz, dataDir }) : undefined;
    return { services, console: consoleInfo, bootstrap, migrations, peers, database, identity, authz, broker, quota, notes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
