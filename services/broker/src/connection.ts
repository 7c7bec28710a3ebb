/**
 * One network connection: parses packets, dispatches them to the handlers in order, batches
 * writes. Async handler results (ACL fallback, quota throttle) pause reading and queue the
 * packets behind them, so order per client is kept and a slow answer applies back-pressure.
 */
import type { Duplex } from 'node:stream';
import mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import type { BrokerCore } from './broker-core.ts';
import type { Session } from './session.ts';
import type { MqttProtocol } from './domain/ports.ts';
import { RC } from './domain/reason-codes.ts';
import { dispatchPacket, refuseFrame } from './handlers/index.ts';
import { checkFrameProperties } from './domain/frame-properties.ts';
import { scanSubscribeFrame, truncateSubscribeFrame } from './domain/subscribe-frame.ts';
import type { SubscribePacket } from './handlers/subscribe.ts';
import { decodePublish, encodeAck, generatePacket, type AckCommand } from './publish-codec.ts';
import { decodeConnect } from './connect-codec.ts';
import { OutboundTopicAliases } from './outbound-topic-aliases.ts';

/** `memory`: an in-process duplex (packet-level tests, embedding). */
export type TransportKind = 'tcp' | 'tls' | 'ws' | 'memory';

// mqtt-packet builds 65,536 two-byte Buffers (~6.5 MB of heap) on its first generate() to write
// numbers from a table. The broker frames PUBLISH and acknowledgements itself and generates only
// the rarer packets (CONNACK, SUBACK, v5 reason codes), so the table costs more than it saves.
// (A setting of the library, process-wide by its design.) Frames are parsed by the broker's own
// FrameParser (frame-parser.ts): no parser state lives in this module.
mqtt.writeToStream.cacheNumbers = false;

/** Incomplete frames up to this size are assembled in one buffer of their exact size. */
const PARTIAL_FRAME_MAX = 65_536;

// PINGREQ and a DISCONNECT without a body are two bytes each: the packets mqtt-packet would build
// for them, built once (the handlers only read them). Idle clients ping; every client disconnects.
const PINGREQ = Object.freeze({ cmd: 'pingreq', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null }) as unknown as Packet;
const DISCONNECT = Object.freeze({ cmd: 'disconnect', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null }) as unknown as Packet;
/** [MQTT-3.14.2.1] v5: a DISCONNECT with Remaining Length 0 means reason 0x00, no properties. */
const DISCONNECT_V5 = Object.freeze({ ...DISCONNECT, reasonCode: 0 }) as unknown as Packet;

const OWNER = Symbol('tollgate.connection');
type OwnedStream = Duplex & { [OWNER]: Connection };

export class Connection {
  readonly broker: BrokerCore;
  readonly stream: Duplex;
  readonly transport: TransportKind;
  readonly peerIp: string;
  readonly openedAtMs: number;
  session: Session | undefined;
  /** CONNECT seen (even while its authentication is pending). */
  connectSeen = false;
  connected = false;
  closed = false;
  protocolVersion: 3 | 4 | 5 = 4;
  protocol: MqttProtocol = 'mqtt3.1.1';
  keepaliveMs = 0;
  lastSeenMs: number;
  connectedAtMs = 0;
  /** The credential's expiry: the sweep disconnects the client then (0x87). */
  principalExpiresAtMs: number | undefined;
  /** The client's Maximum Packet Size [MQTT-3.1.2-24]; we never send more. */
  clientMaxPacketSize = 268_435_455;
  /** Outbound in-flight window: min(client's Receive Maximum, ours) [MQTT-3.3.4-9]. */
  sendWindow = 65_535;
  /** Aliases the client assigned to its topics (inbound). */
  topicAliases: Map<number, string> | undefined;
  /** Aliases we may assign to our PUBLISH packets: min(client's Topic Alias Maximum, our cap). */
  outboundAliasMaximum = 0;
  #outboundAliases: OutboundTopicAliases | undefined;
  /** Normal DISCONNECT received: no will [MQTT-3.1.2-10]. */
  cleanDisconnect = false;
  #queued: Packet[] | undefined;
  /**
   * An incomplete frame carried to the next chunks. A small one (≤ 64 KiB, so every CONNECT read
   * before authentication) goes into one buffer of its exact size as the bytes arrive; a larger
   * one is kept as the chunks arrived and joined once, when complete. Either way a packet
   * trickled in n pieces costs O(size) copying, not O(n × size), and no per-piece overhead stays.
   */
  #partialFrame: Buffer | undefined;
  #partial: Buffer[] | undefined;
  #partialBytes = 0;
  /** Bytes the incomplete frame needs in all; 0 while its fixed header is incomplete (< 5 bytes). */
  #partialNeed = 0;
  #throttled = false;
  #awaitingDrain = false;
  /** Set by end(): the stream is destroyed if the peer does not finish closing within a second (-1: none). */
  #closeTicket = -1;
  /** Written this event-loop turn, not yet flushed (allocated on first write). */
  #out: Buffer[] | undefined;
  #outBytes = 0;
  dirty = false;

