import type { AdminPrincipal } from '#libs/admin-auth/admin-guard.ts';

/**
 * The kinds of administrative action services other than identity record into identity's one
 * audit log (identity's `recordableKinds` says which service may record which).
 */
export type AdminAuditKind = 'token_created' | 'token_updated' | 'token_rotated' | 'token_revoked' | 'limits_set' | 'client_kicked';

/** One administrative action, as the acting service knows it. Never a secret: a token is named by its id. */
export interface AdminAuditEvent {
  kind: AdminAuditKind;
  outcome?: 'success' | 'failure' | 'denied';
  actor: AuditActor | null;
  /** The account the action was done in: the event lands in its log (and its ancestors' listings). */
  accountId: string;
  /** What it was done to: `tok_…`, metric names, `client:<id>`. */
  target: string;
  /** The x-request-id of the admin call (libs/rpc CallContext.requestId). */
  requestId: string;
  details?: Record<string, string>;
}

export interface AuditActor {
  kind: AdminPrincipal['kind'];
  /** `usr_…`, `tok_…`, `service:…`. */
  subject: string;
}

/**
 * Where a service's administrative actions go. `record` never blocks and never throws: the
 * action has happened and must not fail because the log is slow or away.
 */
export interface AuditSink {
  record(event: AdminAuditEvent): void;
}

/** The admin guard's principal as an audit actor (its subject is an id, never a credential). */
export function auditActor(principal: AdminPrincipal): AuditActor {
  return { kind: principal.kind, subject: principal.subject };
}
