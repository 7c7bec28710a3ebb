import { timestampMs } from '@bufbuild/protobuf/wkt';
import { requireService } from '#libs/admin-auth/admin-guard.ts';
import { invalidArgument, isAppError } from '#libs/errors/index.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import type { IdentityService, RecordedAuditEvent } from '#gen/tollgate/identity/v1/identity_pb.js';
import { createAuditEvent, recordableKinds, type ActorKind, type AuditEvent, type AuditEventInput } from '../domain/audit-event.ts';
import type { AuditStore } from '../domain/ports.ts';

const MAX_BATCH = 500;
const EVENT_ID = /^evt_[0-9a-f]{32}$/;
/** Fields whose secret-looking value is blanked rather than losing the whole event. */
const REDACTABLE = /^(subject|reason|details\.[a-z][a-z0-9_]{0,63})$/;
export const REDACTED = '[redacted]';

export interface AuditHandlerDeps {
  secretKey: Uint8Array;
  auditLog: Pick<AuditStore, 'append'>;
}

/**
 * RecordAuditEvents: the other services' administrative actions, into identity's one audit log.
 * Only a mesh service may call, only for the kinds it owns (`recordableKinds`), and the recording
 * service is taken from its credential, never from the request. The action already happened, so
 * a value that looks like a secret is blanked (and the field named in `details.redacted`) instead
 * of losing the event; an event that is wrong in itself (id, kind, account) is refused alone.
 */
export function auditHandlers(deps: AuditHandlerDeps): Pick<ServiceImpl<typeof IdentityService>, 'recordAuditEvents'> {
  return {
    async recordAuditEvents(req, ctx) {
      const service = requireService(deps.secretKey, ctx);
      if (req.events.length > MAX_BATCH) throw invalidArgument('events', `at most ${MAX_BATCH} per call`);
      const accepted: AuditEvent[] = [];
      const refused: { index: number; field: string; reason: string }[] = [];
      for (const [index, event] of req.events.entries()) {
        try {
          accepted.push(toAuditEvent(event, service));
        } catch (error) {
          if (!isAppError(error)) throw error;
          refused.push({ index, field: error.field ?? '', reason: error.publicMessage });
        }
      }
      if (refused.length > 0) ctx.logger.warn({ service, refused }, 'audit events refused');
      await deps.auditLog.append(accepted);
      return { recorded: accepted.length, refused };
    },
  };
}

function toAuditEvent(event: RecordedAuditEvent, service: string): AuditEvent {
  if (!EVENT_ID.test(event.id)) throw invalidArgument('id', 'must be evt_ and 32 lower-case hex digits');
  const allowed = recordableKinds[service] ?? [];
  if (!(allowed as readonly string[]).includes(event.kind)) throw invalidArgument('kind', `${service} may record ${allowed.join(', ') || 'no events'}`);
  if (!event.accountId) throw invalidArgument('account_id', 'is required');
  if (!event.at) throw invalidArgument('at', 'is required');
  const atMs = timestampMs(event.at);
  const input: AuditEventInput = {
    kind: event.kind as AuditEventInput['kind'],
    outcome: (event.outcome || 'success') as AuditEventInput['outcome'],
    actorKind: (event.actorKind || null) as ActorKind | null,
    actorSubject: event.actorSubject || null,
    accountId: event.accountId,
    subject: event.target || null,
    requestId: event.requestId || null,
    reason: event.reason || null,
    details: { ...event.details },
    source: service,
  };
  const redacted: string[] = [];
  for (;;) {
    try {
      const made = createAuditEvent(redacted.length > 0 ? { ...input, details: { ...input.details, redacted: redacted.join(',') } } : input, { clock: { nowMs: () => atMs }, newId: () => event.id });
      return made;
    } catch (error) {
      const field = isAppError(error) && error.reason === 'SECRET_REFUSED' ? error.field : undefined;
      if (!field || !REDACTABLE.test(field) || redacted.includes(field)) throw error;
      redacted.push(field);
      if (field === 'subject') input.subject = REDACTED;
      else if (field === 'reason') input.reason = REDACTED;
      else delete input.details![field.slice('details.'.length)];
    }
  }
}
