// The closed-loop load of the in-tree gRPC benches: `inFlight` callers, each starting its next call
// when the last one answers, for `seconds` after a warm-up. Workers run it on their own event loop
// (`loadInWorker`) so that the client does not steal the server's.
import { Worker } from 'node:worker_threads';

export interface LoadResult {
  latencies: number[];
  elapsed: number;
}

export async function runClosedLoop(call: () => Promise<unknown>, options: { seconds: number; inFlight: number; warmUpCalls?: number }): Promise<LoadResult> {
  for (let w = 0; w < (options.warmUpCalls ?? 200); w++) await call();
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await call();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies, elapsed: (performance.now() - started) / 1000 };
}

/** Runs a worker module that posts one `LoadResult` back. */
export function loadInWorker(worker: URL, job: Record<string, unknown>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(worker, { workerData: job });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
