/** Packet-level cases over an in-memory duplex pair: no sockets, exact bytes in, parsed packets out. */
import { afterEach, describe, expect, it } from 'vitest';
import { duplexPair, type Duplex } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createBroker, type Broker } from '../src/broker.ts';
import { InMemoryAuthenticator } from '../src/adapters/in-memory-authenticator.ts';
import { UnlimitedQuotaMeter } from '../src/adapters/unlimited-quota-meter.ts';

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

function open(): Wire {
  broker = createBroker({
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
});
