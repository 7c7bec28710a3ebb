// Load generator for the Envoy Check benchmark: runs in a worker thread (its own event loop) so the
// client does not steal the server's loop. Calls either envoy.service.auth.v3.Authorization/Check,
// as Envoy's ext_authz filter would, or Tollgate's own Authorize with the same credential and
// resource, the adapter's peer. Reports latencies to the parent.
import { parentPort, workerData } from 'node:worker_threads';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { createRpcClient } from '#libs/rpc/index.ts';
import { runClosedLoop } from './closed-loop.ts';

interface Job {
  address: string;
  mode: 'check' | 'authorize';
  secret: string;
  seconds: number;
  inFlight: number;
}

const job = workerData as Job;
const paths = Array.from({ length: 256 }, (_, i) => `/v1/devices/d${i}/telemetry`);
let i = 0;
let call: () => Promise<unknown>;
let close: () => void;
if (job.mode === 'check') {
  const envoy = createRpcClient(Authorization, job.address);
  const source = { address: { address: { case: 'socketAddress' as const, value: { address: '10.0.0.7', portSpecifier: { case: 'portValue' as const, value: 51000 } } } } };
  call = async () => {
    const path = paths[i++ % paths.length]!;
    const res = await envoy.check({ attributes: { source, request: { http: { id: String(i), method: 'GET', path, host: 'api.example', headers: { ':path': path, ':method': 'GET', authorization: `Bearer ${job.secret}` } } } } });
    if (res.status?.code !== 0) throw new Error(`bench request denied: ${res.status?.message}`);
  };
  close = () => envoy.close();
} else {
  const authz = createRpcClient(AuthzService, job.address);
  const credential = { bearer: job.secret };
  call = async () => {
    const res = await authz.authorize({ credential, action: 'read', resource: `api:${paths[i++ % paths.length]!}`, peerIp: '10.0.0.7' });
    if (!res.allowed) throw new Error(`bench request denied: ${res.reason}`);
  };
  close = () => authz.close();
}

const result = await runClosedLoop(call, { seconds: job.seconds, inFlight: job.inFlight });
close();
parentPort!.postMessage(result);
