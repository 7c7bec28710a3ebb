/**
 * Bounded mutational fuzzer for the broker edge (issue 11): mutated MQTT 3.1 / 3.1.1 / 5.0 input
 * (packet-mutator.ts) against one broker, in batches of concurrent connections — most over
 * in-memory duplex pairs for throughput, every `tcpEvery`-th batch over real TCP sockets. After
 * every batch an MQTT.js client must still connect, subscribe, publish QoS 1 and receive it.
 * Any uncaught exception or unhandled rejection in the process is a crash.
 *
 *   npm run fuzz                                   (1,000,000 cases, random seed)
 *   node services/broker/test/fuzz/broker-fuzz.ts --cases 100000 --seed 42
 *   node services/broker/test/fuzz/broker-fuzz.ts --seed 42 --from 31000 --cases 500   (replay)
 */
import net from 'node:net';
import { duplexPair, type Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { createBroker, type Broker } from '../../src/broker.ts';
import { InMemoryAuthenticator } from '../doubles/in-memory-authenticator.ts';
import { UnlimitedQuotaMeter } from '../doubles/unlimited-quota-meter.ts';
import { CountingMetrics } from '../../src/adapters/counting-metrics.ts';
import { caseBytes } from './packet-mutator.ts';

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** First case index (replaying a failing range). */
  from?: number;
  /** Concurrent connections per in-memory batch. */
  batchSize?: number;
  /** Every n-th batch goes over TCP (0: never). */
  tcpEvery?: number;
  tcpBatchSize?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface FuzzResult {
  seed: number;
  cases: number;
  mutatedPackets: number;
  tcpCases: number;
  batches: number;
  ms: number;
  crashes: number;
  /** First crash, with the batch it happened in (replay with --from/--cases). */
  firstCrash?: { error: string; batchFrom: number; batchCases: number };
  /** Connections still open a while after their peer ended (a leak if not 0). */
  stuck: number;
  /** Broker counters at the end (protocol_errors, connection_errors, …). */
  counters: Record<string, number>;
}

const BATCH_SETTLE_MS = 5_000;

export async function runBrokerFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const { seed, cases } = options;
  const from = options.from ?? 0;
  const batchSize = options.batchSize ?? 500;
  const tcpEvery = options.tcpEvery ?? 10;
  const tcpBatchSize = options.tcpBatchSize ?? 50;
  const log = options.log ?? (() => {});
  const metrics = new CountingMetrics();
  const broker = createBroker({
    authenticator: new InMemoryAuthenticator({ users: [{ username: 'dev', password: 'pw', account: 'acc_fuzz' }] }),
    quota: new UnlimitedQuotaMeter(),
    metrics,
    tcp: { host: '127.0.0.1', port: 0 },
    // Bounded state across a million cases: fuzzed sessions and retained messages go quickly.
    maxSessionExpirySeconds: 1,
    maxRetainedPerAccount: 1_000,
    sweepIntervalMs: 200,
    // Every fuzzed case and the probing client share 127.0.0.1: the credential-failure throttle
    // (tested on its own in credential-throttle.test.ts) would rightly refuse the probe after the
    // fuzzer's junk credentials. The fuzzer is about surviving packets, so it runs without it.
    credentialThrottle: false,
  });
  const { tcp } = await broker.listen();
  const port = tcp!.port;

  let crashes = 0;
  let current = { from, cases: 0 };
  let firstCrash: FuzzResult['firstCrash'];
  const onCrash = (err: unknown) => {
    crashes++;
    firstCrash ??= { error: err instanceof Error ? (err.stack ?? err.message) : String(err), batchFrom: current.from, batchCases: current.cases };
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  const started = performance.now();
  let done = 0;
  let mutatedPackets = 0;
  let tcpCases = 0;
  let batches = 0;
  let stuck = 0;
  try {
    while (done < cases) {
      const overTcp = tcpEvery > 0 && batches % tcpEvery === tcpEvery - 1;
      const n = Math.min(overTcp ? tcpBatchSize : batchSize, cases - done);
      current = { from: from + done, cases: n };
      const batch = overTcp ? await tcpBatch(port, seed, from + done, n) : await memoryBatch(broker, seed, from + done, n);
      mutatedPackets += batch.mutated;
      stuck += batch.stuck;
      if (overTcp) tcpCases += n;
      done += n;
      batches++;
      await assertClientWorks(port, `${seed}-${batches}`).catch((err: Error) => {
        throw new Error(`after cases ${current.from}..${current.from + n - 1} (seed ${seed}): a real client failed: ${err.message}`);
      });
      if (crashes > 0) break;
      if (batches % 200 === 0) log(`${done} cases, ${Math.round(performance.now() - started)} ms, crashes=${crashes}`);
    }
  } finally {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await broker.close();
  }
  return {
    seed,
    cases: done,
    mutatedPackets,
    tcpCases,
    batches,
    ms: Math.round(performance.now() - started),
    crashes,
    ...(firstCrash ? { firstCrash } : {}),
    stuck,
    counters: Object.fromEntries(metrics.counters),
  };
}

interface BatchResult {
  mutated: number;
  stuck: number;
}

/** n cases at once, each on its own in-memory connection from one of 256 addresses. */
async function memoryBatch(broker: Broker, seed: number, from: number, n: number): Promise<BatchResult> {
  let mutated = 0;
  const conns: Tracked[] = [];
  for (let i = 0; i < n; i++) {
    const c = caseBytes(seed, from + i);
    mutated += c.mutated;
    const [client, server]: [Duplex, Duplex] = duplexPair();
    client.on('error', () => {});
    client.resume();
    // The broker's side closes when the broker is done with the connection.
    conns.push(track(server, () => server.destroy()));
    broker.handle(server, `10.0.0.${(from + i) % 256}`);
    for (const chunk of c.chunks) client.write(chunk);
    client.end();
  }
  return { mutated, stuck: await settle(conns) };
}

/** n cases over real sockets (one address: the per-address cap on pending CONNECTs applies). */
async function tcpBatch(port: number, seed: number, from: number, n: number): Promise<BatchResult> {
  let mutated = 0;
  const sockets = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const c = caseBytes(seed, from + i);
      mutated += c.mutated;
      return new Promise<Tracked>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        const tracked = track(socket, () => socket.destroy());
        socket.on('error', () => {});
        socket.resume();
        socket.once('connect', () => {
          for (const chunk of c.chunks) socket.write(chunk);
          socket.end();
          resolve(tracked);
        });
        socket.once('close', () => resolve(tracked));
      });
    }),
  );
  return { mutated, stuck: await settle(sockets) };
}

