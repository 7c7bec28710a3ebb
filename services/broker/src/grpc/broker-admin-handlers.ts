import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { invalidArgument, permissionDenied } from '#libs/errors/index.ts';
import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import type { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import type { AuditSink } from '#libs/audit/audit-sink.ts';
import { clientKickedEvent } from './client-kicked-event.ts';
import type { EdgeAdmin, EdgeClient } from '../cluster/nats-cluster.ts';

/** The admin questions answered for the whole cluster (every edge asked), or for this edge alone. */
export interface ClusterAdmin {
  listClients(account: string, limit: number): Promise<EdgeClient[]>;
  kick(clientId: string, reasonCode: number, account: string): Promise<number>;
  stats(): Promise<{ totals: Record<string, number> }>;
}

/** A single edge answering for itself. */
export function singleEdgeAdmin(edge: EdgeAdmin): ClusterAdmin {
  return {
    listClients: async (account, limit) => edge.clients(account).slice(0, limit),
    kick: async (clientId, reasonCode, account) => edge.kick(clientId, reasonCode, account),
    stats: async () => ({ totals: edge.stats() }),
  };
}

/**
 * gRPC ⇄ broker admin: list and kick clients (per account; the caller's own account when none is
 * named), and the stats — which count every tenant's traffic, so only a mesh service credential
 * (an operator's, `tollgate service-credential`) reads them. Cluster-wide when the edge is in one.
 */
export function brokerAdminHandlers(admin: ClusterAdmin, requireAdmin: RequireAdmin, audit?: AuditSink): Partial<ServiceImpl<typeof BrokerAdminService>> {
  const rootAccountOf = async (ctx: Parameters<RequireAdmin>[0]) => (await requireAdmin.authenticate(ctx)).accountId;
  return {
    async listClients(req, ctx) {
      const accountId = req.accountId || (await rootAccountOf(ctx));
      await requireAdmin(ctx, accountId, 'read');
      const limit = req.limit === 0 ? 1_000 : Math.min(req.limit, 10_000);
      const clients = await admin.listClients(accountId, limit);
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
      const actor = await requireAdmin(ctx, accountId, 'kick');
      const reason = req.reasonCode === 0 ? 0x98 : req.reasonCode;
      if (reason < 0x80 || reason > 0xa2) throw invalidArgument('reason_code', 'must be an MQTT 5 error reason code (0x80-0xA2)');
      const kicked = (await admin.kick(req.clientId, reason, accountId)) > 0;
      audit?.record(clientKickedEvent({ admin: actor, accountId, clientId: req.clientId, reasonCode: reason, kicked, requestId: ctx.requestId }));
      return { kicked };
    },
    async getStats(_req, ctx) {
      const caller = await requireAdmin.authenticate(ctx);
      if (caller.kind !== 'service') throw permissionDenied('the edge statistics cover every account: a mesh service credential is required', 'SERVICE_CREDENTIAL_REQUIRED');
      const { totals } = await admin.stats();
      const n = (k: string) => BigInt(totals[k] ?? 0);
      return {
        connections: n('connections'),
        sessions: n('sessions'),
        messagesIn: n('messagesIn'),
        messagesOut: n('messagesOut'),
        bytesIn: n('bytesIn'),
        bytesOut: n('bytesOut'),
        dropped: n('dropped'),
        denied: n('denied'),
      };
    },
  };
}
