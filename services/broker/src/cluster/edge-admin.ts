/** This edge's own answers to the admin questions, as the cluster collects them from every edge. */
import type { Broker } from '../broker.ts';
import type { CountingMetrics } from '../adapters/counting-metrics.ts';
import type { BrokerCounter } from '../domain/ports.ts';
import type { EdgeAdmin } from './nats-cluster.ts';

const DROPPED: BrokerCounter[] = ['dropped_qos0_slow_consumer', 'dropped_queue_full', 'dropped_expired', 'dropped_too_large'];

export function createEdgeAdmin(broker: Broker, metrics: CountingMetrics, edgeId: string): EdgeAdmin {
  const n = (k: BrokerCounter) => metrics.counters.get(k) ?? 0;
  return {
    clients: (account) =>
      broker
        .clients()
        .filter((c) => c.account === account)
        .map((c) => ({
          clientId: c.clientId,
          account: c.account,
          subject: c.subject,
          protocol: c.protocol,
          transport: c.transport,
          peerIp: c.peerIp,
          connectedAtMs: c.connectedAtMs,
          subscriptions: c.subscriptions,
          edge: edgeId,
        })),
    kick: (clientId, reasonCode, account) => broker.kick(clientId, reasonCode, account),
    accountStats: (accounts) => broker.accountStats(new Set(accounts)),
    stats: () => {
      const s = broker.stats();
      return {
        connections: s.connections,
        sessions: s.sessions,
        messagesIn: n('messages_in'),
        messagesOut: n('messages_out'),
        bytesIn: n('bytes_in'),
        bytesOut: n('bytes_out'),
        dropped: DROPPED.reduce((sum, k) => sum + n(k), 0),
        denied: n('publish_denied') + n('subscribe_denied'),
      };
    },
  };
}
