/**
 * MQTT 5 property lists checked on the raw bytes of a frame, before mqtt-packet parses it.
 * mqtt-packet turns a repeated property into an array — or, when the first value is falsy
 * (Payload Format Indicator 0, Message Expiry 0), silently keeps the last one — so a duplicate
 * can no longer be seen after the parse, and the broker would forward it to subscribers
 * (a paho client dies on it). Pure: reads a Uint8Array, no I/O.
 *
 * [MQTT-2.2.2-2] It is a Protocol Error to include a property more than once, except User
 * Property (and Subscription Identifier, which only a server sends on PUBLISH). Only client →
 * server packets are scanned here, so only User Property may repeat. A client PUBLISH carrying a
 * Subscription Identifier at all is a Protocol Error too [MQTT-3.3.4-6].
 */

/** 0: fine; otherwise the reason code to refuse the packet with. */
export type FrameProblem = 0 | 0x81 | 0x82;

const BYTE = 1;
const TWO = 2;
const FOUR = 3;
const VARINT = 4;
const UTF8 = 5;
const BINARY = 6;
const PAIR = 7;

/** Property identifier → value type [MQTT 2.2.2.2]; 0: unknown identifier. */
const TYPES = new Uint8Array(0x2b);
TYPES[0x01] = BYTE; // Payload Format Indicator
TYPES[0x02] = FOUR; // Message Expiry Interval
TYPES[0x03] = UTF8; // Content Type
TYPES[0x08] = UTF8; // Response Topic
TYPES[0x09] = BINARY; // Correlation Data
TYPES[0x0b] = VARINT; // Subscription Identifier
TYPES[0x11] = FOUR; // Session Expiry Interval
TYPES[0x12] = UTF8; // Assigned Client Identifier
TYPES[0x13] = TWO; // Server Keep Alive
TYPES[0x15] = UTF8; // Authentication Method
TYPES[0x16] = BINARY; // Authentication Data
TYPES[0x17] = BYTE; // Request Problem Information
TYPES[0x18] = FOUR; // Will Delay Interval
TYPES[0x19] = BYTE; // Request Response Information
TYPES[0x1a] = UTF8; // Response Information
TYPES[0x1c] = UTF8; // Server Reference
TYPES[0x1f] = UTF8; // Reason String
TYPES[0x21] = TWO; // Receive Maximum
TYPES[0x22] = TWO; // Topic Alias Maximum
TYPES[0x23] = TWO; // Topic Alias
TYPES[0x24] = BYTE; // Maximum QoS
TYPES[0x25] = BYTE; // Retain Available
TYPES[0x26] = PAIR; // User Property
TYPES[0x27] = FOUR; // Maximum Packet Size
TYPES[0x28] = BYTE; // Wildcard Subscription Available
TYPES[0x29] = BYTE; // Subscription Identifier Available
TYPES[0x2a] = BYTE; // Shared Subscription Available

const USER_PROPERTY = 0x26;
const SUBSCRIPTION_IDENTIFIER = 0x0b;

/**
 * Scans one property list starting at `p` (its Variable Byte Integer length first), ending before
 * `end`. Answers the offset just after the list, or -0x81 (malformed: truncated, unknown
 * identifier) / -0x82 (protocol error: a repeated property, or `forbidden` present).
 */
