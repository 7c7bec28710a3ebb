// authz over gRPC on loopback. First the server alone in a child process, loaded by h2load, against a
// bare grpc-js server in alternating runs (ratios in the same run) — at 64 in flight also beside the
// same bare handler served from Tollgate's own process and, with DATABASE_URL, `tollgate start
// --service authz` in a process of its own; then Authorize and
// AuthorizeBatch from a grpc-js client in a worker thread of this process (the mesh in this thread).
//   OTEL_TRACES_SAMPLER=… OTEL_TRACES_SAMPLER_ARG=…  the Tollgate server process's trace sampler (printed)
//   AUTHZ_BENCH_ROUNDS=N       alternating Tollgate/bare rounds at 64 and at 1 in flight (default 3; 0: none)
//   AUTHZ_BENCH_PROFILE=DIR    also one profiled run each of Tollgate and bare grpc-js at 64 in flight:
//                              CPU µs per call by area side by side, and Tollgate's top frames
//   AUTHZ_BENCH_ONLY=server    the server-alone part only
//   AUTHZ_BENCH_PIN=1          h2load on CPU 0 and every server process on CPU 1 (taskset): steadier peer figures
//   AUTHZ_BENCH_SIMULTANEOUS=1 (with PIN, DATABASE_URL) at 64 in flight, bare grpc-js and the lone authz loaded at
//                              the same time, each by its own h2load, sharing CPU 1: both see the same machine at
//                              once, so their CPU per call compares even while the host's speed drifts (calls/s
//                              of those two rows are then each half a core's)
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';
import { startTestMesh } from '../harness/mesh.ts';
import { loadInWorker, percentile } from './closed-loop.ts';
import { h2loadAvailable, runH2load, type H2loadResult } from './h2load.ts';
import { authzFixture, measureWorkers, startAuthzProcess } from './authz-workers.ts';
import { selfTimeByArea, summarizeCpuProfile } from './cpu-profile-summary.ts';

const load = (job: Record<string, unknown>) => loadInWorker(new URL('./grpc-load-worker.ts', import.meta.url), job);

interface ServerProcess {
  info: Record<string, string>;
  pid: number;
  /** Sends one line on the child's stdin and waits for its one-line answer (authz-server-process.ts: `profile …`). */
  command(line: string): Promise<string>;
  stop(): Promise<void>;
}

