/** Test harness: a broker on port 0 with in-memory ports, MQTT.js clients, raw-socket clients. */
import net from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createBroker, type Broker, type BrokerOptions } from '../src/broker.ts';
import { InMemoryAuthenticator, type InMemoryUser } from './doubles/in-memory-authenticator.ts';
import { UnlimitedQuotaMeter } from './doubles/unlimited-quota-meter.ts';
import { CountingMetrics } from '../src/adapters/counting-metrics.ts';

export interface TestBroker {
  broker: Broker;
  metrics: CountingMetrics;
  port: number;
  tlsPort?: number;
  wsPort?: number;
  /** `sink` collects messages from the very start (e.g. queued ones sent right after CONNACK). */
  connect(opts?: IClientOptions, sink?: Received[]): Promise<MqttClient>;
  close(): Promise<void>;
}

export const defaultUsers: InMemoryUser[] = [
  { username: 'alice', password: 'pw-a', account: 'acc_a' },
  { username: 'alice2', password: 'pw-a2', account: 'acc_a' },
  { username: 'bob', password: 'pw-b', account: 'acc_b' },
  {
    username: 'device',
    password: 'pw-d',
    account: 'acc_a',
    canPublish: (topic, clientId) => topic.startsWith(`devices/${clientId}/`),
    canSubscribe: (filter, clientId) => filter.startsWith(`devices/${clientId}/`),
  },
  {
    username: 'slowacl',
    password: 'pw-s',
    account: 'acc_a',
    asyncOnly: true,
    canPublish: (topic) => !topic.startsWith('secret/'),
    canSubscribe: (filter) => !filter.startsWith('secret/'),
  },
];

export async function startBroker(overrides: Partial<BrokerOptions> & { users?: InMemoryUser[]; anonymous?: InMemoryUser } = {}): Promise<TestBroker> {
  const metrics = new CountingMetrics();
  const { users, anonymous, ...rest } = overrides;
  const broker = createBroker({
    authenticator: new InMemoryAuthenticator({ users: users ?? defaultUsers, ...(anonymous ? { anonymous } : {}) }),
    quota: new UnlimitedQuotaMeter(),
    metrics,
    tcp: { host: '127.0.0.1', port: 0 },
    sweepIntervalMs: 100,
    ...rest,
  });
  const addr = await broker.listen();
  const clients: MqttClient[] = [];
  return {
    broker,
    metrics,
    port: addr.tcp!.port,
    ...(addr.tls ? { tlsPort: addr.tls.port } : {}),
    ...(addr.ws ? { wsPort: addr.ws.port } : {}),
    connect(opts = {}, sink) {
      const client = mqtt.connect({
        host: '127.0.0.1',
        port: addr.tcp!.port,
        username: 'alice',
        password: 'pw-a',
        reconnectPeriod: 0,
        connectTimeout: 5_000,
        ...opts,
      });
      clients.push(client);
      if (sink) collectInto(client, sink);
      return new Promise((resolve, reject) => {
        client.once('connect', () => resolve(client));
        client.once('error', reject);
      });
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await broker.close();
    },
  };
}

/** Collects messages a client receives. */
export interface Received {
  topic: string;
  payload: string;
  packet: mqttPacket.IPublishPacket;
}

export function collect(client: MqttClient): Received[] {
  return collectInto(client, []);
}

function collectInto(client: MqttClient, got: Received[]): Received[] {
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), packet: packet as never }));
  return got;
}

export async function waitFor(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw MQTT client over a socket: send packets or bytes, read parsed packets. */
export class RawClient {
  readonly socket: net.Socket;
  readonly packets: Packet[] = [];
  closed = false;
  readonly #parser: mqttPacket.Parser;
  readonly #version: number;

  constructor(port: number, version = 4) {
    this.#version = version;
    this.socket = net.connect(port, '127.0.0.1');
    this.#parser = mqttPacket.parser({ protocolVersion: version });
    this.#parser.on('packet', (p) => this.packets.push(p));
    this.socket.on('data', (d: Buffer) => this.#parser.parse(d));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => {});
  }

  ready(): Promise<void> {
    return new Promise((r) => this.socket.once('connect', () => r()));
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.#version }));
  }

  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  async next(cmd: string, timeoutMs = 3_000): Promise<Packet> {
    await waitFor(() => this.packets.some((p) => p.cmd === cmd), timeoutMs);
    const i = this.packets.findIndex((p) => p.cmd === cmd);
    return this.packets.splice(i, 1)[0]!;
  }

  close(): void {
    this.socket.destroy();
  }
}
