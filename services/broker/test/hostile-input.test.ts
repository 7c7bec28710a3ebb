/**
 * Hostile input before and around authentication (issue 11): a malformed packet behind a pending
 * CONNECT, oversized and trickled CONNECTs, floods of unanswered connections from one address,
 * connections that never finish connecting. Over in-memory duplex pairs, with an injected clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { duplexPair, type Duplex } from 'node:stream';
import mqtt from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createBroker, type Broker, type BrokerOptions } from '../src/broker.ts';
import { InMemoryAuthenticator } from './doubles/in-memory-authenticator.ts';
import { UnlimitedQuotaMeter } from './doubles/unlimited-quota-meter.ts';
import { CountingMetrics } from '../src/adapters/counting-metrics.ts';
import type { AuthenticateRequest, AuthenticateResult, Authenticator } from '../src/domain/ports.ts';
import { waitFor } from './harness.ts';

interface Wire {
  client: Duplex;
  packets: Packet[];
  raw: Buffer[];
  bytesIn: number;
  closed: boolean;
  send(packet: Record<string, unknown>, protocolVersion?: number): void;
  sendRaw(bytes: Buffer): void;
}

const users = [{ username: 'dev', password: 'pw', account: 'acc_h' }];
/** An authenticator that never answers for username `hang` (authz stuck), like InMemory otherwise. */
class HangingAuthenticator implements Authenticator {
  readonly #inner = new InMemoryAuthenticator({ users });
  authenticate(request: AuthenticateRequest): Promise<AuthenticateResult> {
    if (request.username === 'hang') return new Promise(() => {});
    return this.#inner.authenticate(request);
  }
}

let broker: Broker | undefined;
let metrics: CountingMetrics;
let nowMs = 1_000_000;
let bound: Awaited<ReturnType<Broker['listen']>> = {};
afterEach(async () => {
  vi.restoreAllMocks();
  await broker?.close();
  broker = undefined;
});

/** Listens (tcp off by default) so the housekeeping sweep runs. */
async function start(options: Partial<BrokerOptions> = {}): Promise<Broker> {
  metrics = new CountingMetrics();
  broker = createBroker({
    authenticator: new HangingAuthenticator(),
    quota: new UnlimitedQuotaMeter(),
    metrics,
    clock: { nowMs: () => nowMs },
    tcp: false,
    sweepIntervalMs: 20,
    ...options,
  });
  bound = await broker.listen();
  return broker;
}

function open(peerIp = '192.0.2.1'): Wire {
  const [client, server]: [Duplex, Duplex] = duplexPair();
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const wire: Wire = {
    client,
    packets: [],
    raw: [],
    bytesIn: 0,
    closed: false,
    send: (packet, protocolVersion = 5) => client.write(mqttPacket.generate(packet as unknown as Packet, { protocolVersion })),
    sendRaw: (bytes) => client.write(bytes),
  };
  parser.on('packet', (p: Packet) => wire.packets.push(p));
  client.on('data', (chunk: Buffer) => {
    wire.bytesIn += chunk.length;
    wire.raw.push(chunk);
    parser.parse(chunk);
  });
  client.on('error', () => {});
  const onClosed = () => (wire.closed = true);
  client.once('end', onClosed);
  client.once('close', onClosed);
  broker!.handle(server, peerIp);
  return wire;
}

const connect5 = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'h1', keepalive: 0, username: 'dev', password: Buffer.from('pw') };
const connect4 = { ...connect5, protocolVersion: 4 };
const encode = (packet: Record<string, unknown>, protocolVersion = 5) => mqttPacket.generate(packet as unknown as Packet, { protocolVersion });

/** A sentinel: a client that connects and round-trips a PINGREQ now, so the broker is serving. */
async function assertServing(peerIp = '198.51.100.7'): Promise<void> {
  const w = open(peerIp);
  w.send({ ...connect5, clientId: `sentinel-${Math.random()}` });
  await waitFor(() => w.packets.some((p) => p.cmd === 'connack'));
  w.send({ cmd: 'pingreq' });
  await waitFor(() => w.packets.some((p) => p.cmd === 'pingresp'));
  w.client.destroy();
}

