// The RabbitMQ path: decisions/s of authz's `/rabbitmq/topic` and `/rabbitmq/user` (the requests
// rabbitmq_auth_backend_http sends, POST form, HTTP/1.1 keep-alive), 64 requests in flight. The
// server (the whole mesh, PGlite) runs in this thread; two load generators take turns: node:http
// with a keep-alive agent in a worker thread, and wrk (C, one thread, 64 connections) when installed.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';
import { startTestMesh } from '../harness/mesh.ts';
import { loadInWorker, percentile, type LoadResult } from './closed-loop.ts';

const run = promisify(execFile);
const FORM = 'application/x-www-form-urlencoded';
const IN_FLIGHT = 64;

interface Row {
  endpoint: string;
  generator: string;
  'decisions/s': number;
  'p50 ms': number;
  'p99 ms': number;
  failed: number;
}

function wrkAvailable(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk --version prints its usage and exits 1: installed all the same.
    return (error as { status?: number }).status === 1;
  }
}

function nodeLoad(url: string, body: string, seconds: number) {
  return loadInWorker(new URL('./http-load-worker.ts', import.meta.url), { url, body, contentType: FORM, expect: 'allow', seconds, inFlight: IN_FLIGHT }) as Promise<LoadResult & { failed: number }>;
}

/** wrk with a Lua script: POST the form, count every answer that is not `200 allow`. */
async function wrkLoad(url: string, body: string, seconds: number): Promise<{ perSecond: number; p50Ms: number; p99Ms: number; failed: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-wrk-'));
  try {
    const script = join(dir, 'post.lua');
    writeFileSync(
      script,
      `wrk.method = "POST"
wrk.body = "${body}"
wrk.headers["Content-Type"] = "${FORM}"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body) if status ~= 200 or body ~= "allow" then failed = failed + 1 end end
function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do f = f + t:get("failed") end
  io.write(string.format("TOLLGATE %d %d %.3f %.3f %d\\n", summary.requests, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000, f + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
`,
    );
    const { stdout } = await run('wrk', ['-t1', `-c${IN_FLIGHT}`, `-d${seconds}s`, '-s', script, url], { timeout: (seconds + 30) * 1000 });
    const m = /TOLLGATE (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)/.exec(stdout);
    if (!m) throw new Error(`wrk: unexpected output ${stdout}`);
    return { perSecond: Number(m[1]) / (Number(m[2]) / 1e6), p50Ms: Number(m[3]), p99Ms: Number(m[4]), failed: Number(m[5]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runRabbitmqBench(options: { seconds?: number } = {}) {
  const seconds = options.seconds ?? 5;
  const mesh = await startTestMesh();
  const rows: Row[] = [];
  try {
    const base = mesh.services.find((s) => s.name === 'authz')!.httpAddress!;
    const tenant = await mesh.createTenant('bench');
    const admin = createRpcClient(AuthzService, mesh.address('authz'));
    // The device rule of the RabbitMQ interop test: one placeholder rule, as a fleet's devices have.
    const rules = [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }];
    const { secret } = await admin.createToken({ accountId: tenant.accountId, kind: TokenKind.ACL, rules }, { headers: { authorization: `Bearer ${tenant.masterToken}` } });
    admin.close();
    const vhost = tenant.accountId;
    // The bodies RabbitMQ 3.10 sends (contract doc §3.2), field for field.
    const topic = (permission: string, routingKey: string) =>
      new URLSearchParams({ username: secret, vhost, resource: 'topic', name: 'amq.topic', permission, tags: '', routing_key: routingKey, 'variable_map.client_id': 'c1', 'variable_map.username': secret, 'variable_map.vhost': vhost }).toString();
    const endpoints = [
      { endpoint: 'topic (publish devices.c1.temp)', path: '/rabbitmq/topic', body: topic('write', 'devices.c1.temp') },
      { endpoint: 'topic (subscribe pattern devices.c1.#)', path: '/rabbitmq/topic', body: topic('read', 'devices.c1.#') },
      { endpoint: 'user (token login)', path: '/rabbitmq/user', body: new URLSearchParams({ username: secret, password: 'unused', vhost, client_id: 'c1' }).toString() },
    ];
    const wrk = wrkAvailable();
    for (const e of endpoints) {
      const n = await nodeLoad(`${base}${e.path}`, e.body, seconds);
      const sorted = n.latencies.sort((a, b) => a - b);
      const pct = (p: number) => Number(percentile(sorted, p).toFixed(2));
      rows.push({ endpoint: e.endpoint, generator: 'node:http keep-alive, worker thread', 'decisions/s': Math.round(sorted.length / n.elapsed), 'p50 ms': pct(0.5), 'p99 ms': pct(0.99), failed: n.failed });
      if (wrk) {
        const w = await wrkLoad(`${base}${e.path}`, e.body, seconds);
        rows.push({ endpoint: e.endpoint, generator: 'wrk -t1 -c64 (C, own process)', 'decisions/s': Math.round(w.perSecond), 'p50 ms': w.p50Ms, 'p99 ms': w.p99Ms, failed: w.failed });
      }
    }
    if (!wrk) process.stdout.write('rabbitmq: wrk not installed (Debian wrk): only the node:http figures\n');
  } finally {
    await mesh.stop();
  }
  process.stdout.write(`authz /rabbitmq/* over HTTP/1.1 keep-alive, ${IN_FLIGHT} in flight, ${seconds} s each; whole mesh in this process (PGlite)\n`);
  console.table(rows);
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runRabbitmqBench();
