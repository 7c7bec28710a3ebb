/**
 * Security events for the append-only audit log. The constructor is the only way to make one and
 * it refuses anything that looks like a secret — a password typed into the wrong field, a token, a
 * hash, a TOTP or recovery code — so the log can be shown to admins and shipped anywhere.
 */
import type { Clock } from './ports.ts';
import { invalidArgument, secretRefused } from './errors.ts';

export const auditEventKinds = [
  'login_ok',
  'login_failed',
  'lockout',
  'lockout_lifted',
  'logout',
  'totp_enrolled',
  'totp_disabled',
  'recovery_code_used',
  'password_changed',
  'token_family_revoked',
  'refresh_token_reuse_detected',
  'role_changed',
  'member_added',
  'member_removed',
  'account_created',
  'account_renamed',
  'account_suspended',
  'account_unsuspended',
  'account_policy_changed',
  'grant_changed',
  'key_rotated',
  'oauth_client_changed',
  'sso_login',
  'sso_linked',
  'sso_refused',
  // The OAuth provider refused a request (a standard error: invalid_client, invalid_grant, …).
  'oauth_refused',
  // Recorded by the other services through RecordAuditEvents (see recordableKinds).
  'token_created',
  'token_updated',
  'token_rotated',
  'token_revoked',
  'limits_set',
  'client_kicked',
] as const;
export type AuditEventKind = (typeof auditEventKinds)[number];

/**
 * What each mesh service may write into the log: its own administrative actions and nothing
 * else, so a service cannot forge a login or a role change.
 */
export const recordableKinds: Readonly<Record<string, readonly AuditEventKind[]>> = {
  authz: ['token_created', 'token_updated', 'token_rotated', 'token_revoked'],
  quota: ['limits_set'],
  broker: ['client_kicked'],
};

export const actorKinds = ['user', 'master', 'standard', 'acl', 'service'] as const;
export type ActorKind = (typeof actorKinds)[number];

export const auditOutcomes = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof auditOutcomes)[number];

export interface AuditEvent {
  id: string;
  kind: AuditEventKind;
  atMs: number;
  outcome: AuditOutcome;
  /** Who did it (`usr_…`) when a user did; null for tokens, services, anonymous attempts and the system. */
  actorUserId: string | null;
  /** Who did it: its kind and subject (`usr_…`, `tok_…`, `service:…`); null for anonymous attempts and the system. */
  actorKind: ActorKind | null;
  actorSubject: string | null;
  accountId: string | null;
  ip: string | null;
  /** What it was done to: a user, account, token family, key id or resource id. */
  subject: string | null;
  /** Machine reason, e.g. `INVALID_CREDENTIALS`, `REUSE_DETECTED`. */
  reason: string | null;
  details: Readonly<Record<string, string>>;
  /** The x-request-id of the call that did it. */
  requestId: string | null;
  /** The service that recorded it. */
  source: string;
}

export interface AuditEventInput {
  kind: AuditEventKind;
  outcome: AuditOutcome;
  /** A user actor; shorthand for actorKind 'user' + actorSubject. */
  actorUserId?: string | null;
  actorKind?: ActorKind | null;
  actorSubject?: string | null;
  requestId?: string | null;
  source?: string;
  accountId?: string | null;
  ip?: string | null;
  subject?: string | null;
  reason?: string | null;
  details?: Record<string, string>;
}

const MAX_VALUE_LENGTH = 256;
const MAX_DETAILS = 16;

/** Detail keys that name a secret whatever their value. */
const SECRET_KEY = /pass(word|wd|phrase)?|secret|credential|cookie|authori[sz]ation|private|otp|recovery|^(access_|refresh_|id_|api_|master_)?token$|^(code|pin|hash|phc|salt|key|jwt|bearer)$/i;

/**
 * Values that look like secrets: JWTs, PHC hashes, bearer/refresh tokens, PEM blocks, 6–8 digit
 * codes, hex digests and long opaque random strings. Prefixed ids (`usr_…`, `rtf_…`) and plain
 * words, IPs and usernames pass.
 */
