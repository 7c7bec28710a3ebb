import type { AdminPrincipal } from '#libs/admin-auth/admin-guard.ts';
import { auditActor, type AdminAuditEvent } from '#libs/audit/audit-sink.ts';

const MAX_TARGET = 256;

/**
 * `client_kicked` for identity's audit log. The client id is the device's own choice, so it is
 * recorded as `client:<id>` (an identifier, like `key:<kid>`) and cut to the log's field size.
 */
export function clientKickedEvent(input: { admin: AdminPrincipal; accountId: string; clientId: string; reasonCode: number; kicked: boolean; requestId: string }): AdminAuditEvent {
  const target = `client:${input.clientId}`;
  return {
    kind: 'client_kicked',
    actor: auditActor(input.admin),
    accountId: input.accountId,
    target: target.length > MAX_TARGET ? `${target.slice(0, MAX_TARGET - 1)}…` : target,
    requestId: input.requestId,
    details: { reason_code: `0x${input.reasonCode.toString(16)}`, kicked: String(input.kicked) },
  };
}
