// Envoy ext_authz on authz: envoy.service.auth.v3.Authorization/Check calls/s with 64 in flight and
// p50/p99, next to Tollgate's own Authorize with the same credential and resource (the adapter's
// cost is the ratio). The server (the whole mesh, PGlite) runs in this thread; the client in a worker.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';
import { startTestMesh } from '../harness/mesh.ts';
import { loadInWorker, percentile } from './closed-loop.ts';

const load = (job: Record<string, unknown>) => loadInWorker(new URL('./envoy-check-worker.ts', import.meta.url), job);

export async function runEnvoyBench(options: { seconds?: number } = {}) {
  const seconds = options.seconds ?? 5;
  const mesh = await startTestMesh();
  try {
    const tenant = await mesh.createTenant('bench-envoy');
    const admin = createRpcClient(AuthzService, mesh.address('authz'));
    // An API key as Envoy would see it: an acl token with read on a few path patterns and an IP allow-list.
    const rules = [
      { effect: Effect.ALLOW, actions: ['read'], resources: ['api:/v1/devices/*/telemetry', 'api:/v1/public/**'] },
      { effect: Effect.DENY, actions: ['read', 'write'], resources: ['api:/v1/devices/*/secrets'] },
    ];
    const { secret } = await admin.createToken({ accountId: tenant.accountId, kind: TokenKind.ACL, rules, ipAllow: ['10.0.0.0/8'] }, { headers: { authorization: `Bearer ${tenant.masterToken}` } });
    admin.close();
    const rows = [];
    for (const mode of ['check', 'authorize'] as const) {
      const before = performance.eventLoopUtilization();
      const { latencies, elapsed } = await load({ address: mesh.address('authz'), secret, mode, seconds, inFlight: 64 });
      // How busy the server's event loop was (warm-up included): near 100 % means the server is the limit.
      const busy = performance.eventLoopUtilization(before).utilization;
      latencies.sort((a, b) => a - b);
      rows.push({
        rpc: mode === 'check' ? 'envoy Authorization/Check' : 'tollgate Authorize (same token, api: resource)',
        callsPerSecond: Math.round(latencies.length / elapsed),
        p50Ms: Number(percentile(latencies, 0.5).toFixed(2)),
        p99Ms: Number(percentile(latencies, 0.99).toFixed(2)),
        serverLoopBusy: `${Math.round(busy * 100)} %`,
      });
    }
    process.stdout.write(`authz gRPC on loopback, acl token (api rules, IP allow-list), GET over 256 paths, 64 calls in flight, ${seconds} s, client in a worker thread\n`);
    console.table(rows);
    process.stdout.write(`Check / Authorize throughput: ${(rows[0]!.callsPerSecond / rows[1]!.callsPerSecond).toFixed(2)}\n`);
    return rows;
  } finally {
    await mesh.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runEnvoyBench();
