/**
 * PUBLISH from a client: topic alias → validation → quota (sync, local lease) → ACL (sync fast
 * path, async fallback only on `unknown`) → retain + route → PUBACK / PUBREC.
 */
import type { IPublishPacket } from 'mqtt-packet';
import { checkTopicName } from '#libs/topics/topic-filter.ts';
import type { Connection } from '../connection.ts';
import { RC } from '../domain/reason-codes.ts';
import type { Message } from '../session.ts';
import { forwardable } from './connect.ts';

export function handlePublish(conn: Connection, packet: IPublishPacket): void | Promise<void> {
  const broker = conn.broker;
  const session = conn.session!;
  const v5 = conn.protocolVersion === 5;
  const props = packet.properties;
  let topic = packet.topic;

  const alias = v5 ? props?.topicAlias : undefined;
  if (alias !== undefined) {
    // [MQTT-3.3.2-9/10] alias 0 or above our Topic Alias Maximum: DISCONNECT 0x94.
    if (alias === 0 || alias > broker.options.topicAliasMaximum) return conn.disconnect(RC.topicAliasInvalid);
    conn.topicAliases ??= new Map();
    if (topic.length === 0) {
      const known = conn.topicAliases.get(alias);
      if (known === undefined) return conn.disconnect(RC.protocolError, 'unknown topic alias');
      topic = known;
    } else {
      conn.topicAliases.set(alias, topic);
    }
  }
  // [MQTT-3.3.2-2] no wildcards; [MQTT-1.5.3-2] no U+0000 (ill-formed UTF-8 is refused by the framer).
  if (checkTopicName(topic) !== null) {
    broker.metrics.count('protocol_errors');
    return conn.disconnect(RC.topicNameInvalid);
  }
  const qos = packet.qos;
  // A retained PUBLISH storing a topic needs the account's `mqtt.retained` quota: read once per
  // account (and again after a limit change), this client waiting meanwhile, in order.
  const retainedLimits = broker.options.retainedLimits;
  if (packet.retain && retainedLimits !== undefined && packet.payload.length > 0 && retainedLimits.limitFor(session.account) === undefined) {
    return retainedLimits.load(session.account).then(() => {
      if (conn.closed) return;
      packet.topic = topic;
      if (packet.properties) delete packet.properties.topicAlias;
      return handlePublish(conn, packet);
    });
  }
  const id = packet.messageId ?? 0;
  if (qos === 2) {
    // [MQTT-4.3.3-?] a QoS 2 id already received: PUBREC again, do not deliver twice.
    if (session.hasIncomingQos2(id)) {
      conn.writeAck('pubrec', id);
      return;
    }
    // [MQTT-3.3.4-7] more unacknowledged QoS 2 than our Receive Maximum: DISCONNECT 0x93.
    if (session.incomingQos2Count >= broker.options.receiveMaximum) return conn.disconnect(RC.receiveMaximumExceeded);
  }

  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  const spend = broker.options.quota.spendInbound(session.account, 1, packet.length ?? payload.length);
  if (spend.kind === 'throttled') {
    broker.metrics.count('quota_throttled');
    // Stop reading this client until budget returns; the message is then metered again.
    return conn.throttle(spend.retryAfterMs).then(() => {
      if (conn.closed) return;
      packet.topic = topic;
      if (packet.properties) delete packet.properties.topicAlias;
      return handlePublish(conn, packet);
    });
  }
  if (spend.kind === 'exhausted') {
    broker.metrics.count('quota_exhausted');
    session.tally.quotaRejected++;
    if (v5 && qos > 0) acknowledge(conn, qos, id, RC.quotaExceeded);
    if (spend.cutOff) conn.disconnect(RC.quotaExceeded);
    return;
  }
  broker.metrics.count('messages_in');
  broker.metrics.count('bytes_in', payload.length);
  const tally = session.tally;
  tally.messagesIn++;
  tally.bytesIn += payload.length;

  const decision = session.principal.superuser ? 'allow' : session.acl.checkPublish(topic);
  if (decision === 'unknown') {
    return session.acl.authorizePublish(topic).then(
      (allowed) => accept(conn, packet, topic, payload, allowed),
      () => {
        broker.metrics.count('authz_unavailable');
        accept(conn, packet, topic, payload, false);
      },
    );
  }
  accept(conn, packet, topic, payload, decision === 'allow');
}

function accept(conn: Connection, packet: IPublishPacket, topic: string, payload: Buffer, allowed: boolean): void {
  if (conn.closed) return;
  const broker = conn.broker;
  const session = conn.session!;
  const qos = packet.qos;
  const id = packet.messageId ?? 0;
  if (!allowed) {
    broker.metrics.count('publish_denied');
    session.tally.denied++;
    broker.reportDenial(session, 'publish', topic);
    // v5: PUBACK/PUBREC 0x87; v3.1.1 cannot say no, so it is acknowledged and dropped.
    if (qos > 0) acknowledge(conn, qos, id, conn.protocolVersion === 5 ? RC.notAuthorized : RC.success);
    return;
  }
  const props = packet.properties;
  const expiry = conn.protocolVersion === 5 ? props?.messageExpiryInterval : undefined;
  const message: Message = {
    topic,
    payload,
    qos,
    retain: packet.retain,
    properties: conn.protocolVersion === 5 && props ? forwardable(props) : undefined,
    expiresAtMs: expiry !== undefined ? broker.clock.nowMs() + expiry * 1000 : undefined,
  };
  if (packet.retain && !broker.retain(session.account, message)) {
    // Over the account's retained cap: refused whole (not stored, not routed), counted by retain().
    // v5 says so with 0x97; v3.1.1 cannot say no, so it is acknowledged and dropped.
    if (qos > 0) acknowledge(conn, qos, id, conn.protocolVersion === 5 ? RC.quotaExceeded : RC.success);
    return;
  }
  const reached = broker.route(session.account, message, session) + (broker.cluster?.onLocalPublish(session.account, message, session.clientId) ? 1 : 0); // cluster hook
  if (qos === 2) session.addIncomingQos2(id);
  if (qos > 0) acknowledge(conn, qos, id, reached === 0 && conn.protocolVersion === 5 ? RC.noMatchingSubscribers : RC.success);
}

function acknowledge(conn: Connection, qos: number, id: number, reasonCode: number): void {
  conn.writeAck(qos === 1 ? 'puback' : 'pubrec', id, reasonCode);
}
