/**
 * Test harness: a broker on port 0 with in-memory ports, MQTT.js clients, raw-socket clients.
 *
 * With TOLLGATE_TEST_BROKER_EDGES=2 (the `broker-cluster` vitest project, whose setup starts a
 * private nats-server at TOLLGATE_TEST_BROKER_NATS_URL), `startBroker` starts two edges joined in
 * one cluster instead, and each new client — `connect()` or a `RawClient` on `tb.port` — lands on
 * the next edge in turn: the protocol suites run unchanged with their subscriber (connected first)
 * and publisher (next) on different edges.
 */
import { sumAccountStats } from '../src/domain/account-tally.ts';
import net from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import pino from 'pino';
import { createBroker, type Broker, type BrokerOptions } from '../src/broker.ts';
import { NatsCluster } from '../src/cluster/nats-cluster.ts';
import { createEdgeAdmin } from '../src/cluster/edge-admin.ts';
import { InMemoryAuthenticator, type InMemoryUser } from './doubles/in-memory-authenticator.ts';
import { UnlimitedQuotaMeter } from './doubles/unlimited-quota-meter.ts';
import { CountingMetrics } from '../src/adapters/counting-metrics.ts';

export interface TestBroker {
  /** In a cluster: a view of both edges (clients, stats and kicks of both). */
  broker: Broker;
  /** In a cluster: both edges count into it. */
  metrics: CountingMetrics;
  /** In a cluster: the port of the edge whose turn it is (reading it takes the turn). */
  readonly port: number;
  tlsPort?: number;
  wsPort?: number;
  /** `sink` collects messages from the very start (e.g. queued ones sent right after CONNACK). */
  connect(opts?: IClientOptions, sink?: Received[]): Promise<MqttClient>;
  /**
   * Resolves once a new subscriber on every edge gets `payload` as `topic`'s retained message: a
   * cluster mirrors retained messages to each edge in the order they were written, so the last one
   * of a batch seen everywhere means the whole batch is.
   */
  retainedEverywhere(topic: string, payload: string): Promise<void>;
  /**
   * Resolves once every message accepted before the call has been routed on every edge (one edge:
   * at once — it routes before it acknowledges). Before a test moves its clock or reconnects a
   * session it expects to find something queued.
   */
  crossed(): Promise<void>;
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

type StartOptions = Partial<BrokerOptions> & { users?: InMemoryUser[]; anonymous?: InMemoryUser };

/** The private nats-server of the `broker-cluster` project (test/harness/cluster-nats-setup.ts). */
const clusterNatsUrl = process.env.TOLLGATE_TEST_BROKER_EDGES === '2' ? process.env.TOLLGATE_TEST_BROKER_NATS_URL : undefined;
/** Whether the protocol suites run against two clustered edges: for the few cases that cannot. */
export const clustered = clusterNatsUrl !== undefined;
let clusterSeq = 0;

export async function startBroker(overrides: StartOptions = {}): Promise<TestBroker> {
  if (clusterNatsUrl && !overrides.cluster) return startClusterPair(clusterNatsUrl, overrides);
  const metrics = new CountingMetrics();
  const broker = createEdge(overrides, metrics);
  const addr = await broker.listen();
  const clients: MqttClient[] = [];
  return {
    broker,
    metrics,
    port: addr.tcp!.port,
    ...(addr.tls ? { tlsPort: addr.tls.port } : {}),
    ...(addr.ws ? { wsPort: addr.ws.port } : {}),
    connect: (opts = {}, sink) => connectClient(addr.tcp!.port, clients, opts, sink),
    retainedEverywhere: (topic, payload) => retainedOn([addr.tcp!.port], (overrides.users ?? defaultUsers)[0]!, topic, payload),
    crossed: async () => {},
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await broker.close();
    },
  };
}

function createEdge(overrides: StartOptions, metrics: CountingMetrics): Broker {
  const { users, anonymous, ...rest } = overrides;
  return createBroker({
    authenticator: new InMemoryAuthenticator({ users: users ?? defaultUsers, ...(anonymous ? { anonymous } : {}) }),
    quota: new UnlimitedQuotaMeter(),
    metrics,
    tcp: { host: '127.0.0.1', port: 0 },
    sweepIntervalMs: 100,
    ...rest,
  });
}

function connectClient(port: number, clients: MqttClient[], opts: IClientOptions, sink?: Received[]): Promise<MqttClient> {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
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
}

async function retainedOn(ports: number[], user: InMemoryUser, topic: string, payload: string): Promise<void> {
  await Promise.all(
    ports.map(async (port) => {
      const clients: MqttClient[] = [];
      try {
        const probe = await connectClient(port, clients, { username: user.username, password: user.password });
        const got = collect(probe);
        // Until the mirror has it, the retained message may be missing or an older value: ask again.
        await waitFor(() => got.some((g) => g.payload === payload && g.packet.retain), 30_000, async () => {
          await probe.unsubscribeAsync(topic);
          await probe.subscribeAsync(topic, { qos: 0 });
        });
      } finally {
        await Promise.all(clients.map((c) => c.endAsync(true)));
      }
    }),
  );
}