export function scanPropertyList(buf: Uint8Array, p: number, end: number, forbidden = -1): number {
  let length = 0;
  let mul = 1;
  for (let n = 0; ; n++) {
    if (n === 4 || p >= end) return -0x81;
    const b = buf[p++]!;
    length += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) break;
  }
  const stop = p + length;
  if (stop > end) return -0x81;
  // Identifiers are below 0x2b: two 32-bit masks remember which were seen.
  let seenLow = 0;
  let seenHigh = 0;
  while (p < stop) {
    const id = buf[p++]!;
    const type = id < 0x2b ? TYPES[id]! : 0;
    if (type === 0) return -0x81;
    if (id === forbidden) return -0x82;
    if (id !== USER_PROPERTY) {
      const bit = 1 << (id & 31);
      if (id < 32) {
        if ((seenLow & bit) !== 0) return -0x82;
        seenLow |= bit;
      } else {
        if ((seenHigh & bit) !== 0) return -0x82;
        seenHigh |= bit;
      }
    }
    switch (type) {
      case BYTE:
        p += 1;
        break;
      case TWO:
        p += 2;
        break;
      case FOUR:
        p += 4;
        break;
      case VARINT: {
        let n = 0;
        while (p < stop && (buf[p++]! & 0x80) !== 0) if (++n === 4) return -0x81;
        break;
      }
      case UTF8:
      case BINARY:
        if (p + 2 > stop) return -0x81;
        p += 2 + ((buf[p]! << 8) | buf[p + 1]!);
        break;
      default: // PAIR: two strings
        for (let k = 0; k < 2; k++) {
          if (p + 2 > stop) return -0x81;
          p += 2 + ((buf[p]! << 8) | buf[p + 1]!);
        }
    }
    if (p > stop) return -0x81;
  }
  return stop;
}

/**
 * Checks every property list of one complete client → server frame whose fixed header is
 * `headerLen` bytes. `v5`: the connection speaks MQTT 5 (a CONNECT is checked by its own protocol
 * level). The layout before the properties is read without judging it: a frame too short to
 * hold it is left to the parser, which reports it malformed. Costs nothing on a PUBLISH whose
 * property length is 0 but locating it.
 */
export function checkFrameProperties(frame: Uint8Array, headerLen: number, v5: boolean): FrameProblem {
  const type = frame[0]! >> 4;
  const end = frame.length;
  let p = headerLen;
  if (type === 1) return checkConnect(frame, p, end);
  if (!v5) return 0;
  switch (type) {
    case 3: {
      // PUBLISH: topic, packet id when QoS > 0, then properties.
      if (p + 2 > end) return 0;
      p += 2 + ((frame[p]! << 8) | frame[p + 1]!);
      if (((frame[0]! >> 1) & 3) > 0) p += 2;
      if (p >= end || frame[p] === 0) return 0;
      return problemOf(scanPropertyList(frame, p, end, SUBSCRIPTION_IDENTIFIER));
    }
    case 4:
    case 5:
    case 6:
    case 7:
      // PUBACK/PUBREC/PUBREL/PUBCOMP: packet id, reason code, properties only when longer [MQTT-3.4.2.2].
      if (end - p < 4) return 0;
      return problemOf(scanPropertyList(frame, p + 3, end));
    case 8:
    case 10:
      // SUBSCRIBE / UNSUBSCRIBE: packet id, then properties.
      if (end - p < 3) return 0;
      return problemOf(scanPropertyList(frame, p + 2, end));
    case 14:
    case 15:
      // DISCONNECT / AUTH: reason code, properties only when longer [MQTT-3.14.2.2.1].
      if (end - p < 2) return 0;
      return problemOf(scanPropertyList(frame, p + 1, end));
    default:
      return 0;
  }
}

function checkConnect(frame: Uint8Array, p: number, end: number): FrameProblem {
  if (p + 2 > end) return 0;
  p += 2 + ((frame[p]! << 8) | frame[p + 1]!);
  if (p + 4 > end || frame[p] !== 5) return 0;
  const flags = frame[p + 1]!;
  const after = scanPropertyList(frame, p + 4, end);
  if (after < 0) return problemOf(after);
  // Payload: client id, then the will's properties when the Will Flag is set [MQTT-3.1.3.2].
  if ((flags & 0x04) === 0) return 0;
  if (after + 2 > end) return 0;
  return problemOf(scanPropertyList(frame, after + 2 + ((frame[after]! << 8) | frame[after + 1]!), end));
}

function problemOf(result: number): FrameProblem {
  return result >= 0 ? 0 : (-result as 0x81 | 0x82);
}
