import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { currentCall, type ServiceClient } from '#libs/rpc/index.ts';
import type { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import type { AuditBatchSender } from './buffered-audit-sink.ts';

/** Sends batches to identity's RecordAuditEvents with the service's own credential (set on the client). */
export function createIdentityAuditSender(identity: Pick<ServiceClient<typeof IdentityService>, 'recordAuditEvents'>, options: { deadlineMs?: number } = {}): AuditBatchSender {
  const deadlineMs = options.deadlineMs ?? 5_000;
  return {
    async send(events) {
      // Outside the admin call that recorded them: its deadline (long gone on a retry) must not
      // bound this one, nor its request id stand for the batch (each event carries its own).
      const res = await currentCall.exit(() =>
        identity.recordAuditEvents({
          events: events.map((e) => ({
            id: e.id,
            kind: e.kind,
            at: timestampFromMs(e.atMs),
            outcome: e.outcome ?? 'success',
            actorKind: e.actor?.kind ?? '',
            actorSubject: e.actor?.subject ?? '',
            accountId: e.accountId,
            target: e.target,
            requestId: e.requestId,
            details: e.details ?? {},
          })),
        }, { deadlineMs }),
      );
      return { refused: res.refused.length };
    },
  };
}
