/**
 * Broker benchmark: Tollgate's broker edge (token auth, per-topic ACL and quota metering on)
 * against aedes (no auth) and Mosquitto 2 (when /usr/sbin/mosquitto exists), side by side.
 *
 *   node test/bench/broker.bench.ts        (prints a table; ends by itself in a few minutes)
 *   node test/bench/broker.bench.ts --brokers tollgate,mosquitto --scenarios idle,latency [--prof]
 *
 * Tollgate is measured twice: as the whole mesh in one process (PGlite), and in the production
 * shape (`tollgate start --service broker`) with the broker edge alone in its process and
 * identity, authz and quota in another, over gRPC (latency and memory only). `--prof` writes a CPU
 * profile of each Tollgate broker process over the latency window (broker-latency-*.cpuprofile).
 * Every broker runs in its own process (Mosquitto natively; Tollgate and aedes forked from this
 * file with `--serve`), so the load generator here never shares an event loop with a broker.
 * The load generator is ours: pre-encoded mqtt-packet frames written in batches, and a frame
 * counter that reads only fixed headers (and the packet id for QoS 1), so the client side stays
 * cheap. Scenarios: QoS 0 fan-in 8→1 at 64 B, QoS 0 fan-out 1→8 at 64 B, QoS 1 round trips
 * (4 publishers, 64 in flight each, subscriber acking). Broker CPU µs/message comes from
 * /proc/<pid>/stat (utime+stime) over the measured window.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import mqttPacket from 'mqtt-packet';
import { freePort } from '../harness/ports.ts';

const WARMUP_MS = 500;
const MEASURE_MS = 3_000;
/** The latency window: 5,000 samples, so p99 is the 50th worst rather than the 20th. */
const LATENCY_MS = 5_000;
const PAYLOAD = Buffer.alloc(64, 0x61);
const USER = 'bench';
const PASSWORD = 'bench-token-secret';
/** The credentials the load clients present to the broker under test (Tollgate: an acl token). */
let credentials = { username: USER, password: PASSWORD };

type BrokerName = 'tollgate' | 'tollgate (broker alone)' | 'aedes' | 'mosquitto' | 'node relay (floor)';

export interface BrokerBenchRow {
  broker: BrokerName;
  scenario: 'fan-in 8→1 QoS0' | 'fan-out 1→8 QoS0' | 'QoS1 round trips' | 'connect+disconnect (credentials)' | 'latency @1k msg/s';
  p50Ms?: number;
  p99Ms?: number;
  messagesPerSecond: number;
  cpuMicrosPerMessage: number | undefined;
  note?: string;
}

// ---- brokers under test ------------------------------------------------------------------

/**
 * The floor of any MQTT broker written for Node, for the latency row: a `net` server (Nagle off)
 * that frames packets, answers CONNECT and SUBSCRIBE with fixed acks and writes every PUBLISH frame
 * as it came to every subscribed socket, at once — no topic matching, no auth, no session, no
 * batching. What it measures is Node's sockets and event loop on this machine, nothing of a broker.
 */
function serveRelay(): void {
  const subscribers = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        if (buf.length < 2) break;
        let len = 0;
        let mult = 1;
        let i = 1;
        for (; i < 5 && i < buf.length; i++) {
          len += (buf[i]! & 0x7f) * mult;
          mult *= 128;
          if ((buf[i]! & 0x80) === 0) break;
        }
        const end = i + 1 + len;
        if (i >= buf.length || buf.length < end) break;
        const type = buf[0]! >> 4;
        if (type === 1) socket.write(Buffer.from([0x20, 2, 0, 0]));
        else if (type === 8) {
          subscribers.add(socket);
          socket.write(Buffer.from([0x90, 3, buf[i + 1]!, buf[i + 2]!, 0]));
        } else if (type === 3) {
          const frame = buf.subarray(0, end);
          for (const s of subscribers) s.write(frame);
        } else if (type === 12) socket.write(Buffer.from([0xd0, 0]));
        buf = buf.subarray(end);
      }
      pending = Buffer.from(buf);
    });
    socket.on('close', () => subscribers.delete(socket));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as net.AddressInfo).port }));
}

