import { timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Effect, TokenKind, type Decision, type GetDecisionStatsResponse, type Token } from '#gen/tollgate/authz/v1/authz_pb.js';
import { AccountState, Role, type Account, type AuditEvent, type User } from '#gen/tollgate/identity/v1/identity_pb.js';
import { LimitKind, Period, type EffectiveLimit, type UsageSeries } from '#gen/tollgate/quota/v1/quota_pb.js';
import type { Client } from '#gen/tollgate/broker/v1/broker_pb.js';
import { OAuthClientType, type OAuthClient } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import type { SsoConnection } from '#gen/tollgate/identity/v1/sso_pb.js';
import type { BufferedSpan } from '#libs/telemetry/span-buffer.ts';

/** Proto messages ⇄ the REST API's snake_case JSON, and nothing else. */

export const iso = (t: Timestamp | undefined): string | null => (t ? new Date(timestampMs(t)).toISOString() : null);
export const timestampOf = (isoText: string): Timestamp => timestampFromMs(Date.parse(isoText));

export const tokenKinds = { master: TokenKind.MASTER, standard: TokenKind.STANDARD, acl: TokenKind.ACL } as const;
export const roles = { owner: Role.OWNER, admin: Role.ADMIN, member: Role.MEMBER, viewer: Role.VIEWER } as const;
export const limitKinds = { rate: LimitKind.RATE, volume: LimitKind.VOLUME, concurrency: LimitKind.CONCURRENCY, count: LimitKind.COUNT } as const;
export const oauthClientTypes = { web: OAuthClientType.WEB, spa: OAuthClientType.SPA, native: OAuthClientType.NATIVE, service: OAuthClientType.SERVICE, device: OAuthClientType.DEVICE } as const;
export const periods = { second: Period.SECOND, minute: Period.MINUTE, day: Period.DAY, month: Period.MONTH } as const;

const nameOf = <T extends Record<string, number>>(table: T, value: number): keyof T | undefined => (Object.keys(table) as (keyof T)[]).find((k) => table[k] === value);

export function kindName(kind: TokenKind): 'master' | 'standard' | 'acl' | 'unknown' {
  return nameOf(tokenKinds, kind) ?? 'unknown';
}

export function roleName(role: Role | string): 'owner' | 'admin' | 'member' | 'viewer' | null {
  if (typeof role === 'string') return role in roles ? (role as keyof typeof roles) : null;
  return nameOf(roles, role) ?? null;
}

export function ruleToProto(r: { effect: 'allow' | 'deny'; actions: string[]; resources: string[] }) {
  return { effect: r.effect === 'allow' ? Effect.ALLOW : Effect.DENY, actions: r.actions, resources: r.resources };
}

export function tokenJson(t: Token) {
  return {
    id: t.id,
    name: t.name,
    account_id: t.accountId,
    kind: kindName(t.kind),
    rules: t.rules.map((r) => ({ effect: r.effect === Effect.ALLOW ? ('allow' as const) : ('deny' as const), actions: r.actions, resources: r.resources })),
    ip_allow: t.ipAllow,
    expires_at: iso(t.expiresAt),
    ttl_seconds: Number(t.ttlSeconds),
    short_form: t.shortForm,
    created_by: t.createdBy,
    created_at: iso(t.createdAt),
    revoked_at: iso(t.revokedAt),
    last_used_at: iso(t.lastUsedAt),
  };
}

export function accountJson(a: Account) {
  return {
    id: a.id,
    name: a.name,
    parent_id: a.parentId || null,
    depth: a.depth,
    state: a.state === AccountState.SUSPENDED ? ('suspended' as const) : ('active' as const),
    suspended: a.effectivelySuspended,
    require_totp: a.requireTotp,
    created_at: iso(a.createdAt),
  };
}

export function userJson(u: User) {
  return {
    id: u.id,
    username: u.username,
    totp_enabled: u.totpEnabled,
    memberships: u.memberships.flatMap((m) => {
      const role = roleName(m.role);
      return role ? [{ account_id: m.accountId, role }] : [];
    }),
    created_at: iso(u.createdAt),
  };
}

