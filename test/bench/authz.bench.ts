// authz over gRPC on loopback: Authorize calls/s with 64 in flight and p50/p99, and AuthorizeBatch
// decisions/s. The server (the whole mesh, PGlite) runs in this thread; the client in a worker.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';
import { startTestMesh } from '../harness/mesh.ts';

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

function load(job: Record<string, unknown>): Promise<{ latencies: number[]; elapsed: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./grpc-load-worker.ts', import.meta.url), { workerData: job });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

export async function runAuthzBench(options: { seconds?: number } = {}) {
  const seconds = options.seconds ?? 5;
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
        p50Ms: Number(pct(latencies, 0.5).toFixed(2)),
        p99Ms: Number(pct(latencies, 0.99).toFixed(2)),
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
