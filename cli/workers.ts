/**
 * `tollgate start --service NAME --workers N`: N processes of one stateless service sharing its
 * ports (node:cluster — the primary owns the listening sockets and hands each new connection to
 * a worker in turn), so a host with N free cores serves about N× one process. Each worker is a
 * whole replica: its own caches, its own LISTEN connection for invalidations, its own /metrics.
 *
 * Only services that are replicas by design may run so: authz and identity are stateless over
 * Postgres. Quota owns account trees and the broker holds sessions in memory — more of them are
 * more replicas (quota) or more edges in a cluster (broker), not workers behind one port.
 */
import cluster, { type Worker } from 'node:cluster';
import type { StartableService } from '#libs/config/index.ts';
import { UsageError, type Output } from './output.ts';

export const WORKER_SERVICES: readonly StartableService[] = ['identity', 'authz'];
/** A crashing worker is replaced, but not in a tight loop: at most this many restarts a minute. */
const MAX_RESTARTS_PER_MINUTE = 10;

export function checkWorkers(raw: string | undefined, service: StartableService | undefined): number {
  if (raw === undefined) return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError('--workers: a whole number from 1 to 64');
  if (n > 1 && (service === undefined || !WORKER_SERVICES.includes(service))) {
    throw new UsageError(`--workers N needs --service ${WORKER_SERVICES.join('|')} (stateless services only)`);
  }
  return n;
}

export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}

/** In a worker: tell the primary the service is up (its summary), or that it failed. */
export function reportToPrimary(message: { ready: true; summary: unknown } | { ready: false; error: string }): void {
  process.send?.(message);
}

/**
 * The primary: forks N workers running the same command line, waits until all are ready, prints
 * one summary, replaces a worker that dies, and on SIGINT/SIGTERM stops them all (each stops
 * gracefully) before exiting.
 */
export async function superviseWorkers(n: number, out: Output, service: StartableService): Promise<number> {
  let stopping = false;
  const restarts: number[] = [];
  const fork = (): Worker => cluster.fork({ TOLLGATE_WORKER: '1' });

  const ready = await new Promise<{ summary: unknown } | { error: string }>((resolve) => {
    let up = 0;
    let first: unknown;
    for (let i = 0; i < n; i++) {
      const w = fork();
      w.once('message', (m: { ready: boolean; summary?: unknown; error?: string }) => {
        if (!m.ready) return resolve({ error: m.error ?? 'a worker failed to start' });
        first ??= m.summary;
        if (++up === n) resolve({ summary: first });
      });
      w.once('exit', (code) => {
        if (up < n) resolve({ error: `a worker exited during start-up (code ${code})` });
      });
    }
  });
  if ('error' in ready) {
    await stopAll();
    throw new Error(ready.error);
  }

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
      process.stderr.write(`tollgate: worker ${worker.process.pid} exited (${signal ?? code}); too many restarts in a minute — not replaced\n`);
      return;
    }
    restarts.push(now);
    process.stderr.write(`tollgate: worker ${worker.process.pid} exited (${signal ?? code}); starting a replacement\n`);
    fork();
  });

  const summary: Record<string, unknown> = { ...(ready.summary as Record<string, unknown>), workers: n, service, primary_pid: process.pid };
  out.result(summary, () => `Tollgate ${service}: ${n} workers sharing its ports (primary pid ${process.pid}) — Ctrl+C to stop`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stopping = true;
  await stopAll();
  return 0;

  async function stopAll(): Promise<void> {
    stopping = true;
    const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    await Promise.all(
      alive.map(
        (w) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => w.process.kill('SIGKILL'), 10_000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
  }
}
