import type { IUnsubscribePacket } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { RC } from '../domain/reason-codes.ts';

/** [MQTT-3.10.4-?] UNSUBACK; v5 gives one reason per filter (0x11 when there was none). */
export function handleUnsubscribe(conn: Connection, packet: IUnsubscribePacket): void {
  const session = conn.session!;
  const codes = packet.unsubscriptions.map((f) => (conn.broker.unsubscribe(session, f) ? RC.success : RC.noSubscriptionExisted));
  if (conn.protocolVersion === 5) conn.writePacket({ cmd: 'unsuback', messageId: packet.messageId!, granted: codes });
  else conn.writePacket({ cmd: 'unsuback', messageId: packet.messageId! } as never);
}