/**
 * A probe on each edge publishes a sentinel that a probe on every other edge receives: an edge
 * forwards over one NATS connection, in order, and routes what it receives as it arrives, so each
 * sentinel comes after everything its edge forwarded before.
 */
async function crossedAll(ports: number[], user: InMemoryUser): Promise<void> {
  const clients: MqttClient[] = [];
  const topic = `crossed/${Math.random().toString(36).slice(2)}`;
  try {
    const probes = await Promise.all(ports.map((port) => connectClient(port, clients, { username: user.username, password: user.password })));
    const got = probes.map((p) => collect(p));
    await Promise.all(probes.map((p) => p.subscribeAsync(topic, { qos: 1 })));
    await Promise.all(probes.map((p, i) => p.publishAsync(topic, String(i), { qos: 1 })));
    await waitFor(() => got.every((g) => g.length === ports.length), 10_000);
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true)));
  }
}

/** Two edges with the same options, one cluster (its own name: own subjects and buckets) over `natsUrl`. */
async function startClusterPair(natsUrl: string, overrides: StartOptions): Promise<TestBroker> {
  const metrics = new CountingMetrics();
  const name = `h${process.pid}x${++clusterSeq}`;
  const edges = await Promise.all(
    ['a', 'b'].map(async (edgeId) => {
      const cluster = new NatsCluster({ url: natsUrl, cluster: name, edgeId, logger: pino({ level: 'silent' }), adminTimeoutMs: 300 });
      const broker = createEdge({ ...overrides, cluster }, metrics);
      const addr = await broker.listen();
      cluster.serveAdmin(createEdgeAdmin(broker, metrics, edgeId));
      await cluster.start();
      return { broker, cluster, addr };
    }),
  );
  const [a, b] = edges as [(typeof edges)[0], (typeof edges)[0]];
  let turn = 0;
  const nextPort = () => edges[turn++ % edges.length]!.addr.tcp!.port;
  const clients: MqttClient[] = [];
  const both = edges.map((e) => e.broker);
  const view: Broker = {
    listen: () => a.broker.listen(),
    close: async () => {
      await Promise.all(both.map((x) => x.close()));
    },
    clients: () => both.flatMap((x) => x.clients()),
    kick: (clientId, reasonCode, account) => both.reduce((n, x) => n + x.kick(clientId, reasonCode, account), 0),
    disconnectWhere: (predicate, reasonCode) => both.reduce((n, x) => n + x.disconnectWhere(predicate, reasonCode), 0),
    dropAuthCache: () => both.forEach((x) => x.dropAuthCache()),
    stats: () => {
      const [sa, sb] = [a.broker.stats(), b.broker.stats()];
      return { connections: sa.connections + sb.connections, sessions: sa.sessions + sb.sessions, credentialCounters: sa.credentialCounters + sb.credentialCounters };
    },
    accountStats: (accounts) => sumAccountStats(both.map((x) => x.accountStats(accounts))),
    handle: (stream, peerIp) => edges[turn++ % edges.length]!.broker.handle(stream, peerIp),
  };
  return {
    broker: view,
    metrics,
    get port() {
      return nextPort();
    },
    ...(a.addr.tls ? { tlsPort: a.addr.tls.port } : {}),
    ...(b.addr.ws ? { wsPort: b.addr.ws.port } : {}),
    connect: (opts = {}, sink) => connectClient(nextPort(), clients, opts, sink),
    retainedEverywhere: (topic, payload) => retainedOn(edges.map((e) => e.addr.tcp!.port), (overrides.users ?? defaultUsers)[0]!, topic, payload),
    crossed: () => crossedAll(edges.map((e) => e.addr.tcp!.port), (overrides.users ?? defaultUsers)[0]!),
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      for (const e of edges) {
        await e.broker.close();
        await e.cluster.stop();
      }
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

/** `poke`, if any, runs before each check after the first that failed, e.g. to ask again. */
export async function waitFor(cond: () => boolean, timeoutMs = 3_000, poke?: () => Promise<void>): Promise<void> {
  const start = Date.now();
  if (poke && !cond()) await poke();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, poke ? 50 : 10));
    if (poke && !cond()) await poke();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Connects a raw MQTT 3.1.1 client to `port` as alice (acc_a), writes `frames` in one write and
 * resolves once the edge has handled them all: its PINGRESP to a PINGREQ sent after them (one
 * connection is processed in order).
 */
export async function sendInOneWrite(port: number, clientId: string, frames: Buffer[], timeoutMs = 10_000): Promise<void> {
  const r = new RawClient(port, 4);
  try {
    await r.ready();
    r.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0, username: 'alice', password: Buffer.from('pw-a') });
    await r.next('connack');
    r.sendBytes(Buffer.concat([...frames, mqttPacket.generate({ cmd: 'pingreq' })]));
    await r.next('pingresp', timeoutMs);
  } finally {
    r.close();
  }
}

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
