/** CONNECT → authenticate, take a connection slot, take over or resume the session, CONNACK. */
import { createHash, randomBytes } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { isWellFormedText } from '#libs/rpc/request-text.ts';
import { checkTopicName } from '#libs/topics/topic-filter.ts';
import type { Connection } from '../connection.ts';
import type { AuthenticateResult, BrokerCounter, ConnectionSlot } from '../domain/ports.ts';
import { RC, connackCodeForDenial, v3ConnackCode } from '../domain/reason-codes.ts';
import { Session, type ForwardProperties } from '../session.ts';
import { encodeConnackAccepted } from '../publish-codec.ts';

/** The reason a refused CONNECT is counted under (the `reason` label of tollgate_broker_connect_refusals_total). */
function refusalCounter(v5Code: number): BrokerCounter {
  switch (v5Code) {
    case RC.badUsernameOrPassword:
      return 'connect_refused_bad_credentials';
    case RC.notAuthorized:
      return 'connect_refused_not_authorized';
    case RC.serverUnavailable:
      return 'connect_refused_server_unavailable';
    case RC.quotaExceeded:
      return 'connect_refused_quota_exceeded';
    case RC.clientIdNotValid:
      return 'connect_refused_client_id_invalid';
    case RC.badAuthenticationMethod:
      return 'connect_refused_bad_authentication_method';
    case RC.topicNameInvalid:
      return 'connect_refused_will_topic_invalid';
    default:
      return 'connect_refused_protocol_error';
  }
}

function refuse(conn: Connection, v5Code: number, reasonString?: string): void {
  conn.broker.metrics.count('connects_refused');
  conn.broker.metrics.count(refusalCounter(v5Code));
  const packet: IConnackPacket =
    conn.protocolVersion === 5
      ? { cmd: 'connack', reasonCode: v5Code, sessionPresent: false, ...(reasonString ? { properties: { reasonString } } : {}) }
      : { cmd: 'connack', returnCode: v3ConnackCode(v5Code), sessionPresent: false };
  conn.writePacket(packet);
  conn.end();
}

/**
 * Throttle keys. A username is often a token secret, so only a digest of it is held. IPv6 clients
 * usually own a /64, so an address counts per /64 (as identity's login throttle does).
 */
function usernameKey(username: string | undefined): string | undefined {
  return username === undefined ? undefined : createHash('sha256').update(username).digest('base64url').slice(0, 22);
}

