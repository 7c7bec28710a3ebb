import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every load client of the benches connects from 127.0.0.1, and the idle-connection step opens 500
 * at once: the per-address cap on connections still waiting for their CONNACK (64 by default, a
 * defence against one hostile address) would refuse most of them, so the benches lift it.
 */
const BENCH_EDGE_LIMITS = { TOLLGATE_BROKER_MAX_PENDING_CONNECTS_PER_IP: '1000' };
/** The trace sampler the bench was started with (OTEL_TRACES_SAMPLER[_ARG]), passed to the mesh; unset: the default, every trace recorded. */
export const BENCH_TRACE_ENV: Record<string, string> = Object.fromEntries(
  ['OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])),
);

/**
 * Tollgate as the broker benches run it: the whole mesh in this process (PGlite, in a temp data
 * dir), and an acl token allowed on `bench/#` — its secret is the devices' MQTT username.
 */
export async function startBenchMesh(dataDirPrefix: string) {
  const { startMesh } = await import('../../cli/mesh.ts');
  const { loadMeshConfig } = await import('../../cli/mesh-config.ts');
  const { silentLogger } = await import('../../libs/telemetry/index.ts');
  const dataDir = mkdtempSync(join(tmpdir(), dataDirPrefix));
  const ports = Object.fromEntries(
    ['CONSOLE_HTTP', 'IDENTITY_GRPC', 'IDENTITY_HTTP', 'AUTHZ_GRPC', 'AUTHZ_HTTP', 'QUOTA_GRPC', 'QUOTA_HTTP', 'BROKER_GRPC', 'BROKER_HTTP'].map((k) => [`TOLLGATE_${k}_PORT`, '0']),
  );
  const config = loadMeshConfig({ ...ports, ...BENCH_EDGE_LIMITS, ...BENCH_TRACE_ENV, TOLLGATE_MQTT_PORT: '0', TOLLGATE_MQTT_WS_PORT: '0', TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'silent' }, undefined);
  const mesh = await startMesh(config, { bootstrap: false, console: false, logger: silentLogger() });
  const account = await mesh.identity!.core.createAccount({ name: 'bench' });
  const { secret } = await mesh.authz!.core.createToken({
    accountId: account.id,
    name: 'bench devices',
    kind: 'acl',
    rules: [{ effect: 'allow', actions: ['publish', 'subscribe'], resources: ['mqtt:bench/#'] }],
    ipAllow: [],
    expiresAtMs: undefined,
    ttlSeconds: 0,
    shortForm: false,
    createdBy: 'bench',
  });
  return { mesh, secret, dataDir };
}

/**
 * The production shape of the edge (`tollgate start --service broker`): the broker alone in this
 * process, calling identity, authz and quota in another process (a `startBenchMesh` mesh) over
 * gRPC. `dataDir` is that mesh's: the broker reads the mesh's secret key from it (development mode).
 */
export async function startBenchBrokerAlone(dataDir: string, peers: { identity: string; authz: string; quota: string }) {
  const { startMesh } = await import('../../cli/mesh.ts');
  const { loadMeshConfig } = await import('../../cli/mesh-config.ts');
  const { silentLogger } = await import('../../libs/telemetry/index.ts');
  const config = loadMeshConfig({
    TOLLGATE_BROKER_GRPC_PORT: '0',
    TOLLGATE_BROKER_HTTP_PORT: '0',
    ...BENCH_EDGE_LIMITS, ...BENCH_TRACE_ENV,
    TOLLGATE_MQTT_PORT: '0',
    TOLLGATE_MQTT_WS_PORT: '0',
    TOLLGATE_DATA_DIR: dataDir,
    TOLLGATE_LOG_LEVEL: 'silent',
    TOLLGATE_IDENTITY_URL: peers.identity,
    TOLLGATE_AUTHZ_URL: peers.authz,
    TOLLGATE_QUOTA_URL: peers.quota,
  }, 'broker');
  return startMesh(config, { bootstrap: false, console: false, logger: silentLogger() });
}
