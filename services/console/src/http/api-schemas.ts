import { z } from '@hono/zod-openapi';

/**
 * The REST API's request and response shapes: one zod schema validates the request and describes
 * it in the OpenAPI document. These check the shape only (ids look like ids, numbers are numbers);
 * what a value means (may this rule be set, may this caller see this account) is for the services.
 */

const idOf = (prefix: string, what: string) =>
  z
    .string()
    .regex(new RegExp(`^${prefix}_[A-Za-z0-9]{1,64}$`), `must be ${what} id (${prefix}_…)`)
    .openapi({ example: `${prefix}_0123456789abcdefghjk` });

export const AccountId = idOf('acc', 'an account');
export const UserId = idOf('usr', 'a user');
export const TokenId = idOf('tok', 'a token');
export const OAuthClientId = idOf('cli', 'an OAuth client');
export const SsoConnectionId = idOf('sso', 'an SSO connection');

/** Query booleans are the words true / false, nothing else. */
export const QueryBool = z.enum(['true', 'false']).transform((v) => v === 'true').openapi({ type: 'string', enum: ['true', 'false'] });
export const Limit = (max: number) => z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(max, `must be at most ${max}`).optional().openapi({ type: 'integer', minimum: 1, maximum: max });
export const Cursor = z.string().min(1).max(512, 'must be at most 512 characters').optional().openapi({ description: 'next_cursor of the previous page' });
const Iso = z.string().nullable().openapi({ format: 'date-time' });

export const Problem = z
  .object({ type: z.string(), title: z.string(), status: z.number().int(), detail: z.string(), field: z.string().optional() })
  .openapi('Problem');

export const Account = z
  .object({ id: z.string(), name: z.string(), parent_id: z.string().nullable(), depth: z.number().int(), state: z.enum(['active', 'suspended']), suspended: z.boolean(), require_totp: z.boolean(), created_at: Iso })
  .openapi('Account');

export const Role = z.enum(['owner', 'admin', 'member', 'viewer']).openapi('Role');
export const User = z
  .object({ id: z.string(), username: z.string(), totp_enabled: z.boolean(), memberships: z.array(z.object({ account_id: z.string(), role: Role })), created_at: Iso })
  .openapi('User');

export const TokenKindName = z.enum(['master', 'standard', 'acl']).openapi('TokenKind');
export const Rule = z
  .object({
    effect: z.enum(['allow', 'deny']),
    actions: z.array(z.string().min(1).max(32)).min(1, 'name at least one action').max(16),
    resources: z.array(z.string().min(1).max(1024)).max(64),
  })
  .openapi('Rule');
export const Token = z
  .object({
    id: z.string(),
    name: z.string(),
    account_id: z.string(),
    kind: z.enum(['master', 'standard', 'acl', 'unknown']),
    rules: z.array(Rule),
    ip_allow: z.array(z.string()),
    expires_at: Iso,
    ttl_seconds: z.number().int(),
    short_form: z.boolean(),
    created_by: z.string(),
    created_at: Iso,
    revoked_at: Iso,
    last_used_at: Iso,
  })
  .openapi('Token');
export const TokenWithSecret = Token.extend({ secret: z.string().openapi({ description: 'shown once; only its SHA-256 is stored' }) }).openapi('TokenWithSecret');

export const Decision = z
  .object({ at: Iso, allowed: z.boolean(), reason: z.string(), action: z.string(), resource: z.string(), account_id: z.string(), subject: z.string(), client_id: z.string(), peer_ip: z.string(), source: z.string() })
  .openapi('Decision');

export const MetricName = z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/, 'must be a metric name like mqtt.messages.in').openapi({ example: 'mqtt.messages.in' });
export const LimitKind = z.enum(['rate', 'volume', 'concurrency', 'count']);
export const PeriodName = z.enum(['second', 'minute', 'day', 'month']);
export const LimitInput = z
  .object({
    metric: MetricName,
    kind: LimitKind,
    value: z.number().int('must be a whole number').min(-1, 'must be -1 (inherit) or more'),
    per: PeriodName.optional(),
    burst: z.number().int().min(0).optional(),
    shadow: z.boolean().optional(),
  })
  .openapi('LimitInput');