export function decisionJson(d: Decision) {
  return { at: iso(d.at), allowed: d.allowed, reason: d.reason, action: d.action, resource: d.resource, account_id: d.accountId, subject: d.subject, client_id: d.clientId, peer_ip: d.peerIp, source: d.source };
}

/** One authz replica's figures for an account (`at` and `started_at` are always set by authz). */
export function decisionStatsJson(s: GetDecisionStatsResponse) {
  return {
    at: iso(s.at)!, replica_id: s.replicaId, started_at: iso(s.startedAt)!, accounts: s.accounts,
    allowed: Number(s.allowed), denied: Number(s.denied), denied_by_reason: s.deniedByReason.map((r) => ({ reason: r.reason, count: Number(r.count) })),
    cache_hits: Number(s.cacheHits), cache_misses: Number(s.cacheMisses),
  };
}

export function limitJson(l: EffectiveLimit) {
  const limit = l.limit!;
  return {
    metric: limit.metric,
    kind: (nameOf(limitKinds, limit.kind) ?? 'unspecified') as string,
    value: Number(limit.value),
    per: (nameOf(periods, limit.period) ?? null) as string | null,
    burst: Number(limit.burst),
    shadow: limit.shadow,
    source_account_id: l.sourceAccountId,
  };
}

export function usageJson(s: UsageSeries) {
  return { metric: s.metric, total: Number(s.total), points: s.points.map((p) => ({ at: iso(p.at), amount: Number(p.amount) })) };
}

export function clientJson(c: Client) {
  return {
    client_id: c.clientId,
    account_id: c.accountId,
    subject: c.subject,
    peer: c.peer,
    protocol_version: c.protocolVersion,
    transport: c.transport,
    connected_at: iso(c.connectedAt),
    subscriptions: c.subscriptions,
    messages_in: Number(c.messagesIn),
    messages_out: Number(c.messagesOut),
  };
}

const isoMs = (ms: bigint): string | null => (ms > 0n ? new Date(Number(ms)).toISOString() : null);
const ruleJson = (r: { effect: Effect; actions: string[]; resources: string[] }) => ({ effect: r.effect === Effect.ALLOW ? ('allow' as const) : ('deny' as const), actions: r.actions, resources: r.resources });

export function oauthClientJson(c: OAuthClient) {
  return {
    client_id: c.id,
    account_id: c.accountId,
    name: c.name,
    type: (nameOf(oauthClientTypes, c.type) ?? 'unknown') as keyof typeof oauthClientTypes | 'unknown',
    confidential: c.confidential,
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
    scopes: c.scopes,
    first_party: c.firstParty,
    acl_rules: c.aclRules.map(ruleJson),
    acl_token_id: c.aclTokenId || null,
    id_token_signed_response_alg: c.idTokenSignedResponseAlg,
    disabled: c.disabled,
    created_at: isoMs(c.createdAtMs),
    updated_at: isoMs(c.updatedAtMs),
  };
}

export function ssoConnectionJson(c: SsoConnection) {
  return {
    id: c.id,
    account_id: c.accountId,
    kind: c.kind === 'saml' ? ('saml' as const) : ('oidc' as const),
    name: c.name,
    issuer: c.issuer,
    client_id: c.clientId || null,
    saml_entry_point: c.samlEntryPoint || null,
    provisioning: c.provisioning === 'jit' ? ('jit' as const) : ('invited' as const),
    default_role: roleName(c.defaultRole) ?? 'member',
    created_at: isoMs(c.createdAtMs),
  };
}

export function auditJson(e: AuditEvent) {
  return { id: e.id, at: iso(e.at), kind: e.kind, outcome: e.outcome, actor_kind: e.actorKind || null, actor_id: e.actorId || null, account_id: e.accountId || null, subject_id: e.subjectId || null, request_id: e.requestId || null, source: e.source || 'identity', ip: e.ip || null, details: { ...e.details } };
}

export function spanJson(s: BufferedSpan) {
  return {
    trace_id: s.traceId,
    span_id: s.spanId,
    parent_span_id: s.parentSpanId ?? null,
    name: s.name,
    service: s.service,
    start_ms: s.startMs,
    duration_ms: s.durationMs,
    ok: s.ok,
    status_message: s.statusMessage ?? null,
    attributes: s.attributes,
  };
}
