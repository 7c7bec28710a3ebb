// Load generator for Consume over gRPC, in a worker thread (see quota.bench.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';

const job = workerData as { address: string; accountId: string; service: string; seconds: number; inFlight: number };
const client = createRpcClient(QuotaService, job.address, { headers: { authorization: `Bearer ${job.service}` } });
const call = () => client.consume({ accountId: job.accountId, metric: 'api.requests', amount: 1n });
for (let i = 0; i < 200; i++) await call();
const latencies: number[] = [];
const end = performance.now() + job.seconds * 1000;
const started = performance.now();
await Promise.all(
  Array.from({ length: job.inFlight }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await call();
      latencies.push(performance.now() - t);
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
client.close();
parentPort!.postMessage({ latencies, elapsed });
