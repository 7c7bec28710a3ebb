import type { Hono } from 'hono';
import type Provider from 'oidc-provider';
import type { Database, Db } from '#libs/db/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { SigningKeyRing } from '../crypto/signing-key-ring.ts';
import type { Clock, IdentityStore } from '../domain/ports.ts';
import type { Sessions } from '../sessions.ts';
import { PostgresOAuthClientStore, PostgresOidcPayloads } from '../store/postgres-oauth-store.ts';
import type { ServiceClient } from '#libs/rpc/index.ts';
import type { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createClientCache, OAUTH_CLIENTS_CHANNEL } from './client-cache.ts';
import { createGrantApproval } from './grant-approval.ts';
import { createGrantRevocations } from './grant-revocations.ts';
import { mountOAuth } from './oauth-http.ts';
import { mountSso } from './sso-http.ts';
import type { UpstreamSso } from './upstream-sso.ts';
import { createOidcProvider, OAUTH_PATH } from './oidc-provider-factory.ts';

/**
 * Identity's OAuth 2.0 / OIDC provider as one subsystem: its stores, the provider (built once the
 * issuer and keys are known, rebuilt when the signing key rotates) and its HTTP routes.
 */
/** oidc-provider's refusal events (each `(ctx, error)`), audited as `oauth_refused`. */
/** What an audited refusal reads of oidc-provider's request context. */
type RefusalContext = { ip?: string; oidc?: { client?: { clientId?: string }; params?: Record<string, unknown> } };

const REFUSAL_EVENTS = ['authorization.error', 'grant.error', 'introspection.error', 'revocation.error', 'device_authorization.error', 'end_session.error', 'userinfo.error'] as const;

