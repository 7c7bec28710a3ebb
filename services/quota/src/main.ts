import type { PeerDirectory } from '#libs/rpc/index.ts';
import { withHealth, type ServiceHandle } from '#libs/service/service-handle.ts';
import type { ServiceDeps } from '#libs/service/service-host.ts';
import { createQuotaApp, type QuotaApp } from './app.ts';
import type { QuotaConfig } from './config.ts';

export { quotaMigrations } from './app.ts';

/** What quota is built from besides its config: shared pieces (libs/) and where its peers are. */
export interface QuotaRootDeps extends ServiceDeps {
  /** identity and authz, by gRPC address (in-process or remote: the same clients). */
  peers: PeerDirectory;
}

export type QuotaService = QuotaApp & ServiceHandle;

/** Composition root of quota, used by `tollgate start --service quota` and the one-process mesh. */
export function composeQuota(config: QuotaConfig, deps: QuotaRootDeps): QuotaService {
  const replicas = config.replicas;
  const app = createQuotaApp(
    {
      listen: { host: config.common.host, grpcPort: config.grpcPort, httpPort: config.httpPort, grpcTls: config.common.grpcTls.server },
      peers: deps.peers,
      clientTls: config.common.grpcTls.client,
      replicas: replicas ? { addresses: () => replicas.addresses, self: replicas.self } : undefined,
    },
    deps,
  );
  return withHealth(app, { tls: config.common.grpcTls.client });
}
