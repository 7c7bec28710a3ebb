/**
 * Broker benchmark: Tollgate's broker edge (token auth, per-topic ACL and quota metering on)
 * against aedes (no auth) and Mosquitto 2 (when /usr/sbin/mosquitto exists), side by side.
 *
 *   node test/bench/broker.bench.ts        (prints a table; ends by itself in ~60 s)
 *
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
const PAYLOAD = Buffer.alloc(64, 0x61);
const USER = 'bench';
const PASSWORD = 'bench-token-secret';
/** The credentials the load clients present to the broker under test (Tollgate: an acl token). */
let credentials = { username: USER, password: PASSWORD };

type BrokerName = 'tollgate' | 'aedes' | 'mosquitto';

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

async function serve(name: string): Promise<void> {
  if (name === 'aedes') {
    const { Aedes } = (await import('aedes')) as unknown as { Aedes: { createBroker(): Promise<{ handle: (s: net.Socket) => void }> } };
    const aedes = await Aedes.createBroker();
    const server = net.createServer((s) => aedes.handle(s));
    server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as net.AddressInfo).port }));
    return;
  }
  // Tollgate as it runs for real: the whole mesh in this process (PGlite), a device token of kind
  // acl with per-topic rules checked by the compiled ACL engine, every message metered against
  // quota leases, every connection holding an `mqtt.connections` slot from the edge's leased block,
  // usage reported in batches.
  const { startBenchMesh } = await import('./bench-mesh.ts');
  const { mesh, secret } = await startBenchMesh('tollgate-bench-mesh-');
  const tcp = mesh.broker!.mqttAddresses().tcp!;
  process.send!({ port: Number(tcp.slice(tcp.lastIndexOf(':') + 1)), username: secret, password: '' });
}


interface Running {
  port: number;
  pid: number;
  exited: boolean;
  stop(): Promise<void>;
  /** Node brokers: collects garbage and answers the JS heap in use after it (bytes). */
  gc?: () => Promise<number | undefined>;
}


async function startForked(name: 'tollgate' | 'aedes'): Promise<Running> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, '--expose-gc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => {
      const msg = m as { port: number; username?: string; password?: string };
      credentials = msg.username === undefined ? { username: USER, password: PASSWORD } : { username: msg.username, password: msg.password ?? '' };
      resolve(msg.port);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
  const running: Running = {
    port,
    pid: child.pid!,
    exited: false,
    stop: () => kill(child),
    // Node brokers: collect garbage before a memory reading, so it shows what idle connections hold.
    gc: () =>
      new Promise<number | undefined>((resolve) => {
        child.once('message', (m) => resolve((m as { heapUsed?: number }).heapUsed));
        child.send('gc');
        setTimeout(() => resolve(undefined), 2_000).unref();
      }),
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
  #connack: () => void = () => {};
  #suback: (() => void) | undefined;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.#onData(d));
    this.socket.on('error', () => {});
  }

  async connect(clientId: string): Promise<void> {
    const done = new Promise<void>((r, reject) => {
      this.#connack = r;
      this.socket.once('close', () => reject(new Error('connection closed before CONNACK')));
    });
    this.socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0, username: credentials.username, password: Buffer.from(credentials.password) }));
    await done;
  }

  async subscribe(topic: string, qos: 0 | 1): Promise<void> {
    this.#ackQos1 = qos === 1;
    const done = new Promise<void>((r) => (this.#suback = r));
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
      } else if (type === 2) this.#connack();
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

/** One publisher at 1,000 msg/s QoS 0; the subscriber reads a send timestamp from each payload. */
async function latency(b: Running): Promise<{ rate: number; cpu: number | undefined; p50: number; p99: number }> {
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
  await sleep(2_000);
  clearInterval(timer);
  const sorted = samples.slice().sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  sub!.close();
  pub!.close();
  return { rate: samples.length / 2, cpu: undefined, p50: at(0.5), p99: at(0.99) };
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

/**
 * Broker RSS growth per idle, authenticated connection (10,000 of them, keep-alive 0), and for the
 * Node brokers the JS heap growth (V8's used heap after a forced GC): RSS also holds native socket
 * state and whatever heap pages V8 keeps, the heap figure is what the connections' objects take.
 */
async function idleRss(b: Running): Promise<{ rssKb: number | undefined; heapKb: number | undefined }> {
  const heapBefore = await b.gc?.();
  const before = rssKb(b.pid);
  const sockets: LoadClient[] = [];
  for (let i = 0; i < IDLE_CONNECTIONS; i += 500) {
    const batch = Array.from({ length: 500 }, () => new LoadClient(b.port));
    await Promise.all(batch.map((c, k) => c.connect(`idle-${i + k}`).catch(() => {})));
    sockets.push(...batch);
  }
  await sleep(500);
  const heapAfter = await b.gc?.();
  const after = rssKb(b.pid);
  for (const c of sockets) c.close();
  await sleep(500);
  return {
    rssKb: before !== undefined && after !== undefined ? (after - before) / IDLE_CONNECTIONS : undefined,
    heapKb: heapBefore !== undefined && heapAfter !== undefined ? (heapAfter - heapBefore) / 1024 / IDLE_CONNECTIONS : undefined,
  };
}

export async function runBrokerBench(): Promise<BrokerBenchRow[]> {
  const rows: BrokerBenchRow[] = [];
  const starters: Array<[BrokerName, () => Promise<Running | undefined>]> = [
    ['tollgate', () => startForked('tollgate')],
    ['aedes', () => startForked('aedes')],
    ['mosquitto', startMosquitto],
  ];
  const scenarios = [
    ['fan-in 8→1 QoS0', fanIn],
    ['fan-out 1→8 QoS0', fanOut],
    ['QoS1 round trips', qos1],
    ['connect+disconnect (credentials)', connects],
    ['latency @1k msg/s', latency],
  ] as const;
  const idle: Array<[BrokerName, { rssKb: number | undefined; heapKb: number | undefined }]> = [];
  for (const [name, start] of starters) {
    const running = await start();
    if (!running) {
      process.stdout.write(`${name}: not installed, skipped\n`);
      continue;
    }
    try {
      // First, on a fresh process: later scenarios leave freed heap that idle sockets would reuse.
      idle.push([name, await idleRss(running).catch(() => ({ rssKb: undefined, heapKb: undefined }))]);
      for (const [scenario, run] of scenarios) {
        if (running.exited) {
          rows.push({ broker: name, scenario, messagesPerSecond: 0, cpuMicrosPerMessage: undefined, note: 'broker process had crashed' });
          continue;
        }
        const r: { rate: number; cpu: number | undefined; p50?: number; p99?: number } = await run(running).catch(() => ({ rate: 0, cpu: undefined }));
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
  lines.push('', `| broker | RSS per idle connection (${IDLE_CONNECTIONS.toLocaleString('en-US')} connections) | JS heap per idle connection |`, '|---|---:|---:|');
  for (const [name, m] of idle) lines.push(`| ${name} | ${kb(m.rssKb)} | ${kb(m.heapKb)} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return rows;
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) {
  process.on('message', (m) => {
    if (m !== 'gc') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    process.send!({ heapUsed: getHeapStatistics().used_heap_size });
  });
  await serve(process.argv[serveAt + 1]!);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await runBrokerBench();
  process.exit(0);
}
