import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { invalidArgument, permissionDenied } from '#libs/errors/index.ts';
import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import type { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import type { Broker } from '../broker.ts';
import type { CountingMetrics } from '../adapters/counting-metrics.ts';
import type { AuditSink } from '#libs/audit/audit-sink.ts';
import { clientKickedEvent } from './client-kicked-event.ts';

/**
 * gRPC ⇄ broker admin: list and kick clients (per account; the caller's own account when none is
 * named), and the edge's stats — which count every tenant's traffic, so only a mesh service
 * credential (an operator's, `tollgate service-credential`) reads them.
 */
export function brokerAdminHandlers(broker: Broker, metrics: CountingMetrics, requireAdmin: RequireAdmin, audit?: AuditSink): Partial<ServiceImpl<typeof BrokerAdminService>> {
  const rootAccountOf = async (ctx: Parameters<RequireAdmin>[0]) => (await requireAdmin.authenticate(ctx)).accountId;
  return {
    async listClients(req, ctx) {
      const accountId = req.accountId || (await rootAccountOf(ctx));
      await requireAdmin(ctx, accountId, 'read');
      const limit = req.limit === 0 ? 1_000 : Math.min(req.limit, 10_000);
      const clients = broker.clients().filter((c) => c.account === accountId).slice(0, limit);
      return {
        clients: clients.map((c) => ({
          clientId: c.clientId,
          accountId: c.account,
          subject: c.subject,
          peer: c.peerIp,
          protocolVersion: c.protocol === 'mqtt5' ? 5 : c.protocol === 'mqtt3.1.1' ? 4 : 3,
          transport: c.transport,
          connectedAt: timestampFromMs(c.connectedAtMs),
          subscriptions: c.subscriptions,
        })),
      };
    },
    async kickClient(req, ctx) {
      if (!req.clientId) throw invalidArgument('client_id', 'is required');
      const accountId = req.accountId || (await rootAccountOf(ctx));
      const admin = await requireAdmin(ctx, accountId, 'kick');
      const reason = req.reasonCode === 0 ? 0x98 : req.reasonCode;
      if (reason < 0x80 || reason > 0xa2) throw invalidArgument('reason_code', 'must be an MQTT 5 error reason code (0x80-0xA2)');
      const kicked = broker.kick(req.clientId, reason, accountId) > 0;
      audit?.record(clientKickedEvent({ admin, accountId, clientId: req.clientId, reasonCode: reason, kicked, requestId: ctx.requestId }));
      return { kicked };
    },
    async getStats(_req, ctx) {
      const caller = await requireAdmin.authenticate(ctx);
      if (caller.kind !== 'service') throw permissionDenied('the edge statistics cover every account: a mesh service credential is required', 'SERVICE_CREDENTIAL_REQUIRED');
      const s = broker.stats();
      const m = metrics.counters;
      const n = (k: string) => BigInt(m.get(k as never) ?? 0);
      return {
        connections: BigInt(s.connections),
        sessions: BigInt(s.sessions),
        messagesIn: n('messages_in'),
        messagesOut: n('messages_out'),
        bytesIn: n('bytes_in'),
        bytesOut: n('bytes_out'),
        dropped: n('dropped_qos0_slow_consumer') + n('dropped_queue_full') + n('dropped_expired') + n('dropped_too_large'),
        denied: n('publish_denied') + n('subscribe_denied'),
      };
    },
  };
}
