/** Packet-level cases over an in-memory duplex pair: no sockets, exact bytes in, parsed packets out. */
import { afterEach, describe, expect, it } from 'vitest';
import { duplexPair, type Duplex } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createBroker, type Broker } from '../src/broker.ts';
import { InMemoryAuthenticator } from './doubles/in-memory-authenticator.ts';
import { UnlimitedQuotaMeter } from './doubles/unlimited-quota-meter.ts';

interface Wire {
  send(packet: Record<string, unknown>, protocolVersion?: number): void;
  sendRaw(bytes: Buffer): void;
  next(): Promise<Packet>;
  closed: Promise<void>;
}

let broker: Broker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

function open(options: { outboundTopicAliasMaximum?: number } = {}): Wire {
  broker = createBroker({
    ...options,
    authenticator: new InMemoryAuthenticator({ users: [{ username: 'dev', password: 'pw', account: 'acc_m' }] }),
    quota: new UnlimitedQuotaMeter(),
    tcp: false,
    sweepIntervalMs: 50,
  });
  const [client, server]: [Duplex, Duplex] = duplexPair();
  broker.handle(server);
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const queue: Packet[] = [];
  const waiters: ((p: Packet) => void)[] = [];
  parser.on('packet', (p: Packet) => (waiters.length ? waiters.shift()!(p) : queue.push(p)));
  client.on('data', (chunk: Buffer) => parser.parse(chunk));
  const closed = new Promise<void>((resolve) => {
    client.once('end', resolve);
    client.once('close', resolve);
  });
  return {
    send: (packet, protocolVersion = 5) => client.write(mqttPacket.generate(packet as unknown as Packet, { protocolVersion })),
    sendRaw: (bytes) => client.write(bytes),
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiters.push(resolve))),
    closed,
  };
}

const connect = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'm1', keepalive: 30, username: 'dev', password: Buffer.from('pw') };

describe('broker over an in-memory duplex', () => {
  it('answers CONNECT with a v5 CONNACK carrying the server properties', async () => {
    const wire = open();
    wire.send(connect);
    const connack = (await wire.next()) as Packet & { reasonCode: number; properties?: Record<string, unknown> };
    expect(connack.cmd).toBe('connack');
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.maximumPacketSize).toBeGreaterThan(0);
    expect(broker!.clients()[0]).toMatchObject({ clientId: 'm1', account: 'acc_m', transport: 'memory' });
  });

  it('refuses a wildcard in a PUBLISH topic name with DISCONNECT 0x90 [MQTT-3.3.2-2]', async () => {
    const wire = open();
    wire.send(connect);
    await wire.next();
    wire.send({ cmd: 'publish', topic: 'a/+/b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    const disconnect = (await wire.next()) as Packet & { reasonCode: number };
    expect(disconnect).toMatchObject({ cmd: 'disconnect', reasonCode: 0x90 });
    await wire.closed;
  });

  it('closes a connection that sends garbage before CONNECT, without answering', async () => {
    const wire = open();
    wire.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
    await wire.closed;
    expect(broker!.clients()).toEqual([]);
  });

  it('answers a malformed packet after CONNECT with DISCONNECT 0x81', async () => {
    const wire = open();
    wire.send(connect);
    await wire.next();
    // SUBSCRIBE with reserved flags 0000 (must be 0010) [MQTT-3.8.1-1].
    wire.sendRaw(Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]));
    const disconnect = (await wire.next()) as Packet & { reasonCode: number };
    expect(disconnect.cmd).toBe('disconnect');
    expect(disconnect.reasonCode).toBe(0x81);
  });

  it('[MQTT-4.12.0-1, MQTT-3.1.4-6] CONNECT with an Authentication Method: CONNACK 0x8C, close, and an AUTH behind it is not processed', async () => {
    const wire = open();
    // Pipelined, as a SCRAM client would send them: CONNECT (method + client-first) then AUTH.
    wire.send({ ...connect, properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('client-first') } });
    wire.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('client-final') } });
    const connack = (await wire.next()) as Packet & { reasonCode: number; sessionPresent: boolean; properties?: Record<string, unknown> };
    expect(connack).toMatchObject({ cmd: 'connack', reasonCode: 0x8c, sessionPresent: false });
    expect(connack.properties?.authenticationMethod).toBeUndefined();
    await wire.closed;
    expect(broker!.clients()).toEqual([]);
  });

  it('[MQTT-4.12.0-7] AUTH after a CONNACK that named no method → DISCONNECT 0x82', async () => {
    const wire = open();
    wire.send(connect);
    await wire.next();
    wire.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-1' } });
    expect(await wire.next()).toMatchObject({ cmd: 'disconnect', reasonCode: 0x82 });
    await wire.closed;
  });

  it('[MQTT-3.15.1-1] AUTH with reserved flag bits set is malformed → DISCONNECT 0x81', async () => {
    const wire = open();
    wire.send(connect);
    await wire.next();
    wire.sendRaw(Buffer.from([0xf1, 0x00]));
    expect(await wire.next()).toMatchObject({ cmd: 'disconnect', reasonCode: 0x81 });
    await wire.closed;
  });

  it('outbound topic aliases on the wire: Topic Alias property 0x23, then an empty topic', async () => {
    const wire = open();
    wire.send({ ...connect, properties: { topicAliasMaximum: 1 } });
    await wire.next();
    wire.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'devices/+/temp', qos: 0 }] });
    await wire.next();
    const pub = (topic: string) => wire.send({ cmd: 'publish', topic, payload: Buffer.from('21'), qos: 0, retain: false, dup: false });
    pub('devices/kitchen/temp');
    pub('devices/kitchen/temp');
    pub('devices/garage/temp');
    type Publish = Packet & { topic: string; length: number; properties?: { topicAlias?: number } };
    const got: Publish[] = [];
    for (let i = 0; i < 3; i++) got.push((await wire.next()) as Publish);
    // One alias allowed: the third topic takes it over, named in full.
    expect(got.map((p) => [p.topic, p.properties?.topicAlias])).toEqual([['devices/kitchen/temp', 1], ['', 1], ['devices/garage/temp', 1]]);
    // The repeat is smaller by the whole topic: both carry the same 3-byte property.
    expect(got[0]!.length - got[1]!.length).toBe('devices/kitchen/temp'.length);
  });
});
