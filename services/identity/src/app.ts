import { fileURLToPath } from 'node:url';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { createAdminGuard } from '#libs/admin-auth/admin-guard.ts';
import { createBaseHttpApp } from '#libs/http/index.ts';
import { createLazyClient, createRpcServer, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { hostService, type ServiceApp, type ServiceDeps, type ServiceListen } from '#libs/service/service-host.ts';
import { AuthzService, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { Argon2PasswordHasher, type Argon2Params } from './crypto/argon2-password-hasher.ts';
import { identityHandlers } from './grpc/identity-handlers.ts';
import { createIdentityCore, type IdentityCore } from './identity-core.ts';
import { PostgresIdentityStore } from './store/postgres-identity-store.ts';

export const identityMigrations = { schema: 'identity', dir: fileURLToPath(new URL('../migrations', import.meta.url)) };

export interface IdentityAppConfig {
  listen: ServiceListen;
  peers: PeerDirectory;
  clientTls?: RpcClientTlsConfig | undefined;
  argon2?: Partial<Argon2Params> | undefined;
}

export interface IdentityApp extends ServiceApp {
  readonly core: IdentityCore;
}

/** Composition root of the identity service: store, hasher, core, gRPC and HTTP. */
export function createIdentityApp(config: IdentityAppConfig, deps: ServiceDeps): IdentityApp {
  const store = new PostgresIdentityStore(deps.database.db);
  const core = createIdentityCore({ store, hasher: new Argon2PasswordHasher(config.argon2 ?? {}) });
  const authz = createLazyClient(AuthzService, () => config.peers.address('authz'), {
    tls: config.clientTls,
    defaultDeadlineMs: 2_000,
    headers: { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'identity')}` },
  });
  const requireAdmin = createAdminGuard({
    secretKey: deps.secretKey,
    async authenticate(bearer, peerIp) {
      const res = await authz.authenticate({ bearer, peerIp: peerIp ?? '' });
      if (!res.allowed || !res.principal) return { denied: res.reason || 'CREDENTIAL_INVALID' };
      const kind = res.principal.kind === TokenKind.MASTER ? 'master' : res.principal.kind === TokenKind.STANDARD ? 'standard' : res.principal.kind === TokenKind.ACL ? 'acl' : 'user';
      return { accountId: res.principal.accountId, subject: res.principal.subject, kind };
    },
    accountPath: async (accountId) => (await store.accountPath(accountId)).map((a) => a.id),
  });
  const rpc = createRpcServer({ logger: deps.logger, tls: config.listen.grpcTls });
  rpc.add(IdentityService, identityHandlers(core, requireAdmin));
  const http = createBaseHttpApp({ service: 'identity', telemetry: deps.telemetry, logger: deps.logger });
  const host = hostService({ name: 'identity', listen: config.listen, rpc, http, onStop: async () => authz.close() });
  return { ...host, core };
}
