/**
 * Hot-path PUBLISH codec. mqtt-packet's streaming parser copies every packet through a buffer
 * list and its generator validates every field; for PUBLISH — nearly all traffic — we frame and
 * decode/encode by hand, and hand everything else (and v5 PUBLISH carrying properties) to
 * mqtt-packet. Trade-off: payloads are views into the socket chunk (no copy); what is kept for
 * long (retained messages) is copied by the caller.
 */
import { isUtf8 } from 'node:buffer';
import mqtt from 'mqtt-packet';
import type { IPublishPacket, Packet } from 'mqtt-packet';

export type DecodeResult = IPublishPacket | 'malformed' | 'fallback';

/** Decodes a complete PUBLISH frame whose fixed header is `headerLen` bytes. */
export function decodePublish(frame: Buffer, headerLen: number, v5: boolean): DecodeResult {
  const b0 = frame[0]!;
  const qos = (b0 >> 1) & 3;
  // [MQTT-3.3.1-4] both QoS bits set is malformed.
  if (qos === 3) return 'malformed';
  const end = frame.length;
  let p = headerLen;
  if (p + 2 > end) return 'malformed';
  const topicLen = (frame[p]! << 8) | frame[p + 1]!;
  p += 2;
  if (p + topicLen > end) return 'malformed';
  const topicStart = p;
  p += topicLen;
  let messageId: number | undefined;
  if (qos > 0) {
    if (p + 2 > end) return 'malformed';
    messageId = (frame[p]! << 8) | frame[p + 1]!;
    p += 2;
  }
  const topicBytes = frame.subarray(topicStart, topicStart + topicLen);
  // [MQTT-1.5.4-1] ill-formed UTF-8 makes the packet malformed (mqtt-packet would decode it to U+FFFD).
  if (!isAscii(topicBytes) && !isUtf8(topicBytes)) return 'malformed';
  if (v5) {
    if (p >= end) return 'malformed';
    // Properties present: let mqtt-packet decode them.
    if (frame[p] !== 0) return 'fallback';
    p += 1;
  }
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: topicBytes.toString('utf8'),
    payload: frame.subarray(p),
    qos: qos as 0 | 1 | 2,
    dup: (b0 & 8) !== 0,
    retain: (b0 & 1) !== 0,
    length: end - headerLen,
  };
  if (messageId !== undefined) packet.messageId = messageId;
  return packet;
}

function isAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]! > 0x7f) return false;
  return true;
}

/**
 * Encodes a PUBLISH without properties (v3.1.1, or v5 with an empty property list), or in v5 with
 * a Topic Alias as its only property (`topicAlias` > 0; the topic may then be empty).
 */
export function encodePublish(topic: string, payload: Buffer, qos: number, retain: boolean, dup: boolean, packetId: number, v5: boolean, topicAlias = 0): Buffer {
  const topicLen = Buffer.byteLength(topic);
  const propsLen = v5 ? (topicAlias > 0 ? 4 : 1) : 0;
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + propsLen + payload.length;
  const lenBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  const buf = Buffer.allocUnsafe(1 + lenBytes + remaining);
  buf[0] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
  let p = 1;
  let x = remaining;
  do {
    let byte = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) byte |= 0x80;
    buf[p++] = byte;
  } while (x > 0);
  buf[p++] = topicLen >> 8;
  buf[p++] = topicLen & 0xff;
  p += buf.write(topic, p, 'utf8');
  if (qos > 0) {
    buf[p++] = packetId >> 8;
    buf[p++] = packetId & 0xff;
  }
  if (v5) {
    if (topicAlias > 0) {
      // Property Length 3: Topic Alias (0x23), a Two Byte Integer.
      buf[p++] = 3;
      buf[p++] = 0x23;
      buf[p++] = topicAlias >> 8;
      buf[p++] = topicAlias & 0xff;
    } else buf[p++] = 0;
  }
  payload.copy(buf, p);
  return buf;
}

/** First byte of each acknowledgement; PUBREL carries the fixed flags 0010 [MQTT-3.6.1-1]. */
const ACK_TYPE = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;

export type AckCommand = keyof typeof ACK_TYPE;

/**
 * PUBACK / PUBREC / PUBREL / PUBCOMP with no reason code: four bytes, the same in v3.1.1 and v5
 * (v5 omits a 0x00 reason code with no properties: Remaining Length 2 [MQTT-3.4.2.1]).
 */
export function encodeAck(cmd: AckCommand, packetId: number): Buffer {
  const buf = Buffer.allocUnsafe(4);
  buf[0] = ACK_TYPE[cmd];
  buf[1] = 2;
  buf[2] = packetId >> 8;
  buf[3] = packetId & 0xff;
  return buf;
}

/**
 * CONNACK 0 Connection Accepted for MQTT 3.1 / 3.1.1 [MQTT-3.2]: four bytes, Session Present in
 * bit 0 of the acknowledge flags [MQTT-3.2.2-2/3] — the bytes mqtt-packet wrote for both levels.
 * Framed by hand: every accepted connect answers one.
 */
export function encodeConnackAccepted(sessionPresent: boolean): Buffer {
  const buf = Buffer.allocUnsafe(4);
  buf[0] = 0x20;
  buf[1] = 2;
  buf[2] = sessionPresent ? 1 : 0;
  buf[3] = 0;
  return buf;
}

/**
 * SUBACK [MQTT-3.9]: packet id, (v5) an empty property list, then one code per filter in the
 * order of the SUBSCRIBE [MQTT-3.9.3-1]; `codes` are written as given, the `refused` more after
 * them all `refusedCode`. Framed by hand: mqtt-packet writes a SUBACK one code at a time, which
 * for the 100,000-code answer to a hostile SUBSCRIBE held the event loop for tens of ms.
 */
export function encodeSuback(packetId: number, codes: readonly number[], refused: number, refusedCode: number, v5: boolean): Buffer {
  const remaining = 2 + (v5 ? 1 : 0) + codes.length + refused;
  let lenBytes = 1;
  for (let v = remaining; v >= 128; v = Math.floor(v / 128)) lenBytes++;
  const buf = Buffer.allocUnsafe(1 + lenBytes + remaining);
  buf[0] = 0x90;
  let p = 1;
  let v = remaining;
  for (let i = 1; i <= lenBytes; i++) {
    const digit = v % 128;
    v = Math.floor(v / 128);
    buf[p++] = i < lenBytes ? digit | 0x80 : digit;
  }
  buf[p++] = packetId >> 8;
  buf[p++] = packetId & 0xff;
  if (v5) buf[p++] = 0;
  for (let i = 0; i < codes.length; i++) buf[p++] = codes[i]!;
  buf.fill(refusedCode, p);
  return buf;
}

/**
 * mqtt-packet's generator reports a packet it cannot encode by emitting 'error' on a private
 * emitter nobody listens to, which throws out of `generate`: turned into `undefined` here so the
 * caller decides (close one connection, drop one message) and the process never sees it.
 */
export function generatePacket(packet: Packet, protocolVersion: number): Buffer | undefined {
  try {
    return mqtt.generate(packet, { protocolVersion });
  } catch {
    return undefined;
  }
}
