/** One handler per packet type, as aedes does (`lib/handlers/index.js`). */
import type { Packet } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { RC } from '../domain/reason-codes.ts';
import { handleConnect } from './connect.ts';
import { handlePublish } from './publish.ts';
import { handleSubscribe } from './subscribe.ts';
import { subscribeInCluster } from '../cluster/subscribe-in-cluster.ts';
import { handleUnsubscribe } from './unsubscribe.ts';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './acks.ts';
import { handlePingreq } from './pingreq.ts';
import { handleDisconnect } from './disconnect.ts';
import { handleAuth } from './auth.ts';

export function dispatchPacket(conn: Connection, packet: Packet): void | Promise<void> {
  if (packet.cmd === 'connect') return handleConnect(conn, packet);
  // [MQTT-3.1.0-1] the first packet must be CONNECT.
  if (!conn.connected) {
    conn.broker.metrics.count('protocol_errors');
    conn.destroy();
    return;
  }
  switch (packet.cmd) {
    case 'publish':
      return handlePublish(conn, packet);
    case 'puback':
      return handlePuback(conn, packet);
    case 'pubrec':
      return handlePubrec(conn, packet);
    case 'pubrel':
      return handlePubrel(conn, packet);
    case 'pubcomp':
      return handlePubcomp(conn, packet);
    case 'subscribe':
      // cluster: interest is confirmed on NATS before the SUBACK (cluster/subscribe-in-cluster.ts)
      return conn.broker.cluster ? subscribeInCluster(conn, packet, conn.broker.cluster) : handleSubscribe(conn, packet);
    case 'unsubscribe':
      return handleUnsubscribe(conn, packet);
    case 'pingreq':
      return handlePingreq(conn);
    case 'disconnect':
      return handleDisconnect(conn, packet);
    case 'auth':
      return handleAuth(conn);
    default:
      // Server-bound only: CONNACK, SUBACK, … from a client are protocol errors.
      conn.broker.metrics.count('protocol_errors');
      conn.disconnect(RC.protocolError);
  }
}
