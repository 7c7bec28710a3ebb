/**
 * Seeded mutational fuzzing input for the broker: valid MQTT 3.1 / 3.1.1 / 5.0 packets of every
 * type built with mqtt-packet, then mutated — bit flips, truncation, Remaining Length corruption,
 * duplicated and concatenated packets, protocol level changes, property garbage, flag and type
 * nibbles. Every case is a pure function of (seed, case index): `caseBytes(seed, i)` gives the
 * same bytes on every machine, so a failing case is replayed from the two numbers alone.
 */
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createRng, type Rng } from '../../../../test/harness/seeded-rng.ts';

/** One RNG per case, independent of every other case (so cases replay one by one). */
export function caseRng(seed: number, index: number): Rng {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return createRng(h ^ (h >>> 15));
}

const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, list: readonly T[]): T => list[int(rng, list.length)]!;
const chance = (rng: Rng, p: number) => rng() < p;

export type Version = 3 | 4 | 5;

const TOPICS = ['t', 'a/b', 'devices/d1/temp', '$SYS/x', 'a/+/b', '#', '+', '', 'é/ü', 'x'.repeat(300), 'a//b', '$share/g/a/#', '$share//x', '\u0000'];
const CLIENT_IDS = ['c1', 'c2', 'c3', 'dup', '', 'x'.repeat(40), 'ü'];
// Mostly the valid user, so most cases reach the connected-state handlers.
const USERS: Array<[string | undefined, string | undefined]> = [
  ['dev', 'pw'],
  ['dev', 'pw'],
  ['dev', 'pw'],
  ['dev', 'pw'],
  ['dev', 'pw'],
  ['dev', 'pw'],
  ['dev', 'wrong'],
  ['nobody', 'pw'],
  [undefined, undefined],
  ['dev', undefined],
];

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(rng, 256);
  return b;
}

function payload(rng: Rng): Buffer {
  return chance(rng, 0.7) ? Buffer.from('p'.repeat(int(rng, 16))) : randomBytes(rng, int(rng, 200));
}

/** v5 properties, some valid for the packet and some not (mqtt-packet may refuse to encode them). */
function properties(rng: Rng, cmd: string): Record<string, unknown> | undefined {
  if (chance(rng, 0.5)) return undefined;
  const p: Record<string, unknown> = {};
  const all: Array<[string, () => unknown]> = [
    ['payloadFormatIndicator', () => chance(rng, 0.5)],
    ['messageExpiryInterval', () => int(rng, 100)],
    ['contentType', () => pick(rng, ['text/plain', '', 'x'.repeat(100)])],
    ['responseTopic', () => pick(rng, TOPICS)],
    ['correlationData', () => randomBytes(rng, int(rng, 20))],
    ['subscriptionIdentifier', () => int(rng, 300_000_000)],
    ['sessionExpiryInterval', () => pick(rng, [0, 1, 60, 0xffffffff])],
    ['receiveMaximum', () => pick(rng, [0, 1, 10, 65_535])],
    ['maximumPacketSize', () => pick(rng, [0, 1, 100, 268_435_455])],
    ['topicAliasMaximum', () => pick(rng, [0, 1, 10, 65_535])],
    ['topicAlias', () => pick(rng, [0, 1, 2, 65_535])],
    ['requestResponseInformation', () => chance(rng, 0.5)],
    ['requestProblemInformation', () => chance(rng, 0.5)],
    ['userProperties', () => ({ k: pick(rng, ['v', '', 'x'.repeat(50)]), [`k${int(rng, 5)}`]: ['a', 'b'] })],
    ['authenticationMethod', () => pick(rng, ['SCRAM-SHA-1', ''])],
    ['authenticationData', () => randomBytes(rng, int(rng, 10))],
    ['reasonString', () => 'why'],
    ['willDelayInterval', () => int(rng, 10)],
    ['serverKeepAlive', () => int(rng, 100)],
  ];
  const n = 1 + int(rng, 3);
  for (let i = 0; i < n; i++) {
    const [name, value] = pick(rng, all);
    p[name] = value();
  }
  // Mostly the properties that belong to the packet, so parsing gets past them.
  if (cmd === 'publish' && chance(rng, 0.5)) delete p['sessionExpiryInterval'];
  return p;
}

function withProps(rng: Rng, version: Version, packet: Record<string, unknown>): Record<string, unknown> {
  if (version !== 5) return packet;
  const props = properties(rng, packet['cmd'] as string);
  return props ? { ...packet, properties: props } : packet;
}

export function connectPacket(rng: Rng, version: Version): Record<string, unknown> {
  const [username, password] = pick(rng, USERS);
  const packet: Record<string, unknown> = {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: chance(rng, 0.8),
    clientId: version === 3 ? pick(rng, ['c1', 'c2', 'dup']) : pick(rng, CLIENT_IDS),
    keepalive: pick(rng, [0, 1, 30, 65_535]),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password: Buffer.from(password) } : {}),
  };
  if (chance(rng, 0.3)) {
    packet['will'] = { topic: pick(rng, TOPICS), payload: payload(rng), qos: int(rng, 3), retain: chance(rng, 0.3), ...(version === 5 && chance(rng, 0.5) ? { properties: { willDelayInterval: int(rng, 3), messageExpiryInterval: int(rng, 5) } } : {}) };
  }
  return withProps(rng, version, packet);
}

