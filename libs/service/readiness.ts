import { sql } from 'drizzle-orm';
import type { Database } from '#libs/db/index.ts';
import type { ReadinessCheck } from '#libs/http/index.ts';
import { checkHealth, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';

/**
 * The readiness checks of a service (its /readyz): its database answers `select 1`, and every peer
 * it calls answers grpc.health.v1 SERVING. A peer this deployment does not configure is reported
 * as such and does not hold readiness back (the calls that need it fail with UNAVAILABLE).
 * Peers are checked through gRPC health, never through their /readyz: readiness does not cascade.
 */
export function readinessChecks(options: { database?: Database | undefined; peers: PeerDirectory; uses: readonly string[]; tls?: RpcClientTlsConfig | undefined }): Record<string, ReadinessCheck> {
  const checks: Record<string, ReadinessCheck> = {};
  const database = options.database;
  if (database) {
    checks.database = async () => {
      await database.db.execute(sql`select 1`);
    };
  }
  for (const name of options.uses) {
    checks[name] = async () => {
      if (!options.peers.has(name)) return 'not configured';
      const health = await checkHealth(options.peers.address(name), { tls: options.tls, timeoutMs: 1_500 });
      if (health.status !== 'SERVING') throw new Error(`${name}: ${health.status}`);
    };
  }
  return checks;
}
