// `tollgate start --service authz --workers N` under load: N = 1 and N = 2 processes sharing the
// port (node:cluster), loaded by h2load over several connections (the primary hands connections
// to workers in turn, so one connection would reach one worker only). On a host with spare cores
// the figure is calls/s; on this 2-core machine h2load itself takes CPU, so the measurement that
// carries over to a bigger host is the CPU each worker spends per call and how evenly the calls
// spread: with no shared bottleneck, N workers on N free cores serve N × (1 s / CPU per call).
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { create, toBinary } from '@bufbuild/protobuf';
import { AuthorizeRequestSchema } from '#gen/tollgate/authz/v1/authz_pb.js';
import { openDatabase } from '#libs/db/index.ts';
import { createScratchDatabase } from '../harness/database.ts';
import { startTestMesh } from '../harness/mesh.ts';
import { cpuTicks, grpcFrame, runH2load, type H2loadResult } from './h2load.ts';
import { BENCH_TRACE_ENV } from './bench-mesh.ts';

const cli = new URL('../../bin/tollgate.js', import.meta.url).pathname;

export interface WorkersRow extends H2loadResult {
  workers: number;
  connections: number;
  /** Share of the measured CPU time each worker spent, in percent: how evenly the calls spread. */
  cpuSharePerWorker: string;
  /** One worker's capacity on a core of its own (1 s / CPU per call), times the workers. */
  projectedCallsPerSecond: number;
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['--ppid', String(pid), '-o', 'pid='], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((p) => p > 0);
  } catch {
    return [];
  }
}

/** A lone authz's world: a scratch Postgres database, identity (in this process) and an acl token with 100 rules. */
export interface AuthzFixture {
  /** The environment `tollgate start --service authz` runs with (production mode, the scratch database, identity's address). */
  env: Record<string, string>;
  /** The framed Authorize request h2load replays (the token's secret, an allowed topic). */
  body: Buffer;
  close(): Promise<void>;
}

/** Undefined when there is no Postgres (DATABASE_URL): a lone service needs it (PGlite serves one process only). */
export async function authzFixture(): Promise<AuthzFixture | undefined> {
  // The scratch database is made on the run's server (DATABASE_URL); the variable is put back at
  // once, so that the rest of the bench keeps its own database choice.
  const saved = process.env.TOLLGATE_TEST_DATABASE_URL;
  // (Assigned only when set: process.env turns undefined into the string "undefined".)
  if (process.env.DATABASE_URL) process.env.TOLLGATE_TEST_DATABASE_URL ??= process.env.DATABASE_URL;
  const scratch = await createScratchDatabase().finally(() => {
    if (saved === undefined) delete process.env.TOLLGATE_TEST_DATABASE_URL;
    else process.env.TOLLGATE_TEST_DATABASE_URL = saved;
  });
  if (!scratch) return undefined;
  const secretKey = randomBytes(32);
  const database = await openDatabase({ url: scratch.url });
  // identity (and the tenant's token) in this process, on the scratch database; authz's processes
  // reach identity through TOLLGATE_IDENTITY_URL, as replicas do.
  const mesh = await startTestMesh({ database, secretKey });
  const dataDir = mkdtempSync(join(tmpdir(), 'tg-workers-'));
  const tenant = await mesh.createTenant('bench');
  const rules = Array.from({ length: 100 }, (_, i) => ({ effect: 'allow' as const, actions: ['publish'], resources: [`mqtt:devices/\${client_id}/sensor${i}/#`] }));
  const { secret } = await mesh.authz!.core.createToken({ accountId: tenant.accountId, name: 'bench', kind: 'acl', rules, ipAllow: [], expiresAtMs: undefined, ttlSeconds: 0, shortForm: false, createdBy: 'bench' });
  return {
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: scratch.url,
      TOLLGATE_ENV: 'production',
      TOLLGATE_SECRET_KEY: secretKey.toString('base64'),
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_AUTHZ_GRPC_PORT: '0',
      TOLLGATE_AUTHZ_HTTP_PORT: '0',
      TOLLGATE_IDENTITY_URL: mesh.address('identity'),
      TOLLGATE_LOG_LEVEL: 'warn',
      ...BENCH_TRACE_ENV,
    },
    body: grpcFrame(toBinary(AuthorizeRequestSchema, create(AuthorizeRequestSchema, { credential: { bearer: secret }, action: 'publish', resource: 'mqtt:devices/c1/sensor7/temp', clientId: 'c1' }))),
    async close() {
      await mesh.stop();
      await database.close();
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `tollgate start --service authz --workers N` in `fixture`'s world: its address and the pids that serve (the workers, or the process itself for N = 1). */
export async function startAuthzProcess(fixture: AuthzFixture, workers: number): Promise<{ address: string; pids: number[]; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [cli, 'start', '--service', 'authz', '--workers', String(workers), '--json'], { env: fixture.env, stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
  };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`tollgate start --workers ${workers} exited (${code})`)));
    });
    const summary = JSON.parse(line) as { services: { name: string; grpc: string }[] };
    const address = summary.services[0]!.grpc.replace(/^0\.0\.0\.0:|^\[::\]:/, '127.0.0.1:');
    // --workers 1 serves from the process itself; more are its children.
    const children = childrenOf(child.pid!);
    return { address, pids: children.length ? children : [child.pid!], stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Undefined when there is no Postgres (DATABASE_URL). */
export async function measureWorkers(options: { seconds: number; counts?: number[]; connections?: number; inFlightPerConnection?: number }): Promise<WorkersRow[] | undefined> {
  const fixture = await authzFixture();
  if (!fixture) return undefined;
  const rows: WorkersRow[] = [];
  try {
    const { body } = fixture;
    const connections = options.connections ?? 4;
    const inFlight = options.inFlightPerConnection ?? 16;
    for (const workers of options.counts ?? [1, 2]) {
      const authz = await startAuthzProcess(fixture, workers);
      try {
        const { address, pids } = authz;
        // Warm every worker's caches, then measure.
        await runH2load({ address, path: '/tollgate.authz.v1.AuthzService/Authorize', body, seconds: 2, inFlight, connections: connections * 2 });
        const from = pids.map((pid) => cpuTicks(pid));
        const result = await runH2load({ address, path: '/tollgate.authz.v1.AuthzService/Authorize', body, seconds: options.seconds, inFlight, connections, serverPids: pids });
        const spent = pids.map((pid, i) => cpuTicks(pid) - from[i]!);
        const total = spent.reduce((a, b) => a + b, 0);
        rows.push({
          workers,
          connections,
          ...result,
          cpuSharePerWorker: spent.map((t) => `${Math.round((100 * t) / total)}`).join('/'),
          projectedCallsPerSecond: result.cpuUsPerCall ? Math.round((workers * 1e6) / result.cpuUsPerCall) : NaN,
        });
      } finally {
        await authz.stop();
      }
    }
    return rows;
  } finally {
    await fixture.close();
  }
}
