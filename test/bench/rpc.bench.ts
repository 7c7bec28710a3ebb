// gRPC adapter overhead on loopback: unary Echo calls/s with 64 in flight, p50/p99, beside a raw
// grpc-js client calling the same server (no interceptors on the client side) in the same run.
import { fileURLToPath } from 'node:url';
import { EchoService } from '#gen/tollgate/echo/v1/echo_pb.js';
import { createEchoService } from '#libs/rpc/echo-service.ts';
import { createRpcClient, createRpcServer } from '#libs/rpc/index.ts';
import { silentLogger } from '#libs/telemetry/index.ts';

export interface RpcBenchResult {
  calls: number;
  seconds: number;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

export async function runRpcBench(options: { seconds?: number; inFlight?: number } = {}): Promise<RpcBenchResult> {
  const seconds = options.seconds ?? 5;
  const inFlight = options.inFlight ?? 64;
  const server = createRpcServer({ logger: silentLogger() });
  server.add(EchoService, createEchoService());
  const address = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  const client = createRpcClient(EchoService, address);
  await client.echo({ message: 'warm' });
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await client.echo({ message: 'ping' });
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  client.close();
  await server.shutdown();
  latencies.sort((a, b) => a - b);
  const result = { calls: latencies.length, seconds: elapsed, callsPerSecond: latencies.length / elapsed, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
  process.stdout.write(
    `unary Echo over loopback, ${inFlight} in flight, ${seconds}s: ${Math.round(result.callsPerSecond).toLocaleString('en')} calls/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms\n`,
  );
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runRpcBench();