  constructor(broker: BrokerCore, stream: Duplex, transport: TransportKind, peerIp: string) {
    this.broker = broker;
    this.stream = stream;
    this.transport = transport;
    this.peerIp = peerIp;
    this.openedAtMs = broker.clock.nowMs();
    this.lastSeenMs = this.openedAtMs;
    // One set of listener functions for every connection (no closures per connection): they find
    // their Connection on the stream. 'drain' is listened to only while a write is backed up.
    (stream as OwnedStream)[OWNER] = this;
    stream.on('data', Connection.#onStreamData);
    stream.on('error', Connection.#onStreamError);
    // The peer ended its side: nothing more can arrive. Sockets close by themselves then
    // (allowHalfOpen off); other duplex streams (in memory, WebSocket) are closed here alike.
    stream.on('end', Connection.#onStreamEnd);
    stream.on('close', Connection.#onStreamClose);
  }

  // Every entry point from the stream is guarded: an error parsing, encoding, writing or handling
  // costs this connection (closed, counted as `connection_errors`), never the process — with the
  // whole mesh in one process, an escaped error would take identity, authz and quota down too.
  static #onStreamData(this: OwnedStream, chunk: Buffer): void {
    const conn = this[OWNER];
    try {
      conn.#onData(chunk);
    } catch (err) {
      conn.fail(err);
    }
  }

  static #onStreamError(this: OwnedStream): void {
    const conn = this[OWNER];
    try {
      conn.destroy();
    } catch (err) {
      conn.fail(err);
    }
  }

  static #onStreamEnd(this: OwnedStream): void {
    const conn = this[OWNER];
    try {
      conn.end();
    } catch (err) {
      conn.fail(err);
    }
  }

  static #onStreamClose(this: OwnedStream): void {
    const conn = this[OWNER];
    try {
      conn.#onClose();
    } catch (err) {
      conn.fail(err);
    }
  }