describe('a malformed packet behind a pending CONNECT', () => {
  it('v5 CONNECT then, in the same write, a CONNECT with protocol level 7: that connection is closed unanswered, the process lives', async () => {
    await start();
    const w = open();
    const second = encode({ ...connect4, clientId: 'x', username: 'anything' }, 4);
    second[8] = 7; // protocol level byte of a 3.1.1 CONNECT (after 0x10, length, 0x0004 "MQTT")
    w.sendRaw(Buffer.concat([encode(connect5), second]));
    await waitFor(() => w.closed);
    // Nothing precedes a CONNACK [MQTT-3.2.0-1], and no 3.1.1-format CONNACK on a v5 connection.
    expect(w.bytesIn).toBe(0);
    expect(metrics.get('protocol_errors')).toBe(1);
    expect(broker!.clients()).toEqual([]);
    await assertServing();
  });

  it('an unsupported protocol level in the first CONNECT still gets CONNACK 1, then close [MQTT-3.1.2-2]', async () => {
    await start();
    const w = open();
    const bytes = encode({ ...connect4, clientId: 'x' }, 4);
    bytes[8] = 7;
    w.sendRaw(bytes);
    await waitFor(() => w.closed);
    // A 3.1.1-format CONNACK, return code 1.
    expect(Buffer.concat(w.raw)).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x01]));
  });
});

describe('packets mqtt-packet parses but the handlers must not see (found by the fuzzer)', () => {
  const cases: Array<[string, Buffer, number]> = [
    // [MQTT-3.8.3-3] SUBSCRIBE with no filter: answering it (SUBACK with no codes) cannot be encoded.
    ['SUBSCRIBE without a filter', Buffer.from([0x82, 0x03, 0x00, 0x01, 0x00]), 0x82],
    // [MQTT-3.10.3-2] UNSUBSCRIBE without one.
    ['UNSUBSCRIBE without a filter', Buffer.from([0xa2, 0x03, 0x00, 0x01, 0x00]), 0x82],
    // A PUBREC too short for its Packet Identifier (parsed as id -1; a PUBREL for it cannot be encoded).
    ['PUBREC without a packet id', Buffer.from([0x50, 0x00]), 0x81],
  ];
  for (const [name, bytes, reasonCode] of cases) {
    it(`${name} → DISCONNECT 0x${reasonCode.toString(16)}, no internal error`, async () => {
      await start();
      const w = open();
      w.send(connect5);
      await waitFor(() => w.packets.some((p) => p.cmd === 'connack'));
      w.sendRaw(bytes);
      await waitFor(() => w.closed);
      expect(w.packets.at(-1)).toMatchObject({ cmd: 'disconnect', reasonCode });
      expect(metrics.get('connection_errors')).toBe(0);
    });
  }
});

describe('CONNECT size before authentication', () => {
  const big = (protocolVersion: number) => ({ ...connect5, protocolVersion, password: Buffer.alloc(9_000, 0x61) });

  it('v5: a CONNECT over maxConnectBytes gets CONNACK 0x95 as soon as its length is known, then close', async () => {
    await start({ maxConnectBytes: 8_192 });
    const w = open();
    const bytes = encode(big(5));
    // The fixed header and the start of the variable header only: the rest is never needed.
    w.sendRaw(bytes.subarray(0, 16));
    await waitFor(() => w.closed);
    expect(w.packets).toMatchObject([{ cmd: 'connack', reasonCode: 0x95 }]);
    expect(metrics.get('connects_too_large')).toBe(1);
    await assertServing();
  });

  it('v3.1.1: the same CONNECT is closed without an answer (3.1.1 has no return code for it)', async () => {
    await start({ maxConnectBytes: 8_192 });
    const w = open();
    w.sendRaw(encode(big(4), 4));
    await waitFor(() => w.closed);
    expect(w.bytesIn).toBe(0);
    expect(metrics.get('connects_too_large')).toBe(1);
  });

  it('the header alone of a 1 MB CONNECT is enough to refuse it (closed: the level is not known yet)', async () => {
    await start();
    const w = open();
    w.sendRaw(Buffer.from([0x10, 0x80, 0x80, 0x40]));
    await waitFor(() => w.closed);
    expect(metrics.get('connects_too_large')).toBe(1);
  });

  it('a CONNECT under the cap is accepted even when trickled in 7-byte pieces', async () => {
    await start({ maxConnectBytes: 8_192 });
    const w = open();
    const bytes = encode({ ...connect5, properties: { userProperties: { pad: 'p'.repeat(7_000) } } });
    expect(bytes.length).toBeLessThan(8_192);
    // Only `dev`/`pw` authenticates: the padding rides in a user property.
    for (let i = 0; i < bytes.length; i += 7) w.sendRaw(bytes.subarray(i, i + 7));
    await waitFor(() => w.packets.some((p) => p.cmd === 'connack'));
    expect(w.packets[0]).toMatchObject({ cmd: 'connack', reasonCode: 0 });
  });

  it('a packet trickled in 1 KiB pieces is joined once: bytes copied stay linear in its size', async () => {
    await start();
    const sub = open();
    sub.send({ ...connect5, clientId: 'sub' });
    await waitFor(() => sub.packets.some((p) => p.cmd === 'connack'));
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0 }] });
    await waitFor(() => sub.packets.some((p) => p.cmd === 'suback'));

    const pub = open();
    pub.send({ ...connect5, clientId: 'pub' });
    await waitFor(() => pub.packets.some((p) => p.cmd === 'connack'));
    const frame = encode({ cmd: 'publish', topic: 't', payload: Buffer.alloc(512 * 1024, 0x62), qos: 0, retain: false, dup: false });
    let copied = 0;
    const concat = Buffer.concat.bind(Buffer);
    vi.spyOn(Buffer, 'concat').mockImplementation((list: readonly Uint8Array[], total?: number) => {
      const out = concat(list, total);
      copied += out.length;
      return out;
    });
    for (let i = 0; i < frame.length; i += 1_024) {
      pub.sendRaw(frame.subarray(i, i + 1_024));
      // One chunk per read, as a slow sender's would arrive.
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => sub.packets.some((p) => p.cmd === 'publish'));
    const got = sub.packets.find((p) => p.cmd === 'publish') as Packet & { payload: Buffer };
    expect(got.payload.length).toBe(512 * 1024);
    // The broker joins the 513 pieces once (~frame size); the subscriber's parser joins its side
    // once or twice more. Re-joining on every chunk would copy ~513 × 256 KiB ≈ 130 MiB.
    expect(copied).toBeLessThan(4 * frame.length);
  });
});

