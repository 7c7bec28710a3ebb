import { createRpcClient } from '#libs/rpc/index.ts';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { UsageError } from '../output.ts';
import { serviceAddress } from '../endpoints.ts';
import { iso, str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

/** `tollgate clients list|kick|stats`: the MQTT clients connected to the broker edges, and their figures. */
export async function runClients(args: AdminArgs): Promise<number> {
  const [, verb, ...rest] = args.positionals;
  return withAdminSession(args, async ({ auth, tls }) => {
    if (verb !== 'list' && verb !== 'kick' && verb !== 'stats') throw unknownCommand(args);
    const broker = createRpcClient(BrokerAdminService, serviceAddress(args.env, 'broker'), { tls });
    try {
      if (verb === 'list') {
        const res = await broker.listClients({ accountId: str(args.flags, 'account') ?? '' }, auth);
        const clients = res.clients.map((c) => ({ client_id: c.clientId, account_id: c.accountId, subject: c.subject, peer: c.peer, protocol_version: c.protocolVersion, transport: c.transport, connected_at: iso(c.connectedAt), subscriptions: c.subscriptions }));
        args.out.result({ clients }, () => clients.map((c) => `${c.client_id.padEnd(24)} ${c.peer.padEnd(16)} v${c.protocol_version} ${c.transport} ${c.subject}`).join('\n') || '(no clients)');
        return 0;
      }
      if (verb === 'stats') {
        // An account's figures (with --subtree its subaccounts' too); without --account the
        // edge-wide counters, which the broker answers to a mesh service credential only.
        const accountId = str(args.flags, 'account') ?? '';
        const subtree = args.flags['subtree'] === true;
        const s = await broker.getStats({ accountId, includeSubaccounts: subtree }, auth);
        const n = Number;
        const stats = {
          account_id: accountId || null, subtree, accounts: accountId ? s.accounts : null,
          connections: n(s.connections), sessions: n(s.sessions), subscriptions: n(s.subscriptions),
          messages_in: n(s.messagesIn), messages_out: n(s.messagesOut), bytes_in: n(s.bytesIn), bytes_out: n(s.bytesOut),
          denied: n(s.denied), quota_rejected: n(s.quotaRejected), dropped: n(s.dropped),
        };
        args.out.result(stats, () => Object.entries(stats).map(([k, v]) => `${k.padEnd(16)} ${v ?? '—'}`).join('\n'));
        return 0;
      }
      const clientId = rest[0];
      if (!clientId) throw new UsageError('usage: tollgate clients kick CLIENT_ID [--account ID]');
      const res = await broker.kickClient({ clientId, accountId: str(args.flags, 'account') ?? '' }, auth);
      args.out.result({ client_id: clientId, kicked: res.kicked }, () => (res.kicked ? `kicked ${clientId}` : `${clientId} is not connected`));
      return res.kicked ? 0 : 1;
    } finally {
      broker.close();
    }
  });
}