  static #onStreamDrain(this: OwnedStream): void {
    const conn = this[OWNER];
    conn.#awaitingDrain = false;
    try {
      if (conn.session && conn.connected) conn.broker.pump(conn.session);
    } catch (err) {
      conn.fail(err);
    }
  }

  /** An unexpected error on this connection: close it, count it, keep serving everyone else. */
  fail(_err: unknown): void {
    this.broker.metrics.count('connection_errors');
    if (!this.closed) {
      this.closed = true;
      try {
        this.broker.onConnectionClosing(this);
      } catch {
        // Already counted; the connection goes either way.
      }
    }
    this.stream.destroy();
  }

  /**
   * Frames packets ourselves: PUBLISH and CONNECT are decoded on the fast path, any other packet
   * (or an unusual CONNECT) is handed whole to mqtt-packet. An oversized packet is refused as
   * soon as its length is known, so a client can never make us hold more than one maximum packet.
   */
  #onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastSeenMs = this.broker.clock.nowMs();
    let buf = chunk;
    const frame = this.#partialFrame;
    const partial = this.#partial;
    if (frame) {
      const have = this.#partialBytes;
      const n = Math.min(chunk.length, frame.length - have);
      chunk.copy(frame, have, 0, n);
      this.#partialBytes = have + n;
      if (this.#partialBytes < frame.length) return;
      this.#partialFrame = undefined;
      this.#partialBytes = 0;
      this.#frames(frame);
      if (n === chunk.length || this.closed) return;
      buf = chunk.subarray(n);
    } else if (partial) {
      partial.push(chunk);
      this.#partialBytes += chunk.length;
      // Still short of a frame whose length is known: keep the chunk, copy nothing yet.
      if (this.#partialNeed !== 0 && this.#partialBytes < this.#partialNeed) return;
      buf = Buffer.concat(partial, this.#partialBytes);
      this.#partial = undefined;
      this.#partialBytes = 0;
      this.#partialNeed = 0;
    }
    this.#frames(buf);
  }

  /** Handles the complete frames in `buf` and keeps what is left of an incomplete one. */
  #frames(buf: Buffer): void {
    const max = this.broker.options.maxPacketSizeBytes;
    const end = buf.length;
    let i = 0;
    let need = 0;
    while (i < end && !this.closed) {
      // [MQTT-3.1.0-1] the first packet must be CONNECT: anything else is dropped at the first byte.
      if (!this.connectSeen && buf[i] !== 0x10) {
        this.broker.metrics.count('protocol_errors');
        return this.destroy();
      }
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let complete = false;
      for (let n = 0; n < 4 && j < end; n++) {
        const b = buf[j++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        // [MQTT-1.5.5] the Remaining Length is at most 4 bytes.
        if (j - i > 4) return this.#malformed();
        break;
      }
      const headerLen = j - i;
      if (len > max) return this.#tooLarge();
      // Before authentication only a small CONNECT is read: refused as soon as its length is known.
      if (!this.connectSeen && len > this.broker.options.maxConnectBytes) return this.#connectTooLarge(buf, j, end);
      if (j + len > end) {
        need = j + len - i;
        break;
      }
      const frame = buf.subarray(i, j + len);
      i = j + len;
      // [MQTT-2.2.2-2] repeated v5 properties, which mqtt-packet would merge: refused before parsing.
      const problem = checkFrameProperties(frame, headerLen, this.protocolVersion === 5);
      if (problem !== 0) return refuseFrame(this, problem);
      if (frame[0]! >> 4 === 3 && this.connected) {
        const packet = decodePublish(frame, headerLen, this.protocolVersion === 5);
        if (packet === 'malformed') return this.#malformed();
        if (packet === 'fallback') this.broker.frameParser.parse(this, frame);
        else this.#onPacket(packet);
      } else if (frame[0] === 0x82 && this.connected) {
        this.#subscribeFrame(frame, headerLen);
      } else if (frame.length === 2 && (frame[0] === 0xc0 || frame[0] === 0xe0)) {
        this.#onPacket(frame[0] === 0xc0 ? PINGREQ : this.protocolVersion === 5 ? DISCONNECT_V5 : DISCONNECT);
      } else if (frame[0] === 0x10) {
        // CONNECT: its usual shapes decoded by hand (connect-codec.ts), the rest by mqtt-packet.
        const packet = decodeConnect(frame, headerLen);
        if (packet === 'fallback') this.broker.frameParser.parse(this, frame);
        else this.#onPacket(packet);
      } else {
        this.broker.frameParser.parse(this, frame);
      }
    }
    if (i < end && !this.closed) {
      if (need !== 0 && need <= PARTIAL_FRAME_MAX) {
        this.#partialFrame = Buffer.allocUnsafe(need);
        buf.copy(this.#partialFrame, 0, i, end);
        this.#partialBytes = end - i;
        return;
      }
      // The tail is copied once so it does not pin the frames before it; a chunk that is all
      // tail is kept as it is.
      this.#partial = [i === 0 ? buf : Buffer.from(buf.subarray(i))];
      this.#partialBytes = end - i;
      this.#partialNeed = need;
    }
  }

  /**
   * A SUBSCRIBE's filters are counted on the raw frame first: past the cap, only the filters up
   * to it are parsed (the frame is cut after them) and the rest are answered 0x97 in a SUBACK
   * framed by hand, so a 1 MiB SUBSCRIBE of 100,000 filters costs a byte scan, not 100,000
   * parsed objects (domain/subscribe-frame.ts).
   */
  #subscribeFrame(frame: Buffer, headerLen: number): void {
    const scan = scanSubscribeFrame(frame, headerLen, this.protocolVersion === 5, this.broker.options.maxFiltersPerSubscribe);
    if (scan.kind === 'within') return this.broker.frameParser.parse(this, frame);
    if (scan.kind === 'malformed') return this.#malformed();
    const cut = truncateSubscribeFrame(frame, headerLen, scan.cutAt);
    this.broker.frameParser.filtersBeyondCap = scan.excess;
    try {
      this.broker.frameParser.parse(this, Buffer.from(cut.buffer, cut.byteOffset, cut.byteLength));
    } finally {
      this.broker.frameParser.filtersBeyondCap = 0;
    }
  }

  /**
   * A first CONNECT over `maxConnectBytes`: a v5 client (its protocol level is already here) gets
   * CONNACK 0x95 Packet too large [MQTT-3.2.2-8 permits a CONNACK with a reason code ≥ 0x80, then
   * close]; any other is closed, as v3.1.1 has no return code for it.
   */
  #connectTooLarge(buf: Buffer, bodyStart: number, end: number): void {
    this.broker.metrics.count('connects_too_large');
    this.broker.metrics.count('connects_refused');
    this.broker.metrics.count('connect_refused_packet_too_large');
    const levelAt = bodyStart + 2 + (bodyStart + 1 < end ? (buf[bodyStart]! << 8) | buf[bodyStart + 1]! : end);
    if (levelAt < end && buf[levelAt] === 5) {
      const connack = generatePacket({ cmd: 'connack', reasonCode: RC.packetTooLarge, sessionPresent: false }, 5);
      if (connack) {
        this.write(connack);
        return this.end();
      }
    }
    this.destroy();
  }

  #malformed(): void {
    this.broker.metrics.count('protocol_errors');
    this.disconnect(RC.malformedPacket);
  }

  #tooLarge(): void {
    this.broker.metrics.count('protocol_errors');
    // [MQTT-3.2.2-? / 4.13] v5: DISCONNECT 0x95 Packet too large; v3.1.1: close.
    if (!this.connected && this.connectSeen === false) this.destroy();
    else this.disconnect(RC.packetTooLarge);
  }

  /** @internal from the shared parser */
  onParsedPacket(packet: Packet): void {
    const beyond = this.broker.frameParser.filtersBeyondCap;
    if (beyond !== 0 && packet.cmd === 'subscribe') (packet as SubscribePacket).filtersBeyondCap = beyond;
    this.#onPacket(packet);
  }

  /** @internal from the shared parser */
  onParseError(err: Error): void {
    this.#onParseError(err);
  }

  #onPacket(packet: Packet): void {
    if (this.closed) return;
    if ((packet.length ?? 0) > this.broker.options.maxPacketSizeBytes) return this.#tooLarge();
    if (this.#queued) {
      this.#queued.push(packet);
      return;
    }
    this.#run(packet);
  }

  #run(packet: Packet): void {
    let result: void | Promise<void>;
    try {
      result = dispatchPacket(this, packet);
    } catch (err) {
      this.#handlerFailed(err);
      return;
    }
    if (result !== undefined) this.#block(result);
  }

  #handlerFailed(err: unknown): void {
    try {
      this.broker.onHandlerError(this, err);
    } catch (again) {
      this.fail(again);
    }
  }

  #block(result: Promise<void>): void {
    this.#queued ??= [];
    // A handler that already closed the connection (a refused CONNECT) leaves it reading to EOF.
    if (!this.closed) this.stream.pause();
    result
      .then(
        () => this.#unblock(),
        (err: unknown) => {
          this.#handlerFailed(err);
          this.#unblock();
        },
      )
      .catch((err: unknown) => this.fail(err));
  }

  #unblock(): void {
    const queued = this.#queued;
    this.#queued = undefined;
    if (this.closed) return;
    while (queued && queued.length > 0) {
      const packet = queued.shift()!;
      this.#run(packet);
      if (this.closed) return;
      if (this.#queued) {
        // Blocked again: keep the rest behind the new wait, in order.
        (this.#queued as Packet[]).push(...queued);
        return;
      }
    }
    if (!this.#throttled) this.stream.resume();
  }

  /** Over a rate limit: stop reading this client for `ms` (EMQX-style back-pressure). */
  throttle(ms: number): Promise<void> {
    this.#throttled = true;
    this.stream.pause();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#throttled = false;
        resolve();
      }, ms);
      t.unref?.();
    });
  }

  #onParseError(err: Error): void {
    if (this.closed) return;
    this.broker.metrics.count('protocol_errors');
    if (!this.connectSeen && /protocol version/i.test(err.message)) {
      // [MQTT-3.1.2-2] the first CONNECT names an unsupported protocol level: CONNACK 0x01 (in
      // the 3.1.1 format: the only one such a client may read) then close.
      this.writePacket({ cmd: 'connack', returnCode: 1, sessionPresent: false });
      this.end();
      return;
    }
    if (!this.connected) {
      // A CONNECT is being handled and this packet behind it is malformed (a second CONNECT with
      // an unknown protocol level, say): nothing may precede the CONNACK [MQTT-3.2.0-1] and the
      // server has no CONNACK for a later packet, so the connection is closed [MQTT-4.8.0-1].
      this.destroy();
      return;
    }
    this.disconnect(RC.malformedPacket);
  }

  /** The outbound alias map, created on first use; undefined when the client takes no aliases. */
  outboundAliases(): OutboundTopicAliases | undefined {
    if (this.outboundAliasMaximum === 0) return undefined;
    return (this.#outboundAliases ??= new OutboundTopicAliases(this.outboundAliasMaximum));
  }

  /** An acknowledgement; a reason code other than success is v5 only (and goes through mqtt-packet). */
  writeAck(cmd: AckCommand, packetId: number, reasonCode = 0): void {
    if (reasonCode !== 0 && this.protocolVersion === 5) this.writePacket({ cmd, messageId: packetId, reasonCode } as Packet);
    else this.write(encodeAck(cmd, packetId));
  }

  writePacket(packet: Packet): void {
    if (this.closed) return;
    const buf = generatePacket(packet, this.protocolVersion);
    if (buf === undefined) return this.fail(new Error(`cannot encode ${packet.cmd} for protocol level ${this.protocolVersion}`));
    this.write(buf);
  }

  /** Batched: flushed once per event-loop turn for every connection written to (fan-in/fan-out). */
  write(buf: Buffer): void {
    if (this.closed) return;
    (this.#out ??= []).push(buf);
    this.#outBytes += buf.length;
    if (!this.dirty) {
      this.dirty = true;
      this.broker.markDirty(this);
    }
  }

  flush(): void {
    this.dirty = false;
    const out = this.#out;
    if (out === undefined || (this.closed && this.stream.destroyed)) return;
    this.#out = undefined;
    this.#outBytes = 0;
    try {
      const more = this.stream.write(out.length === 1 ? out[0]! : Buffer.concat(out));
      // Backed up: resume the session's queue when the socket drains.
      if (!more && !this.#awaitingDrain) {
        this.#awaitingDrain = true;
        this.stream.once('drain', Connection.#onStreamDrain);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /** Slow consumer: more than the configured bytes waiting to go out. */
  isBacklogged(): boolean {
    return this.stream.writableLength + this.#outBytes > this.broker.options.maxBufferedBytesPerClient;
  }

  /**
   * Server-initiated close with a reason: v5 gets a DISCONNECT carrying it [MQTT-3.14.2-1];
   * v3.1.1 has no server DISCONNECT, so the connection is just closed.
   */
  disconnect(reasonCode: number, reasonString?: string): void {
    if (this.closed) return;
    if (this.connected && this.protocolVersion === 5) {
      this.writePacket({
        cmd: 'disconnect',
        reasonCode,
        ...(reasonString ? { properties: { reasonString } } : {}),
      });
    }
    this.end();
  }

  /** Flush what is pending, then close; destroy if the peer does not finish closing. */
  end(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.stream.end();
    // Read (and discard) what still arrives, so the peer's FIN is seen and the stream closes now
    // rather than at the timer below: a connection paused behind a CONNECT would otherwise wait.
    this.stream.resume();
    // Cancelled when the stream closes (usually at once): a pending deadline would keep the
    // connection, its socket and session alive for the whole second, into the old generation.
    // One timer for every closing connection (core/close-deadlines.ts), not one each.
    this.#closeTicket = this.broker.closeDeadlines.add(this.stream);
    this.broker.onConnectionClosing(this);
  }

  destroy(): void {
    if (!this.closed) {
      this.closed = true;
      this.broker.onConnectionClosing(this);
    }
    this.stream.destroy();
  }

  #onClose(): void {
    if (this.#closeTicket !== -1) {
      this.broker.closeDeadlines.cancel(this.#closeTicket);
      this.#closeTicket = -1;
    }
    if (!this.closed) {
      this.closed = true;
      this.broker.onConnectionClosing(this);
    }
  }
}
