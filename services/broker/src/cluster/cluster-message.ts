/**
 * The frame one edge sends another for a PUBLISH: a JSON header (what the receiving edge needs to
 * route it as its own broker would) and the payload, raw. Layout: u32 BE header length, header
 * UTF-8 JSON, payload bytes. JSON keeps the header readable with `nats sub`; it is ~100 bytes.
 */
import type { ForwardProperties, Message } from '../session.ts';

export interface ClusterMessage {
  /** Sending edge incarnation (`<edge id>/<boot nonce>`): a restarted edge starts a new sequence. */
  origin: string;
  /** Per-origin sequence: copies delivered through overlapping NATS subscriptions are dropped. */
  seq: number;
  account: string;
  /** Publishing client id, for No Local by client cluster-wide [MQTT-3.8.3-3]; '' for a will. */
  clientId: string;
  message: Message;
}

interface Header {
  o: string;
  s: number;
  a: string;
  c: string;
  t: string;
  q: 0 | 1 | 2;
  r?: 1;
  /** Remaining lifetime in ms [MQTT-3.3.2-6] (clocks of edges may differ; a duration does not). */
  e?: number;
  p?: Omit<ForwardProperties, 'correlationData'> & { correlationData?: string };
}

export function encodeClusterMessage(m: ClusterMessage, nowMs: number): Uint8Array {
  const msg = m.message;
  const h: Header = { o: m.origin, s: m.seq, a: m.account, c: m.clientId, t: msg.topic, q: msg.qos };
  if (msg.retain) h.r = 1;
  if (msg.expiresAtMs !== undefined) h.e = Math.max(0, msg.expiresAtMs - nowMs);
  if (msg.properties) {
    const { correlationData, ...rest } = msg.properties;
    h.p = correlationData ? { ...rest, correlationData: correlationData.toString('base64') } : rest;
  }
  // One allocation: the header is written straight into the frame.
  const json = JSON.stringify(h);
  const headerBytes = Buffer.byteLength(json, 'utf8');
  const out = Buffer.allocUnsafe(4 + headerBytes + msg.payload.length);
  out.writeUInt32BE(headerBytes, 0);
  out.write(json, 4, 'utf8');
  msg.payload.copy(out, 4 + headerBytes);
  return out;
}

/** Undefined for a frame that is not ours (or is damaged): it is dropped and counted, never thrown. */
export function decodeClusterMessage(data: Uint8Array, nowMs: number): ClusterMessage | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 4) return undefined;
  const len = buf.readUInt32BE(0);
  if (4 + len > buf.length) return undefined;
  let h: Header;
  try {
    h = JSON.parse(buf.toString('utf8', 4, 4 + len)) as Header;
  } catch {
    return undefined;
  }
  if (typeof h.o !== 'string' || typeof h.s !== 'number' || typeof h.a !== 'string' || typeof h.c !== 'string' || typeof h.t !== 'string' || (h.q !== 0 && h.q !== 1 && h.q !== 2)) {
    return undefined;
  }
  let properties: ForwardProperties | undefined;
  if (h.p) {
    const { correlationData, ...rest } = h.p;
    properties = correlationData !== undefined ? { ...rest, correlationData: Buffer.from(correlationData, 'base64') } : rest;
  }
  return {
    origin: h.o,
    seq: h.s,
    account: h.a,
    clientId: h.c,
    message: {
      topic: h.t,
      // A copy: the NATS buffer is reused, and the message may be queued.
      payload: Buffer.from(buf.subarray(4 + len)),
      payloadOwned: true,
      qos: h.q,
      retain: h.r === 1,
      properties,
      expiresAtMs: typeof h.e === 'number' ? nowMs + h.e : undefined,
    },
  };
}
