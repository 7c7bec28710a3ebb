import { resolve } from 'node:path';
import { openDatabase, migrate, type Database, type MigrationResult } from '#libs/db/index.ts';
import { AppError } from '#libs/errors/index.ts';
import { PeerDirectory } from '#libs/rpc/index.ts';
import { createLogger, startTelemetry, type Logger, type Telemetry } from '#libs/telemetry/index.ts';
import type { CommonConfig, StartableService } from '#libs/config/index.ts';
import type { StartedService } from '#libs/service/service-host.ts';
import type { IdentityService } from '#services/identity/src/main.ts';
import type { AuthzService } from '#services/authz/src/main.ts';
import type { QuotaService } from '#services/quota/src/main.ts';
import type { BrokerService } from '#services/broker/src/main.ts';
import type { MeshConfig } from './mesh-config.ts';
import { resolveSecretKey } from './secret-key.ts';
import { bootstrapIfEmpty, type BootstrapCredentials } from './bootstrap.ts';

/**
 * Each service's composition root, loaded only when this process runs that service: `tollgate start
 * --service authz` does not load identity's OAuth provider, the console's pages or the broker (less
 * code, less live heap — what every major GC of a busy process walks — and a faster start).
 */
const serviceModules = {
  identity: () => import('#services/identity/src/main.ts'),
  authz: () => import('#services/authz/src/main.ts'),
  quota: () => import('#services/quota/src/main.ts'),
  broker: () => import('#services/broker/src/main.ts'),
  console: () => import('#services/console/src/main.ts'),
};

/** The migrations of each service that keeps a schema, loaded with that service's module. */
export const migrationSets = {
  identity: async () => (await serviceModules.identity()).identityMigrations,
  authz: async () => (await serviceModules.authz()).authzMigrations,
  quota: async () => (await serviceModules.quota()).quotaMigrations,
} as const;

export interface MeshOptions {
  /** Overrides for tests: an already open database, a logger, telemetry, the secret key. */
  database?: Database | undefined;
  logger?: Logger | undefined;
  telemetry?: Telemetry | undefined;
  secretKey?: Uint8Array | undefined;
  console?: boolean | undefined;
  bootstrap?: boolean | undefined;
  /**
   * MQTT ports left at their defaults that another broker already holds are replaced by free ones
   * (development convenience; `notes` says so). Explicitly configured ports are never changed.
   */
  mqttDefaultPortFallback?: boolean | undefined;
}

export interface RunningMesh {
  services: StartedService[];
  console: { httpAddress: string } | undefined;
  bootstrap: { created: boolean; file: string; credentials: BootstrapCredentials | undefined } | undefined;
  migrations: MigrationResult[];
  peers: PeerDirectory;
  /** Unset when only the broker or the console runs: neither keeps a database. */
  database: Database | undefined;
  identity: IdentityService | undefined;
  authz: AuthzService | undefined;
  broker: BrokerService | undefined;
  quota: QuotaService | undefined;
  /** Things the operator should know about this start (e.g. a port that was taken). */
  notes: string[];
  stop(): Promise<void>;
}

/** The services that keep state in the database (a schema each); the broker edge and the console keep none. */
export const databaseServices: readonly StartableService[] = ['identity', 'authz', 'quota'];

export async function openMeshDatabase(common: Pick<CommonConfig, 'databaseUrl' | 'dataDir'>, only: StartableService | undefined): Promise<Database> {
  if (!common.databaseUrl && only) {
    throw new AppError('INVALID_ARGUMENT', `DATABASE_URL: required to run ${only} alone (the embedded database serves one process only)`, { field: 'DATABASE_URL' });
  }
  return openDatabase({ url: common.databaseUrl, dataDir: common.databaseUrl ? undefined : resolve(common.dataDir) });
}

export async function migrateAll(database: Database, only?: StartableService): Promise<MigrationResult[]> {
  const names = (only ? [only].filter((n) => n in migrationSets) : Object.keys(migrationSets)) as (keyof typeof migrationSets)[];
  const results: MigrationResult[] = [];
  for (const name of names) results.push(await migrate(database, await migrationSets[name]()));
  return results;
}

/**
 * Runs the mesh (or one service of it) in this process: the shared pieces (database, migrations,
 * telemetry, secret key, the peer directory), then each service's composition root
 * (`services/<name>/src/main.ts`) in dependency order, the console, and on first start the
 * bootstrap credentials. `config` comes from `loadMeshConfig` (cli/mesh-config.ts).
 */
export async function startMesh(config: MeshConfig, options: MeshOptions = {}): Promise<RunningMesh> {
  const { only, common } = config;
  const dataDir = resolve(common.dataDir);
  const logger = options.logger ?? createLogger({ level: common.logLevel, name: only ?? 'tollgate' });
  const secretKey = options.secretKey ?? resolveSecretKey({ configured: common.secretKey, env: common.env, dataDir });
  const needsDatabase = !only || databaseServices.includes(only);
  const ownsDatabase = !options.database && needsDatabase;
  const database = options.database ?? (needsDatabase ? await openMeshDatabase(common, only) : undefined);
  const ownsTelemetry = !options.telemetry;
  // The in-process span ring is the console's trace view: a process that runs one service without
  // the console keeps none (its spans still go to OTLP when an endpoint is set).
  const spanBufferSize = only && only !== 'console' ? 0 : undefined;
  const telemetry = options.telemetry ?? startTelemetry({ serviceName: only ?? 'tollgate', otlpEndpoint: common.otlpEndpoint, sampling: common.traceSampling, spanBufferSize });
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((error: unknown) => logger.warn({ err: error }, 'stop failed'));
    if (ownsTelemetry) await telemetry.shutdown();
    if (ownsDatabase) await database?.close();
  };

  try {
    const autoMigrate = common.env === 'development' || !!options.database;
    const migrations = autoMigrate && database ? await migrateAll(database, only) : [];
    const peers = new PeerDirectory(common.peers);
    const edgeDeps = { logger, telemetry, secretKey, peers };
    const withDatabase = () => {
      if (!database) throw new AppError('INTERNAL', 'no database opened for a service that keeps one');
      return { ...edgeDeps, database };
    };
    const services: StartedService[] = [];
    const startOne = async <A extends { start(): Promise<StartedService>; stop(): Promise<void> }>(app: A): Promise<A> => {
      const started = await app.start();
      stops.push(() => app.stop());
      services.push(started);
      peers.set(started.name, started.grpcAddress);
      return app;
    };

    const identity = config.identity ? await startOne((await serviceModules.identity()).composeIdentity(config.identity, withDatabase())) : undefined;
    const authz = config.authz ? await startOne((await serviceModules.authz()).composeAuthz(config.authz, withDatabase())) : undefined;
    const quota = config.quota ? await startOne((await serviceModules.quota()).composeQuota(config.quota, withDatabase())) : undefined;
    const notes: string[] = [];
    let broker: BrokerService | undefined;
    if (config.broker) {
      const { composeBroker, withFreeMqttPorts } = await serviceModules.broker();
      const edge = options.mqttDefaultPortFallback ? await withFreeMqttPorts(config.broker) : { config: config.broker, notes: [] };
      notes.push(...edge.notes);
      broker = await startOne(composeBroker(edge.config, edgeDeps));
    }
    let consoleInfo: { httpAddress: string } | undefined;
    if (config.console && (only === 'console' || options.console !== false)) {
      const consoleApp = (await serviceModules.console()).composeConsole(config.console, edgeDeps);
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
