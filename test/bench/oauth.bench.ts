/**
 * OAuth provider benchmark (part of `npm run bench -- identity`): client-credentials grants/s and
 * RFC 7662 introspections/s on identity's HTTP port, at 8 and 64 requests in flight, with p50/p99.
 * Identity runs in this process on a fresh database (on DATABASE_URL's server, else in-memory PGlite).
 * The load comes from h2load (HTTP/1.1, one keep-alive connection per request in flight) in its own
 * process, so this process's CPU time is the server's: `server CPU/req` is what one request costs it
 * whatever else the machine runs. Without h2load, `fetch` callers in this process (figures are floors).
 *
 *   node test/bench/oauth.bench.ts [grant|introspection]
 *   OAUTH_BENCH_PROFILE=DIR …   # a CPU profile of each measured run alone (no start-up, no warm-up) in DIR
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRpcClient } from '#libs/rpc/index.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { startTestMesh } from '../harness/mesh.ts';
import { openIsolatedTestDatabase } from '../harness/database.ts';
import { percentile, runClosedLoop } from './closed-loop.ts';
import { h2loadAvailable } from './h2load.ts';

const run = promisify(execFile);

export interface OAuthBenchRow {
  name: string;
  inFlight: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** This process's CPU time (user + system) per request: the server's, when the load is h2load's. */
  serverCpuMsPerRequest: number;
  /** The same, less what the idle mesh in this process burns meanwhile (timers, polling feeds). */
  netServerCpuMsPerRequest: number;
  /** Load average (1 min) when the row was measured. */
  load: number;
}

interface Load {
  requests: number;
  latencies: number[];
  elapsed: number;
  errors: number;
}

/**
 * `inFlight` HTTP/1.1 keep-alive connections of h2load, one request outstanding on each, POSTing
 * `body` to `url` for `seconds`; any answer but 200 is an error. Latencies from its request log.
 */
