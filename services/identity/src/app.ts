import { fileURLToPath } from 'node:url';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { createAdminGuard } from '#libs/admin-auth/admin-guard.ts';
import { authenticatedFirst } from '#libs/admin-auth/authenticated-first.ts';
import { authenticateThroughAuthz } from '#libs/admin-auth/authz-principal.ts';
import { createSecretBox } from '#libs/crypto/secret-box.ts';
import { AppError } from '#libs/errors/index.ts';
import { createBaseHttpApp } from '#libs/http/index.ts';
import { createLazyClient, createRpcServer, type PeerDirectory, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import { readinessChecks } from '#libs/service/readiness.ts';
import { hostService, type ServiceApp, type ServiceDeps, type ServiceListen } from '#libs/service/service-host.ts';
import { countLimitsOnPath } from '#libs/quota-client/count-limits.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { Argon2PasswordHasher, type Argon2Params } from './crypto/argon2-password-hasher.ts';
import { NodeRandomSource, NodeSecretDigest } from './crypto/node-random-source.ts';
import { OtpauthTotpEngine } from './crypto/otpauth-totp-engine.ts';
import { DEFAULT_ACCESS_TOKEN_TTL_MS, SigningKeyRing } from './crypto/signing-key-ring.ts';
import { defaultThrottlePolicy } from './domain/login-throttle.ts';
import type { Clock } from './domain/ports.ts';
import { RefreshTokenService } from './domain/refresh-tokens.ts';
import { TwoFactor } from './domain/two-factor.ts';
import { createAccountFeed } from './grpc/account-feed.ts';
import { createAuthzAclTokens } from './clients/authz-acl-tokens.ts';
import { clientHandlers } from './grpc/client-handlers.ts';
import { grantHandlers } from './grpc/grant-handlers.ts';
import { identityHandlers } from './grpc/identity-handlers.ts';
import { sessionHandlers } from './grpc/session-handlers.ts';
import { totpHandlers } from './grpc/totp-handlers.ts';
import { createIdentityCore, type IdentityCore } from './identity-core.ts';
import { createOAuthClients } from './oauth/oauth-clients.ts';
import { createUpstreamSso } from './oauth/upstream-sso.ts';
import { ssoHandlers } from './grpc/sso-handlers.ts';
import { PostgresSsoStore } from './store/postgres-sso-store.ts';
import { createOAuthSubsystem, issuerPath } from './oauth/wire-oauth.ts';
import { createSessions, type Sessions } from './sessions.ts';
import { PostgresGrantStore, PostgresTotpStore } from './store/postgres-extras-store.ts';
import { PostgresIdentityStore } from './store/postgres-identity-store.ts';
import { auditHandlers } from './grpc/audit-handlers.ts';
import { PostgresAuditStore, PostgresRefreshTokenStore, PostgresSigningKeyStore, PostgresThrottleStore } from './store/postgres-session-store.ts';
import { authenticateWithAccessTokens, createAccessTokenVerifier } from './user-principal.ts';
import { systemClock } from '#libs/clock/index.ts';

export const identityMigrations = { schema: 'identity', dir: fileURLToPath(new URL('../migrations', import.meta.url)) };

export interface IdentityAppConfig {
  listen: ServiceListen;
  peers: PeerDirectory;
  clientTls?: RpcClientTlsConfig | undefined;
  argon2?: Partial<Argon2Params> | undefined;
  /** Lifetime of access tokens (default 6 h, env TOLLGATE_ACCESS_TOKEN_TTL). */
  accessTokenTtlMs?: number | undefined;
  /**
   * Brute-force policy: failures of one username from one address before that pair is locked out,
   * and for how long; failures from one address over every username (`maxFailuresPerAddress`);
   * addresses failing for one username that lock it everywhere (`distinctAddresses`).
   */
  lockout?: { maxFailures: number; lockoutMs: number; maxFailuresPerAddress?: number | undefined; distinctAddresses?: number | undefined } | undefined;
  /** JWT `iss` and OIDC issuer (TOLLGATE_JWT_ISSUER; its path, if any, prefixes the provider's routes); default: this service's HTTP address. */
  issuer?: string | undefined;
}

/** What the composition root passes in; `clock` is for tests (lockouts, token expiry) and defaults to the wall clock. */
export interface IdentityAppDeps extends ServiceDeps {
  clock?: Clock | undefined;
}

export interface IdentityApp extends ServiceApp {
  readonly core: IdentityCore;
  /** Sessions and keys, ready once `start()` has resolved. */
  runtime(): { sessions: Sessions; ring: SigningKeyRing; compatRing: SigningKeyRing };
}

export const ACCESS_TOKEN_AUDIENCE = 'tollgate';
/** Replicas re-read the signing keys this often (another one rotated) and drop keys no token can use. */
const KEY_RING_REFRESH_MS = 60_000;

/** Composition root of the identity service: stores, crypto, core, sessions, gRPC and HTTP. */
export function createIdentityApp(config: IdentityAppConfig, deps: IdentityAppDeps): IdentityApp {
  const db = deps.database.db;
  const clock = deps.clock ?? systemClock;
  const random = new NodeRandomSource();
  const digest = new NodeSecretDigest();
  const secretBox = createSecretBox(deps.secretKey);
  const store = new PostgresIdentityStore(db);
  const totpStore = new PostgresTotpStore(db, secretBox);
  const refreshStore = new PostgresRefreshTokenStore(db);
  const auditLog = new PostgresAuditStore(db);
  const hasher = new Argon2PasswordHasher(config.argon2 ?? {});
  const twoFactor = new TwoFactor({ engine: new OtpauthTotpEngine(), random, digest, clock });

  // Peers: quota (count limits) and authz (who an API token is), both with this service's credential.
  const telemetry = deps.telemetry.forService('identity');
  const peerOptions = { tls: config.clientTls, tracer: telemetry.tracer, defaultDeadlineMs: 2_000, headers: { authorization: `Bearer ${mintServiceCredential(deps.secretKey, 'identity')}` } };
  const quota = createLazyClient(QuotaService, () => config.peers.address('quota'), peerOptions);
  const authz = createLazyClient(AuthzService, () => config.peers.address('authz'), peerOptions);
  const core = createIdentityCore({
    store,
    hasher,
    // Count limits live in quota; every level's own limit counts over its subtree.
    countLimits: async (metric, accountId) =>
      config.peers.has('quota') ? (await countLimitsOnPath(quota, (await store.accountPath(accountId)).map((a) => a.id), metric)).filter((l) => !l.shadow) : [],
  });

  let runtime: { sessions: Sessions; ring: SigningKeyRing; compatRing: SigningKeyRing; verify: ReturnType<typeof createAccessTokenVerifier> } | undefined;
  const ready = () => {
    if (!runtime) throw new AppError('UNAVAILABLE', 'identity is starting', { reason: 'STARTING' });
    return runtime;
  };
  // Identity's own access tokens are verified here against current memberships; API tokens by authz.
  const authenticate = authenticateWithAccessTokens({ verify: () => runtime?.verify, store, otherwise: authenticateThroughAuthz(authz) });
  const requireAdmin = createAdminGuard({ secretKey: deps.secretKey, authenticate, accountPath: async (id) => (id ? (await store.accountPath(id)).map((a) => a.id) : []) });
  const audit = (events: Parameters<Sessions['audit']>[0]) => ready().sessions.audit(events);

  const sso = createUpstreamSso({ store: new PostgresSsoStore(db), secretBox, clock, core, audit: (events) => audit(events) });
  const oauth = createOAuthSubsystem({ db, database: deps.database, clock, store, secretKey: deps.secretKey, logger: deps.logger, audience: ACCESS_TOKEN_AUDIENCE, sso, authz });
  const rpc = createRpcServer({ logger: deps.logger, tls: config.listen.grpcTls, telemetry });
  const accountFeed = createAccountFeed({ database: deps.database, store, secretKey: deps.secretKey });
  const handlers = {
    ...identityHandlers({ core, requireAdmin, audit, totpActiveAmong: (ids) => totpStore.activeAmong(ids), verifyPassword: (input) => ready().sessions.verifyPassword(input), secretKey: deps.secretKey }),
    ...sessionHandlers({ ready, secretKey: deps.secretKey, auditLog, store, requireAdmin }),
    ...totpHandlers({ store, totp: totpStore, twoFactor, requireAdmin, audit }),
    ...grantHandlers({ store, grants: new PostgresGrantStore(db), requireAdmin, audit }),
    ...auditHandlers({ secretKey: deps.secretKey, auditLog }),
    ...accountFeed.handlers,
    ...ssoHandlers({ sso, requireAdmin, audit, issuer: () => ready().ring.issuer }),
    ...clientHandlers({ clients: createOAuthClients({ clients: oauth.clients, payloads: oauth, clock, aclTokens: createAuthzAclTokens(authz) }), requireAdmin, audit }),
  };
  // Every RPC but these authenticates before it validates (libs/admin-auth/authenticated-first.ts).
  rpc.add(IdentityService, authenticatedFirst(IdentityService, handlers, requireAdmin, {
    login: 'the password (and TOTP code) is the proof',
    refreshSession: 'the refresh token is the proof',
    logout: 'the refresh token is the proof',
    switchAccount: 'the refresh token is the proof',
    getJwks: 'public keys, for offline verification of access tokens',
  }));

  const http = createBaseHttpApp({
    service: 'identity',
    telemetry: deps.telemetry,
    logger: deps.logger,
    readiness: readinessChecks({ database: deps.database, peers: config.peers, uses: ['authz', 'quota'], tls: config.clientTls }),
  });
  // Every published key: the EdDSA ring's, and the ES256 ring's (ID tokens for clients that cannot verify EdDSA).
  const publishedJwks = () => ({ keys: [...ready().ring.jwks().keys, ...ready().compatRing.jwks().keys] });
  http.get('/.well-known/jwks.json', (c) => c.json(publishedJwks(), 200, { 'cache-control': 'public, max-age=60' }));
  // The OAuth 2.0 / OIDC provider (discovery, authorize, token, device, introspection, …).
  const mountPath = issuerPath(config.issuer);
  if (mountPath) http.get(`${mountPath}/.well-known/jwks.json`, (c) => c.json(publishedJwks(), 200, { 'cache-control': 'public, max-age=60' }));
  oauth.mount(http, mountPath);

  let keyRefresh: ReturnType<typeof setInterval> | undefined;
  const host = hostService({
    name: 'identity',
    listen: config.listen,
    rpc,
    http,
    beforeShutdown: () => accountFeed.stop(),
    onStop: async () => {
      clearInterval(keyRefresh);
      await oauth.stop();
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
      await oauth.listen();
      const started = await host.start();
      const accessTokenTtlMs = config.accessTokenTtlMs ?? DEFAULT_ACCESS_TOKEN_TTL_MS;
      const ringOptions = {
        store: new PostgresSigningKeyStore(db),
        secretBox,
        clock,
        issuer: (config.issuer ?? started.httpAddress ?? 'http://localhost').replace(/\/+$/, ''),
        audience: ACCESS_TOKEN_AUDIENCE,
        // Also how long a retired key stays in the JWKS: at least as long as any token it signed lives.
        maxAccessTokenTtlMs: Math.max(accessTokenTtlMs, 24 * 3_600_000),
      };
      const ring = await SigningKeyRing.open(ringOptions);
      const compatRing = await SigningKeyRing.open({ ...ringOptions, alg: 'ES256' });
      const sessions = createSessions({
        store,
        hasher,
        ring,
        refresh: new RefreshTokenService({ store: refreshStore, clock, random, digest }),
        refreshStore,
        digest,
        totp: totpStore,
        throttle: new PostgresThrottleStore(db),
        audit: auditLog,
        twoFactor,
        clock,
        accessTokenTtlMs,
        throttlePolicy: config.lockout ? { ...defaultThrottlePolicy, maxFailures: config.lockout.maxFailures, lockoutMs: config.lockout.lockoutMs } : undefined,
        maxFailuresPerAddress: config.lockout?.maxFailuresPerAddress,
        distinctAddresses: config.lockout?.distinctAddresses,
        endOtherSessions: (userId) => oauth.revokeUser(userId),
      });
      runtime = { sessions, ring, compatRing, verify: createAccessTokenVerifier(ring, clock) };
      oauth.start({ issuer: ring.issuer, ring, compatRing, sessions, accessTokenTtlMs });
      keyRefresh = setInterval(() => {
        Promise.all([ring.reload(), compatRing.reload()])
          .then(() => Promise.all([ring.prune(), compatRing.prune()]))
          .then(() => oauth.payloads.purgeExpired(clock.nowMs()))
          .catch((err: unknown) => deps.logger.warn({ err }, 'signing key refresh failed'));
      }, KEY_RING_REFRESH_MS);
      keyRefresh.unref();
      return started;
    },
  };
}
