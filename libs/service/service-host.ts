import type { Clock } from '#libs/clock/index.ts';
import type { Hono } from 'hono';
import type { Database } from '#libs/db/index.ts';
import { startHttpServer, type HttpServerHandle } from '#libs/http/index.ts';
import type { RpcServer, RpcTlsConfig } from '#libs/rpc/index.ts';
import type { Logger, Telemetry } from '#libs/telemetry/index.ts';

/** What every service app gets from its composition root (main.ts, the mesh, or a test). */
export interface ServiceDeps {
  database: Database;
  logger: Logger;
  telemetry: Telemetry;
  /** The mesh's 32-byte TOLLGATE_SECRET_KEY (encryption at rest, service credentials). */
  secretKey: Uint8Array;
  /** What time it is for the service's decisions (libs/clock); the process clock when unset. */
  clock?: Clock | undefined;
}

export interface ServiceListen {
  host: string;
  grpcPort: number;
  /** Omit for a service without an HTTP port. */
  httpPort?: number | undefined;
  grpcTls?: RpcTlsConfig | undefined;
}

export interface StartedService {
  name: string;
  grpcAddress: string;
  httpAddress: string | undefined;
}

export interface ServiceApp {
  readonly name: string;
  start(): Promise<StartedService>;
  stop(): Promise<void>;
}

/**
 * Starts a service's gRPC server and HTTP app on the configured ports and stops them in reverse
 * order (HTTP, then gRPC with a grace period, then `onStop` for the service's own resources).
 */
export function hostService(options: {
  name: string;
  listen: ServiceListen;
  rpc: RpcServer;
  http?: Hono | undefined;
  /** Idle keep-alive time of the HTTP port (ms); Node's default (5 s) when unset. */
  httpKeepAliveTimeoutMs?: number | undefined;
  /** Runs before the gRPC server drains: end long-lived streams here so shutdown need not wait them out. */
  beforeShutdown?: () => Promise<void>;
  onStop?: () => Promise<void>;
}): ServiceApp {
  let http: HttpServerHandle | undefined;
  let started: StartedService | undefined;
  const hostFor = (h: string) => (h.includes(':') ? `[${h}]` : h);
  return {
    name: options.name,
    async start() {
      if (started) return started;
      const grpcPort = await options.rpc.listen(options.listen.host, options.listen.grpcPort);
      try {
        if (options.http && options.listen.httpPort !== undefined) http = await startHttpServer(options.http, options.listen.host, options.listen.httpPort, { keepAliveTimeoutMs: options.httpKeepAliveTimeoutMs });
      } catch (error) {
        await options.rpc.shutdown();
        throw error;
      }
      started = {
        name: options.name,
        grpcAddress: `${hostFor(options.listen.host)}:${grpcPort}`,
        httpAddress: http ? `http://${hostFor(options.listen.host)}:${http.port}` : undefined,
      };
      return started;
    },
    async stop() {
      await http?.close();
      await options.beforeShutdown?.();
      await options.rpc.shutdown();
      await options.onStop?.();
      started = undefined;
    },
  };
}