async function h2loadPost(url: string, headers: Record<string, string>, body: string, seconds: number, inFlight: number): Promise<Load> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-oauth-bench-'));
  try {
    const bodyFile = join(dir, 'body');
    const logFile = join(dir, 'requests.log');
    writeFileSync(bodyFile, body);
    const args = ['--h1', '-c', String(inFlight), '-t', '1', '-m', '1', '-D', String(seconds), '-d', bodyFile, '--log-file', logFile];
    for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
    args.push(url);
    await run('h2load', args, { timeout: (seconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 });
    const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((line) => line.split('\t'));
    const starts = lines.map((l) => Number(l[0]));
    const ends = lines.map((l, i) => starts[i]! + Number(l[2]));
    return {
      requests: lines.length,
      latencies: lines.map((l) => Number(l[2]) / 1000),
      elapsed: lines.length ? (Math.max(...ends) - Math.min(...starts)) / 1e6 : seconds,
      errors: lines.filter((l) => l[1] !== '200').length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** With OAUTH_BENCH_PROFILE set, starts the V8 profiler; the answer stops it and writes `<dir>/<name>.cpuprofile`. */
async function startProfile(): Promise<((name: string) => Promise<void>) | undefined> {
  const dir = process.env['OAUTH_BENCH_PROFILE'];
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (name) => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  };
}

export async function runOAuthBench(options: { seconds?: number; print?: boolean; only?: 'grant' | 'introspection' } = {}): Promise<OAuthBenchRow[]> {
  const seconds = options.seconds ?? 5;
  const external = h2loadAvailable();
  // A database of the bench's own on DATABASE_URL's server (its keys sealed with this run's secret), else PGlite.
  process.env['TOLLGATE_TEST_DATABASE_URL'] ??= process.env['DATABASE_URL'];
  const setupStarted = performance.now();
  const database = await openIsolatedTestDatabase();
  const mesh = await startTestMesh({ database });
  const identity = createRpcClient(IdentityService, mesh.address('identity'));
  const rows: OAuthBenchRow[] = [];
  try {
    const issuer = mesh.services.find((s) => s.name === 'identity')!.httpAddress!;
    const t = await mesh.createTenant('oauth-bench');
    const created = await identity.createClient({ accountId: t.accountId, name: 'bench', type: OAuthClientType.SERVICE }, { headers: { authorization: `Bearer ${t.masterToken}` } });
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(created.client!.id)}:${encodeURIComponent(created.clientSecret)}`).toString('base64')}`;
    const headers = { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' };
    if (options.print ?? true) console.log(`set up in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);
    let errors = 0;
    const post = async (path: string, body: string) => {
      const res = await fetch(`${issuer}${path}`, { method: 'POST', headers, body });
      const json = (await res.json()) as { access_token?: string; active?: boolean };
      if (res.status !== 200) errors++;
      return json;
    };
    const grant = () => post('/oauth/token', 'grant_type=client_credentials&scope=tollgate');
    const opaque = (await post('/oauth/token', 'grant_type=client_credentials')).access_token!;
    if (!(await post('/oauth/introspect', `token=${opaque}`)).active) throw new Error('introspection of a fresh token is inactive');
    const introspect = () => post('/oauth/introspect', `token=${encodeURIComponent(opaque)}`);
    // What the mesh costs doing nothing (authz's feeds, timers), to take out of the per-request figure.
    const idleStarted = performance.now();
    const idleBefore = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const idleCpu = process.cpuUsage(idleBefore);
    const idleCpuMsPerSecond = (idleCpu.user + idleCpu.system) / (performance.now() - idleStarted);
    if (options.print ?? true) console.log(`idle mesh: ${idleCpuMsPerSecond.toFixed(1)} ms CPU per second`);
    const scenarios = [
      { key: 'grant', name: 'client_credentials grant (JWT access token)', call: grant, path: '/oauth/token', body: 'grant_type=client_credentials&scope=tollgate' },
      { key: 'introspection', name: 'introspection (opaque token)', call: introspect, path: '/oauth/introspect', body: `token=${encodeURIComponent(opaque)}` },
    ].filter((s) => !options.only || s.key === options.only);
    for (const { name, call, path, body } of scenarios) {
      for (const inFlight of [8, 64]) {
        let load: Load;
        let cpu: NodeJS.CpuUsage;
        if (external) {
          await h2loadPost(`${issuer}${path}`, headers, body, 1, inFlight); // warm-up: sockets, JIT, pools
          const profile = await startProfile();
          const before = process.cpuUsage();
          load = await h2loadPost(`${issuer}${path}`, headers, body, seconds, inFlight);
          cpu = process.cpuUsage(before);
          await profile?.(`oauth-${path.split('/').pop()}-${inFlight}`);
        } else {
          errors = 0;
          const before = process.cpuUsage();
          const { latencies, elapsed } = await runClosedLoop(call, { seconds, inFlight, warmUpCalls: 50 });
          cpu = process.cpuUsage(before);
          load = { requests: latencies.length, latencies, elapsed, errors };
        }
        load.latencies.sort((a, b) => a - b);
        rows.push({
          name,
          inFlight,
          perSecond: load.requests / load.elapsed,
          p50Ms: percentile(load.latencies, 0.5),
          p99Ms: percentile(load.latencies, 0.99),
          errors: load.errors,
          serverCpuMsPerRequest: (cpu.user + cpu.system) / 1000 / Math.max(1, load.requests),
          netServerCpuMsPerRequest: Math.max(0, (cpu.user + cpu.system) / 1000 - idleCpuMsPerSecond * load.elapsed) / Math.max(1, load.requests),
          load: loadavg()[0]!,
        });
      }
    }
  } finally {
    identity.close();
    await mesh.stop();
    await database.close();
  }
  if (options.print ?? true) {
    console.log(`\nOAuth provider (HTTP, ${external ? 'h2load in its own process' : 'fetch in the same process: h2load not found'})\n`);
    console.log(`${'scenario'.padEnd(44)}  in flight    req/s   p50 ms   p99 ms  errors  server CPU/req  net of idle  req/server-CPU-s (net)  load`);
    for (const r of rows)
      console.log(
        `${r.name.padEnd(44)}  ${String(r.inFlight).padStart(9)}  ${r.perSecond.toFixed(0).padStart(7)}  ${r.p50Ms.toFixed(2).padStart(7)}  ${r.p99Ms.toFixed(2).padStart(7)}  ${String(r.errors).padStart(6)}  ${r.serverCpuMsPerRequest.toFixed(3).padStart(11)} ms  ${r.netServerCpuMsPerRequest.toFixed(3).padStart(8)} ms  ${(1000 / r.netServerCpuMsPerRequest).toFixed(0).padStart(22)}  ${r.load.toFixed(1).padStart(4)}`,
      );
  }
  return rows;
}

if (import.meta.main) {
  console.log(`oauth bench — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
  const only = process.argv.find((a) => a === 'grant' || a === 'introspection');
  const started = performance.now();
  await runOAuthBench({ ...(only ? { only } : {}), ...(process.env['OAUTH_BENCH_SECONDS'] ? { seconds: Number(process.env['OAUTH_BENCH_SECONDS']) } : {}) });
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // The mesh has stopped; whatever handle is left (a pool's timer) must not hold the profile back.
  process.exit(0);
}