interface Tracked {
  isClosed: () => boolean;
  closed: Promise<void>;
  kill: () => void;
}

function track(stream: Duplex, kill: () => void): Tracked {
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    stream.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  return { isClosed: () => isClosed, closed, kill };
}

/** Waits for every connection of the batch to close; counts (and kills) those that do not. */
async function settle(conns: Tracked[]): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), BATCH_SETTLE_MS)));
  const all = Promise.all(conns.map((c) => c.closed)).then(() => 'ok' as const);
  const outcome = await Promise.race([all, timeout]);
  clearTimeout(timer);
  if (outcome === 'ok') return 0;
  let stuck = 0;
  for (const c of conns) {
    if (c.isClosed()) continue;
    stuck++;
    c.kill();
  }
  return stuck;
}

/** MQTT.js (v5) connects, subscribes, publishes QoS 1 to itself and receives it. */
async function assertClientWorks(port: number, tag: string): Promise<void> {
  const client = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 5, username: 'dev', password: 'pw', clientId: `probe-${tag}`, reconnectPeriod: 0, connectTimeout: 5_000 });
  try {
    const topic = `probe/${tag}`;
    await client.subscribeAsync(topic, { qos: 1 });
    const received = new Promise<string>((resolve) => client.once('message', (_t, payload) => resolve(payload.toString())));
    await client.publishAsync(topic, 'alive', { qos: 1 });
    let timer: NodeJS.Timeout | undefined;
    const got = await Promise.race([received, new Promise<string>((_, reject) => (timer = setTimeout(() => reject(new Error('no message within 5 s')), 5_000)))]);
    clearTimeout(timer);
    if (got !== 'alive') throw new Error(`received ${got}`);
  } finally {
    await client.endAsync(true);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: '1000000' },
      seed: { type: 'string' },
      from: { type: 'string', default: '0' },
      batch: { type: 'string', default: '500' },
    },
  });
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  const cases = Number(values.cases);
  process.stdout.write(`broker fuzz: seed=${seed} cases=${cases} from=${values.from}\n`);
  const result = await runBrokerFuzz({ seed, cases, from: Number(values.from), batchSize: Number(values.batch), log: (line) => process.stdout.write(`  ${line}\n`) });
  const rate = Math.round((result.cases / result.ms) * 1000);
  process.stdout.write(
    `cases=${result.cases} mutated_packets=${result.mutatedPackets} tcp_cases=${result.tcpCases} batches=${result.batches} time=${(result.ms / 1000).toFixed(1)}s (${rate}/s) crashes=${result.crashes} stuck=${result.stuck}\n` +
      `counters: ${JSON.stringify(result.counters)}\n`,
  );
  if (result.crashes > 0 || result.stuck > 0) {
    const c = result.firstCrash;
    process.stdout.write(`FAILED (seed ${seed})${c ? `: replay with --seed ${seed} --from ${c.batchFrom} --cases ${c.batchCases}\n${c.error}` : ''}\n`);
    process.exit(1);
  }
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