export function createOAuthSubsystem(deps: { db: Db; database: Pick<Database, 'listen'>; clock: Clock; store: IdentityStore; secretKey: Uint8Array; logger: Logger; audience: string; sso: UpstreamSso; authz: ServiceClient<typeof AuthzService> }) {
  // The provider reads clients through the cache; every write through the store drops the entry here
  // at once and, by the NOTIFY committed with it, in every other identity replica.
  const clients = new PostgresOAuthClientStore(deps.db, { changed: (id) => cache.invalidate(id), channel: OAUTH_CLIENTS_CHANNEL });
  const cache = createClientCache({ load: (id) => clients.get(id), clock: deps.clock });
  let unlisten: (() => Promise<void>) | undefined;
  const payloads = new PostgresOidcPayloads(deps.db);
  // Every ended grant reaches authz, whose feed disconnects the MQTT clients using its access tokens.
  const revocations = createGrantRevocations({ db: deps.db, clock: deps.clock, logger: deps.logger, authz: deps.authz });
  let runtime: { issuer: string; ring: SigningKeyRing; compatRing: SigningKeyRing; sessions: Sessions; accessTokenTtlMs: number } | undefined;
  let built: { provider: Provider; kid: string } | undefined;
  let mountPath = '';

  function provider(): Provider | undefined {
    if (!runtime) return undefined;
    const kid = `${runtime.ring.activeKid} ${runtime.compatRing.activeKid}`;
    if (built?.kid !== kid) {
      const created = createOidcProvider({
        issuer: runtime.issuer,
        db: deps.db,
        clock: deps.clock,
        store: deps.store,
        clients: cache,
        signingKeys: [runtime.ring.activePrivateJwk(), runtime.compatRing.activePrivateJwk()],
        secretKey: deps.secretKey,
        audience: deps.audience,
        accessTokenTtlSeconds: Math.floor(runtime.accessTokenTtlMs / 1000),
        grantRevoked: (grantId) => revocations.revoke([grantId]),
        interactionPath: (uid) => `${mountPath}${OAUTH_PATH}/interaction/${uid}`,
      });
      created.on('server_error', (_ctx: unknown, err: unknown) => deps.logger.error({ err }, 'oauth provider error'));
      // Koa's own errors (a client that resets or aborts mid-request, mostly) go to our log at debug —
      // without a listener Koa prints each one to stderr, so a resetting client could flood it.
      created.app.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'ECONNRESET' || err.code === 'ECONNABORTED' || err.code === 'EPIPE' || err.code === 'ERR_STREAM_PREMATURE_CLOSE') deps.logger.debug({ code: err.code }, 'oauth client went away mid-request');
        else deps.logger.warn({ err }, 'oauth request error');
      });
      // Every refusal of the provider (a wrong secret, a wrong redirect URI, a bad PKCE verifier, a
      // replayed code, polling too fast, …) is audited in the client's account, with its standard
      // error code — the same log as password logins.
      const events = created as unknown as { on(event: string, listener: (ctx: RefusalContext, err: { error?: string }) => void): void };
      for (const event of REFUSAL_EVENTS) events.on(event, (ctx, err) => void auditRefusal(event, ctx, err));
      built = { provider: created, kid };
    }
    return built.provider;
  }

  async function auditRefusal(event: string, ctx: RefusalContext, err: { error?: string }): Promise<void> {
    const sessions = runtime?.sessions;
    if (!sessions) return;
    const named = ctx.oidc?.client?.clientId ?? (typeof ctx.oidc?.params?.['client_id'] === 'string' ? (ctx.oidc.params['client_id'] as string) : '');
    const clientId = /^cli_[A-Za-z0-9]{1,64}$/.test(named) ? named : '';
    try {
      const client = clientId ? await clients.get(clientId) : undefined;
      await sessions.audit([
        {
          kind: 'oauth_refused',
          outcome: 'denied',
          reason: /^[a-z_]{1,64}$/.test(err.error ?? '') ? err.error! : 'invalid_request',
          accountId: client?.accountId ?? null,
          ip: ctx.ip ?? null,
          subject: clientId || null,
          details: { endpoint: event.slice(0, event.indexOf('.')) },
        },
      ]);
    } catch (error) {
      deps.logger.warn({ err: error }, 'could not audit an OAuth refusal');
    }
  }

  const approval = createGrantApproval({ clients: cache, store: deps.store });
  /** The approval rule (domain/oauth-client.ts `mayApproveGrant`); a refusal is audited in the client's account. */
  async function approveAudited(clientId: string, userId: string): Promise<boolean> {
    if (await approval.allowedFor(clientId, userId)) return true;
    try {
      const client = await clients.get(clientId);
      await runtime?.sessions.audit([{ kind: 'oauth_refused', outcome: 'denied', reason: 'approver_not_permitted', accountId: client?.accountId ?? null, ip: null, subject: clientId, details: { endpoint: 'interaction', user_id: userId } }]);
    } catch (error) {
      deps.logger.warn({ err: error }, 'could not audit an OAuth refusal');
    }
    return false;
  }

  return {
    clients,
    clientCache: cache,
    payloads,
    provider,
    /** A user's provider sessions, grants and tokens end (a changed password), in authz too. */
    async revokeUser(userId: string): Promise<void> {
      await revocations.revoke(await payloads.revokeUser(userId));
    },
    /** A client's grants and tokens end (disabled or deleted), in authz too. */
    async revokeClient(clientId: string): Promise<void> {
      await revocations.revoke(await payloads.revokeClient(clientId));
    },
    /** Mounts the routes; `issuerPath` is the path of TOLLGATE_JWT_ISSUER when it has one. */
    mount(http: Hono, issuerPath: string) {
      mountPath = issuerPath;
      // Before mountOAuth: its catch-all hands every other /oauth path to the provider.
      mountSso(http, { sso: deps.sso, provider, mountPath: issuerPath, issuer: () => runtime?.issuer, secretKey: deps.secretKey, logger: deps.logger, clock: deps.clock, claimOnce: (key, expiresAtMs) => payloads.claimOnce('SamlResponse', key, expiresAtMs), sessions: () => runtime?.sessions });
      mountOAuth(http, {
        provider,
        mountPath: issuerPath,
        clients,
        secretKey: deps.secretKey,
        logger: deps.logger,
        mayApprove: approveAudited,
        ssoOptions: async (clientId) => {
          const client = /^cli_[0-9a-z]{20}$/.test(clientId) ? await clients.get(clientId) : undefined;
          if (!client) return [];
          const path = (await deps.store.accountPath(client.accountId)).map((a) => a.id);
          return (await deps.sso.list(path)).map((s) => ({ id: s.id, name: s.name }));
        },
        signIn: async (input) => {
          if (!runtime) throw new Error('identity is starting');
          const step = await runtime.sessions.signIn(input);
          return step.ok ? { ok: true, userId: step.userId } : step;
        },
      });
    },
    /** Follows client changes made by other replicas (the cache keeps nothing until this is up). */
    async listen() {
      unlisten ??= await cache.listen(deps.database);
    },
    start(input: { issuer: string; ring: SigningKeyRing; compatRing: SigningKeyRing; sessions: Sessions; accessTokenTtlMs: number }) {
      runtime = input;
      revocations.start({ accessTokenTtlMs: input.accessTokenTtlMs });
    },
    async stop() {
      revocations.stop();
      const stop = unlisten;
      unlisten = undefined;
      await stop?.();
    },
  };
}

export type OAuthSubsystem = ReturnType<typeof createOAuthSubsystem>;

/** The path part of an issuer URL, without a trailing slash ('' for an origin). */
export function issuerPath(issuer: string | undefined): string {
  if (!issuer) return '';
  return new URL(issuer).pathname.replace(/\/+$/, '');
}
