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
import { isTraced, traced } from '../broker-tracing.ts';

/**
 * A frame refused before it is parsed (frame-properties.ts): a v5 CONNECT gets CONNACK with the
 * reason and is closed [MQTT-3.2.2-8]; on a connected client, DISCONNECT with it [MQTT-4.13.1-1].
 */
export function refuseFrame(conn: Connection, reasonCode: number): void {
  conn.broker.metrics.count('protocol_errors');
  if (!conn.connectSeen) {
    conn.connectSeen = true;
    // Only a v5 CONNECT carries properties, so the reply is a v5 CONNACK.
    conn.protocolVersion = 5;
    conn.writePacket({ cmd: 'connack', reasonCode, sessionPresent: false });
    conn.end();
    return;
  }
  conn.disconnect(reasonCode);
}

export function dispatchPacket(conn: Connection, packet: Packet): void | Promise<void> {
  // Spans: every CONNECT, 1 in N PUBLISH/SUBSCRIBE (broker-tracing.ts); one property read otherwise.
  const tracing = conn.broker.options.tracing;
  if (tracing && isTraced(tracing, packet)) return traced(tracing, conn, packet, () => routePacket(conn, packet));
  return routePacket(conn, packet);
}

function routePacket(conn: Connection, packet: Packet): void | Promise<void> {
  if (packet.cmd === 'connect') return handleConnect(conn, packet);
  // [MQTT-3.1.0-1] the first packet must be CONNECT.
  if (!conn.connected) {
    conn.broker.metrics.count('protocol_errors');
    conn.destroy();
    return;
  }
  const invalid = shapeError(packet);
  if (invalid !== undefined) {
    conn.broker.metrics.count('protocol_errors');
    conn.disconnect(invalid);
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

const CARRIES_ID = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'unsubscribe']);

/**
 * [MQTT-2.2.1-2/3] these packets carry a Packet Identifier. mqtt-packet accepts a frame too short
 * for one and reports the id as -1 or leaves it out; such a packet is malformed, and answering it
 * (a PUBREL for id -1, say) cannot even be encoded.
 */
function lacksPacketId(packet: Packet): boolean {
  if (!CARRIES_ID.has(packet.cmd) && !(packet.cmd === 'publish' && packet.qos > 0)) return false;
  const id = (packet as { messageId?: number }).messageId;
  return id === undefined || !(id >= 0 && id <= 65_535);
}

/** What mqtt-packet parses but the handlers must never see: answered with this reason code. */
function shapeError(packet: Packet): number | undefined {
  if (lacksPacketId(packet)) return RC.malformedPacket;
  // [MQTT-3.8.3-3] a SUBSCRIBE, [MQTT-3.10.3-2] an UNSUBSCRIBE, names at least one filter.
  if (packet.cmd === 'subscribe' && !(packet.subscriptions?.length > 0)) return RC.protocolError;
  if (packet.cmd === 'unsubscribe' && !(packet.unsubscriptions?.length > 0)) return RC.protocolError;
  return undefined;
}
