import { checkHealth, type HealthStatus, type RpcClientTlsConfig } from '#libs/rpc/index.ts';
import type { StartedService } from './service-host.ts';

/** How a running service answers its own health protocol; `STOPPED` before start and after stop. */
export interface ServiceHealth {
  status: HealthStatus | 'STOPPED';
  error?: string;
}

/** What a service's composition root (`services/<name>/src/main.ts`) returns. */
export interface ServiceHandle<S extends { name: string; httpAddress: string | undefined } = StartedService> {
  readonly name: string;
  start(): Promise<S>;
  stop(): Promise<void>;
  health(): Promise<ServiceHealth>;
}

/**
 * Adds `health()` to an app: the service's own gRPC `grpc.health.v1` answer, asked over the wire
 * (with the mesh's client TLS) — or, for a service with HTTP only, its `/healthz`.
 */
export function withHealth<A extends { name: string; start(): Promise<S>; stop(): Promise<void> }, S extends { name: string; httpAddress: string | undefined; grpcAddress?: string }>(
  app: A,
  options: { tls?: RpcClientTlsConfig | undefined; timeoutMs?: number } = {},
): A & ServiceHandle<S> {
  let started: S | undefined;
  const timeoutMs = options.timeoutMs ?? 1_500;
  return {
    ...app,
    async start() {
      started = await app.start();
      return started;
    },
    async stop() {
      started = undefined;
      await app.stop();
    },
    async health(): Promise<ServiceHealth> {
      if (!started) return { status: 'STOPPED' };
      if (started.grpcAddress) return checkHealth(started.grpcAddress, { tls: options.tls, timeoutMs });
      try {
        const res = await fetch(`${started.httpAddress}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
        return res.ok ? { status: 'SERVING' } : { status: 'NOT_SERVING', error: `/healthz answered ${res.status}` };
      } catch (error) {
        return { status: 'UNREACHABLE', error: (error as Error).message };
      }
    },
  };
}
