/** PUBACK / PUBREC / PUBREL / PUBCOMP: the QoS 1 and 2 handshakes [MQTT-4.3]. */
import type { IPubackPacket, IPubcompPacket, IPubrecPacket, IPubrelPacket } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { RC } from '../domain/reason-codes.ts';

export function handlePuback(conn: Connection, packet: IPubackPacket): void {
  const session = conn.session!;
  const f = session.inflight.get(packet.messageId!);
  if (f && f.qos === 1) {
    session.deleteInflight(packet.messageId!);
    conn.broker.pump(session);
  }
}

export function handlePubrec(conn: Connection, packet: IPubrecPacket): void {
  const session = conn.session!;
  const id = packet.messageId!;
  const f = session.inflight.get(id);
  if (!f || f.qos !== 2) {
    conn.writeAck('pubrel', id, RC.packetIdNotFound);
    return;
  }
  // [MQTT-4.3.3-?] a PUBREC with a failure reason ends the exchange.
  if ((packet.reasonCode ?? 0) >= 0x80) {
    session.deleteInflight(id);
    conn.broker.pump(session);
    return;
  }
  f.state = 'pubrel';
  conn.writeAck('pubrel', id);
}

export function handlePubrel(conn: Connection, packet: IPubrelPacket): void {
  const id = packet.messageId!;
  const known = conn.session!.deleteIncomingQos2(id);
  // [MQTT-4.3.3-11] PUBCOMP with the same id; v5 0x92 when it was unknown.
  conn.writeAck('pubcomp', id, known ? RC.success : RC.packetIdNotFound);
}

export function handlePubcomp(conn: Connection, packet: IPubcompPacket): void {
  const session = conn.session!;
  const f = session.inflight.get(packet.messageId!);
  if (f && f.qos === 2) {
    session.deleteInflight(packet.messageId!);
    conn.broker.pump(session);
  }
}
