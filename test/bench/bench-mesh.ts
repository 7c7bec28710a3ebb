import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
    ['CONSOLE_HTTP', 'IDENTITY_GRPC', 'IDENTITY_HTTP', 'AUTHZ_GRPC', 'AUTHZ_HTTP', 'QUOTA_GRPC', 'QUOTA_HTTP', 'BROKER_GRPC'].map((k) => [`TOLLGATE_${k}_PORT`, '0']),
  );
  const config = loadMeshConfig({ ...ports, TOLLGATE_MQTT_PORT: '0', TOLLGATE_MQTT_WS_PORT: '0', TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'silent' }, undefined);
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
  return { mesh, secret };
}
