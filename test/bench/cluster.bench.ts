/**
 * Cluster benchmark: two broker edges (each its own process) clustered over a private nats-server,
 * against one edge alone — the price of crossing NATS.
 *
 *   npm run bench -- cluster        (or node test/bench/cluster.bench.ts; ~80 s)
 *
 * The edges run the broker core with in-memory auth and quota (no mesh: what is measured is the
 * cluster, not authz), the same load generator as broker.bench.ts. Scenarios:
 * - fan-in 8→1 QoS 0 at 64 B: one edge without a cluster; a clustered edge whose messages have no
 *   remote subscriber (what being in a cluster costs an edge whose traffic stays local); 8 publishers on
 *   edge 2 and the subscriber on edge 1 (cross-edge).
 * - latency at 1,000 msg/s QoS 0, p50/p99: the same edge, and across edges.
 * CPU µs/message is the sum over both edge processes (utime+stime from /proc), nats-server excluded.
 *
 *   node test/bench/cluster.bench.ts --profile [dir]
 * profiles the cross-edge path instead: both clustered edges sample themselves with V8's CPU profiler
 * (the inspector's Profiler, what `node --cpu-prof` runs, but only over the measured window: no
 * start-up in it) through the paced cross-edge scenario (8,000 msg/s for 10 s); the profiles are
 * written to dir (default a temp dir) and printed summarized by self time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';
import { clients, floodQos0, kill, type LoadClient } from './broker.bench.ts';
import { startNatsNode } from '../harness/nats-node.ts';
import { summarizeCpuProfile } from './cpu-profile-summary.ts';

const WARMUP_MS = 500;
const MEASURE_MS = 3_000;
/** Paced CPU is read from /proc in 10 ms ticks: 10 s windows keep one tick under 0.15 µs/msg. */
const PACED_MEASURE_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Edge {
  port: number;
  pid: number;
  child: ChildProcess;
}

async function serveEdge(natsUrl: string, cluster: string, edgeId: string): Promise<void> {
  const { createBroker } = await import('../../services/broker/src/broker.ts');
  const { InMemoryAuthenticator } = await import('../../services/broker/test/doubles/in-memory-authenticator.ts');
  const { UnlimitedQuotaMeter } = await import('../../services/broker/test/doubles/unlimited-quota-meter.ts');
  const { NatsCluster } = await import('../../services/broker/src/cluster/nats-cluster.ts');
  const { silentLogger } = await import('../../libs/telemetry/index.ts');
  const nats = natsUrl ? new NatsCluster({ url: natsUrl, cluster, edgeId, logger: silentLogger() }) : undefined;
  const broker = createBroker({
    authenticator: new InMemoryAuthenticator({ users: [{ username: 'bench', password: 'bench-token-secret', account: 'acc_bench' }] }),
    quota: new UnlimitedQuotaMeter(),
    tcp: { host: '127.0.0.1', port: 0 },
    ...(nats ? { cluster: nats } : {}),
  });
  await nats?.start();
  const addr = await broker.listen();
  process.on('SIGINT', () => process.exit(0));
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const profiler = new Session();
  process.on('message', (m: { profile?: 'start' | 'stop'; path?: string }) => {
    void (async () => {
      if (m.profile === 'start') {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
        await profiler.post('Profiler.start');
      } else if (m.profile === 'stop') {
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        writeFileSync(m.path!, JSON.stringify(profile));
      }
      process.send!({ profiled: m.profile });
    })();
  });
  process.send!({ port: addr.tcp!.port });
}

async function startEdge(natsUrl: string, cluster: string, edgeId: string): Promise<Edge> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve-edge', natsUrl, cluster, edgeId], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`edge ${edgeId} exited ${code}`)));
  });
  return { port, pid: child.pid!, child };
}

function cpuTicks(pids: number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(fields[11]) + Number(fields[12]);
    } catch {
      return undefined;
    }
  }
  return sum;
}

