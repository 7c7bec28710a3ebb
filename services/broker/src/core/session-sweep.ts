import type { Connection } from '../connection.ts';
import { RC } from '../domain/reason-codes.ts';
import type { Session } from '../session.ts';

/**
 * The broker's housekeeping, run every `sweepIntervalMs` at the edge's clock time `now`: connect
 * timeout, keep-alive and credential expiry per connection; will delay and session expiry per
 * offline session.
 */
export function sweepConnections(connections: Iterable<Connection>, now: number, connectTimeoutMs: number): void {
  for (const conn of connections) {
    try {
      sweepConnection(conn, now, connectTimeoutMs);
    } catch (err) {
      conn.fail(err);
    }
  }
}

function sweepConnection(conn: Connection, now: number, connectTimeoutMs: number): void {
  if (!conn.connected) {
    // Unauthenticated (no CONNECT yet, or one still being answered): held for the connect
    // timeout at most, from the moment the socket was accepted.
    if (now - conn.openedAtMs > connectTimeoutMs) conn.destroy();
    return;
  }
  // [MQTT-3.1.2-24] nothing for 1.5× the keep-alive: close (v5 0x8D).
  if (conn.keepaliveMs > 0 && now - conn.lastSeenMs > conn.keepaliveMs * 1.5) {
    conn.disconnect(RC.keepAliveTimeout);
    return;
  }
  const expiresAtMs = conn.principalExpiresAtMs;
  if (expiresAtMs !== undefined && expiresAtMs <= now) conn.disconnect(RC.notAuthorized, 'credential expired');
}

/** Offline sessions: a will whose delay is over is published; a session past its expiry ends. */
export function sweepSessions(
  sessions: Iterable<Session>,
  now: number,
  lifecycle: { publishWill(session: Session): void; endSession(session: Session): void },
): void {
  for (const session of sessions) {
    if (session.connection) continue;
    if (session.willAtMs !== undefined && session.willAtMs <= now) lifecycle.publishWill(session);
    if (session.expiresAtMs !== undefined && session.expiresAtMs <= now) lifecycle.endSession(session);
  }
}
