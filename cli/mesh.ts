import { resolve } from 'node:path';
import { openDatabase, migrate, type Database, type MigrationResult } from '#libs/db/index.ts';
import { AppError } from '#libs/errors/index.ts';
import { PeerDirectory } from '#libs/rpc/index.ts';
import { createLogger, startTelemetry, type Logger, type Telemetry } from '#libs/telemetry/index.ts';
import type { CommonConfig, StartableService } from '#libs/config/index.ts';
import type { StartedService } from '#libs/service/service-host.ts';
import { composeIdentity, identityMigrations, type IdentityService } from '#services/identity/src/main.ts';
import { composeAuthz, authzMigrations, type AuthzService } from '#services/authz/src/main.ts';
import { composeQuota, quotaMigrations, type QuotaService } from '#services/quota/src/main.ts';
import { composeBroker, withFreeMqttPorts, type BrokerService } from '#services/broker/src/main.ts';
import { composeConsole } from '#services/console/src/main.ts';
import type { MeshConfig } from './mesh-config.ts';
import { resolveSecretKey } from './secret-key.ts';
import { bootstrapIfEmpty, type BootstrapCredentials } from './bootstrap.ts';

export const migrationSets = { identity: identityMigrations, authz: authzMigrations, quota: quotaMigrations } as const;

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
  for (const name of names) if (migrationSets[name]) results.push(await migrate(database, migrationSets[name]));
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
  const telemetry = options.telemetry ?? startTelemetry({ serviceName: only ?? 'tollgate', otlpEndpoint: common.otlpEndpoint, sampling: common.traceSampling });
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

    const identity = config.identity ? await startOne(composeIdentity(config.identity, withDatabase())) : undefined;
    const authz = config.authz ? await startOne(composeAuthz(config.authz, withDatabase())) : undefined;
    const quota = config.quota ? await startOne(composeQuota(config.quota, withDatabase())) : undefined;
    const notes: string[] = [];
    let broker: BrokerService | undefined;
    if (config.broker) {
      const edge = options.mqttDefaultPortFallback ? await withFreeMqttPorts(config.broker) : { config: config.broker, notes: [] };
      notes.push(...edge.notes);
      broker = await startOne(composeBroker(edge.config, edgeDeps));
    }
    let consoleInfo: { httpAddress: string } | undefined;
    if (config.console && (only === 'console' || options.console !== false)) {
      const consoleApp = composeConsole(config.console, edgeDeps);
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
