import type { Connection } from '../connection.ts';
import { RC } from '../domain/reason-codes.ts';

/**
 * AUTH (v5 enhanced authentication). A CONNECT naming an Authentication Method is refused with
 * CONNACK 0x8C (connect.ts), so every connection that gets this far agreed on none: an AUTH from
 * it — to continue or to re-authenticate [MQTT-4.12.1-1] — is a Protocol Error [MQTT-4.12.0-7]:
 * DISCONNECT 0x82 and close [MQTT-4.13.1-1]. We never send AUTH ourselves [MQTT-4.12.0-6].
 */
export function handleAuth(conn: Connection): void {
  conn.broker.metrics.count('protocol_errors');
  conn.disconnect(RC.protocolError, 'AUTH without an Authentication Method');
}
