import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { invalidArgument, permissionDenied } from '#libs/errors/index.ts';
import type { RequireAdmin } from '#libs/admin-auth/admin-guard.ts';
import type { ServiceImpl } from '#libs/rpc/index.ts';
import type { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import type { AuditSink } from '#libs/audit/audit-sink.ts';
import { clientKickedEvent } from './client-kicked-event.ts';
import type { EdgeAdmin, EdgeClient } from '../cluster/nats-cluster.ts';
import type { AccountStats } from '../domain/account-tally.ts';

/** The admin questions answered for the whole cluster (every edge asked), or for this edge alone. */
export interface ClusterAdmin {
  listClients(account: string, limit: number): Promise<EdgeClient[]>;
  kick(clientId: string, reasonCode: number, account: string): Promise<number>;
  stats(): Promise<{ totals: Record<string, number> }>;
  /** The figures of `accounts` summed over every edge. */
  accountStats(accounts: readonly string[]): Promise<AccountStats>;
}

/** An account and, when asked, its subaccounts (identity's tree): whose figures a GetStats covers. */
export type AccountSubtree = (accountId: string, includeSubaccounts: boolean) => Promise<string[]>;

/** ListClients' page cursor (the last client id of the page), opaque to callers. */
const clientPageToken = {
  of: (clientId: string) => Buffer.from(`c1:${clientId}`).toString('base64url'),
  parse(token: string): string {
    // A client id is at most 65535 bytes [MQTT-1.5.4]; its base64url fits in 90,000 characters.
    const text = token.length <= 90_000 ? Buffer.from(token, 'base64url').toString() : '';
    if (!text.startsWith('c1:')) throw invalidArgument('page_token', 'is not a next_page_token of this list');
    return text.slice(3);
  },
};

/** A single edge answering for itself. */
export function singleEdgeAdmin(edge: EdgeAdmin): ClusterAdmin {
  return {
    listClients: async (account, limit) => edge.clients(account).slice(0, limit),
    kick: async (clientId, reasonCode, account) => edge.kick(clientId, reasonCode, account),
    stats: async () => ({ totals: edge.stats() }),
    accountStats: async (accounts) => edge.accountStats(accounts),
  };
}

/**
 * gRPC ⇄ broker admin: list and kick clients (per account; the caller's own account when none is
 * named), and the stats — edge-wide ones count every tenant's traffic, so only a mesh service
 * credential (an operator's, `tollgate service-credential`) reads them; an account's own figures
 * (its subtree's, when asked) go to whoever may read that account. Cluster-wide when the edge is in one.
 */
export function brokerAdminHandlers(admin: ClusterAdmin, requireAdmin: RequireAdmin, subtree: AccountSubtree, audit?: AuditSink): Partial<ServiceImpl<typeof BrokerAdminService>> {
  const rootAccountOf = async (ctx: Parameters<RequireAdmin>[0]) => (await requireAdmin.authenticate(ctx)).accountId;
  return {
    async listClients(req, ctx) {
      const accountId = req.accountId || (await rootAccountOf(ctx));
      await requireAdmin(ctx, accountId, 'read');
      const limit = req.limit === 0 ? 1_000 : Math.min(req.limit, 10_000);
      const after = req.pageToken ? clientPageToken.parse(req.pageToken) : undefined;
      // Paged by client id (unique in the cluster): every connected client of the account is
      // gathered, ordered, and the page after the cursor cut out, so pages neither repeat nor skip
      // a client that stayed connected.
      const all = (await admin.listClients(accountId, Number.MAX_SAFE_INTEGER)).sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
      const rest = after === undefined ? all : all.filter((c) => c.clientId > after);
      const clients = rest.slice(0, limit);
      return {
        nextPageToken: rest.length > limit ? clientPageToken.of(clients[clients.length - 1]!.clientId) : '',
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
    async getStats(req, ctx) {
      if (req.accountId) {
        await requireAdmin(ctx, req.accountId, 'read');
        const accounts = await subtree(req.accountId, req.includeSubaccounts);
        const s = await admin.accountStats(accounts);
        return {
          accounts: accounts.length,
          connections: BigInt(s.connections),
          sessions: BigInt(s.sessions),
          subscriptions: BigInt(s.subscriptions),
          messagesIn: BigInt(s.messagesIn),
          messagesOut: BigInt(s.messagesOut),
          bytesIn: BigInt(s.bytesIn),
          bytesOut: BigInt(s.bytesOut),
          denied: BigInt(s.denied),
          quotaRejected: BigInt(s.quotaRejected),
        };
      }
      const caller = await requireAdmin.authenticate(ctx);
      if (caller.kind !== 'service') throw permissionDenied('the edge-wide statistics cover every account: a mesh service credential is required (name an account_id for its own figures)', 'SERVICE_CREDENTIAL_REQUIRED');
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
