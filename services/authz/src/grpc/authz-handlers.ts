import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { invalidArgument, notFound, permissionDenied } from '#libs/errors/index.ts';
import { actorOf, peerIp, type AdminPrincipal, type RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import { mayIssueToken } from '#libs/policy/role-policy.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import { AuthzService, Effect, InvalidationKind, TokenKind as ProtoKind, type Credential, type Rule } from '#gen/tollgate/authz/v1/authz_pb.js';
import { requireService } from '#libs/admin-auth/admin-guard.ts';
import { auditActor, type AdminAuditKind, type AuditSink } from '#libs/audit/audit-sink.ts';
import type { InvalidationHub } from '../invalidation-hub.ts';
import type { InvalidationKind as DomainInvalidationKind } from '../domain/token-record.ts';
import type { AuthzCore } from '../authz-core.ts';
import type { AuthorizeDecision } from '../core/authorize.ts';
import { encodeAuthorizeResponse } from './authorize-response.ts';
import { GRANT_ID } from '../core/jwt-decision.ts';
import type { TokenKind, TokenRecord, TokenRule } from '../domain/token-record.ts';

const kindToProto: Record<TokenKind, ProtoKind> = { master: ProtoKind.MASTER, standard: ProtoKind.STANDARD, acl: ProtoKind.ACL };
function kindFromProto(kind: ProtoKind): TokenKind {
  const found = (Object.entries(kindToProto) as [TokenKind, ProtoKind][]).find(([, v]) => v === kind);
  if (!found) throw invalidArgument('kind', 'must be TOKEN_KIND_MASTER, TOKEN_KIND_STANDARD or TOKEN_KIND_ACL');
  return found[0];
}

function rulesFromProto(rules: Rule[]): TokenRule[] {
  return rules.map((r, i) => {
    if (r.effect !== Effect.ALLOW && r.effect !== Effect.DENY) throw invalidArgument(`rules[${i}].effect`, 'must be EFFECT_ALLOW or EFFECT_DENY');
    return { effect: r.effect === Effect.ALLOW ? 'allow' : 'deny', actions: [...r.actions], resources: [...r.resources] };
  });
}

const rulesToProto = (rules: TokenRule[]) => rules.map((r) => ({ effect: r.effect === 'allow' ? Effect.ALLOW : Effect.DENY, actions: r.actions, resources: r.resources }));

function tokenToProto(t: TokenRecord) {
  return {
    id: t.id,
    name: t.name,
    accountId: t.accountId,
    kind: kindToProto[t.kind],
    rules: rulesToProto(t.rules),
    ...(t.expiresAtMs === undefined ? {} : { expiresAt: timestampFromMs(t.expiresAtMs) }),
    ttlSeconds: BigInt(t.ttlSeconds),
    ipAllow: t.ipAllow,
    shortForm: t.shortForm,
    createdBy: t.createdBy,
    createdAt: timestampFromMs(t.createdAtMs),
    ...(t.revokedAtMs === undefined ? {} : { revokedAt: timestampFromMs(t.revokedAtMs) }),
    ...(t.lastUsedAtMs === undefined ? {} : { lastUsedAt: timestampFromMs(t.lastUsedAtMs) }),
  };
}

const required = (value: string, field: string, max = 128): string => {
  if (!value) throw invalidArgument(field, 'is required');
  if (value.length > max) throw invalidArgument(field, `must be at most ${max} characters`);
  return value;
};

const MAX_CREDENTIAL = 4_096;
/** Decisions one ReportDecisions call may carry (an edge sends at most its per-second cap per batch). */
const MAX_REPORTED = 1_000;
/** Grants one RevokeGrants call may name. */
const MAX_REVOKED_GRANTS = 500;

/** gRPC ⇄ authz core. Translation and admin checks only. */
const invalidationToProto: Record<DomainInvalidationKind, InvalidationKind> = {
  TOKEN_REVOKED: InvalidationKind.TOKEN_REVOKED,
  TOKEN_UPDATED: InvalidationKind.TOKEN_UPDATED,
  TOKEN_EXPIRED: InvalidationKind.TOKEN_EXPIRED,
  ACCOUNT_SUSPENDED: InvalidationKind.ACCOUNT_SUSPENDED,
  GRANT_REVOKED: InvalidationKind.GRANT_REVOKED,
  RESET: InvalidationKind.RESET,
};

/** The decision log's page cursor (a sequence number), opaque to callers. */
const decisionPageToken = {
  of: (before: number) => Buffer.from(`d1:${before}`).toString('base64url'),
  parse(token: string): number {
    const m = token.length <= 64 ? /^d1:(\d{1,15})$/.exec(Buffer.from(token, 'base64url').toString()) : null;
    if (!m) throw invalidArgument('page_token', 'is not a next_page_token of this list');
    return Number(m[1]);
  },
};

function credentialFromProto(c: Credential | undefined) {
  if (!c || (!c.tokenId && !c.bearer && !c.username)) throw invalidArgument('credential', 'a token_id, bearer or username is required');
  if (c.bearer.length > MAX_CREDENTIAL) throw invalidArgument('credential.bearer', `must be at most ${MAX_CREDENTIAL} bytes`);
  if (c.username.length > MAX_CREDENTIAL) throw invalidArgument('credential.username', `must be at most ${MAX_CREDENTIAL} bytes`);
  if (c.password.length > MAX_CREDENTIAL) throw invalidArgument('credential.password', `must be at most ${MAX_CREDENTIAL} bytes`);
  return { tokenId: c.tokenId || undefined, bearer: c.bearer || undefined, username: c.username || undefined, password: c.password || undefined };
}

const checkResource = (resource: string, field: string): string => {
  if (resource.length > 70_000) throw invalidArgument(field, 'must be at most 70000 bytes');
  return resource;
};

/** A token of `kind` is made, changed or rotated only by whoever holds its powers (role table: no escalation). */
function assertMayIssue(admin: AdminPrincipal, kind: TokenKind): void {
  if (!mayIssueToken(actorOf(admin), kind)) throw permissionDenied(`a ${admin.kind}${admin.role ? ` (${admin.role})` : ''} credential may not issue a ${kind} token`, 'INSUFFICIENT_PRIVILEGE');
}

/** `peerIp(peer)` remembered for the last peer: a connection's calls all come from the same one. */
let lastPeer: { peer: string; ip: string | undefined } | undefined;
function peerIpOf(peer: string): string | undefined {
  if (lastPeer?.peer !== peer) lastPeer = { peer, ip: peerIp(peer) };
  return lastPeer.ip;
}

/** The one decision, encoded by hand (authorize-response.ts); through protobuf-es for a TTL it leaves out. */
const authorizeReply = (decisions: readonly AuthorizeDecision[]) => {
  const d = decisions[0]!;
  return encodeAuthorizeResponse(d.allowed, d.reason, d.cacheTtlMs, d.accountId) ?? { allowed: d.allowed, reason: d.reason, cacheTtlMs: BigInt(d.cacheTtlMs), accountId: d.accountId };
};

/** This process among authz's replicas: decision figures are counted per replica, since it started. */
export interface AuthzReplica {
  id: string;
  startedAtMs: number;
}

export function authzHandlers(core: AuthzCore, requireAdmin: RequireAdmin, feed: { hub: InvalidationHub; secretKey: Uint8Array; replica: AuthzReplica }, audit: AuditSink): Partial<ServiceImpl<typeof AuthzService>> {
  /** A token change for the audit log: in the token's account, named by its id (never its secret, nor its free-text name). */
  const audited = (kind: AdminAuditKind, admin: AdminPrincipal, token: TokenRecord, requestId: string, details: Record<string, string>) =>
    audit.record({ kind, actor: auditActor(admin), accountId: token.accountId, target: token.id, requestId, details: { token_kind: token.kind, ...details } });
  return {
    // Not async: a cached credential is answered within the call (libs/rpc takes a value or a promise).
    authorize(req, ctx) {
      const decisions = core.authorize({
        credential: credentialFromProto(req.credential),
        action: req.action,
        resources: req.action === 'connect' && !req.resource ? [] : [checkResource(req.resource, 'resource')],
        clientId: req.clientId,
        // The connection's address only when a decision reads it (grpc-js formats it on every ask).
        peerIp: req.peerIp || (() => peerIpOf(ctx.peer)),
        accountId: req.accountId || undefined,
        source: 'grpc',
      });
      return decisions instanceof Promise ? decisions.then(authorizeReply) : authorizeReply(decisions);
    },
    async authorizeBatch(req, ctx) {
      const decisions = await core.authorize({
        credential: credentialFromProto(req.credential),
        action: req.action,
        resources: req.resources.map((r, i) => checkResource(r, `resources[${i}]`)),
        clientId: req.clientId,
        peerIp: req.peerIp || (() => peerIp(ctx.peer)),
        accountId: req.accountId || undefined,
        source: 'grpc',
      });
      return { decisions: decisions.map((d) => ({ ...d, cacheTtlMs: BigInt(d.cacheTtlMs) })) };
    },
    async *watchInvalidations(req, ctx) {
      requireService(feed.secretKey, ctx);
      for await (const event of feed.hub.subscribe(Number(req.afterSequence), ctx.signal)) {
        yield { sequence: BigInt(event.sequence), kind: invalidationToProto[event.kind], tokenId: event.tokenId ?? '', accountId: event.accountId ?? '', grantId: event.grantId ?? '' };
      }
    },
    async listRecentDecisions(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const page = core.decisions.page({
        accountId: req.accountId,
        denialsOnly: req.denialsOnly,
        reason: req.reason || undefined,
        source: req.source || undefined,
        clientId: req.clientId || undefined,
        limit: req.limit === 0 ? 100 : Math.min(req.limit, 1_000),
        before: req.pageToken ? decisionPageToken.parse(req.pageToken) : undefined,
      });
      return {
        decisions: page.decisions.map((d) => ({ ...d, at: timestampFromMs(d.atMs) })),
        nextPageToken: page.nextBefore === undefined ? '' : decisionPageToken.of(page.nextBefore),
      };
    },
    async getDecisionStats(req, ctx) {
      // The same guard and table as ListRecentDecisions: whoever may read the account.
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const accounts = req.includeSubaccounts ? await core.subtreeOf(req.accountId) : [req.accountId];
      const s = core.decisions.tallies.statsOf(accounts);
      return {
        replicaId: feed.replica.id,
        startedAt: timestampFromMs(feed.replica.startedAtMs),
        at: timestampFromMs(core.clock.nowMs()),
        accounts: accounts.length,
        allowed: BigInt(s.allowed),
        denied: BigInt(s.denied),
        deniedByReason: s.deniedByReason.map((r) => ({ reason: r.reason, count: BigInt(r.count) })),
        cacheHits: BigInt(s.cacheHits),
        cacheMisses: BigInt(s.cacheMisses),
      };
    },
    async revokeGrants(req, ctx) {
      // Only identity's provider ends its grants (a revoked grant is no secret, but a forged one would be a denial of service).
      const source = requireService(feed.secretKey, ctx);
      if (source !== 'identity') throw permissionDenied('only identity revokes OAuth grants', 'SERVICE_NOT_ALLOWED');
      if (req.grantIds.length === 0) throw invalidArgument('grant_ids', 'is required');
      if (req.grantIds.length > MAX_REVOKED_GRANTS) throw invalidArgument('grant_ids', `at most ${MAX_REVOKED_GRANTS} per call`);
      req.grantIds.forEach((id, i) => {
        if (!GRANT_ID.test(id)) throw invalidArgument(`grant_ids[${i}]`, 'must be a grt_ id');
      });
      if (!req.expiresAt) throw invalidArgument('expires_at', 'is required');
      await core.revokeGrants(req.grantIds, timestampMs(req.expiresAt));
      return {};
    },
    async reportDecisions(req, ctx) {
      // Authenticate before validating: only a service of the mesh reports decisions, and the
      // source is whoever its credential names (a broker cannot pass for envoy).
      const source = requireService(feed.secretKey, ctx);
      if (req.decisions.length > MAX_REPORTED) throw invalidArgument('decisions', `at most ${MAX_REPORTED} per call`);
      const nowMs = core.clock.nowMs();
      const records = req.decisions.map((d, i) => {
        if (d.action !== 'publish' && d.action !== 'subscribe') throw invalidArgument(`decisions[${i}].action`, 'must be publish or subscribe');
        required(d.accountId, `decisions[${i}].account_id`);
        required(d.reason, `decisions[${i}].reason`, 64);
        for (const [field, value, max] of [['resource', d.resource, 65_535], ['subject', d.subject, 128], ['client_id', d.clientId, 65_535], ['peer_ip', d.peerIp, 64]] as const) {
          if (value.length > max) throw invalidArgument(`decisions[${i}].${field}`, `must be at most ${max} characters`);
        }
        // A reporter's clock may run ahead: never a decision from the future.
        const atMs = d.at ? Math.min(timestampMs(d.at), nowMs) : nowMs;
        return { atMs, allowed: d.allowed, reason: d.reason, action: d.action, resource: d.resource, accountId: d.accountId, subject: d.subject, clientId: d.clientId, peerIp: d.peerIp, source };
      });
      for (const record of records) core.decisions.record(record);
      if (req.dropped > 0n) core.decisions.recordDropped(source, Number(req.dropped));
      return { recorded: records.length };
    },
    async createToken(req, ctx) {
      const admin = await requireAdmin(ctx, required(req.accountId, 'account_id'), 'manage_tokens');
      const kind = kindFromProto(req.kind);
      assertMayIssue(admin, kind);
      const { token, secret } = await core.createToken({
        accountId: req.accountId,
        name: req.name,
        kind,
        rules: rulesFromProto(req.rules),
        ipAllow: [...req.ipAllow],
        expiresAtMs: req.expiresAt ? timestampMs(req.expiresAt) : undefined,
        ttlSeconds: Number(req.ttlSeconds),
        shortForm: req.shortForm,
        createdBy: admin.subject,
      });
      audited('token_created', admin, token, ctx.requestId, { short_form: String(token.shortForm), rules: String(token.rules.length) });
      return { token: tokenToProto(token), secret };
    },
    async getToken(req, ctx) {
      const token = await core.store.get(required(req.tokenId, 'token_id'));
      if (!token) throw notFound('token_id', 'token');
      await requireAdmin(ctx, token.accountId, 'read');
      return { token: tokenToProto(token) };
    },
    async listTokens(req, ctx) {
      await requireAdmin(ctx, required(req.accountId, 'account_id'), 'read');
      const size = req.pageSize === 0 ? 100 : Math.min(req.pageSize, 1_000);
      const items = await core.store.list([req.accountId], { includeRevoked: req.includeRevoked, limit: size, afterId: req.pageToken || undefined });
      return { tokens: items.map(tokenToProto), nextPageToken: items.length === size ? items.at(-1)!.id : '' };
    },
    async updateToken(req, ctx) {
      const token = await core.store.get(required(req.tokenId, 'token_id'));
      if (!token) throw notFound('token_id', 'token');
      const admin = await requireAdmin(ctx, token.accountId, 'manage_tokens');
      assertMayIssue(admin, token.kind);
      const mask = new Set(req.updateMask);
      const known = ['name', 'rules', 'ip_allow', 'expires_at', 'ttl_seconds'];
      for (const [i, f] of req.updateMask.entries()) if (!known.includes(f)) throw invalidArgument(`update_mask[${i}]`, `unknown field; known: ${known.join(', ')}`);
      if (mask.size === 0) throw invalidArgument('update_mask', 'name at least one field to update');
      const updated = await core.updateToken(token.id, {
        ...(mask.has('name') ? { name: req.name } : {}),
        ...(mask.has('rules') ? { rules: rulesFromProto(req.rules) } : {}),
        ...(mask.has('ip_allow') ? { ipAllow: [...req.ipAllow] } : {}),
        ...(mask.has('expires_at') ? { expiresAtMs: req.expiresAt ? timestampMs(req.expiresAt) : null } : {}),
        ...(mask.has('ttl_seconds') ? { ttlSeconds: Number(req.ttlSeconds) } : {}),
      });
      audited('token_updated', admin, updated, ctx.requestId, { fields: [...mask].sort().join(',') });
      return { token: tokenToProto(updated) };
    },
    async rotateToken(req, ctx) {
      const token = await core.store.get(required(req.tokenId, 'token_id'));
      if (!token) throw notFound('token_id', 'token');
      const admin = await requireAdmin(ctx, token.accountId, 'manage_tokens');
      assertMayIssue(admin, token.kind);
      const { token: rotated, secret } = await core.rotateToken(token.id, Number(req.graceSeconds));
      audited('token_rotated', admin, rotated, ctx.requestId, { grace_seconds: String(req.graceSeconds) });
      return { token: tokenToProto(rotated), secret };
    },
    async revokeToken(req, ctx) {
      const token = await core.store.get(required(req.tokenId, 'token_id'));
      if (!token) throw notFound('token_id', 'token');
      const admin = await requireAdmin(ctx, token.accountId, 'manage_tokens');
      assertMayIssue(admin, token.kind);
      const revoked = await core.revokeToken(token.id);
      audited('token_revoked', admin, revoked, ctx.requestId, {});
      return { token: tokenToProto(revoked) };
    },
    async authenticate(req, ctx) {
      if (req.username.length > MAX_CREDENTIAL) throw invalidArgument('username', `must be at most ${MAX_CREDENTIAL} bytes`);
      if (req.password.length > MAX_CREDENTIAL) throw invalidArgument('password', `must be at most ${MAX_CREDENTIAL} bytes`);
      if (req.bearer.length > MAX_CREDENTIAL) throw invalidArgument('bearer', `must be at most ${MAX_CREDENTIAL} bytes`);
      if (req.clientId.length > 65_535) throw invalidArgument('client_id', 'must be at most 65535 bytes');
      const outcome = await core.authenticate({ username: req.username, password: req.password, bearer: req.bearer, peerIp: req.peerIp || peerIp(ctx.peer) });
      if (!outcome.allowed) return { allowed: false, reason: outcome.reason, cacheTtlMs: BigInt(outcome.cacheTtlMs) };
      const p = outcome.principal;
      return {
        allowed: true,
        reason: outcome.reason,
        principal: {
          accountId: p.accountId,
          subject: p.subject,
          kind: p.kind === 'user' ? ProtoKind.UNSPECIFIED : kindToProto[p.kind],
          superuser: p.superuser,
          tokenId: p.tokenId ?? '',
          role: p.role ?? '',
          grantId: p.grantId ?? '',
          ...(p.expiresAtMs === undefined ? {} : { expiresAt: timestampFromMs(p.expiresAtMs) }),
        },
        rules: rulesToProto(outcome.rules),
        cacheTtlMs: BigInt(outcome.cacheTtlMs),
      };
    },
  };
}
