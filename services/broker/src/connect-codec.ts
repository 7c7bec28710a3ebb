/**
 * Hot-path CONNECT decoder. Every connection starts with one, and mqtt-packet's streaming parser
 * copies it through a buffer list and a state machine; the usual shapes — MQTT 3.1 ("MQIsdp",
 * level 3) and 3.1.1 ("MQTT", level 4), and 5.0 ("MQTT", level 5) without properties — are read
 * here straight from the frame, into the packet mqtt-packet would have made. Anything else answers
 * 'fallback' and is handed to mqtt-packet as before: v5 properties, bridge mode, reserved or
 * unusual flags (a Will QoS of 3, a password without a username, Will flags without a will), bytes
 * left after the last field, and every malformed frame — so what mqtt-packet refuses, and the
 * reason code or close that follows (connection.ts), is unchanged. Strings are decoded as
 * mqtt-packet decodes them (UTF-8, ill-formed bytes to U+FFFD; the CONNECT handler checks them).
 * Pure: reads a Buffer, no I/O.
 */
import type { IConnectPacket } from 'mqtt-packet';

const USERNAME = 0x80;
const PASSWORD = 0x40;
const WILL_RETAIN = 0x20;
const WILL_QOS = 0x18;
const WILL = 0x04;
const CLEAN = 0x02;
const RESERVED = 0x01;

/**
 * Decodes a complete CONNECT frame (first byte 0x10) whose fixed header is `headerLen` bytes.
 * The password is a view into the frame, as mqtt-packet's is (it is read once, by the
 * authenticator); a will's payload is copied, as the session keeps it.
 */
export function decodeConnect(frame: Buffer, headerLen: number): IConnectPacket | 'fallback' {
  if (frame[0] !== 0x10) return 'fallback';
  const end = frame.length;
  let p = headerLen;
  // Protocol Name and Level: "MQTT" 4 or 5, or "MQIsdp" 3 (mqtt-packet's other pairings fall back).
  if (p + 2 > end) return 'fallback';
  const nameLen = (frame[p]! << 8) | frame[p + 1]!;
  p += 2;
  let protocolId: 'MQTT' | 'MQIsdp';
  let level: number;
  if (nameLen === 4 && p + 5 <= end && frame[p] === 0x4d && frame[p + 1] === 0x51 && frame[p + 2] === 0x54 && frame[p + 3] === 0x54) {
    protocolId = 'MQTT';
    level = frame[p + 4]!;
    if (level !== 4 && level !== 5) return 'fallback';
  } else if (nameLen === 6 && p + 7 <= end && frame[p] === 0x4d && frame[p + 1] === 0x51 && frame[p + 2] === 0x49 && frame[p + 3] === 0x73 && frame[p + 4] === 0x64 && frame[p + 5] === 0x70) {
    protocolId = 'MQIsdp';
    level = frame[p + 6]!;
    if (level !== 3) return 'fallback';
  } else return 'fallback';
  p += nameLen + 1;
  // Connect Flags, Keep Alive.
  if (p + 3 > end) return 'fallback';
  const flags = frame[p]!;
  const will = (flags & WILL) !== 0;
  if ((flags & RESERVED) !== 0) return 'fallback';
  if (will ? (flags & WILL_QOS) === WILL_QOS : (flags & (WILL_RETAIN | WILL_QOS)) !== 0) return 'fallback';
  if ((flags & PASSWORD) !== 0 && (flags & USERNAME) === 0) return 'fallback';
  const keepalive = (frame[p + 1]! << 8) | frame[p + 2]!;
  p += 3;
  // v5: an empty property list only.
  if (level === 5) {
    if (p >= end || frame[p] !== 0) return 'fallback';
    p += 1;
  }
  // Payload: Client Identifier, [Will Properties, Will Topic, Will Payload], [User Name], [Password].
  if (p + 2 > end) return 'fallback';
  let n = (frame[p]! << 8) | frame[p + 1]!;
  p += 2;
  if (p + n > end) return 'fallback';
  const clientId = frame.toString('utf8', p, p + n);
  p += n;
  let willTopic: string | undefined;
  let willPayload: Buffer | undefined;
  if (will) {
    if (level === 5) {
      if (p >= end || frame[p] !== 0) return 'fallback';
      p += 1;
    }
    if (p + 2 > end) return 'fallback';
    n = (frame[p]! << 8) | frame[p + 1]!;
    p += 2;
    if (p + n > end) return 'fallback';
    willTopic = frame.toString('utf8', p, p + n);
    p += n;
    if (p + 2 > end) return 'fallback';
    n = (frame[p]! << 8) | frame[p + 1]!;
    p += 2;
    if (p + n > end) return 'fallback';
    willPayload = Buffer.from(frame.subarray(p, p + n));
    p += n;
  }
  let username: string | undefined;
  if ((flags & USERNAME) !== 0) {
    if (p + 2 > end) return 'fallback';
    n = (frame[p]! << 8) | frame[p + 1]!;
    p += 2;
    if (p + n > end) return 'fallback';
    username = frame.toString('utf8', p, p + n);
    p += n;
  }
  let password: Buffer | undefined;
  if ((flags & PASSWORD) !== 0) {
    if (p + 2 > end) return 'fallback';
    n = (frame[p]! << 8) | frame[p + 1]!;
    p += 2;
    if (p + n > end) return 'fallback';
    password = frame.subarray(p, p + n);
    p += n;
  }
  // mqtt-packet ignores bytes after the last field; they are left to it.
  if (p !== end) return 'fallback';
  // The fields mqtt-packet's packet carries, in its order (so both shapes are alike to V8 too).
  const packet = {
    cmd: 'connect',
    retain: false,
    qos: 0,
    dup: false,
    length: end - headerLen,
    topic: null,
    payload: null,
    protocolId,
    protocolVersion: level,
  } as unknown as IConnectPacket;
  if (will) packet.will = { retain: (flags & WILL_RETAIN) !== 0, qos: ((flags & WILL_QOS) >> 3) as 0 | 1 | 2, topic: willTopic!, payload: willPayload! };
  packet.clean = (flags & CLEAN) !== 0;
  packet.keepalive = keepalive;
  packet.clientId = clientId;
  if (username !== undefined) packet.username = username;
  if (password !== undefined) packet.password = password;
  return packet;
}
