import type { IPublishPacket } from 'mqtt-packet';
import type { Clock } from '#libs/clock/index.ts';
import type { Connection } from '../connection.ts';
import type { BrokerMetrics } from '../domain/ports.ts';
import { encodePublish, generatePacket } from '../publish-codec.ts';
import type { Delivery } from '../session.ts';

/**
 * PUBLISH encoding for delivery: the hand-framed fast path (publish-codec.ts) where the packet
 * carries no v5 properties, mqtt-packet otherwise; outbound topic aliases; one shared buffer per
 * QoS 0 fan-out; the client's Maximum Packet Size; outbound counters. Called by the core's
 * delivery path for every message sent (hot path: no allocation beyond the packet itself).
 */
export class PublishWriter {
  readonly #clock: Clock;
  readonly #metrics: BrokerMetrics;

  constructor(clock: Clock, metrics: BrokerMetrics) {
    this.#clock = clock;
    this.#metrics = metrics;
  }

  /**
   * Encodes and writes one PUBLISH; false when it is over the client's Maximum Packet Size. To a v5
   * client that takes topic aliases, a topic is sent once with its alias, then as the alias alone.
   */
  write(conn: Connection, d: Delivery, packetId: number, dup: boolean, cache?: Map<string, Buffer>): boolean {
    const v5 = conn.protocolVersion === 5;
    const message = d.message;
    const aliases = v5 ? conn.outboundAliases() : undefined;
    let alias = 0;
    let aliasKnown = false;
    if (aliases !== undefined) {
      alias = aliases.lookup(message.topic);
      aliasKnown = alias !== 0;
      if (!aliasKnown) alias = aliases.next();
    }
    const topic = aliasKnown ? '' : message.topic;
    // QoS 0 fan-out: encode once per distinct (version, retain) and share the buffer (not when the
    // packet carries this connection's own alias).
    const key = cache !== undefined && packetId === 0 && d.subscriptionIds === undefined && alias === 0 ? `${conn.protocolVersion}${d.retain ? 1 : 0}` : undefined;
    let buf = key !== undefined ? cache!.get(key) : undefined;
    if (!buf && (!v5 || (message.properties === undefined && message.expiresAtMs === undefined && d.subscriptionIds === undefined))) {
      buf = encodePublish(topic, message.payload, d.qos, d.retain, dup, packetId, v5, alias);
      if (key !== undefined) cache!.set(key, buf);
    }
    if (!buf) {
      const packet: IPublishPacket = {
        cmd: 'publish',
        topic,
        payload: message.payload,
        qos: d.qos,
        retain: d.retain,
        dup,
      };
      if (packetId !== 0) packet.messageId = packetId;
      if (v5) {
        const props: NonNullable<IPublishPacket['properties']> = message.properties ? { ...message.properties } : {};
        if (message.expiresAtMs !== undefined) {
          // [MQTT-3.3.2-6] forward the remaining lifetime.
          props.messageExpiryInterval = Math.max(1, Math.ceil((message.expiresAtMs - this.#clock.nowMs()) / 1000));
        }
        if (d.subscriptionIds !== undefined) props.subscriptionIdentifier = d.subscriptionIds.length === 1 ? d.subscriptionIds[0]! : d.subscriptionIds;
        if (alias !== 0) props.topicAlias = alias;
        packet.properties = props;
      }
      buf = generatePacket(packet, conn.protocolVersion);
      if (buf === undefined) {
        this.#metrics.count('dropped_unencodable');
        return false;
      }
      if (key !== undefined) cache!.set(key, buf);
    }
    // [MQTT-3.1.2-27/28] never send a packet larger than the client's Maximum Packet Size: discard it
    // (and leave the alias map as it was).
    if (buf.length > conn.clientMaxPacketSize) {
      this.#metrics.count('dropped_too_large');
      return false;
    }
    conn.write(buf);
    if (aliases !== undefined) aliases.sent(message.topic, alias);
    this.#metrics.count('messages_out');
    this.#metrics.count('bytes_out', buf.length);
    const tally = conn.session?.tally;
    if (tally !== undefined) {
      tally.messagesOut++;
      tally.bytesOut += buf.length;
    }
    return true;
  }
}
