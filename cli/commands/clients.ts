import { createRpcClient } from '#libs/rpc/index.ts';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { UsageError } from '../output.ts';
import { serviceAddress } from '../endpoints.ts';
import { iso, str, unknownCommand, withAdminSession, type AdminArgs } from './admin-session.ts';

/** `tollgate clients list|kick`: the MQTT clients connected to the broker edge. */
export async function runClients(args: AdminArgs): Promise<number> {
  const [, verb, ...rest] = args.positionals;
  return withAdminSession(args, async ({ auth, tls }) => {
    if (verb !== 'list' && verb !== 'kick') throw unknownCommand(args);
    const broker = createRpcClient(BrokerAdminService, serviceAddress(args.env, 'broker'), { tls });
    try {
      if (verb === 'list') {
        const res = await broker.listClients({ accountId: str(args.flags, 'account') ?? '' }, auth);
        const clients = res.clients.map((c) => ({ client_id: c.clientId, account_id: c.accountId, subject: c.subject, peer: c.peer, protocol_version: c.protocolVersion, transport: c.transport, connected_at: iso(c.connectedAt), subscriptions: c.subscriptions }));
        args.out.result({ clients }, () => clients.map((c) => `${c.client_id.padEnd(24)} ${c.peer.padEnd(16)} v${c.protocol_version} ${c.transport} ${c.subject}`).join('\n') || '(no clients)');
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