/** A valid-looking packet of any type (server-bound ones most often). */
export function anyPacket(rng: Rng, version: Version): Record<string, unknown> {
  const messageId = pick(rng, [1, 2, 3, 65_535, int(rng, 65_536)]);
  const reasonCode = pick(rng, [0, 0x10, 0x80, 0x87, 0x97]);
  const kind = int(rng, 16);
  switch (kind) {
    case 0:
      return connectPacket(rng, version);
    case 1:
    case 2:
    case 3: {
      const qos = int(rng, 3);
      return withProps(rng, version, { cmd: 'publish', topic: pick(rng, TOPICS), payload: payload(rng), qos, retain: chance(rng, 0.2), dup: chance(rng, 0.1), ...(qos > 0 ? { messageId } : {}) });
    }
    case 4:
      return withProps(rng, version, { cmd: 'puback', messageId, ...(version === 5 ? { reasonCode } : {}) });
    case 5:
      return withProps(rng, version, { cmd: 'pubrec', messageId, ...(version === 5 ? { reasonCode } : {}) });
    case 6:
      return withProps(rng, version, { cmd: 'pubrel', messageId, ...(version === 5 ? { reasonCode: pick(rng, [0, 0x92]) } : {}) });
    case 7:
      return withProps(rng, version, { cmd: 'pubcomp', messageId, ...(version === 5 ? { reasonCode: pick(rng, [0, 0x92]) } : {}) });
    case 8:
    case 9: {
      const n = 1 + int(rng, 3);
      const subscriptions = Array.from({ length: n }, () => ({
        topic: pick(rng, TOPICS),
        qos: int(rng, 3),
        ...(version === 5 ? { nl: chance(rng, 0.3), rap: chance(rng, 0.3), rh: int(rng, 3) } : {}),
      }));
      return withProps(rng, version, { cmd: 'subscribe', messageId, subscriptions });
    }
    case 10:
      return withProps(rng, version, { cmd: 'unsubscribe', messageId, unsubscriptions: [pick(rng, TOPICS), pick(rng, TOPICS)] });
    case 11:
      return { cmd: 'pingreq' };
    case 12:
      return withProps(rng, version, { cmd: 'disconnect', ...(version === 5 ? { reasonCode: pick(rng, [0, 4, 0x80]) } : {}) });
    case 13:
      return withProps(rng, 5, { cmd: 'auth', reasonCode: pick(rng, [0, 0x18, 0x19]) });
    case 14:
      // Client-bound packets sent to the server.
      return pick(rng, [
        { cmd: 'connack', sessionPresent: false, ...(version === 5 ? { reasonCode: 0 } : { returnCode: 0 }) },
        { cmd: 'suback', messageId, granted: [0, 1, 0x80] },
        { cmd: 'unsuback', messageId, ...(version === 5 ? { granted: [0] } : {}) },
        { cmd: 'pingresp' },
      ]);
    default:
      return { cmd: 'pingreq' };
  }
}

/** Encodes, or a PINGREQ when mqtt-packet refuses the combination (it validates as it writes). */
export function encode(packet: Record<string, unknown>, version: Version): Buffer {
  try {
    return mqttPacket.generate(packet as unknown as Packet, { protocolVersion: version });
  } catch {
    return Buffer.from([0xc0, 0x00]);
  }
}

/** An MQTT Remaining Length (variable byte integer, at most 4 bytes). */
export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0 && out.length < 4);
  return Buffer.from(out);
}

/** Splits a well-formed frame into first byte, header length and body; undefined if not framed. */
function frameOf(bytes: Buffer): { headerLen: number; body: Buffer } | undefined {
  let j = 1;
  for (let n = 0; n < 4 && j < bytes.length; n++) if ((bytes[j++]! & 0x80) === 0) return { headerLen: j, body: bytes.subarray(j) };
  return undefined;
}

/** Re-frames `body` under first byte `b0` with a correct Remaining Length. */
function reframe(b0: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([b0]), remainingLength(body.length), body]);
}