/** A server in a child process that prints one JSON line when it serves and stops when its stdin closes. */
async function startServerProcess(file: string, args: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL(file, import.meta.url)), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const line = await new Promise<string>((resolve, reject) => {
    waiting.push(resolve);
    child.once('exit', (code) => reject(new Error(`${file} exited (${code})`)));
  });
  return {
    info: JSON.parse(line) as Record<string, string>,
    pid: child.pid!,
    command(text) {
      const answer = new Promise<string>((resolve) => waiting.push(resolve));
      child.stdin!.write(`${text}\n`);
      return answer;
    },
    async stop() {
      child.stdin!.end();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const loadAverage = () => loadavg().map((l) => l.toFixed(2)).join(' ');

type Row = H2loadResult & { server: string; rpc: string };

type ServerName = 'Tollgate' | 'bare grpc-js' | "bare grpc-js in Tollgate's process" | 'Tollgate authz alone';

/**
 * The server alone: the mesh in a child process, loaded by h2load (C) from outside, so neither a
 * grpc-js client nor the load generator shares the server's event loop. The peer is a bare grpc-js
 * server with a constant handler (bare-grpc-server.ts) in another child process, loaded the
 * same way in alternating runs: the ratio of each Tollgate run to the bare run next to it is the
 * figure (absolute rates move with whatever else the machine runs). CPU µs per call of the server
 * process come from /proc over the measured window.
 *
 * Two more servers at 64 in flight say where the difference goes: the same constant handler served
 * from inside Tollgate's process (what any grpc-js call costs in a process that also runs the
 * mesh — its other services, its heap — so Tollgate against it is Tollgate's own work per call), and,
 * when there is a Postgres (DATABASE_URL), authz as it is deployed to scale: `tollgate start
 * --service authz`, a process of its own (authz-workers.ts).
 */
export async function serverAloneWithH2load(seconds: number, rounds: number): Promise<Row[]> {
  const tollgate = await startServerProcess('./authz-server-process.ts');
  const bare = await startServerProcess('./bare-grpc-server-process.ts', [tollgate.info.authorizeResponse!]);
  const fixture = rounds > 0 ? await authzFixture() : undefined;
  const lone = fixture ? await startAuthzProcess(fixture, 1) : undefined;
  try {
    const path = '/tollgate.authz.v1.AuthzService/Authorize';
    const body = Buffer.from(tollgate.info.authorize!, 'base64');
    const target = (server: ServerName) =>
      server === 'Tollgate'
        ? { address: tollgate.info.address!, pids: [tollgate.pid], body }
        : server === 'bare grpc-js'
          ? { address: bare.info.address!, pids: [bare.pid], body }
          : server === "bare grpc-js in Tollgate's process"
            ? { address: tollgate.info.inProcessBare!, pids: [tollgate.pid], body }
            : { address: lone!.address, pids: lone!.pids, body: fixture!.body };
    // AUTHZ_BENCH_PIN=1: h2load on CPU 0, every server process (all its threads) on CPU 1.
    const pin = process.env['AUTHZ_BENCH_PIN'] === '1';
    const simultaneous = pin && process.env['AUTHZ_BENCH_SIMULTANEOUS'] === '1';
    if (simultaneous && lone) process.stdout.write('AUTHZ_BENCH_SIMULTANEOUS: at 64 in flight bare grpc-js and the lone authz run at the same time on CPU 1; compare their CPU per call (each has half a core, so calls/s is not the figure)\n');
    if (pin) for (const pid of [tollgate.pid, bare.pid, ...(lone?.pids ?? [])]) execFileSync('taskset', ['-a', '-cp', '1', String(pid)], { stdio: 'ignore' });
    const load = async (server: ServerName, inFlight: number): Promise<Row> => {
      const { address, pids, body: request } = target(server);
      const result = await runH2load({ address, path, body: request, seconds, inFlight, serverPids: pids, ...(pin ? { cpus: '0' } : {}) });
      return { server, rpc: 'Authorize', ...result };
    };
    const rows: Row[] = [];
    const pairs: Record<number, Partial<Record<ServerName, Row>>[]> = {};
    for (const inFlight of [64, 1]) {
      pairs[inFlight] = [];
      const servers: ServerName[] = inFlight === 64 ? ['bare grpc-js', 'Tollgate', "bare grpc-js in Tollgate's process", ...(lone ? (['Tollgate authz alone'] as const) : [])] : ['bare grpc-js', 'Tollgate'];
      // AUTHZ_BENCH_SIMULTANEOUS=1: bare grpc-js and the lone authz side by side on the pinned CPU.
      const together: ServerName[] = simultaneous && inFlight === 64 && lone ? ['bare grpc-js', 'Tollgate authz alone'] : [];
      for (let round = 0; round < rounds; round++) {
        // Alternate the order, so that a drift in the machine's load does not favour any of them.
        const order = round % 2 === 0 ? servers : [...servers].reverse();
        const pair: Partial<Record<ServerName, Row>> = {};
        if (together.length) {
          const both = await Promise.all(together.map((server) => load(server, inFlight)));
          together.forEach((server, i) => rows.push((pair[server] = both[i]!)));
        }
        for (const server of order) if (!together.includes(server)) rows.push((pair[server] = await load(server, inFlight)));
        pairs[inFlight]!.push(pair);
      }
    }
    const profileDir = process.env['AUTHZ_BENCH_PROFILE'];
    if (profileDir) {
      const profiles = [await profileRun(tollgate, 'Tollgate', profileDir, () => load('Tollgate', 64)), await profileRun(bare, 'bare grpc-js', profileDir, () => load('bare grpc-js', 64))];
      printProfiles(profiles);
    }
    rows.push(await load('Tollgate', 8));
    rows.push({ server: 'Tollgate', rpc: 'envoy Authorization/Check', ...(await runH2load({ address: tollgate.info.address!, path: '/envoy.service.auth.v3.Authorization/Check', body: Buffer.from(tollgate.info.check!, 'base64'), seconds, inFlight: 64, serverPids: [tollgate.pid] })) });
    process.stdout.write(`authz Authorize, server alone in its own process (whole mesh, PGlite, telemetry on, trace sampler ${tollgate.info.sampler})${sampledNote(tollgate.info.sampler!)} vs a bare grpc-js server (constant handler), load from h2load (nghttp2, C), one HTTP/2 connection, ${seconds} s per run; load average ${loadAverage()}\n`);
    console.table(rows);
    const fmt = (v: number[]) => v.map((x) => x.toFixed(2)).join(', ');
    const ratio = (inFlight: number, label: string, a: ServerName, b: ServerName) => {
      const runs = pairs[inFlight]!.filter((p) => p[a] && p[b]);
      if (!runs.length) return;
      const calls = runs.map((p) => p[a]!.callsPerSecond / p[b]!.callsPerSecond);
      const cpu = runs.map((p) => p[b]!.cpuUsPerCall! / p[a]!.cpuUsPerCall!);
      const extra = runs.map((p) => p[a]!.cpuUsPerCall! - p[b]!.cpuUsPerCall!);
      process.stdout.write(`${label} at ${inFlight} in flight: calls/s ratio ${median(calls).toFixed(2)}× (median of ${fmt(calls)}); CPU per call ratio (${b} ÷ ${a}) ${median(cpu).toFixed(2)}× (${fmt(cpu)}); ${median(extra).toFixed(1)} µs more per call\n`);
    };
    if (rounds > 0) {
      ratio(64, 'Authorize/bare grpc-js', 'Tollgate', 'bare grpc-js');
      ratio(64, 'Authorize of `tollgate start --service authz` (Postgres)/bare grpc-js', 'Tollgate authz alone', 'bare grpc-js');
      ratio(64, "Authorize/bare grpc-js in Tollgate's process (Tollgate's own work)", 'Tollgate', "bare grpc-js in Tollgate's process");
      ratio(64, "bare grpc-js in Tollgate's process/bare grpc-js (what the process adds)", "bare grpc-js in Tollgate's process", 'bare grpc-js');
      ratio(1, 'Authorize/bare grpc-js', 'Tollgate', 'bare grpc-js');
      const p99At1 = median(rows.filter((r) => r.server === 'Tollgate' && r.rpc === 'Authorize' && r.inFlight === 1).map((r) => r.p99Ms));
      process.stdout.write(`Authorize p99 at 1 in flight: ${p99At1} ms (median of ${rounds} runs); goal < 1 ms\n`);
    }
    return rows;
  } finally {
    await lone?.stop();
    await fixture?.close();
    await bare.stop();
    await tollgate.stop();
  }
}

const sampledNote = (sampler: string) => (sampler === 'parentbased_always_on' || sampler === 'always_on' ? ' (every call traced)' : ' (h2load sends no traceparent: root calls)');

/** Where the profile's busy samples go, by area (self time): the breakdown docs/BENCHMARKS.md quotes. */
const PROFILE_AREAS = [
  { area: 'GC', pattern: /^\(garbage collector\)/ },
  { area: 'OpenTelemetry', pattern: /\(@opentelemetry\// },
  { area: 'grpc-js', pattern: /\(@grpc\// },
  { area: 'protobuf-es', pattern: /\(@bufbuild\// },
  { area: 'libs/rpc', pattern: /\(libs\/rpc\// },
  { area: 'libs/acl, libs/policy', pattern: /\(libs\/(acl|policy)\// },
  { area: 'authz', pattern: /\(services\/authz\// },
  { area: 'gen (generated code)', pattern: /\(gen\// },
  { area: 'pino', pattern: /\(pino/ },
  { area: 'Node http2', pattern: /\(node:internal\/http2/ },
  { area: 'Node internals (streams, timers, async hooks, …)', pattern: /\(node:/ },
  { area: 'V8/native ((program), builtins without a file)', pattern: /^[^(]*(\(program\))?$|^\((program|root)\)/ },
];

interface ProfiledRun {
  server: string;
  file: string;
  row: Row;
  busy: number;
  idle: number;
  areas: { area: string; share: number }[];
  top: { frame: string; share: number }[];
}

/** One run at 64 in flight with `server` under the V8 profiler (the h2load run only, warm-up included). */
async function profileRun(server: ServerProcess, name: string, dir: string, run: () => Promise<Row>): Promise<ProfiledRun> {
  mkdirSync(dir, { recursive: true });
  const file = join(resolve(dir), `authz-${name === 'Tollgate' ? `tollgate-${server.info.sampler!.replace(/\s+/g, '-')}` : 'bare'}-${Date.now()}.cpuprofile`);
  await server.command('profile start');
  const row = await run();
  await server.command(`profile stop ${file}`);
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const { busy, idle, rows } = summarizeCpuProfile(file, root, 30);
  return { server: name, file, row, busy, idle, areas: selfTimeByArea(file, root, PROFILE_AREAS), top: rows };
}

/** Each area's share of CPU per call, µs, Tollgate beside bare grpc-js: where Tollgate's extra µs go. */
function printProfiles([tollgate, bare]: ProfiledRun[]): void {
  const us = (p: ProfiledRun, area: string) => (p.areas.find((a) => a.area === area)?.share ?? 0) * (p.row.cpuUsPerCall ?? 0);
  for (const p of [tollgate!, bare!]) process.stdout.write(`CPU profile, ${p.server} at 64 in flight (profiler on): ${p.row.callsPerSecond} calls/s, ${p.row.cpuUsPerCall} µs CPU per call, ${p.busy} busy / ${p.idle} idle samples: ${p.file}\n`);
  const areas = [...new Set([...tollgate!.areas, ...bare!.areas].map((a) => a.area))];
  console.table(
    areas
      .map((area) => ({ area, tollgateUs: Number(us(tollgate!, area).toFixed(1)), bareUs: Number(us(bare!, area).toFixed(1)), extraUs: Number((us(tollgate!, area) - us(bare!, area)).toFixed(1)) }))
      .sort((a, b) => b.extraUs - a.extraUs),
  );
  process.stdout.write('Tollgate, top frames by self time:\n');
  console.table(tollgate!.top.map((r) => ({ frame: r.frame, share: `${(r.share * 100).toFixed(1)} %`, us: Number((r.share * (tollgate!.row.cpuUsPerCall ?? 0)).toFixed(1)) })));
}

/** `tollgate start --service authz --workers N`, N = 1 and 2 (authz-workers.ts); needs Postgres (DATABASE_URL). */
export async function workersScaling(seconds: number): Promise<void> {
  const rows = await measureWorkers({ seconds });
  if (!rows) {
    process.stdout.write('authz --workers: DATABASE_URL not set (a lone service needs Postgres): skipped\n');
    return;
  }
  process.stdout.write(`authz --workers N (tollgate start, Postgres), h2load: 4 connections × 16 in flight; load average ${loadAverage()}\n`);
  console.table(rows);
  const [one, two] = rows;
  if (one && two) {
    process.stdout.write(
      `workers 2 vs 1: calls/s ${(two.callsPerSecond / one.callsPerSecond).toFixed(2)}× on this machine; CPU per call ${one.cpuUsPerCall} → ${two.cpuUsPerCall} µs, CPU split ${two.cpuSharePerWorker} %: on 2 free cores ≈ ${two.projectedCallsPerSecond} calls/s (${(two.projectedCallsPerSecond / one.projectedCallsPerSecond).toFixed(2)}× one worker's ${one.projectedCallsPerSecond})\n`,
    );
  }
}

export async function runAuthzBench(options: { seconds?: number; rounds?: number } = {}) {
  const seconds = options.seconds ?? 5;
  if (h2loadAvailable()) {
    await serverAloneWithH2load(seconds, options.rounds ?? Number(process.env.AUTHZ_BENCH_ROUNDS ?? 3));
    if (process.env['AUTHZ_BENCH_ONLY'] === 'server') return [];
    await workersScaling(seconds);
  } else {
    process.stdout.write('authz: h2load not installed (Debian nghttp2-client): the server-alone figures are skipped\n');
  }
  const mesh = await startTestMesh();
  try {
    const tenant = await mesh.createTenant('bench');
    const admin = createRpcClient(AuthzService, mesh.address('authz'));
    const rules = Array.from({ length: 100 }, (_, i) => ({ effect: Effect.ALLOW, actions: ['publish'], resources: [`mqtt:devices/\${client_id}/sensor${i}/#`] }));
    const { secret } = await admin.createToken({ accountId: tenant.accountId, kind: TokenKind.ACL, rules }, { headers: { authorization: `Bearer ${tenant.masterToken}` } });
    admin.close();
    const results = [];
    for (const mode of ['authorize', 'batch'] as const) {
      const batchSize = 100;
      const { latencies, elapsed } = await load({ address: mesh.address('authz'), secret, mode, seconds, inFlight: 64, batchSize });
      latencies.sort((a, b) => a - b);
      const calls = latencies.length / elapsed;
      const row = {
        rpc: mode === 'authorize' ? 'Authorize' : `AuthorizeBatch (${batchSize} topics)`,
        callsPerSecond: Math.round(calls),
        decisionsPerSecond: Math.round(mode === 'authorize' ? calls : calls * batchSize),
        p50Ms: Number(percentile(latencies, 0.5).toFixed(2)),
        p99Ms: Number(percentile(latencies, 0.99).toFixed(2)),
      };
      results.push(row);
    }
    process.stdout.write('authz gRPC on loopback, acl token with 100 rules, 64 calls in flight, client in a worker thread\n');
    console.table(results);
    return results;
  } finally {
    await mesh.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runAuthzBench();
