import type { PeerDirectory } from '#libs/rpc/index.ts';
import { withHealth, type ServiceHandle } from '#libs/service/service-handle.ts';
import type { ServiceDeps } from '#libs/service/service-host.ts';
import { createAuthzApp, type AuthzApp } from './app.ts';
import type { AuthzConfig } from './config.ts';

export { authzMigrations } from './app.ts';

/** What authz is built from besides its config: shared pieces (libs/) and where its peers are. */
export interface AuthzRootDeps extends ServiceDeps {
  /** identity and quota, by gRPC address (in-process or remote: the same clients). */
  peers: PeerDirectory;
}

export type AuthzService = AuthzApp & ServiceHandle;

/** Composition root of authz, used by `tollgate start --service authz` and the one-process mesh. */
export function composeAuthz(config: AuthzConfig, deps: AuthzRootDeps): AuthzService {
  const app = createAuthzApp(
    {
      listen: { host: config.common.host, grpcPort: config.grpcPort, httpPort: config.httpPort, grpcTls: config.common.grpcTls.server },
      peers: deps.peers,
      clientTls: config.common.grpcTls.client,
      rabbitmqDefaultVhostAccountId: config.rabbitmqDefaultVhostAccountId,
      sharedBrokerNamespace: config.sharedBrokerNamespace,
      subscribeOverlap: config.subscribeOverlap,
    },
    deps,
  );
  return withHealth(app, { tls: config.common.grpcTls.client });
}