export function looksLikeSecret(value: string): boolean {
  const text = value.trim();
  if (/^eyJ[\w-]*\.[\w-]*\.[\w-]*$/.test(text)) return true; // JWT / JWS
  if (/^\$(argon2|2[aby]\$|scrypt|pbkdf2)/.test(text)) return true; // password hash
  if (/-----BEGIN [A-Z ]*(PRIVATE )?KEY-----/.test(text)) return true;
  if (/^(rt|tg|sk|pat)_[A-Za-z0-9_-]{20,}$/.test(text)) return true; // refresh/api tokens
  if (/^bearer\s+/i.test(text)) return true;
  if (/^otpauth:\/\//i.test(text)) return true;
  if (/^\d{6,8}$/.test(text)) return true; // a TOTP code
  if (/^[a-z2-9]{5}-[a-z2-9]{5}$/.test(text)) return true; // a recovery code
  if (/^[0-9a-f]{32,}$/i.test(text)) return true; // hex digest or key
  if (/^[A-Z2-7]{16,}=*$/.test(text)) return true; // base32 TOTP secret
  // Long opaque strings: ≥24 chars of the base64 alphabet mixing cases and digits, not a prefixed id.
  if (/^[A-Za-z0-9+/_=-]{24,}$/.test(text) && !/^[a-z]{2,5}_[A-Za-z0-9]+$/.test(text) && /[a-z]/.test(text) && /[A-Z]/.test(text) && /\d/.test(text)) return true;
  return false;
}

/**
 * Subject for `key_rotated`: a JWK thumbprint is public but indistinguishable from a random secret,
 * so it is recorded with a `key:` prefix that marks it as an identifier.
 */
export function signingKeySubject(kid: string): string {
  return `key:${kid}`;
}

export function createAuditEvent(input: AuditEventInput, deps: { clock: Clock; newId: () => string }): AuditEvent {
  if (!(auditEventKinds as readonly string[]).includes(input.kind)) throw invalidArgument('kind', `must be one of ${auditEventKinds.join(', ')}`);
  if (!(auditOutcomes as readonly string[]).includes(input.outcome)) throw invalidArgument('outcome', `must be one of ${auditOutcomes.join(', ')}`);
  const actorKind = input.actorKind ?? (input.actorUserId ? 'user' : null);
  if (actorKind !== null && !(actorKinds as readonly string[]).includes(actorKind)) throw invalidArgument('actor_kind', `must be one of ${actorKinds.join(', ')}`);
  const actorSubject = input.actorSubject ?? input.actorUserId ?? null;
  if ((actorKind === null) !== (actorSubject === null)) throw invalidArgument(actorKind === null ? 'actor_kind' : 'actor_subject', 'actor kind and subject go together');
  if (input.requestId && !/^[\w.:-]{1,128}$/.test(input.requestId)) throw invalidArgument('request_id', 'must be 1-128 letters, digits, _ . : -');
  const source = input.source ?? 'identity';
  if (!/^[a-z]{2,16}$/.test(source)) throw invalidArgument('source', 'must be a service name');
  const field = (name: string, value: string | null | undefined): string | null => {
    if (value === undefined || value === null) return null;
    if (value.length > MAX_VALUE_LENGTH) throw invalidArgument(name, `must be at most ${MAX_VALUE_LENGTH} characters`);
    if (looksLikeSecret(value)) throw secretRefused(name);
    return value;
  };
  const ip = field('ip', input.ip);
  if (ip !== null && !/^[0-9a-fA-F:.]{2,45}$/.test(ip)) throw invalidArgument('ip', 'must be an IPv4 or IPv6 address');
  const details: Record<string, string> = {};
  const entries = Object.entries(input.details ?? {});
  if (entries.length > MAX_DETAILS) throw invalidArgument('details', `must have at most ${MAX_DETAILS} entries`);
  for (const [key, value] of entries) {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(key)) throw invalidArgument(`details.${key}`, 'keys are snake_case');
    if (SECRET_KEY.test(key)) throw secretRefused(`details.${key}`);
    details[key] = field(`details.${key}`, value)!;
  }
  return Object.freeze({
    id: deps.newId(),
    kind: input.kind,
    atMs: deps.clock.nowMs(),
    outcome: input.outcome,
    actorUserId: actorKind === 'user' ? field('actor_subject', actorSubject) : null,
    actorKind,
    actorSubject: field('actor_subject', actorSubject),
    accountId: field('account_id', input.accountId),
    ip,
    subject: field('subject', input.subject),
    reason: field('reason', input.reason),
    details: Object.freeze(details),
    // Not checked for secrets: a caller picks its x-request-id, and one that looked like a code
    // must not be a way to keep an action out of the log. The pattern above bounds it.
    requestId: input.requestId || null,
    source,
  });
}
