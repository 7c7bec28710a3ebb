import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceName, StartableService } from '#libs/config/index.ts';
import type { Database } from '#libs/db/index.ts';
import { silentLogger, startTelemetry, type Telemetry } from '#libs/telemetry/index.ts';
import { startMesh, type RunningMesh } from '../../cli/mesh.ts';
import { loadMeshConfig } from '../../cli/mesh-config.ts';
import { openTestDatabase, testSecretKey } from './database.ts';

export interface TestMesh extends RunningMesh {
  /** Always open in tests (the run's database), even when only the broker runs. */
  database: Database;
  telemetry: Telemetry;
  secretKey: Uint8Array;
  dataDir: string;
  address(service: ServiceName): string;
  /** A fresh root account of this test's own, with a master token: tests never share tenants. */
  createTenant(name?: string): Promise<{ accountId: string; masterToken: string }>;
}

/**
 * Starts any subset of the mesh in this process through the same factories as `tollgate start`:
 * port 0 everywhere, the run's test database (Postgres in CI, else PGlite), cheap argon2.
 */
export async function startTestMesh(options: { only?: StartableService; bootstrap?: boolean; database?: Database; env?: Record<string, string>; mqttDefaultPortFallback?: boolean; secretKey?: Uint8Array } = {}): Promise<TestMesh> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const config = loadMeshConfig({
    TOLLGATE_DATA_DIR: dataDir,
    TOLLGATE_LOG_LEVEL: 'silent',
    TOLLGATE_CONSOLE_HTTP_PORT: '0',
    TOLLGATE_IDENTITY_GRPC_PORT: '0',
    TOLLGATE_IDENTITY_HTTP_PORT: '0',
    TOLLGATE_AUTHZ_GRPC_PORT: '0',
    TOLLGATE_AUTHZ_HTTP_PORT: '0',
    TOLLGATE_QUOTA_GRPC_PORT: '0',
    TOLLGATE_QUOTA_HTTP_PORT: '0',
    TOLLGATE_BROKER_GRPC_PORT: '0',
    TOLLGATE_BROKER_HTTP_PORT: '0',
    TOLLGATE_MQTT_PORT: '0',
    TOLLGATE_MQTTS_PORT: '0',
    TOLLGATE_MQTT_WS_PORT: '0',
    // Two cores shared by the whole suite: a CONNECT may wait longer for authz than the 200 ms a
    // quiet production edge allows, without turning a busy moment into a flaky 0x88.
    TOLLGATE_BROKER_AUTHZ_DEADLINE: '2s',
    // Likewise a quota lease: one that misses its 500 ms makes the edge admit fail-open for a second,
    // and a rate limit under test would silently not apply.
    TOLLGATE_BROKER_QUOTA_DEADLINE: '2s',
    // Cheap argon2: tests hash many passwords.
    TOLLGATE_ARGON2_MEMORY_KIB: '1024',
    TOLLGATE_ARGON2_ITERATIONS: '1',
    ...options.env,
  }, options.only);
  const database = options.database ?? (await openTestDatabase());
  const telemetry = startTelemetry({ serviceName: 'tollgate-test', sampling: config.common.traceSampling });
  // A second mesh part (e.g. another broker edge) shares the first one's key to call its services.
  const secretKey = options.secretKey ?? testSecretKey();
  const mesh = await startMesh(config, {
    database,
    logger: silentLogger(),
    telemetry,
    secretKey,
    bootstrap: options.bootstrap ?? false,
    mqttDefaultPortFallback: options.mqttDefaultPortFallback,
  });
  return {
    ...mesh,
    database,
    telemetry,
    secretKey,
    dataDir,
    address: (service) => mesh.peers.address(service),
    async createTenant(name = 'tenant') {
      if (!mesh.identity || !mesh.authz) throw new Error('createTenant needs identity and authz in this mesh');
      const account = await mesh.identity.core.createAccount({ name });
      const { secret } = await mesh.authz.core.createToken({
        accountId: account.id,
        name: 'test master',
        kind: 'master',
        rules: [],
        ipAllow: [],
        expiresAtMs: undefined,
        ttlSeconds: 0,
        shortForm: false,
        createdBy: 'test',
      });
      return { accountId: account.id, masterToken: secret };
    },
    async stop() {
      await mesh.stop();
      await telemetry.shutdown();
      if (!options.database) await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
