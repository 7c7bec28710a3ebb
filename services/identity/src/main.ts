import type { PeerDirectory } from '#libs/rpc/index.ts';
import { withHealth, type ServiceHandle } from '#libs/service/service-handle.ts';
import type { ServiceDeps } from '#libs/service/service-host.ts';
import type { Clock } from './domain/ports.ts';
import { createIdentityApp, type IdentityApp } from './app.ts';
import type { IdentityConfig } from './config.ts';

export { identityMigrations } from './app.ts';

/** What identity is built from besides its config: shared pieces (libs/) and where its peers are. */
export interface IdentityRootDeps extends ServiceDeps {
  /** authz and quota, by gRPC address (in-process or remote: the same clients). */
  peers: PeerDirectory;
  clock?: Clock | undefined;
}

export type IdentityService = IdentityApp & ServiceHandle;

/** Composition root of identity, used by `tollgate start --service identity` and the one-process mesh. */
export function composeIdentity(config: IdentityConfig, deps: IdentityRootDeps): IdentityService {
  const app = createIdentityApp(
    {
      listen: { host: config.common.host, grpcPort: config.grpcPort, httpPort: config.httpPort, grpcTls: config.common.grpcTls.server },
      peers: deps.peers,
      clientTls: config.common.grpcTls.client,
      argon2: config.argon2,
      accessTokenTtlMs: config.accessTokenTtlMs,
      issuer: config.issuer,
      lockout: config.lockout,
    },
    deps,
  );
  return withHealth(app, { tls: config.common.grpcTls.client });
}
