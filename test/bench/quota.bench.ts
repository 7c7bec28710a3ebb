// Quota: local lease decisions/s in process (the broker's per-message path), engine consume()/s on
// a 3-level tree, Consume over gRPC (64 in flight) with p50/p99, and over-admission in the 4-edge
// lease scenario of the quota issue.
import { fileURLToPath } from 'node:url';
import { QuotaEngine, type PathLevel } from '#services/quota/src/domain/quota-engine.ts';
import { createLeaseQuotaMeter } from '#services/broker/src/clients/lease-quota-meter.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh } from '../harness/mesh.ts';
import { loadInWorker, percentile } from './closed-loop.ts';

const rate = (value: number) => ({ metric: 'mqtt.messages.in', kind: 'rate' as const, value, period: 'minute' as const, burst: value, shadow: false });

function localLeaseDecisions(seconds: number): number {
  // The broker's spendInbound over a lease that never runs dry (refills are async and rare).
  const fake = { lease: async () => ({ granted: 1_000_000_000n, refillBelow: 1n, volumeExhausted: false, retryAfterMs: 0n }), reportUsage: async () => ({}), renewSlots: async () => ({}) } as never;
  const meter = createLeaseQuotaMeter({ quota: fake, edgeId: 'bench', logger: silentLogger(), failOpen: true, reportEveryMs: 1_000_000 });
  meter.spendInbound('acc_bench', 1, 64);
  return new Promise<number>((resolve) =>
    setTimeout(() => {
      let n = 0;
      const end = performance.now() + seconds * 1000;
      while (performance.now() < end) {
        for (let i = 0; i < 10_000; i++) meter.spendInbound('acc_bench', 1, 64);
        n += 10_000;
      }
      void meter.stop();
      resolve(n / seconds);
    }, 10),
  ) as unknown as number;
}

function engineConsumes(seconds: number): number {
  let t = Date.now();
  const engine = new QuotaEngine({ clock: { nowMs: () => t } });
  const path: PathLevel[] = [
    { accountId: 'acc_root', limits: [rate(1e12)] },
    { accountId: 'acc_mid', limits: [rate(1e12)] },
    { accountId: 'acc_leaf', limits: [rate(1e12)] },
  ];
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 1_000; i++) engine.consume({ path, metric: 'mqtt.messages.in', amount: 1 });
    t += 1;
    n += 1_000;
  }
  return n / seconds;
}

function overAdmission(): { admitted: number; allowed: number; overPct: number } {
  let t = Date.UTC(2026, 10, 22);
  const engine = new QuotaEngine({ clock: { nowMs: () => t } });
  const parent = { accountId: 'acc_parent', limits: [rate(1_000)] };
  const edges = [0, 1, 2, 3].map((i) => ({ id: `edge-${i}`, budget: 0, admitted: 0, path: [parent, { accountId: `acc_c${i % 2}`, limits: [] }] as PathLevel[] }));
  for (let step = 0; step < 6_000; step++) {
    t += 10;
    for (const e of edges) {
      for (let m = 0; m < 5; m++) {
        if (e.budget === 0) e.budget += engine.lease({ path: e.path, metric: 'mqtt.messages.in', want: 100, edgeId: e.id }).granted;
        if (e.budget > 0) {
          e.budget--;
          e.admitted++;
        }
      }
    }
  }
  const admitted = edges.reduce((a, e) => a + e.admitted, 0);
  const allowed = 2_000; // burst 1,000 + 60 s × 1,000/min
  return { admitted, allowed, overPct: Math.max(0, ((admitted - allowed) / allowed) * 100) };
}

async function grpcConsume(seconds: number) {
  const mesh = await startTestMesh();
  try {
    const tenant = await mesh.createTenant('bench');
    const service = mintServiceCredential(mesh.secretKey, 'bench');
    const warm = createRpcClient(QuotaService, mesh.address('quota'));
    await warm.consume({ accountId: tenant.accountId, metric: 'api.requests', amount: 1n }, { headers: { authorization: `Bearer ${service}` } });
    warm.close();
    const result = await loadInWorker(new URL('./grpc-load-worker.ts', import.meta.url), { address: mesh.address('quota'), mode: 'consume', accountId: tenant.accountId, service, seconds, inFlight: 64 });
    const sorted = result.latencies.sort((a, b) => a - b);
    const pct = (p: number) => percentile(sorted, p);
    return { callsPerSecond: Math.round(sorted.length / result.elapsed), p50Ms: Number(pct(0.5).toFixed(2)), p99Ms: Number(pct(0.99).toFixed(2)) };
  } finally {
    await mesh.stop();
  }
}

export async function runQuotaBench(options: { seconds?: number } = {}) {
  const seconds = options.seconds ?? 3;
  const local = await localLeaseDecisions(seconds);
  const consumes = engineConsumes(seconds);
  const over = overAdmission();
  const grpc = await grpcConsume(seconds);
  const rows = [
    { measure: 'local lease decisions (broker spendInbound), in process', value: `${Math.round(local).toLocaleString('en')}/s`, goal: '≥ 5,000,000/s' },
    { measure: 'engine consume(), 3-level tree, in process', value: `${Math.round(consumes).toLocaleString('en')}/s`, goal: '' },
    { measure: 'Consume over gRPC, 64 in flight (client in a worker)', value: `${grpc.callsPerSecond.toLocaleString('en')}/s, p50 ${grpc.p50Ms} ms, p99 ${grpc.p99Ms} ms`, goal: '' },
    { measure: '4 edges on leases, parent 1,000/min, 60 s: admitted / allowed', value: `${over.admitted} / ${over.allowed} (over-admission ${over.overPct.toFixed(2)} %)`, goal: '≤ 1 % + one lease' },
  ];
  console.table(rows);
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runQuotaBench();