/** Runs around the measured window (after the warm-up), e.g. a profiler. */
interface Window {
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function measure(pids: number[], count: () => number, ms = MEASURE_MS, window?: Window): Promise<{ rate: number; cpu: number | undefined }> {
  await sleep(WARMUP_MS);
  await window?.start();
  const c0 = count();
  const t0 = performance.now();
  const cpu0 = cpuTicks(pids);
  await sleep(ms);
  const n = count() - c0;
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = cpuTicks(pids);
  await window?.stop();
  return { rate: n / secs, cpu: cpu0 !== undefined && cpu1 !== undefined && n > 0 ? ((cpu1 - cpu0) * 10_000) / n : undefined };
}

async function fanIn(subEdge: Edge, pubEdge: Edge): Promise<{ rate: number; cpu: number | undefined }> {
  const [sub] = await clients(subEdge.port, 1, 'fi-sub');
  await sub!.subscribe('bench/in', 0);
  const pubs = await clients(pubEdge.port, 8, 'fi-pub');
  const until = { stop: false };
  for (const p of pubs) floodQos0(p, 'bench/in', until);
  const r = await measure([...new Set([subEdge.pid, pubEdge.pid])], () => sub!.received);
  until.stop = true;
  for (const c of [sub!, ...pubs]) c.close();
  await sleep(500); // let the edges drain what is still buffered before the next scenario
  return r;
}

/** 8 publishers at a fixed 8,000 msg/s in all (no drops): edge CPU per message is the cost of the path. */
async function pacedFanIn(subEdge: Edge, pubEdge: Edge, window?: Window): Promise<{ rate: number; cpu: number | undefined }> {
  const [sub] = await clients(subEdge.port, 1, 'pf-sub');
  await sub!.subscribe('bench/paced', 0);
  const pubs = await clients(pubEdge.port, 8, 'pf-pub');
  const frame = mqttPacket.generate({ cmd: 'publish', topic: 'bench/paced', payload: Buffer.alloc(64, 0x61), qos: 0, retain: false, dup: false });
  const batch = Buffer.concat(Array.from({ length: 10 }, () => frame)); // 10 per publisher per 10 ms
  const timer = setInterval(() => {
    for (const p of pubs) p.socket.write(batch);
  }, 10);
  const r = await measure([...new Set([subEdge.pid, pubEdge.pid])], () => sub!.received, PACED_MEASURE_MS, window);
  clearInterval(timer);
  for (const c of [sub!, ...pubs]) c.close();
  await sleep(300);
  return r;
}

async function latency(subEdge: Edge, pubEdge: Edge): Promise<{ p50: number; p99: number; n: number }> {
  const [sub] = (await clients(subEdge.port, 1, 'lat-sub')) as [LoadClient];
  const [pub] = (await clients(pubEdge.port, 1, 'lat-pub')) as [LoadClient];
  await sub.subscribe('bench/lat', 0);
  const samples: number[] = [];
  sub.onPayload = (buf, start) => samples.push(performance.now() - buf.readDoubleLE(start));
  const payload = Buffer.alloc(64);
  const timer = setInterval(() => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      payload.writeDoubleLE(performance.now(), 0);
      frames.push(mqttPacket.generate({ cmd: 'publish', topic: 'bench/lat', payload, qos: 0, retain: false, dup: false }));
    }
    pub.socket.write(Buffer.concat(frames));
  }, 10);
  await sleep(WARMUP_MS);
  samples.length = 0;
  await sleep(2_000);
  clearInterval(timer);
  const sorted = samples.slice().sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  sub.close();
  pub.close();
  return { p50: at(0.5), p99: at(0.99), n: samples.length };
}

