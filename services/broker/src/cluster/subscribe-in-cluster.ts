import type { ISubscribePacket } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { handleSubscribe } from '../handlers/subscribe.ts';
import type { BrokerCluster } from './broker-cluster.ts';

/**
 * SUBSCRIBE on a clustered edge: the filters' interest is confirmed on NATS first, then the packet
 * is handled as on a single edge. A SUBACK thus means the subscription holds cluster-wide, as it
 * does on a single broker: a message another edge accepts after it reaches this subscriber.
 */
export async function subscribeInCluster(conn: Connection, packet: ISubscribePacket, cluster: BrokerCluster): Promise<void> {
  const release = await cluster.holdInterest(conn.session!.account, packet.subscriptions.map((s) => s.topic));
  try {
    await handleSubscribe(conn, packet);
  } finally {
    release();
  }
}