async function serve(name: string, arg: string | undefined): Promise<void> {
  if (name === 'relay') return serveRelay();
  if (name === 'aedes') {
    const { Aedes } = (await import('aedes')) as unknown as { Aedes: { createBroker(): Promise<{ handle: (s: net.Socket) => void }> } };
    const aedes = await Aedes.createBroker();
    const server = net.createServer((s) => aedes.handle(s));
    server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as net.AddressInfo).port }));
    return;
  }
  if (name === 'tollgate-alone') {
    // The production shape: this process runs the broker edge alone; identity, authz and quota run
    // in the `tollgate-services` process and are called over gRPC.
    const { dataDir, peers } = JSON.parse(arg!) as { dataDir: string; peers: { identity: string; authz: string; quota: string } };
    const { startBenchBrokerAlone } = await import('./bench-mesh.ts');
    const mesh = await startBenchBrokerAlone(dataDir, peers);
    const tcp = mesh.broker!.mqttAddresses().tcp!;
    process.send!({ port: Number(tcp.slice(tcp.lastIndexOf(':') + 1)) });
    return;
  }
  // Tollgate as it runs for real: the whole mesh in this process (PGlite), a device token of kind
  // acl with per-topic rules checked by the compiled ACL engine, every message metered against
  // quota leases, every connection holding an `mqtt.connections` slot from the edge's leased block,
  // usage reported in batches. (`tollgate-services`: the same mesh, whose broker the bench leaves
  // idle; it serves a `tollgate-alone` broker over gRPC.)
  const { startBenchMesh } = await import('./bench-mesh.ts');
  const { mesh, secret, dataDir } = await startBenchMesh('tollgate-bench-mesh-');
  const tcp = mesh.broker!.mqttAddresses().tcp!;
  const grpc = (service: string) => mesh.services.find((s) => s.name === service)!.grpcAddress;
  process.send!({
    port: Number(tcp.slice(tcp.lastIndexOf(':') + 1)),
    username: secret,
    password: '',
    ...(name === 'tollgate-services' ? { dataDir, peers: { identity: grpc('identity'), authz: grpc('authz'), quota: grpc('quota') } } : {}),
  });
}


interface Running {
  port: number;
  pid: number;
  exited: boolean;
  stop(): Promise<void>;
  /** Node brokers: collects garbage (`reduce`: a memory-reducing GC) and answers the JS heap in use after it (bytes). */
  gc?: (reduce?: boolean) => Promise<number | undefined>;
  /** Node brokers: the event-loop delay of the broker's process over a window (monitorEventLoopDelay). */
  loopDelay?: { start(): Promise<void>; stop(): Promise<LoopDelay | undefined> };
}

/** Event-loop delay of a broker process over a window, in ms (1 ms sampling resolution). */
interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}


interface ServeReady {
  port: number;
  username?: string;
  password?: string;
  dataDir?: string;
  peers?: { identity: string; authz: string; quota: string };
}

