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
import { decodePublish, encodeAck, type AckCommand } from './publish-codec.ts';
import { OutboundTopicAliases } from './outbound-topic-aliases.ts';

/** `memory`: an in-process duplex (packet-level tests, embedding). */
export type TransportKind = 'tcp' | 'tls' | 'ws' | 'memory';

/**
 * One mqtt-packet parser for every connection: the framer above it only ever hands it whole
 * frames, so it returns to its initial state after each one and nothing is kept per connection
 * (a parser with its buffer list costs ~1 KB per idle connection). Parsing is synchronous, so
 * `parsing` names the connection the parser's events belong to.
 */
const SETTINGS = { 3: { protocolVersion: 3 }, 4: { protocolVersion: 4 }, 5: { protocolVersion: 5 } } as const;
// mqtt-packet builds 65,536 two-byte Buffers (~6.5 MB of heap) on its first generate() to write
// numbers from a table. The broker frames PUBLISH and acknowledgements itself and generates only
// the rarer packets (CONNACK, SUBACK, v5 reason codes), so the table costs more than it saves.
mqtt.writeToStream.cacheNumbers = false;
let parsing: Connection | undefined;
// mqtt-packet does not fully recover from an error (its state machine is left mid-packet), so a
// parser that reported one is replaced before the next frame.
let parserFailed = false;
let sharedParser = createSharedParser();

function createSharedParser(): mqtt.Parser & { settings: object } {
  const parser = mqtt.parser({ protocolVersion: 4 }) as mqtt.Parser & { settings: object };
  parser.on('packet', (packet: Packet) => parsing?.onParsedPacket(packet));
  parser.on('error', (err: Error) => {
    parserFailed = true;
    parsing?.onParseError(err);
  });
  return parser;
}

function parseFrame(conn: Connection, frame: Buffer): void {
  if (parserFailed) {
    parserFailed = false;
    sharedParser = createSharedParser();
  }
  const previous = parsing;
  parsing = conn;
  // A CONNECT replaces the parser's settings with itself: reset them to this connection's.
  sharedParser.settings = SETTINGS[conn.protocolVersion];
  try {
    sharedParser.parse(frame);
  } finally {
    parsing = previous;
  }
}

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
  /** Bytes of an incomplete frame carried to the next chunk. */
  #partial: Buffer | undefined;
  #throttled = false;
  #awaitingDrain = false;
  /** Written this event-loop turn, not yet flushed (allocated on first write). */
  #out: Buffer[] | undefined;
  #outBytes = 0;
  dirty = false;

  constructor(broker: BrokerCore, stream: Duplex, transport: TransportKind, peerIp: string) {
    this.broker = broker;
    this.stream = stream;
    this.transport = transport;
    this.peerIp = peerIp;
    this.openedAtMs = broker.clock.now();
    this.lastSeenMs = this.openedAtMs;
    // One set of listener functions for every connection (no closures per connection): they find
    // their Connection on the stream. 'drain' is listened to only while a write is backed up.
    (stream as OwnedStream)[OWNER] = this;
    stream.on('data', Connection.#onStreamData);
    stream.on('error', Connection.#onStreamError);
    stream.on('close', Connection.#onStreamClose);
  }

  static #onStreamData(this: OwnedStream, chunk: Buffer): void {
    this[OWNER].#onData(chunk);
  }

  static #onStreamError(this: OwnedStream): void {
    this[OWNER].destroy();
  }

  static #onStreamClose(this: OwnedStream): void {
    this[OWNER].#onClose();
  }

  static #onStreamDrain(this: OwnedStream): void {
    const conn = this[OWNER];
    conn.#awaitingDrain = false;
    if (conn.session && conn.connected) conn.broker.pump(conn.session);
  }

  /**
   * Frames packets ourselves: PUBLISH is decoded on the fast path, any other packet is handed
   * whole to mqtt-packet. An oversized packet is refused as soon as its length is known, so a
   * client can never make us hold more than one maximum packet.
   */
  #onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastSeenMs = this.broker.clock.now();
    let buf = chunk;
    if (this.#partial) {
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    const max = this.broker.options.maxPacketSizeBytes;
    const end = buf.length;
    let i = 0;
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
      if (j + len > end) break;
      const frame = buf.subarray(i, j + len);
      i = j + len;
      // [MQTT-2.2.2-2] repeated v5 properties, which mqtt-packet would merge: refused before parsing.
      const problem = checkFrameProperties(frame, headerLen, this.protocolVersion === 5);
      if (problem !== 0) return refuseFrame(this, problem);
      if (frame[0]! >> 4 === 3 && this.connected) {
        const packet = decodePublish(frame, headerLen, this.protocolVersion === 5);
        if (packet === 'malformed') return this.#malformed();
        if (packet === 'fallback') parseFrame(this, frame);
        else this.#onPacket(packet);
      } else {
        parseFrame(this, frame);
      }
    }
    if (i < end && !this.closed) this.#partial = Buffer.from(buf.subarray(i));
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
      this.broker.onHandlerError(this, err);
      return;
    }
    if (result !== undefined) this.#block(result);
  }

  #block(result: Promise<void>): void {
    this.#queued ??= [];
    this.stream.pause();
    result.then(
      () => this.#unblock(),
      (err: unknown) => {
        this.broker.onHandlerError(this, err);
        this.#unblock();
      },
    );
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
    if (!this.connected && /protocol version/i.test(err.message)) {
      // [MQTT-3.1.2-2] unsupported protocol level: CONNACK 0x01 then close.
      this.writePacket({ cmd: 'connack', returnCode: 1, sessionPresent: false });
      this.end();
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
    const buf = mqtt.generate(packet, { protocolVersion: this.protocolVersion });
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
    const more = this.stream.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    // Backed up: resume the session's queue when the socket drains.
    if (!more && !this.#awaitingDrain) {
      this.#awaitingDrain = true;
      this.stream.once('drain', Connection.#onStreamDrain);
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
    const t = setTimeout(() => this.stream.destroy(), 1_000);
    t.unref?.();
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
    if (!this.closed) {
      this.closed = true;
      this.broker.onConnectionClosing(this);
    }
  }
}