export function addressKey(ip: string): string {
  // The usual case, a plain IPv4 address: already its own key (no case, no IPv6 form to map).
  if (ip.indexOf(':') === -1) return ip;
  const address = ip.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = address.includes('::') ? [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * What one CONNECT carries from step to step. Each step runs synchronously when its answer is
 * local (a cached credential, a slot from the edge's block): a CONNECT from a known device is
 * handled within the read that brought it — no promise, no pause of its socket. A step that must
 * wait (authz, a session held by another edge, quota) returns its promise and the connection
 * queues what follows (connection.ts).
 */
interface ConnectAttempt {
  readonly conn: Connection;
  readonly packet: IConnectPacket;
  readonly clientId: string;
  /** The client id we assigned, to be told to a v5 client [MQTT-3.2.2-16]. */
  readonly assigned: string | undefined;
  readonly clean: boolean;
  readonly address: string;
  /** The username's digest for the throttle: computed on first need (null: not yet). */
  userKey: string | undefined | null;
}

/**
 * The username's digest is needed only while the throttle holds some failure (or to record one):
 * in the usual state — none on record — a good CONNECT hashes its credentials once (the
 * credential cache's key), not twice.
 */
function userKeyOf(a: ConnectAttempt): string | undefined {
  return a.userKey === null ? (a.userKey = usernameKey(a.packet.username)) : a.userKey;
}

const UNAVAILABLE: AuthenticateResult = { allowed: false, reason: 'unavailable', unavailable: true };
const SLOT_UNAVAILABLE: ConnectionSlot = { granted: false, reason: 'unavailable' };

export function handleConnect(conn: Connection, packet: IConnectPacket): void | Promise<void> {
  const broker = conn.broker;
  // [MQTT-3.1.0-2] a second CONNECT is a protocol error.
  if (conn.connectSeen) {
    conn.disconnect(RC.protocolError);
    return;
  }
  conn.connectSeen = true;
  const version = packet.protocolVersion ?? 4;
  conn.protocolVersion = version === 5 ? 5 : version === 3 ? 3 : 4;
  conn.protocol = version === 5 ? 'mqtt5' : version === 3 ? 'mqtt3.1' : 'mqtt3.1.1';
  const v5 = conn.protocolVersion === 5;
  const props = packet.properties;
  const clean = packet.clean !== false;

  let clientId = packet.clientId ?? '';
  let assigned: string | undefined;
  if (clientId.length === 0) {
    // MQTT 3.1 (§3.1 Client Identifier): 1 to 23 characters, no server-assigned ids: return code 2.
    if (conn.protocolVersion === 3) return refuse(conn, RC.clientIdNotValid);
    // [MQTT-3.1.3-8] v3.1.1: a zero-length id needs CleanSession=1, else CONNACK 0x02.
    if (!v5 && !clean) return refuse(conn, RC.clientIdNotValid);
    clientId = `tg-${randomBytes(9).toString('base64url')}`;
    // [MQTT-3.2.2-16] v5: tell the client the id we assigned.
    if (v5) assigned = clientId;
  }

  if (packet.will) {
    // [MQTT-3.1.2-?] the will topic is a topic name: no wildcards, valid UTF-8.
    if (checkTopicName(packet.will.topic) !== null) return refuse(conn, v5 ? RC.topicNameInvalid : RC.notAuthorized);
  }
  if (props?.receiveMaximum === 0 || props?.maximumPacketSize === 0) return refuse(conn, RC.protocolError);
  if (v5 && (props?.authenticationMethod !== undefined || props?.authenticationData !== undefined)) {
    // [3.1.2.11.10] Authentication Data without an Authentication Method is a Protocol Error.
    if (props.authenticationMethod === undefined) return refuse(conn, RC.protocolError);
    // [MQTT-4.12.0-1] we support no enhanced authentication method (credentials travel as
    // username/password): CONNACK 0x8C and close. Nothing the client sent after this CONNECT is
    // processed [MQTT-3.1.4-6]: the connection is closed with the packets still queued behind it.
    return refuse(conn, RC.badAuthenticationMethod, 'no enhanced authentication method is supported; send the token as the username');
  }

  // Credentials the mesh can never accept: a NUL or a noncharacter in the username (which would
  // only reach authz to be refused as malformed), or a NUL byte in the password. Bad credentials,
  // 0x86 — and counted as a failure like any other [MQTT-3.1.3-11, 1.5.4-2].
  const throttle = broker.credentialThrottle;
  const attempt: ConnectAttempt = { conn, packet, clientId, assigned, clean, address: addressKey(conn.peerIp), userKey: null };
  const malformed = (packet.username !== undefined && !isWellFormedText(packet.username)) || (packet.password !== undefined && packet.password.includes(0));
  if (malformed || !isWellFormedText(clientId)) {
    throttle?.recordFailure(attempt.address, userKeyOf(attempt));
    return refuse(conn, malformed ? RC.badUsernameOrPassword : RC.clientIdNotValid);
  }
  if (throttle) {
    // Too many bad credentials from this address or for this username: refused here, without
    // asking authz (a guessing client costs one map lookup, and cannot load identity).
    const gate = throttle.check(attempt.address, throttle.size === 0 ? undefined : userKeyOf(attempt));
    if (!gate.allowed) {
      broker.metrics.count('connects_throttled');
      return refuse(conn, RC.notAuthorized, `too many failed credentials ${gate.scope === 'address' ? 'from this address' : 'for this username'}; retry in ${Math.ceil(gate.retryAfterMs / 1000)} s`);
    }
  }

  let auth: AuthenticateResult | Promise<AuthenticateResult>;
  try {
    auth = broker.authenticate({
      username: packet.username,
      password: packet.password,
      clientId,
      peerIp: conn.peerIp,
      protocol: conn.protocol,
    });
  } catch {
    return authenticated(attempt, authzUnavailable(attempt));
  }
  if (auth instanceof Promise) {
    return auth.then(
      (answer) => authenticated(attempt, answer),
      () => authenticated(attempt, authzUnavailable(attempt)),
    );
  }
  return authenticated(attempt, auth);
}

/** Authz could not be asked, or failed: counted, and the CONNECT is refused as unavailable. */
function authzUnavailable(a: ConnectAttempt): AuthenticateResult {
  a.conn.broker.metrics.count('authz_unavailable');
  return UNAVAILABLE;
}

/** The credential's answer: the throttle learns from it; an accepted one goes on to its session and slot. */
function authenticated(a: ConnectAttempt, auth: AuthenticateResult): void | Promise<void> {
  const { conn, clientId } = a;
  const broker = conn.broker;
  const throttle = broker.credentialThrottle;
  if (!auth.allowed && auth.reason === 'bad_credentials') throttle?.recordFailure(a.address, userKeyOf(a));
  else if (auth.allowed && throttle !== undefined && throttle.size !== 0) throttle.recordSuccess(userKeyOf(a));
  if (conn.closed) return;
  if (!auth.allowed) {
    if (auth.unavailable) broker.metrics.count('authz_unavailable');
    return refuse(conn, connackCodeForDenial(auth.reason, auth.unavailable));
  }
  // cluster: a persistent session held by another edge moves here first (cluster/session-handover.ts)
  if (!a.clean && broker.cluster) return broker.cluster.takeSession(auth.principal, clientId, auth.acl).then(() => acquireSlot(a, auth));
  return acquireSlot(a, auth);
}

/** Usually answered from the edge's block of slots, synchronously. */
function acquireSlot(a: ConnectAttempt, auth: AuthenticateResult & { allowed: true }): void | Promise<void> {
  let slot: ConnectionSlot | Promise<ConnectionSlot>;
  try {
    slot = a.conn.broker.options.quota.acquireConnection(auth.principal.account, a.clientId);
  } catch {
    return connectWithSlot(a, auth, SLOT_UNAVAILABLE);
  }
  if (slot instanceof Promise) {
    return slot.then(
      (answer) => connectWithSlot(a, auth, answer),
      () => connectWithSlot(a, auth, SLOT_UNAVAILABLE),
    );
  }
  return connectWithSlot(a, auth, slot);
}

/** With its slot (or refused for lack of one): takes over or resumes the session, CONNACK. */
function connectWithSlot(a: ConnectAttempt, auth: AuthenticateResult & { allowed: true }, slot: ConnectionSlot): void {
  const { conn, packet, clientId, assigned, clean } = a;
  const broker = conn.broker;
  const v5 = conn.protocolVersion === 5;
  const props = packet.properties;
  const principal = auth.principal;
  if (!slot.granted) {
    if (!conn.closed) refuse(conn, slot.reason === 'unavailable' ? RC.serverUnavailable : RC.quotaExceeded);
    return;
  }
  if (conn.closed) {
    broker.options.quota.releaseConnection(principal.account, clientId);
    return;
  }

  // Sessions are per account: the same client id in two accounts are two clients.
  const key = `${principal.account}\u0000${clientId}`;
  let session = broker.sessions.get(key);
  if (session?.connection) {
    // [MQTT-3.1.4-3] session takeover: the existing connection is closed (v5 0x8E).
    session.connection.disconnect(RC.sessionTakenOver);
  }
  let sessionPresent = false;
  if (session && clean) {
    // [MQTT-3.1.2-4] Clean Start discards the old session (and sends its pending will).
    broker.endSession(session);
    session = undefined;
  }
  if (session) {
    sessionPresent = true;
    // [MQTT-3.1.3-9] the session resumed before the will delay elapsed: no will.
    session.will = undefined;
    session.willAtMs = undefined;
    session.expiresAtMs = undefined;
    session.principal = principal;
    session.acl = auth.acl;
  } else {
    session = new Session(key, clientId, principal, auth.acl, broker.tallyOf(principal.account));
    broker.sessions.set(key, session);
  }

  // v3.1.1 CleanSession=0 lives until the cap; v5 asks for its Session Expiry Interval.
  const maxExpiry = broker.options.maxSessionExpirySeconds;
  session.expiryIntervalSeconds = v5 ? Math.min(props?.sessionExpiryInterval ?? 0, maxExpiry) : clean ? 0 : maxExpiry;

  if (packet.will) {
    const w = packet.will;
    const wp = w.properties;
    session.will = {
      message: {
        topic: w.topic,
        payload: typeof w.payload === 'string' ? Buffer.from(w.payload) : w.payload,
        qos: (w.qos ?? 0) as 0 | 1 | 2,
        retain: w.retain ?? false,
        properties: v5 && wp ? forwardable(wp) : undefined,
        expiresAtMs: undefined, // set when the will is published (its lifetime counts from then)
      },
      delaySeconds: v5 ? (wp?.willDelayInterval ?? 0) : 0,
      expirySeconds: v5 ? wp?.messageExpiryInterval : undefined,
    };
  }

  conn.session = session;
  session.connection = conn;
  conn.connected = true;
  broker.settlePending(conn);
  conn.connectedAtMs = broker.clock.nowMs();
  conn.principalExpiresAtMs = auth.expiresAtMs;
  if (props?.maximumPacketSize !== undefined) conn.clientMaxPacketSize = props.maximumPacketSize;
  conn.sendWindow = Math.min(props?.receiveMaximum ?? 65_535, broker.options.maxInflightOut);
  // [MQTT-3.1.2-29/30] aliases on our PUBLISH packets only if the client asked, never above its maximum.
  conn.outboundAliasMaximum = v5 ? Math.min(props?.topicAliasMaximum ?? 0, broker.options.outboundTopicAliasMaximum) : 0;
  broker.metrics.count('connects_accepted');
  broker.cluster?.onClientConnected(session.account, clientId, conn.connectedAtMs); // cluster: client ids are cluster-wide

  let keepalive = packet.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  const maxKa = broker.options.maxKeepAliveSeconds;
  if (v5 && maxKa > 0 && (keepalive === 0 || keepalive > maxKa)) {
    // [MQTT-3.2.2-21] the client must use the Server Keep Alive we send.
    keepalive = maxKa;
    serverKeepAlive = maxKa;
  }
  conn.keepaliveMs = keepalive * 1000;

  if (v5) {
    conn.writePacket({
      cmd: 'connack',
      reasonCode: RC.success,
      sessionPresent,
      properties: {
        receiveMaximum: broker.options.receiveMaximum,
        maximumPacketSize: broker.options.maxPacketSizeBytes,
        topicAliasMaximum: broker.options.topicAliasMaximum,
        retainAvailable: true,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: true,
        sharedSubscriptionAvailable: true,
        ...(session.expiryIntervalSeconds !== (props?.sessionExpiryInterval ?? 0) ? { sessionExpiryInterval: session.expiryIntervalSeconds } : {}),
        ...(assigned !== undefined ? { assignedClientIdentifier: assigned } : {}),
        ...(serverKeepAlive !== undefined ? { serverKeepAlive } : {}),
      },
    });
  } else {
    conn.write(encodeConnackAccepted(sessionPresent));
  }
  if (sessionPresent) {
    broker.resendInflight(session, conn);
    broker.pump(session);
  }
}

export function forwardable(p: {
  payloadFormatIndicator?: boolean;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
  contentType?: string;
}): ForwardProperties | undefined {
  let out: ForwardProperties | undefined;
  if (p.payloadFormatIndicator !== undefined) (out ??= {}).payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.responseTopic !== undefined) (out ??= {}).responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) (out ??= {}).correlationData = p.correlationData;
  if (p.userProperties !== undefined) (out ??= {}).userProperties = p.userProperties;
  if (p.contentType !== undefined) (out ??= {}).contentType = p.contentType;
  return out;
}
