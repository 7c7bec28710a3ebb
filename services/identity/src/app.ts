import { fileURLToPath } from 'node:url';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { createAdminGuard } from '#libs/admin-auth/admin-guard.ts';
import { authenticateThroughAuthz } from '#libs/admin-auth/authz-principal.ts';
import { createBaseHttpApp } from '#libs/http/index.ts';
import { createLazyClient, createRpcServer, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { hostService, type ServiceApp, type ServiceDeps, type ServiceListen } from '#libs/service/service-host.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { countLimitsOnPath } from '#libs/quota-client/count-limits.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { Argon2PasswordHasher, type Argon2Params } from './crypto/argon2-password-hasher.ts';
import { identityHandlers } from './grpc/identity-handlers.ts';
import { createIdentityCore, type IdentityCore } from './identity-core.ts';
import { PostgresIdentityStore } from './store/postgres-identity-store.ts';
import { PostgresAuditStore, PostgresRefreshTokenStore, PostgresSigningKeyStore, PostgresThrottleStore } from './store/postgres-session-store.ts';
import { DEFAULT_ACCESS_TOKEN_TTL_MS, SigningKeyRing } from './crypto/signing-key-ring.ts';
import { NodeRandomSource, NodeSecretDigest } from './crypto/node-random-source.ts';
import { OtpauthTotpEngine } from './crypto/otpauth-totp-engine.ts';
import { RefreshTokenService } from './domain/refresh-tokens.ts';
import { defaultThrottlePolicy } from './domain/login-throttle.ts';
import { TwoFactor } from './domain/two-factor.ts';
import { buildDiscoveryDocument } from './domain/oidc-discovery.ts';
import { createSessions, type Sessions } from './sessions.ts';
import { sessionHandlers } from './grpc/session-handlers.ts';
import { createAccountFeed } from './grpc/account-feed.ts';
import { extrasHandlers } from './grpc/extras-handlers.ts';
import { PostgresGrantStore, PostgresTotpStore } from './store/postgres-extras-store.ts';
import { createSecretBox } from '#libs/crypto/secret-box.ts';
import { AppError } from '#libs/errors/index.ts';

export const identityMigrations = { schema: 'identity', dir: fileURLToPath(new URL('../migrations', import.meta.url)) };

export interface IdentityAppConfig {
  listen: ServiceListen;
  peers: PeerDirectory;
  clientTls?: RpcClientTlsConfig | undefined;
  argon2?: Partial<Argon2Params> | undefined;
  /** Lifetime of access tokens (default 6 h, env TOLLGATE_ACCESS_TOKEN_TTL). */
  accessTokenTtlMs?: number | undefined;
  /** Brute-force policy (both per username and per IP): failures before lockout, lockout length. */
  lockout?: { maxFailures: number; lockoutMs: number } | undefined;
  /** JWT `iss` and OIDC issuer; default: this service's HTTP address. */
  issuer?: string | undefined;
}

export interface IdentityApp extends ServiceApp {
  readonly core: IdentityCore;
  /** Sessions and keys, ready once `start()` has resolved. */
  runtime(): { sessions: Sessions; ring: SigningKeyRing };
}

export const ACCESS_TOKEN_AUDIENCE = 'tollgate';

/** Composition root of the identity service: store, hasher, core, gRPC and HTTP. */
export function createIdentityApp(config: IdentityAppConfig, deps: ServiceDeps): IdentityApp {
  const store = new PostgresIdentityStore(deps.database.db);
  const hasher = new Argon2PasswordHasher(config.argon2 ?? {});
  const serviceHeaders = { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'identity')}` };
  const quota = createLazyClient(QuotaService, () => config.peers.address('quota'), { tls: config.clientTls, defaultDeadlineMs: 2_000, headers: serviceHeaders });
  const core = createIdentityCore({
    store,
    hasher,
    // Count limits live in quota; every level's own limit counts over its subtree.
    countLimits: async (metric, accountId) =>
      config.peers.has('quota') ? (await countLimitsOnPath(quota, (await store.accountPath(accountId)).map((a) => a.id), metric)).filter((l) => !l.shadow) : [],
  });
  const authz = createLazyClient(AuthzService, () => config.peers.address('authz'), {
    tls: config.clientTls,
    defaultDeadlineMs: 2_000,
    headers: serviceHeaders,
  });
  const requireAdmin = createAdminGuard({
    secretKey: deps.secretKey,
    authenticate: authenticateThroughAuthz(authz),
    accountPath: async (accountId) => (await store.accountPath(accountId)).map((a) => a.id),
  });
  const clock = { nowMs: () => Date.now() };
  const random = new NodeRandomSource();
  const digest = new NodeSecretDigest();
  let runtime: { sessions: Sessions; ring: SigningKeyRing } | undefined;
  const ready = () => {
    if (!runtime) throw new AppError('UNAVAILABLE', 'identity is starting', { reason: 'STARTING' });
    return runtime;
  };
  const rpc = createRpcServer({ logger: deps.logger, tls: config.listen.grpcTls });
  const secretBox = createSecretBox(deps.secretKey);
  const totpStore = new PostgresTotpStore(deps.database.db, secretBox);
  const refreshStore = new PostgresRefreshTokenStore(deps.database.db);
  const twoFactor = new TwoFactor({ engine: new OtpauthTotpEngine(), random: new NodeRandomSource(), digest: new NodeSecretDigest(), clock: { nowMs: () => Date.now() } });
  const accountFeed = createAccountFeed({ database: deps.database, store, secretKey: deps.secretKey });
  rpc.add(IdentityService, { ...identityHandlers(core, requireAdmin, (events) => ready().sessions.audit(events)), ...sessionHandlers(ready, deps.secretKey, new PostgresAuditStore(deps.database.db), requireAdmin), ...accountFeed.handlers,
    ...extrasHandlers({ store, hasher, totp: totpStore, grants: new PostgresGrantStore(deps.database.db), twoFactor, requireAdmin, sessions: () => ready().sessions }),
  });
  const http = createBaseHttpApp({ service: 'identity', telemetry: deps.telemetry, logger: deps.logger });
  http.get('/.well-known/jwks.json', (c) => c.json(ready().ring.jwks(), 200, { 'cache-control': 'public, max-age=300' }));
  http.get('/.well-known/openid-configuration', (c) => {
    const issuer = ready().ring.issuer;
    return c.json(buildDiscoveryDocument({ issuer, jwksUri: `${issuer}/.well-known/jwks.json` }));
  });
  const host = hostService({ name: 'identity', listen: config.listen, rpc, http, beforeShutdown: () => accountFeed.stop(), onStop: async () => {
      authz.close();
      quota.close();
    },
  });
  return {
    ...host,
    core,
    runtime: ready,
    async start() {
      await accountFeed.start();
      const started = await host.start();
      const ring = await SigningKeyRing.open({
        store: new PostgresSigningKeyStore(deps.database.db),
        secretBox,
        clock,
        issuer: config.issuer ?? started.httpAddress ?? 'http://localhost',
        audience: ACCESS_TOKEN_AUDIENCE,
        maxAccessTokenTtlMs: Math.max(config.accessTokenTtlMs ?? DEFAULT_ACCESS_TOKEN_TTL_MS, 24 * 3_600_000),
      });
      const sessions = createSessions({
        store,
        hasher,
        ring,
        refresh: new RefreshTokenService({ store: refreshStore, clock, random, digest }),
        totp: totpStore,
        refreshOwner: async (token) => {
          const record = await refreshStore.findToken(digest.sha256Hex(token));
          return record ? (await refreshStore.getFamily(record.familyId))?.userId : undefined;
        },
        throttle: new PostgresThrottleStore(deps.database.db),
        audit: new PostgresAuditStore(deps.database.db),
        twoFactor,
        clock,
        accessTokenTtlMs: config.accessTokenTtlMs ?? DEFAULT_ACCESS_TOKEN_TTL_MS,
        throttlePolicy: config.lockout ? { ...defaultThrottlePolicy, ...config.lockout } : undefined,
      });
      runtime = { sessions, ring };
      return started;
    },
  };
}
