import type { PeerDirectory } from '#libs/rpc/index.ts';
import { withHealth, type ServiceHandle } from '#libs/service/service-handle.ts';
import { createConsoleApp, type ConsoleDeps } from './app.ts';
import type { ConsoleConfig } from './config.ts';

/** What the console is built from besides its config: shared pieces (libs/; no database) and where the services are. */
export interface ConsoleRootDeps extends ConsoleDeps {
  /** identity, authz, quota and the broker, by gRPC address; every call carries the caller's credential. */
  peers: PeerDirectory;
}

export type ConsoleService = ReturnType<typeof createConsoleApp> & ServiceHandle<{ name: string; httpAddress: string }>;

/** Composition root of the console, used by `tollgate start --service console` and the one-process mesh. */
export function composeConsole(config: ConsoleConfig, deps: ConsoleRootDeps): ConsoleService {
  const app = createConsoleApp(
    { host: config.common.host, httpPort: config.httpPort, peers: deps.peers, clientTls: config.common.grpcTls.client, sessionIdleMs: config.sessionIdleMs, sessionAbsoluteMs: config.sessionAbsoluteMs },
    deps,
  );
  return withHealth(app, { tls: config.common.grpcTls.client });
}