async function startForked(name: 'tollgate' | 'aedes' | 'relay' | 'tollgate-services' | 'tollgate-alone', arg?: string): Promise<Running & { ready: ServeReady }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', name, ...(arg !== undefined ? [arg] : [])], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, '--expose-gc'] });
  const ready = await new Promise<ServeReady>((resolve, reject) => {
    child.once('message', (m) => {
      const msg = m as ServeReady;
      // The broker alone takes the credentials its services' process handed out.
      if (name !== 'tollgate-alone') credentials = msg.username === undefined ? { username: USER, password: PASSWORD } : { username: msg.username, password: msg.password ?? '' };
      resolve(msg);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
  const port = ready.port;
  const ask = <T>(request: string, fallback: T) =>
    new Promise<T>((resolve) => {
      child.once('message', (m) => resolve(m as T));
      child.send(request);
      setTimeout(() => resolve(fallback), 30_000).unref();
    });
  const running: Running & { ready: ServeReady } = {
    ready,
    port,
    pid: child.pid!,
    exited: false,
    stop: () => kill(child),
    loopDelay: {
      start: () => ask('eld-start', undefined).then(() => undefined),
      stop: () => ask<LoopDelay | undefined>('eld-stop', undefined),
    },
    // Node brokers: collect garbage before a memory reading, so it shows what idle connections hold.
    gc: (reduce = false) => ask<{ heapUsed?: number }>(reduce ? 'gc-reduce' : 'gc', {}).then((m) => m.heapUsed),
  };
  child.once('exit', () => (running.exited = true));
  return running;
}

export async function startMosquitto(): Promise<Running | undefined> {
  credentials = { username: USER, password: PASSWORD };
  const bin = '/usr/sbin/mosquitto';
  if (!existsSync(bin)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\nlog_dest none\n`);
  const child = spawn(bin, ['-c', conf], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await canConnect(port)) break;
    await sleep(50);
  }
  const running: Running = {
    port,
    pid: child.pid!,
    exited: false,
    stop: async () => {
      await kill(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  child.once('exit', () => (running.exited = true));
  return running;
}

export function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 Hz)
  } catch {
    return undefined;
  }
}

// ---- load generator ----------------------------------------------------------------------

/** A raw client: counts PUBLISH frames from fixed headers; acks QoS 1 when asked. */
export class LoadClient {
  readonly socket: net.Socket;
  received = 0;
  pubacks = 0;
  #rest: Buffer | undefined;
  onPuback: (() => void) | undefined;
  /** Called with each PUBLISH payload (a view, valid during the call). */
  onPayload: ((buf: Buffer, start: number, end: number) => void) | undefined;
  #ackQos1 = false;
  #connack: (code: number) => void = () => {};
  #suback: (() => void) | undefined;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.#onData(d));
    this.socket.on('error', () => {});
  }

  /** Rejects unless the broker accepts (CONNACK return code 0). */
  async connect(clientId: string): Promise<void> {
    const done = new Promise<number>((r, reject) => {
      this.#connack = r;
      this.socket.once('close', () => reject(new Error('connection closed before CONNACK')));
    });
    this.socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0, username: credentials.username, password: Buffer.from(credentials.password) }));
    const code = await done;
    if (code !== 0) throw new Error(`CONNACK return code ${code}`);
  }

  async subscribe(topic: string, qos: 0 | 1): Promise<void> {
    this.#ackQos1 = qos === 1;
    const done = new Promise<void>((r, reject) => {
      this.#suback = r;
      this.socket.once('close', () => reject(new Error('connection closed before SUBACK')));
    });
    this.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] }));
    await done;
  }

  #onData(chunk: Buffer): void {
    let buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    this.#rest = undefined;
    let i = 0;
    let acks: Buffer[] | undefined;
    while (i < buf.length) {
      const start = i;
      const type = buf[i]! >> 4;
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let complete = false;
      while (j < buf.length) {
        const b = buf[j++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || j + len > buf.length) {
        this.#rest = buf.subarray(start);
        break;
      }
      if (type === 3) {
        this.received++;
        if (this.onPayload) {
          const topicLen = buf.readUInt16BE(j);
          this.onPayload(buf, j + 2 + topicLen + (((buf[start]! >> 1) & 3) > 0 ? 2 : 0), j + len);
        }
        if (this.#ackQos1 && ((buf[start]! >> 1) & 3) === 1) {
          const topicLen = buf.readUInt16BE(j);
          const id = buf.readUInt16BE(j + 2 + topicLen);
          (acks ??= []).push(Buffer.from([0x40, 2, id >> 8, id & 0xff]));
        }
      } else if (type === 4) {
        this.pubacks++;
        this.onPuback?.();
      } else if (type === 2) this.#connack(j + 1 < buf.length ? buf[j + 1]! : -1);
      else if (type === 9) this.#suback?.();
      i = j + len;
    }
    if (this.#rest) this.#rest = Buffer.from(this.#rest);
    if (acks) this.socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
    buf = Buffer.alloc(0);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Writes pre-encoded QoS 0 PUBLISH batches as fast as the socket drains. */
export function floodQos0(client: LoadClient, topic: string, until: { stop: boolean }): void {
  const one = mqttPacket.generate({ cmd: 'publish', topic, payload: PAYLOAD, qos: 0, retain: false, dup: false });
  const batch = Buffer.concat(Array.from({ length: 256 }, () => one));
  const pump = (): void => {
    while (!until.stop) {
      if (!client.socket.write(batch)) {
        client.socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

export async function measure(pid: number, count: () => number): Promise<{ rate: number; cpu: number | undefined }> {
  await sleep(WARMUP_MS);
  const c0 = count();
  const t0 = performance.now();
  const cpu0 = cpuTicks(pid);
  await sleep(MEASURE_MS);
  const n = count() - c0;
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = cpuTicks(pid);
  const cpu = cpu0 !== undefined && cpu1 !== undefined && n > 0 ? ((cpu1 - cpu0) * 10_000) / n : undefined;
  return { rate: n / secs, cpu };
}

export async function clients(port: number, n: number, prefix: string): Promise<LoadClient[]> {
  const out = Array.from({ length: n }, () => new LoadClient(port));
  await Promise.all(out.map((c, i) => c.connect(`${prefix}-${i}`)));
  return out;
}

async function fanIn(b: Running): Promise<{ rate: number; cpu: number | undefined }> {
  const [sub] = await clients(b.port, 1, 'fi-sub');
  await sub!.subscribe('bench/in', 0);
  const pubs = await clients(b.port, 8, 'fi-pub');
  const until = { stop: false };
  for (const p of pubs) floodQos0(p, 'bench/in', until);
  const r = await measure(b.pid, () => sub!.received);
  until.stop = true;
  for (const c of [sub!, ...pubs]) c.close();
  return r;
}

async function fanOut(b: Running): Promise<{ rate: number; cpu: number | undefined }> {
  const subs = await clients(b.port, 8, 'fo-sub');
  await Promise.all(subs.map((s) => s.subscribe('bench/out', 0)));
  const [pub] = await clients(b.port, 1, 'fo-pub');
  const until = { stop: false };
  floodQos0(pub!, 'bench/out', until);
  const r = await measure(b.pid, () => subs.reduce((a, s) => a + s.received, 0));
  until.stop = true;
  for (const c of [pub!, ...subs]) c.close();
  return r;
}

async function qos1(b: Running): Promise<{ rate: number; cpu: number | undefined }> {
  const [sub] = await clients(b.port, 1, 'q1-sub');
  await sub!.subscribe('bench/q1/#', 1);
  const pubs = await clients(b.port, 4, 'q1-pub');
  const until = { stop: false };
  pubs.forEach((p, k) => {
    let id = 0;
    const send = (): void => {
      if (until.stop) return;
      id = id === 65_535 ? 1 : id + 1;
      p.socket.write(mqttPacket.generate({ cmd: 'publish', topic: `bench/q1/${k}`, payload: PAYLOAD, qos: 1, messageId: id, retain: false, dup: false }));
    };
    p.onPuback = send;
    for (let i = 0; i < 64; i++) send();
  });
  const r = await measure(b.pid, () => pubs.reduce((a, p) => a + p.pubacks, 0));
  until.stop = true;
  for (const c of [sub!, ...pubs]) c.close();
  return r;
}

async function connects(b: Running): Promise<{ rate: number; cpu: number | undefined }> {
  const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'cd', clean: true, keepalive: 0, username: credentials.username, password: Buffer.from(credentials.password) });
  const disconnect = mqttPacket.generate({ cmd: 'disconnect' });
  const until = { stop: false };
  let done = 0;
  const worker = async (k: number): Promise<void> => {
    const packet = Buffer.from(connect);
    packet[packet.indexOf('cd') + 1] = 0x61 + k; // a distinct client id per worker
    while (!until.stop) {
      await new Promise<void>((resolve) => {
        const s = net.connect(b.port, '127.0.0.1', () => s.write(packet));
        s.once('data', () => {
          s.end(disconnect);
          done++;
        });
        s.once('close', () => resolve());
        s.on('error', () => {});
      });
    }
  };
  const workers = Array.from({ length: 8 }, (_, k) => worker(k));
  const r = await measure(b.pid, () => done);
  until.stop = true;
  await Promise.all(workers);
  return r;
}

/**
 * One publisher at 1,000 msg/s QoS 0; the subscriber reads a send timestamp from each payload. For
 * the Node brokers the event-loop delay of the broker's process over the same window is read too:
 * a tail in the latency that the loop delay shows is the broker's process being busy (GC, a timer's
 * work, a synchronous database call), one it does not show is scheduling or the network stack.
 */
async function latency(b: Running): Promise<{ rate: number; cpu: number | undefined; p50: number; p99: number; loopDelay?: LoopDelay | undefined }> {
  const [sub] = await clients(b.port, 1, 'lat-sub');
  const [pub] = await clients(b.port, 1, 'lat-pub');
  await sub!.subscribe('bench/lat', 0);
  const samples: number[] = [];
  sub!.onPayload = (buf, start) => samples.push(performance.now() - buf.readDoubleLE(start));
  const payload = Buffer.alloc(64);
  const timer = setInterval(() => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      payload.writeDoubleLE(performance.now(), 0);
      frames.push(mqttPacket.generate({ cmd: 'publish', topic: 'bench/lat', payload, qos: 0, retain: false, dup: false }));
    }
    pub!.socket.write(Buffer.concat(frames));
  }, 10);
  await sleep(WARMUP_MS);
  samples.length = 0;
  await b.loopDelay?.start();
  await sleep(LATENCY_MS);
  const loopDelay = await b.loopDelay?.stop();
  clearInterval(timer);
  const sorted = samples.slice().sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  sub!.close();
  pub!.close();
  return { rate: samples.length / (LATENCY_MS / 1000), cpu: undefined, p50: at(0.5), p99: at(0.99), loopDelay };
}

function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const IDLE_CONNECTIONS = 10_000;
/** Connections after the marginal step (the load generator's descriptor limit here is 20,000). */
const IDLE_CONNECTIONS_MORE = 18_000;

interface IdleMemory {
  /** (RSS with 10,000 idle connections − RSS before) / 10,000, after plain GCs: the figure of the earlier runs. */
  rssKb: number | undefined;
  heapKb: number | undefined;
  /** Of that, per connection, what a memory-reducing GC then gives back (Node brokers; pages V8 kept). */
  releasedKb: number | undefined;
  /** (RSS with 18,000 − RSS with 10,000) / 8,000, both after a memory-reducing GC: what one more connection costs. */
  marginalRssKb: number | undefined;
  marginalHeapKb: number | undefined;
}

async function openIdle(b: Running, sockets: LoadClient[], upTo: number): Promise<void> {
  for (let i = sockets.length; i < upTo; i += 500) {
    const batch = Array.from({ length: Math.min(500, upTo - i) }, () => new LoadClient(b.port));
    await Promise.all(batch.map((c, k) => c.connect(`idle-${i + k}`).catch(() => {})));
    sockets.push(...batch);
  }
  await sleep(500);
}

/**
 * Broker RSS growth per idle, authenticated connection (keep-alive 0), and for the Node brokers
 * the JS heap growth (V8's used heap after a forced GC): RSS also holds native socket state and
 * whatever heap pages V8 keeps, the heap figure is what the connections' objects take.
 *
 * Read the same way for every broker: the first 10,000 connections against the fresh process
 * after plain GCs (the figure of the earlier runs, taken first so nothing before it changes it: it
 * includes what V8 grows once under a burst of connects and keeps — its young generation, pooled
 * pages — divided by 10,000); how much of that a memory-reducing GC then gives back; and the
 * marginal cost of 8,000 more on top of them (the slope between 10,000 and 18,000, both after a
 * memory-reducing GC), which is what each further connection holds and the figure that predicts a
 * larger deployment. Plain-GC RSS moves in steps of whole V8 pages, so a slope read after plain
 * GCs can land anywhere between 0 and the heap growth.
 */
async function idleRss(b: Running): Promise<IdleMemory> {
  const heap0 = await b.gc?.();
  const rss0 = rssKb(b.pid);
  const sockets: LoadClient[] = [];
  // Divided by the connections open at each reading: a refused one holds nothing (and is reported).
  const open = () => sockets.filter((c) => !c.socket.destroyed && c.socket.readyState === 'open').length;
  await openIdle(b, sockets, IDLE_CONNECTIONS);
  const heap1 = await b.gc?.();
  const rss1 = rssKb(b.pid);
  const open1 = open();
  const reducedHeap1 = await b.gc?.(true);
  const reduced1 = rssKb(b.pid);
  await openIdle(b, sockets, IDLE_CONNECTIONS_MORE);
  const reducedHeap2 = await b.gc?.(true);
  const reduced2 = rssKb(b.pid);
  const open2 = open();
  for (const c of sockets) c.close();
  await sleep(500);
  const per = (x: number | undefined, y: number | undefined, n: number, unit: number) => (x !== undefined && y !== undefined && n > 0 ? (y - x) / unit / n : undefined);
  if (open1 !== IDLE_CONNECTIONS || open2 !== IDLE_CONNECTIONS_MORE) process.stdout.write(`(idle connections open at the readings: ${open1} of ${IDLE_CONNECTIONS}, ${open2} of ${IDLE_CONNECTIONS_MORE})\n`);
  return {
    rssKb: per(rss0, rss1, open1, 1),
    heapKb: per(heap0, heap1, open1, 1024),
    releasedKb: b.gc ? per(reduced1, rss1, open1, 1) : undefined,
    marginalRssKb: per(reduced1, reduced2, open2 - open1, 1),
    marginalHeapKb: per(reducedHeap1, reducedHeap2, open2 - open1, 1024),
  };
}

/**
 * Tollgate's first CONNECT opens the broker's gRPC channel to authz, which can outlast the 200 ms
 * authentication deadline on a loaded machine (CONNACK 3): connect until one is accepted.
 */
async function warmUp(port: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const probe = new LoadClient(port);
    const ok = await probe.connect('warm-up').then(
      () => true,
      (err: unknown) => {
        if (attempt >= 50) throw err;
        return false;
      },
    );
    probe.close();
    if (ok) return;
    await sleep(100);
  }
}

/** A split Tollgate: the broker edge in one process, identity, authz and quota in another (gRPC between them). */
async function startSplit(): Promise<Running | undefined> {
  const services = await startForked('tollgate-services');
  try {
    const broker = await startForked('tollgate-alone', JSON.stringify({ dataDir: services.ready.dataDir, peers: services.ready.peers }));
    await warmUp(broker.port);
    return {
      ...broker,
      stop: async () => {
        await broker.stop();
        await services.stop();
      },
      get exited() {
        return broker.exited || services.exited;
      },
    };
  } catch (err) {
    await services.stop();
    throw err;
  }
}

const allScenarios = {
  'fan-in 8→1 QoS0': fanIn,
  'fan-out 1→8 QoS0': fanOut,
  'QoS1 round trips': qos1,
  'connect+disconnect (credentials)': connects,
  'latency @1k msg/s': latency,
} as const;

/**
 * `node test/bench/broker.bench.ts [--brokers a,b] [--scenarios idle,latency,…]` runs a subset
 * (scenario names by their first word: fan-in, fan-out, QoS1, connect+disconnect, latency, idle);
 * `npm run bench -- broker` runs everything.
 */
export async function runBrokerBench(select: { brokers?: string[]; scenarios?: string[] } = {}): Promise<BrokerBenchRow[]> {
  const rows: BrokerBenchRow[] = [];
  const starters: Array<[BrokerName, () => Promise<Running | undefined>]> = (
    [
      [
        'tollgate',
        async () => {
          const running = await startForked('tollgate');
          await warmUp(running.port);
          return running;
        },
      ],
      // The production shape (`tollgate start --service broker`): the broker's process runs the
      // edge alone, so the services' work (PGlite, gRPC serving) never shares its event loop.
      ['tollgate (broker alone)', startSplit],
      ['aedes', () => startForked('aedes')],
      ['mosquitto', startMosquitto],
      ['node relay (floor)', () => startForked('relay')],
    ] as Array<[BrokerName, () => Promise<Running | undefined>]>
  ).filter(([name]) => !select.brokers || select.brokers.some((b) => name.startsWith(b)));
  const wanted = (name: string) => !select.scenarios || select.scenarios.some((w) => name.toLowerCase().startsWith(w.toLowerCase()));
  const scenarios = Object.entries(allScenarios).filter(([name]) => wanted(name)) as Array<[BrokerBenchRow['scenario'], (typeof allScenarios)[keyof typeof allScenarios]]>;
  const idle: Array<[BrokerName, IdleMemory]> = [];
  const loopDelays: Array<[BrokerName, LoopDelay]> = [];
  for (const [name, start] of starters) {
    const running = await start();
    if (!running) {
      process.stdout.write(`${name}: not installed, skipped\n`);
      continue;
    }
    try {
      // First, on a fresh process: later scenarios leave freed heap that idle sockets would reuse.
      if (wanted('idle') && name !== 'node relay (floor)') idle.push([name, await idleRss(running).catch(() => ({ rssKb: undefined, heapKb: undefined, releasedKb: undefined, marginalRssKb: undefined, marginalHeapKb: undefined }))]);
      for (const [scenario, run] of scenarios) {
        // The split Tollgate is there for the latency and memory of the production shape.
        if ((name === 'tollgate (broker alone)' || name === 'node relay (floor)') && scenario !== 'latency @1k msg/s') continue;
        if (running.exited) {
          rows.push({ broker: name, scenario, messagesPerSecond: 0, cpuMicrosPerMessage: undefined, note: 'broker process had crashed' });
          continue;
        }
        const r: { rate: number; cpu: number | undefined; p50?: number; p99?: number; loopDelay?: LoopDelay | undefined } = await run(running).catch(() => ({ rate: 0, cpu: undefined }));
        if (r.loopDelay) loopDelays.push([name, r.loopDelay]);
        rows.push({
          broker: name,
          scenario,
          messagesPerSecond: r.rate,
          cpuMicrosPerMessage: r.cpu,
          ...(r.p50 !== undefined ? { p50Ms: r.p50, p99Ms: r.p99! } : {}),
          ...(running.exited ? { note: 'broker process crashed during the run' } : {}),
        });
        await sleep(200);
      }
    } finally {
      await running.stop();
    }
  }
  const mosq = (s: string) => rows.find((r) => r.broker === 'mosquitto' && r.scenario === s)?.messagesPerSecond;
  const lines = ['| broker | scenario | msgs/s (connects/s) | broker CPU µs/msg | × Mosquitto | note |', '|---|---|---:|---:|---:|---|'];
  for (const r of rows) {
    const m = mosq(r.scenario);
    lines.push(
      `| ${r.broker} | ${r.scenario} | ${Math.round(r.messagesPerSecond).toLocaleString('en-US')} | ${r.cpuMicrosPerMessage?.toFixed(2) ?? 'n/a'} | ${m && r.p50Ms === undefined ? (r.messagesPerSecond / m).toFixed(2) : 'n/a'} | ${r.p50Ms !== undefined ? `p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms!.toFixed(3)} ms` : ''}${r.note ?? ''} |`,
    );
  }
  const kb = (v: number | undefined) => (v !== undefined ? `${v.toFixed(1)} KB` : 'n/a');
  if (idle.length) {
    lines.push(
      '',
      `| broker | RSS per idle connection (first ${IDLE_CONNECTIONS.toLocaleString('en-US')}, as before) | JS heap (same) | RSS a memory-reducing GC then gives back (V8's kept pages, start-up ones included), per connection | RSS per connection, marginal (${IDLE_CONNECTIONS.toLocaleString('en-US')} → ${IDLE_CONNECTIONS_MORE.toLocaleString('en-US')}, memory-reducing GC) | JS heap, marginal |`,
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const [name, m] of idle) lines.push(`| ${name} | ${kb(m.rssKb)} | ${kb(m.heapKb)} | ${kb(m.releasedKb)} | ${kb(m.marginalRssKb)} | ${kb(m.marginalHeapKb)} |`);
  }
  if (loopDelays.length) {
    lines.push('', '| broker process | event-loop delay during the latency run: p50 | p99 | max |', '|---|---:|---:|---:|');
    for (const [name, d] of loopDelays) lines.push(`| ${name} | ${d.p50.toFixed(2)} ms | ${d.p99.toFixed(2)} ms | ${d.max.toFixed(2)} ms |`);
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  lines.push('', `load average at the end: ${load}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return rows;
}

const list = (flag: string) => {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1]!.split(',') : undefined;
};
const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  let histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
  // `--prof`: a V8 CPU profile of the broker's process over the latency window, to find what
  // holds its event loop (./broker-latency-<name>.cpuprofile).
  const profileTo = process.env.BROKER_BENCH_PROF === '1' ? `broker-latency-${process.argv[serveAt + 1]}.cpuprofile` : undefined;
  const inspector = new (await import('node:inspector/promises')).Session();
  process.on('message', (m) => {
    if (m === 'gc' || m === 'gc-reduce') {
      const gc = (globalThis as { gc?: (options?: object) => void }).gc;
      gc?.();
      gc?.();
      // A memory-reducing GC (V8's last resort, as under memory pressure): also shrinks the young
      // generation and gives pooled pages back to the OS, so RSS shows what is held.
      if (m === 'gc-reduce') gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      process.send!({ heapUsed: getHeapStatistics().used_heap_size });
    } else if (m === 'eld-start') {
      histogram = monitorEventLoopDelay({ resolution: 1 });
      histogram.enable();
      process.send!('ok');
      if (profileTo) {
        inspector.connect();
        void inspector.post('Profiler.enable').then(() => inspector.post('Profiler.start'));
      }
    } else if (m === 'eld-stop' && histogram) {
      histogram.disable();
      const ms = (ns: number) => ns / 1e6;
      const delay = { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) };
      histogram = undefined;
      if (!profileTo) process.send!(delay);
      else
        void inspector.post('Profiler.stop').then(({ profile }) => {
          writeFileSync(profileTo, JSON.stringify(profile));
          inspector.disconnect();
          process.send!(delay);
        });
    }
  });
  await serve(process.argv[serveAt + 1]!, process.argv[serveAt + 2]);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--prof')) process.env.BROKER_BENCH_PROF = '1';
  await runBrokerBench({ brokers: list('--brokers'), scenarios: list('--scenarios') });
  process.exit(0);
}
