/** PUBACK / PUBREC / PUBREL / PUBCOMP: the QoS 1 and 2 handshakes [MQTT-4.3]. */
import type { IPubackPacket, IPubcompPacket, IPubrecPacket, IPubrelPacket } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { RC } from '../domain/reason-codes.ts';

export function handlePuback(conn: Connection, packet: IPubackPacket): void {
  const session = conn.session!;
  const f = session.inflight.get(packet.messageId!);
  if (f && f.qos === 1) {
    session.inflight.delete(packet.messageId!);
    conn.broker.pump(session);
  }
}

export function handlePubrec(conn: Connection, packet: IPubrecPacket): void {
  const session = conn.session!;
  const id = packet.messageId!;
  const f = session.inflight.get(id);
  if (!f || f.qos !== 2) {
    conn.writePacket({ cmd: 'pubrel', messageId: id, ...(conn.protocolVersion === 5 ? { reasonCode: RC.packetIdNotFound } : {}) });
    return;
  }
  // [MQTT-4.3.3-?] a PUBREC with a failure reason ends the exchange.
  if ((packet.reasonCode ?? 0) >= 0x80) {
    session.inflight.delete(id);
    conn.broker.pump(session);
    return;
  }
  f.state = 'pubrel';
  conn.writePacket({ cmd: 'pubrel', messageId: id });
}

export function handlePubrel(conn: Connection, packet: IPubrelPacket): void {
  const id = packet.messageId!;
  const known = conn.session!.incomingQos2.delete(id);
  // [MQTT-4.3.3-11] PUBCOMP with the same id; v5 0x92 when it was unknown.
  conn.writePacket({ cmd: 'pubcomp', messageId: id, ...(!known && conn.protocolVersion === 5 ? { reasonCode: RC.packetIdNotFound } : {}) });
}

export function handlePubcomp(conn: Connection, packet: IPubcompPacket): void {
  const session = conn.session!;
  const f = session.inflight.get(packet.messageId!);
  if (f && f.qos === 2) {
    session.inflight.delete(packet.messageId!);
    conn.broker.pump(session);
  }
}
