// Load generator for the gRPC benchmarks: runs in a worker thread (its own event loop, the other
// core) so that the client does not steal the server's loop. Reports latencies to the parent.
import { parentPort, workerData } from 'node:worker_threads';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';
import { runClosedLoop } from './closed-loop.ts';

interface Job {
  address: string;
  mode: 'authorize' | 'batch' | 'consume';
  seconds: number;
  inFlight: number;
  /** authorize / batch: the credential checked. */
  secret?: string;
  batchSize?: number;
  /** consume: the account and a service credential. */
  accountId?: string;
  service?: string;
}

const job = workerData as Job;
let call: () => Promise<unknown>;
let close: () => void;
if (job.mode === 'consume') {
  const quota = createRpcClient(QuotaService, job.address, { headers: { authorization: `Bearer ${job.service}` } });
  call = () => quota.consume({ accountId: job.accountId!, metric: 'api.requests', amount: 1n });
  close = () => quota.close();
} else {
  const authz = createRpcClient(AuthzService, job.address);
  const credential = { bearer: job.secret! };
  const topics = Array.from({ length: 256 }, (_, i) => `mqtt:devices/c1/sensor${i}/temp`);
  const batch = Array.from({ length: job.batchSize ?? 100 }, (_, i) => topics[i % topics.length]!);
  let i = 0;
  call =
    job.mode === 'authorize'
      ? () => authz.authorize({ credential, action: 'publish', resource: topics[i++ % topics.length]!, clientId: 'c1' })
      : () => authz.authorizeBatch({ credential, action: 'publish', resources: batch, clientId: 'c1' });
  close = () => authz.close();
}

const result = await runClosedLoop(call, { seconds: job.seconds, inFlight: job.inFlight });
close();
parentPort!.postMessage(result);
