import type { IDisconnectPacket } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { RC } from '../domain/reason-codes.ts';

const DISCONNECT_WITH_WILL = 0x04;

export function handleDisconnect(conn: Connection, packet: IDisconnectPacket): void {
  const session = conn.session!;
  const expiry = packet.properties?.sessionExpiryInterval;
  if (expiry !== undefined) {
    // [MQTT-3.14.2-2] a session that had expiry 0 cannot be given one at DISCONNECT.
    if (session.expiryIntervalSeconds === 0 && expiry !== 0) {
      conn.disconnect(RC.protocolError);
      return;
    }
    session.expiryIntervalSeconds = Math.min(expiry, conn.broker.options.maxSessionExpirySeconds);
  }
  // [MQTT-3.1.2-10] a normal DISCONNECT discards the will; v5 0x04 keeps it.
  conn.cleanDisconnect = packet.reasonCode !== DISCONNECT_WITH_WILL;
  conn.end();
}