export async function runClusterBench(): Promise<void> {
  const nats = await startNatsNode();
  const edges: Edge[] = [];
  try {
    const alone = await startEdge('', '', 'alone');
    edges.push(alone);
    const e1 = await startEdge(nats.url, 'bench', 'e1');
    const e2 = await startEdge(nats.url, 'bench', 'e2');
    edges.push(e1, e2);
    const rows: string[] = ['| scenario | flood fan-in 8→1 msgs/s | CPU µs/msg (flood) | CPU µs/msg at 8,000 msg/s | latency @1k msg/s |', '|---|---:|---:|---:|---|'];
    const fmt = (r: { rate: number; cpu: number | undefined }) => `${Math.round(r.rate).toLocaleString('en-US')} | ${r.cpu?.toFixed(2) ?? 'n/a'}`;
    const lat = (l: { p50: number; p99: number }) => `p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms`;
    const paced = (r: { rate: number; cpu: number | undefined }) => `${r.cpu?.toFixed(2) ?? 'n/a'} (${Math.round(r.rate).toLocaleString('en-US')}/s delivered)`;
    // The paced pair in the other order first: which edge is measured first (warm-up, the machine's
    // load drifting) moved the figure by 15-28 % in fixed-order runs; both orders are reported.
    const localPacedFirst = await pacedFanIn(e1, e1);
    const singlePacedSecond = await pacedFanIn(alone, alone);
    const single = await fanIn(alone, alone);
    const singlePaced = await pacedFanIn(alone, alone);
    const singleLat = await latency(alone, alone);
    rows.push(`| one edge, no cluster | ${fmt(single)} | ${paced(singlePaced)} | ${lat(singleLat)} |`);
    const localInCluster = await fanIn(e1, e1);
    const localPaced = await pacedFanIn(e1, e1);
    const localLat = await latency(e1, e1);
    rows.push(`| clustered edge, all local (no remote interest: nothing published to NATS) | ${fmt(localInCluster)} | ${paced(localPaced)} | ${lat(localLat)} |`);
    const cross = await fanIn(e1, e2);
    const crossPaced = await pacedFanIn(e1, e2);
    const crossLat = await latency(e1, e2);
    rows.push(`| cross-edge: publishers on edge 2 → subscriber on edge 1 (CPU of both edges) | ${fmt(cross)} | ${paced(crossPaced)} | ${lat(crossLat)} |`);
    const pct = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? `${(((a - b) / b) * 100).toFixed(1)} %` : 'n/a');
    rows.push('', `paced CPU, clustered edge with no remote interest vs one edge: ${pct(localPacedFirst.cpu, singlePacedSecond.cpu)} (clustered measured first), ${pct(localPaced.cpu, singlePaced.cpu)} (one edge first)`);
    process.stdout.write(`${rows.join('\n')}\n\ncross-edge / single-edge fan-in: ${(cross.rate / single.rate).toFixed(2)}×; clustered-local / single: ${(localInCluster.rate / single.rate).toFixed(2)}×\n`);
  } finally {
    for (const e of edges) await kill(e.child);
    await nats.destroy();
  }
}

/** The cross-edge path under the profiler: publishers on edge 2, the subscriber on edge 1. */
export async function profileCrossEdge(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const nats = await startNatsNode();
  const edges: Edge[] = [];
  try {
    const e1 = await startEdge(nats.url, 'bench', 'e1');
    const e2 = await startEdge(nats.url, 'bench', 'e2');
    edges.push(e1, e2);
    const ask = (e: Edge, id: string, profile: 'start' | 'stop') =>
      new Promise<void>((resolve, reject) => {
        e.child.once('message', () => resolve());
        e.child.once('exit', (code) => reject(new Error(`edge ${id} exited ${code}`)));
        e.child.send({ profile, path: join(dir, `edge-${id}.cpuprofile`) });
      });
    const load0 = loadavg()[0]!;
    const r = await pacedFanIn(e1, e2, {
      start: async () => void (await Promise.all([ask(e1, 'e1', 'start'), ask(e2, 'e2', 'start')])),
      stop: async () => void (await Promise.all([ask(e1, 'e1', 'stop'), ask(e2, 'e2', 'stop')])),
    });
    const load1 = loadavg()[0]!;
    process.stdout.write(`cross-edge paced fan-in: ${Math.round(r.rate).toLocaleString('en-US')}/s delivered, ${r.cpu?.toFixed(2) ?? 'n/a'} µs CPU/msg over both edges; load average ${load0.toFixed(1)} → ${load1.toFixed(1)}; profiles in ${dir}\n`);
    const root = fileURLToPath(new URL('../../', import.meta.url));
    for (const [edge, role] of [['e2', 'publishers\' edge (encodes, publishes to NATS)'], ['e1', 'subscriber\'s edge (receives from NATS, decodes, routes, writes MQTT)']] as const) {
      const { busy, idle, rows } = summarizeCpuProfile(join(dir, `edge-${edge}.cpuprofile`), root);
      process.stdout.write(`\n### ${edge}: ${role} — ${busy} busy samples, ${idle} idle\n\n| self samples | share of busy | function |\n|---:|---:|---|\n`);
      for (const row of rows) process.stdout.write(`| ${row.samples} | ${(row.share * 100).toFixed(1)} % | ${row.frame.replaceAll('|', '\\|')} |\n`);
    }
  } finally {
    for (const e of edges) await kill(e.child);
    await nats.destroy();
  }
}

const serveAt = process.argv.indexOf('--serve-edge');
const profileAt = process.argv.indexOf('--profile');
if (serveAt >= 0) {
  await serveEdge(process.argv[serveAt + 1]!, process.argv[serveAt + 2]!, process.argv[serveAt + 3]!);
} else if (profileAt >= 0) {
  await profileCrossEdge(process.argv[profileAt + 1] ?? mkdtempSync(join(tmpdir(), 'tollgate-cluster-prof-')));
  process.exit(0);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await runClusterBench();
  process.exit(0);
}
