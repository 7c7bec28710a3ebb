// Load generator for the gRPC benchmarks: runs in a worker thread (its own event loop, the other
// core) so that the client does not steal the server's loop. Reports latencies to the parent.
import { parentPort, workerData } from 'node:worker_threads';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';

interface Job {
  address: string;
  secret: string;
  mode: 'authorize' | 'batch';
  seconds: number;
  inFlight: number;
  batchSize: number;
}

const job = workerData as Job;
const client = createRpcClient(AuthzService, job.address);
const credential = { bearer: job.secret };
const topics = Array.from({ length: 256 }, (_, i) => `mqtt:devices/c1/sensor${i}/temp`);
const batch = Array.from({ length: job.batchSize }, (_, i) => topics[i % topics.length]!);
let i = 0;
const call = () =>
  job.mode === 'authorize'
    ? client.authorize({ credential, action: 'publish', resource: topics[i++ % topics.length]!, clientId: 'c1' })
    : client.authorizeBatch({ credential, action: 'publish', resources: batch, clientId: 'c1' });

for (let w = 0; w < 200; w++) await call();
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