export const MUTATIONS = ['bitflip', 'truncate', 'length', 'duplicate', 'concat', 'level', 'properties', 'insert', 'overwrite', 'flags', 'type', 'version-mismatch'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** Applies one mutation to a valid encoded packet. */
export function mutate(rng: Rng, bytes: Buffer, version: Version, mutation: Mutation = pick(rng, MUTATIONS)): Buffer {
  const out = Buffer.from(bytes);
  const frame = frameOf(out);
  switch (mutation) {
    case 'bitflip': {
      const n = 1 + int(rng, 8);
      for (let i = 0; i < n; i++) out[int(rng, out.length)]! ^= 1 << int(rng, 8);
      return out;
    }
    case 'truncate':
      return out.subarray(0, int(rng, out.length));
    case 'length': {
      if (!frame) return out;
      const choices = [0, 1, frame.body.length - 1, frame.body.length + 1, frame.body.length + int(rng, 100), 268_435_455, int(rng, 20_000)];
      const len = Math.max(0, pick(rng, choices));
      // Sometimes a non-minimal or over-long (5-byte) encoding [MQTT-1.5.5-1].
      const header = chance(rng, 0.15) ? Buffer.from([0x80 | (len & 0x7f), 0x80, 0x80, 0x80, 0x01]) : chance(rng, 0.15) ? Buffer.from([0x80 | (len & 0x7f), 0x00]) : remainingLength(len);
      return Buffer.concat([out.subarray(0, 1), header, frame.body]);
    }
    case 'duplicate':
      return Buffer.concat([out, out]);
    case 'concat':
      return Buffer.concat([out, encode(anyPacket(rng, version), version), chance(rng, 0.5) ? out : Buffer.alloc(0)]);
    case 'level': {
      // The protocol level of a CONNECT (after the 2-byte name length and the name).
      if (!frame || out[0] !== 0x10) return reframe(0x10, Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([pick(rng, [0, 1, 2, 6, 7, 255])]), frame ? frame.body : Buffer.alloc(0)]));
      const at = frame.headerLen + 2 + ((out[frame.headerLen]! << 8) | out[frame.headerLen + 1]!);
      if (at < out.length) out[at] = pick(rng, [0, 1, 2, 3, 4, 5, 6, 7, 0x83, 0x84, 255]);
      return out;
    }
    case 'properties': {
      // Garbage where v5 properties live: random identifier/value bytes inserted after the
      // variable header's start, with the Remaining Length fixed up so the frame is accepted.
      if (!frame) return out;
      const at = Math.min(frame.body.length, int(rng, Math.max(1, frame.body.length)));
      const garbage = chance(rng, 0.5) ? Buffer.from([int(rng, 64), ...randomBytes(rng, int(rng, 8))]) : Buffer.from([pick(rng, [0x01, 0x02, 0x08, 0x09, 0x0b, 0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x23, 0x26, 0x27, 0x28, 0x29, 0x2a]), 0xff, 0xff, 0xff, 0xff]);
      return reframe(out[0]!, Buffer.concat([frame.body.subarray(0, at), garbage, frame.body.subarray(at)]));
    }
    case 'insert': {
      if (!frame) return out;
      const at = int(rng, frame.body.length + 1);
      return reframe(out[0]!, Buffer.concat([frame.body.subarray(0, at), randomBytes(rng, 1 + int(rng, 16)), frame.body.subarray(at)]));
    }
    case 'overwrite': {
      const start = int(rng, out.length);
      const fill = pick(rng, [0x00, 0xff, 0x7f, 0x80, -1]);
      for (let i = start; i < Math.min(out.length, start + 1 + int(rng, 8)); i++) out[i] = fill < 0 ? int(rng, 256) : fill;
      return out;
    }
    case 'flags':
      out[0] = (out[0]! & 0xf0) | int(rng, 16);
      return out;
    case 'type':
      out[0] = (int(rng, 16) << 4) | (out[0]! & 0x0f);
      return out;
    case 'version-mismatch': {
      // The same packet as another protocol version would encode it.
      const other = pick(rng, [3, 4, 5] as const);
      return other === version ? out : encode(anyPacket(rng, other), other);
    }
  }
}

export interface FuzzCase {
  /** What is written to the connection, in this many writes. */
  chunks: Buffer[];
  /** Mutated packets in the case. */
  mutated: number;
}

/**
 * One connection's worth of input: usually a valid CONNECT (so the connected-state handlers are
 * reached), then valid and mutated packets; sometimes the CONNECT itself is mutated. Written in
 * one to four pieces split anywhere, so the framer sees partial headers and bodies.
 */
export function caseBytes(seed: number, index: number): FuzzCase {
  const rng = caseRng(seed, index);
  const version = pick(rng, [3, 4, 4, 5, 5, 5] as const);
  const parts: Buffer[] = [];
  let mutated = 0;
  const connect = encode(connectPacket(rng, version), version);
  if (chance(rng, 0.25)) {
    parts.push(mutate(rng, connect, version));
    mutated++;
  } else {
    parts.push(connect);
  }
  const more = int(rng, 5);
  for (let i = 0; i < more || mutated === 0; i++) {
    const packet = encode(anyPacket(rng, version), version);
    if (chance(rng, 0.6) || (mutated === 0 && i >= more - 1)) {
      parts.push(mutate(rng, packet, version));
      mutated++;
    } else {
      parts.push(packet);
    }
  }
  const bytes = Buffer.concat(parts);
  const pieces = 1 + int(rng, 4);
  const cuts = Array.from({ length: pieces - 1 }, () => int(rng, bytes.length + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) chunks.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return { chunks, mutated };
}
