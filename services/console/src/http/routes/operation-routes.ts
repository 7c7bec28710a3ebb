import { createRoute, z } from '@hono/zod-openapi';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { permissionDenied } from '#libs/errors/index.ts';
import { AccountId, AuditEvent, Client, Cursor, Decision, EffectiveLimit, Limit, LimitInput, Me, MetricName, QueryBool, Span, UsageSeries } from '../api-schemas.ts';
import { auditJson, clientJson, decisionJson, decisionStatsJson, limitJson, limitKinds, periods, spanJson, timestampOf, usageJson } from '../proto-json.ts';
import { controlsFor } from '../../console-controls.ts';
import type { AdminApiDeps, ApiApp, Caller } from '../admin-api.ts';
import { jsonBody, nextCursor, ok, problems } from './route-kit.ts';
import { Period } from '#gen/tollgate/quota/v1/quota_pb.js';

const Account = z.object({ account_id: AccountId.optional().openapi({ description: "the caller's account when absent" }) });
const ClientId = z.string().min(1, 'is required').max(256, 'must be at most 256 characters');
const DecisionFilter = z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters');
const TraceId = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits');

/** Who-am-I, decisions, limits and usage, MQTT clients, audit, signing keys, traces. */
export function operationRoutes(api: ApiApp, deps: AdminApiDeps): void {
  const { authz, identity, quota, broker } = deps.peers;

  api.openapi(
    createRoute({ method: 'get', path: '/me', tags: ['overview'], summary: 'The caller, as authz knows them, and the console controls they are shown', responses: { 200: ok(Me), ...problems } }),
    (c) => {
      const caller = c.get('caller');
      return c.json({ account_id: caller.accountId, subject: caller.subject, kind: caller.kind, role: caller.role, via: caller.via, controls: controlsFor(caller) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/decisions', tags: ['decisions'], summary: 'Recent decisions: every denial, sampled allowances, newest first (ListRecentDecisions)',
      request: {
        query: Account.extend({
          denials_only: QueryBool.optional(),
          reason: DecisionFilter.optional().openapi({ description: 'only decisions with this reason (exact), e.g. acl_no_match' }),
          source: DecisionFilter.optional().openapi({ description: 'only decisions asked through this adapter: grpc, broker, rabbitmq, emqx, go-auth, envoy' }),
          client_id: ClientId.optional().openapi({ description: 'only decisions for this MQTT client id (exact)' }),
          limit: Limit(1_000),
          cursor: Cursor,
        }),
      },
      responses: { 200: ok(z.object({ decisions: z.array(Decision), next_cursor: z.string().nullable() })), ...problems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const caller = c.get('caller');
      const res = await authz.listRecentDecisions(
        { accountId: q.account_id ?? caller.accountId, denialsOnly: q.denials_only ?? false, reason: q.reason ?? '', source: q.source ?? '', clientId: q.client_id ?? '', limit: q.limit ?? 100, pageToken: q.cursor ?? '' },
        caller.auth,
      );
      return c.json({ decisions: res.decisions.map(decisionJson), next_cursor: nextCursor(res.nextPageToken) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/decisions/check', tags: ['decisions'], summary: 'Try a decision: may this token do this action on this resource? (Authorize)',
      request: {
        body: jsonBody(
          z.object({
            token: z.string().min(1, 'is required').max(4096).openapi({ description: 'the secret of the token to try' }),
            action: z.string().min(1, 'is required').max(32),
            resource: z.string().max(1024).optional().openapi({ example: 'mqtt:plant/7/temp' }),
            client_id: z.string().max(256).optional(),
            account_id: AccountId.optional(),
          }),
        ),
      },
      responses: { 200: ok(z.object({ allowed: z.boolean(), reason: z.string(), account_id: z.string(), cache_ttl_ms: z.number() })), ...problems },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const res = await authz.authorize({ credential: { bearer: b.token }, action: b.action, resource: b.resource ?? '', clientId: b.client_id ?? '', accountId: b.account_id ?? '' });
      return c.json({ allowed: res.allowed, reason: res.reason, account_id: res.accountId, cache_ttl_ms: Number(res.cacheTtlMs) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/decisions/stats', tags: ['decisions'],
      summary: "An account's decisions (allowed, denied, denied by reason) and token-cache hits and misses, counted by the authz replica that answers since it started (GetDecisionStats); with subtree=true its subaccounts' too",
      description: 'Each authz replica counts what it answered. Calls are spread over the replicas, so successive answers may come from different ones: compute rates only between two answers with the same replica_id and started_at, and add up the rates of the replicas seen recently (the console\'s overview does).',
      request: {
        query: Account.extend({ subtree: QueryBool.optional().openapi({ description: "add its subaccounts' figures" }) }),
      },
      responses: {
        200: ok(z.object({
          at: z.string(), replica_id: z.string(), started_at: z.string(), account_id: z.string(), subtree: z.boolean(), accounts: z.number(),
          allowed: z.number(), denied: z.number(), denied_by_reason: z.array(z.object({ reason: z.string(), count: z.number() })),
          cache_hits: z.number(), cache_misses: z.number(),
        })),
        ...problems,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const caller = c.get('caller');
      const accountId = q.account_id ?? caller.accountId;
      const subtree = q.subtree ?? false;
      const s = await authz.getDecisionStats({ accountId, includeSubaccounts: subtree }, caller.auth);
      return c.json({ ...decisionStatsJson(s), account_id: accountId, subtree }, 200);
    },
  );

  const LimitsOut = z.object({ account_id: z.string(), limits: z.array(EffectiveLimit) });
  api.openapi(
    createRoute({ method: 'get', path: '/limits', tags: ['limits'], summary: 'Effective limits of an account, each with the account it comes from (GetLimits)', request: { query: Account }, responses: { 200: ok(LimitsOut), ...problems } }),
    async (c) => {
      const caller = c.get('caller');
      const accountId = c.req.valid('query').account_id ?? caller.accountId;
      const res = await quota.getLimits({ accountId }, caller.auth);
      return c.json({ account_id: accountId, limits: res.limits.map(limitJson) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'put', path: '/limits', tags: ['limits'], summary: "Set limits on an account; -1 inherits the parent's value (SetLimits)",
      request: { body: jsonBody(Account.extend({ limits: z.array(LimitInput).min(1, 'name at least one limit').max(64) })) },
      responses: { 200: ok(LimitsOut), ...problems },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const caller = c.get('caller');
      const accountId = b.account_id ?? caller.accountId;
      const res = await quota.setLimits(
        { accountId, limits: b.limits.map((l) => ({ metric: l.metric, kind: limitKinds[l.kind], value: BigInt(l.value), period: l.per ? periods[l.per] : Period.UNSPECIFIED, burst: BigInt(l.burst ?? 0), shadow: l.shadow ?? false })) },
        caller.auth,
      );
      return c.json({ account_id: accountId, limits: res.limits.map(limitJson) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'get', path: '/usage', tags: ['limits'], summary: 'Usage per minute (or step) over a window (GetUsage)',
      request: {
        query: Account.extend({
          metric: MetricName.optional(),
          since_seconds: z.coerce.number().int('must be a whole number').min(60, 'must be at least 60').max(90 * 86_400, 'must be at most 90 days').optional().openapi({ type: 'integer', description: 'window length ending now (default 3600)' }),
          step_seconds: z.coerce.number().int('must be a whole number').min(60, 'must be at least 60').max(86_400).optional().openapi({ type: 'integer' }),
          subtree: QueryBool.optional(),
        }),
      },
      responses: { 200: ok(z.object({ account_id: z.string(), series: z.array(UsageSeries) })), ...problems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const caller = c.get('caller');
      const accountId = q.account_id ?? caller.accountId;
      const now = Date.now();
      const res = await quota.getUsage({ accountId, metric: q.metric ?? '', from: timestampFromMs(now - (q.since_seconds ?? 3_600) * 1_000), to: timestampFromMs(now), stepSeconds: q.step_seconds ?? 60, subtree: q.subtree ?? false }, caller.auth);
      return c.json({ account_id: accountId, series: res.series.map(usageJson) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/stats', tags: ['clients'],
      summary: "Broker figures (GetStats): an account's own connections, sessions, subscriptions, messages, bytes, denials and quota rejections (with subtree=true its subaccounts' too), cluster-wide; without account_id the edge-wide counters, for a mesh service credential only",
      request: {
        query: z.object({
          account_id: AccountId.optional().openapi({ description: 'the account whose figures to read; absent: the edge-wide counters (service credential)' }),
          subtree: QueryBool.optional().openapi({ description: "add its subaccounts' figures (with account_id)" }),
        }),
      },
      responses: {
        200: ok(z.object({
          at: z.string(), account_id: z.string().nullable(), subtree: z.boolean(), accounts: z.number().nullable(),
          connections: z.number(), sessions: z.number(), subscriptions: z.number(), retained: z.number(),
          messages_in: z.number(), messages_out: z.number(), bytes_in: z.number(), bytes_out: z.number(),
          dropped: z.number(), denied: z.number(), quota_rejected: z.number(),
        })),
        ...problems,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const subtree = q.subtree ?? false;
      const s = await broker.getStats({ accountId: q.account_id ?? '', includeSubaccounts: subtree }, c.get('caller').auth);
      const n = (v: bigint) => Number(v);
      return c.json({
        at: new Date().toISOString(), account_id: q.account_id ?? null, subtree, accounts: q.account_id ? s.accounts : null,
        connections: n(s.connections), sessions: n(s.sessions), subscriptions: n(s.subscriptions), retained: n(s.retained),
        messages_in: n(s.messagesIn), messages_out: n(s.messagesOut), bytes_in: n(s.bytesIn), bytes_out: n(s.bytesOut),
        dropped: n(s.dropped), denied: n(s.denied), quota_rejected: n(s.quotaRejected),
      }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'get', path: '/clients', tags: ['clients'], summary: 'MQTT clients connected to the broker edge (ListClients)',
      request: { query: Account.extend({ limit: Limit(10_000), cursor: Cursor }) },
      responses: { 200: ok(z.object({ clients: z.array(Client), next_cursor: z.string().nullable() })), ...problems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const caller = c.get('caller');
      const res = await broker.listClients({ accountId: q.account_id ?? caller.accountId, limit: q.limit ?? 0, pageToken: q.cursor ?? '' }, caller.auth);
      return c.json({ clients: res.clients.map(clientJson), next_cursor: nextCursor(res.nextPageToken) }, 200);
    },
  );
  api.openapi(
    createRoute({
      method: 'post', path: '/clients/{client_id}/kick', tags: ['clients'], summary: 'Disconnect an MQTT client (KickClient; MQTT 5 reason 0x98 by default)',
      request: {
        params: z.object({ client_id: ClientId.openapi({ param: { name: 'client_id', in: 'path' } }) }),
        body: { required: false, content: { 'application/json': { schema: Account.extend({ reason_code: z.number().int().min(0x80, 'must be an MQTT 5 error reason code (0x80-0xA2)').max(0xa2, 'must be an MQTT 5 error reason code (0x80-0xA2)').optional() }) } } },
      },
      responses: { 200: ok(z.object({ client_id: z.string(), kicked: z.boolean() })), ...problems },
    }),
    async (c) => {
      const { client_id } = c.req.valid('param');
      const b = c.req.valid('json');
      const caller = c.get('caller');
      const res = await broker.kickClient({ clientId: client_id, accountId: b?.account_id ?? caller.accountId, reasonCode: b?.reason_code ?? 0 }, caller.auth);
      return c.json({ client_id, kicked: res.kicked }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get', path: '/audit', tags: ['audit'], summary: "Security events of an account and its subtree, newest first (ListAuditEvents)",
      request: { query: Account.extend({ kind: z.string().regex(/^[a-z_]{1,64}$/, 'must be an audit event kind').optional(), since: z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time' }).optional(), limit: Limit(1_000), cursor: Cursor }) },
      responses: { 200: ok(z.object({ events: z.array(AuditEvent), next_cursor: z.string().nullable() })), ...problems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const caller = c.get('caller');
      const res = await identity.listAuditEvents({ accountId: q.account_id ?? caller.accountId, kind: q.kind ?? '', ...(q.since ? { since: timestampOf(q.since) } : {}), pageSize: q.limit ?? 100, pageToken: q.cursor ?? '' }, caller.auth);
      return c.json({ events: res.events.map(auditJson), next_cursor: nextCursor(res.nextPageToken) }, 200);
    },
  );

  api.openapi(
    createRoute({ method: 'post', path: '/keys/rotate', tags: ['keys'], summary: "Rotate identity's JWT signing key (RotateSigningKey)", responses: { 200: ok(z.object({ kid: z.string(), retired_kids: z.array(z.string()) })), ...problems } }),
    async (c) => {
      const res = await identity.rotateSigningKey({}, c.get('caller').auth);
      return c.json({ kid: res.kid, retired_kids: res.retiredKids }, 200);
    },
  );
  api.openapi(
    createRoute({ method: 'get', path: '/keys/jwks', tags: ['keys'], summary: "identity's public signing keys (GetJwks)", responses: { 200: ok(z.object({ issuer: z.string(), jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) })), ...problems } }),
    async (c) => {
      const res = await identity.getJwks({}, c.get('caller').auth);
      return c.json({ issuer: res.issuer, jwks: JSON.parse(res.jwksJson) as { keys: Record<string, unknown>[] } }, 200);
    },
  );

  /**
   * Traces cross every account, and no service guards them (they live in this process's span
   * buffer). So they are shown to whoever identity lets read the root account's audit log — the
   * root's operators — asked with the caller's credential: identity decides, not the console.
   */
  async function requireMeshOperator(caller: Caller): Promise<void> {
    // GetAccount, not GetAccountTree: a root's tree lists every account of the mesh (a thousand).
    const { account } = await identity.getAccount({ accountId: caller.accountId }, caller.auth);
    if (account?.parentId) throw permissionDenied('traces span the whole mesh: they are for operators of the root account', 'ROOT_REQUIRED');
    await identity.listAuditEvents({ accountId: caller.accountId, pageSize: 1 }, caller.auth);
  }
  api.openapi(
    createRoute({
      method: 'get', path: '/traces', tags: ['traces'], summary: 'Recent spans from the in-process buffer, newest first (operators of the root account)',
      request: { query: z.object({ trace_id: TraceId.optional(), limit: Limit(2_000) }) },
      responses: { 200: ok(z.object({ spans: z.array(Span) })), ...problems },
    }),
    async (c) => {
      await requireMeshOperator(c.get('caller'));
      const q = c.req.valid('query');
      const spans = deps.telemetry.spans.list({ ...(q.trace_id ? { traceId: q.trace_id } : {}), limit: q.limit ?? 200 });
      return c.json({ spans: spans.map(spanJson) }, 200);
    },
  );
}