export const EffectiveLimit = z
  .object({ metric: z.string(), kind: z.string(), value: z.number().int(), per: z.string().nullable(), burst: z.number().int(), shadow: z.boolean(), source_account_id: z.string() })
  .openapi('EffectiveLimit');
export const UsageSeries = z
  .object({ metric: z.string(), total: z.number(), points: z.array(z.object({ at: Iso, amount: z.number() })) })
  .openapi('UsageSeries');

export const Client = z
  .object({ client_id: z.string(), account_id: z.string(), subject: z.string(), peer: z.string(), protocol_version: z.number().int(), transport: z.string(), connected_at: Iso, subscriptions: z.number().int(), messages_in: z.number(), messages_out: z.number() })
  .openapi('Client');

export const AuditEvent = z
  .object({ id: z.string(), at: Iso, kind: z.string(), outcome: z.string(), actor_kind: z.string().nullable(), actor_id: z.string().nullable(), account_id: z.string().nullable(), subject_id: z.string().nullable(), request_id: z.string().nullable(), source: z.string(), ip: z.string().nullable(), details: z.record(z.string(), z.string()) })
  .openapi('AuditEvent');

export const Span = z
  .object({ trace_id: z.string(), span_id: z.string(), parent_span_id: z.string().nullable(), name: z.string(), service: z.string(), start_ms: z.number(), duration_ms: z.number(), ok: z.boolean(), status_message: z.string().nullable(), attributes: z.record(z.string(), z.unknown()) })
  .openapi('Span');

export const Me = z
  .object({
    account_id: z.string(),
    subject: z.string(),
    kind: z.enum(['master', 'standard', 'acl', 'user']),
    role: Role.nullable(),
    via: z.enum(['bearer', 'session']),
    controls: z.array(z.string()).openapi({ description: 'console controls this caller is shown (the services decide every call anyway)' }),
  })
  .openapi('Me');

export const OAuthClientTypeName = z.enum(['web', 'spa', 'native', 'service', 'device']).openapi('OAuthClientType');
export const OAuthClient = z
  .object({
    client_id: z.string(),
    account_id: z.string(),
    name: z.string(),
    type: z.enum(['web', 'spa', 'native', 'service', 'device', 'unknown']),
    confidential: z.boolean().openapi({ description: 'web and service clients: they authenticate with a secret' }),
    redirect_uris: z.array(z.string()),
    post_logout_redirect_uris: z.array(z.string()),
    scopes: z.array(z.string()),
    first_party: z.boolean().openapi({ description: 'skips the consent screen' }),
    acl_rules: z.array(Rule).openapi({ description: "the acl rules the client's access tokens are bound to (empty: unbound)" }),
    acl_token_id: z.string().nullable(),
    id_token_signed_response_alg: z.string(),
    disabled: z.boolean(),
    created_at: Iso,
    updated_at: Iso,
  })
  .openapi('OAuthClient');
export const OAuthClientWithSecret = z
  .object({ client: OAuthClient, client_secret: z.string().nullable().openapi({ description: 'shown once (confidential clients; null for public ones); only its SHA-256 is stored' }) })
  .openapi('OAuthClientWithSecret');

export const SsoConnection = z
  .object({
    id: z.string(),
    account_id: z.string(),
    kind: z.enum(['oidc', 'saml']),
    name: z.string(),
    issuer: z.string(),
    client_id: z.string().nullable(),
    saml_entry_point: z.string().nullable(),
    provisioning: z.enum(['invited', 'jit']),
    default_role: Role,
    created_at: Iso,
  })
  .openapi('SsoConnection');