describe('unanswered connections per address', () => {
  it('an address holding maxPendingConnectsPerIp unanswered connections gets the next one closed at once; others are not affected', async () => {
    await start({ maxPendingConnectsPerIp: 3 });
    const held = [open('203.0.113.9'), open('203.0.113.9'), open('203.0.113.9')];
    const fourth = open('203.0.113.9');
    await waitFor(() => fourth.closed);
    expect(metrics.get('pending_connects_refused')).toBe(1);
    expect(held.some((w) => w.closed)).toBe(false);
    // Another address is served.
    await assertServing('203.0.113.10');
    // Once one of the three is answered CONNACK 0, its place is free again.
    held[0]!.send({ ...connect5, clientId: 'held0' });
    await waitFor(() => held[0]!.packets.some((p) => p.cmd === 'connack'));
    const fifth = open('203.0.113.9');
    fifth.send({ ...connect5, clientId: 'fifth' });
    await waitFor(() => fifth.packets.some((p) => p.cmd === 'connack'));
    expect(metrics.get('pending_connects_refused')).toBe(1);
    // And a place is given back by a pending connection that closes.
    held[1]!.client.destroy();
    await waitFor(() => broker!.stats().connections === 2 && (metrics.get('connections_closed') ?? 0) >= 1);
    const sixth = open('203.0.113.9');
    sixth.send({ ...connect5, clientId: 'sixth' });
    await waitFor(() => sixth.packets.some((p) => p.cmd === 'connack'));
  });
});

describe('connect timeout', () => {
  it('closes a connection whose CONNECT is still trickling, and one whose authentication never answers', async () => {
    await start({ connectTimeoutMs: 2_000 });
    const trickling = open();
    trickling.sendRaw(encode(connect5).subarray(0, 10));
    const hanging = open();
    hanging.send({ ...connect5, clientId: 'hang', username: 'hang' });
    const ok = open();
    ok.send({ ...connect5, clientId: 'ok' });
    await waitFor(() => ok.packets.some((p) => p.cmd === 'connack'));
    nowMs += 2_001;
    await waitFor(() => trickling.closed && hanging.closed);
    expect(hanging.bytesIn).toBe(0);
    // The connected client is untouched by the same sweep.
    ok.send({ cmd: 'pingreq' });
    await waitFor(() => ok.packets.some((p) => p.cmd === 'pingresp'));
    expect(ok.closed).toBe(false);
  });
});

describe('MQTT.js still connects through the limits', () => {
  it('a v5 client with a long token and a will under the cap', async () => {
    await start({ tcp: { host: '127.0.0.1', port: 0 } });
    const tcp = bound.tcp;

    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: tcp!.port, protocolVersion: 5, username: 'dev', password: 'pw', reconnectPeriod: 0, will: { topic: 'w', payload: Buffer.alloc(2_000, 0x77), qos: 0, retain: false } });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });
});
