// authz over gRPC on loopback: Authorize calls/s with 64 in flight and p50/p99, and AuthorizeBatch
// decisions/s. The server (the whole mesh, PGlite) runs in this thread; the client in a worker.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';
import { startTestMesh } from '../harness/mesh.ts';
import { loadInWorker, percentile } from './closed-loop.ts';
import { h2loadAvailable, runH2load, type H2loadResult } from './h2load.ts';

const load = (job: Record<string, unknown>) => loadInWorker(new URL('./grpc-load-worker.ts', import.meta.url), job);

/**
 * The server alone: the mesh in a child process, loaded by h2load (C) from outside, so neither a
 * grpc-js client nor the load generator shares the server's event loop. 64 in flight is the issue's
 * figure; 1 and 8 in flight show the latency of a lightly loaded server.
 */
async function serverAloneWithH2load(seconds: number): Promise<(H2loadResult & { rpc: string })[]> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('./authz-server-process.ts', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`authz server process exited (${code})`)));
    });
    const { address, authorize, check } = JSON.parse(line) as { address: string; authorize: string; check: string };
    const results: (H2loadResult & { rpc: string })[] = [];
    for (const inFlight of [1, 8, 64]) {
      results.push({ rpc: 'Authorize', ...(await runH2load({ address, path: '/tollgate.authz.v1.AuthzService/Authorize', body: Buffer.from(authorize, 'base64'), seconds, inFlight })) });
    }
    results.push({ rpc: 'envoy Authorization/Check', ...(await runH2load({ address, path: '/envoy.service.auth.v3.Authorization/Check', body: Buffer.from(check, 'base64'), seconds, inFlight: 64 })) });
    return results;
  } finally {
    child.stdin!.end();
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

export async function runAuthzBench(options: { seconds?: number } = {}) {
  const seconds = options.seconds ?? 5;
  if (h2loadAvailable()) {
    const alone = await serverAloneWithH2load(seconds);
    process.stdout.write('authz Authorize, server alone in its own process (whole mesh, PGlite), load from h2load (nghttp2, C), one HTTP/2 connection\n');
    console.table(alone);
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
