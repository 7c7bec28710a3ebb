// Load generator for the HTTP benchmarks: a worker thread (its own event loop, the other core) with a
// node:http keep-alive agent, `inFlight` requests outstanding at all times, each answer checked.
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { runClosedLoop } from './closed-loop.ts';

interface Job {
  url: string;
  body: string;
  contentType: string;
  /** The answer every request must get; anything else counts as a failure. */
  expect: string;
  seconds: number;
  inFlight: number;
}

const job = workerData as Job;
const agent = new Agent({ keepAlive: true, maxSockets: job.inFlight });
const target = new URL(job.url);
const body = Buffer.from(job.body);

function post(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': job.contentType, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString() : `HTTP ${res.statusCode}`));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

let failed = 0;
const call = async () => {
  const answer = await post().catch(() => 'error');
  if (answer !== job.expect) failed++;
};
// Warm-up under the same load (sockets open, both sides' JIT settled), not measured.
await runClosedLoop(call, { seconds: 2, inFlight: job.inFlight, warmUpCalls: 0 });
failed = 0;
const { latencies, elapsed } = await runClosedLoop(call, { seconds: job.seconds, inFlight: job.inFlight, warmUpCalls: 0 });
agent.destroy();
parentPort!.postMessage({ latencies, elapsed, failed });
