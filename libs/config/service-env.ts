import { z } from 'zod';
import type { RpcClientTlsConfig, RpcTlsConfig } from '#libs/rpc/index.ts';
import { DEFAULT_TRACE_SAMPLING, TRACE_SAMPLERS, type TraceSampling } from '#libs/telemetry/sampler.ts';
import { bothOrNeither, databaseUrl, host, logLevel, url, type CrossCheck } from './env-schema.ts';

/**
 * What every service reads from the environment. Each service's own settings (its ports and the
 * rest) are in `services/<name>/src/config.ts`; the one-process mesh merges them (cli/mesh-config.ts).
 */

/** Well-known default ports (ARCHITECTURE §2): what a service listens on and what its clients dial. */
export const defaultPorts = Object.freeze({
  console: { http: 7000 },
  identity: { grpc: 7101, http: 7100 },
  authz: { grpc: 7201, http: 7200 },
  quota: { grpc: 7301, http: 7300 },
  broker: { grpc: 7401, http: 7400, mqtt: 1883, mqtts: 8883, mqttWs: 8083 },
});

export type ServiceName = 'identity' | 'authz' | 'quota' | 'broker';
export const serviceNames: readonly ServiceName[] = ['identity', 'authz', 'quota', 'broker'];

/** What `tollgate start --service` runs alone: the four gRPC services and the console. */
export type StartableService = ServiceName | 'console';
export const startableServices: readonly StartableService[] = [...serviceNames, 'console'];

/** Settings every service reads. Keys are the environment variable names. */
export const commonEnvShape = {
  TOLLGATE_ENV: z.enum(['development', 'production'], { message: 'expected development or production' }).default('development'),
  TOLLGATE_DATA_DIR: z.string().default('./data'),
  DATABASE_URL: databaseUrl.optional(),
  TOLLGATE_SECRET_KEY: z.string().optional(),
  TOLLGATE_HOST: host('127.0.0.1'),
  /** This host's name (set by the OS / Kubernetes: the pod name); quota replicas find themselves by it. */
  HOSTNAME: z.string().optional(),
  TOLLGATE_LOG_LEVEL: logLevel,
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http', 'https']).optional(),
  /** Head sampling of traces (the OpenTelemetry setting): which root spans are recorded; parent-based ones follow a caller's traceparent. */
  OTEL_TRACES_SAMPLER: z.enum(TRACE_SAMPLERS, { message: `expected one of ${TRACE_SAMPLERS.join(', ')}` }).default(DEFAULT_TRACE_SAMPLING.sampler),
  /** The `*traceidratio` samplers' share of traces, 0..1 (default 1); the other samplers take no argument and ignore it. */
  OTEL_TRACES_SAMPLER_ARG: z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, { message: 'expected a ratio between 0 and 1, e.g. 0.01' })
    .transform(Number)
    .optional(),
  TOLLGATE_GRPC_TLS_CERT: z.string().optional(),
  TOLLGATE_GRPC_TLS_KEY: z.string().optional(),
  TOLLGATE_GRPC_TLS_CA: z.string().optional(),
};

/**
 * A peer's gRPC target: `host:port` (every address the name resolves to is used, calls spread
 * round robin), `dns:///host:port`, or a fixed list `ipv4:a:p,b:p` / `ipv6:[a]:p,[b]:p`.
 */
const peerTarget = z
  .string()
  .regex(/^(?:(?:dns:\/\/\/)?[A-Za-z0-9.:_\-[\]]+:\d{1,5}|ipv[46]:[A-Za-z0-9.:_\-[\]]+:\d{1,5}(?:,[A-Za-z0-9.:_\-[\]]+:\d{1,5})*)$/, { message: 'expected host:port, dns:///host:port or ipv4:host:port,host:port' })
  .optional();
/** Peer gRPC addresses of a service run alone. */
export const peerEnvShape = {
  TOLLGATE_IDENTITY_URL: peerTarget,
  TOLLGATE_AUTHZ_URL: peerTarget,
  TOLLGATE_QUOTA_URL: peerTarget,
  TOLLGATE_BROKER_URL: peerTarget,
};

/**
 * A subscribe filter overlapping a deny rule: granted and filtered per delivery, or refused (0x87).
 * One setting read by two services: the broker edge and authz's go-auth adapter.
 */
export const subscribeOverlapEnvShape = {
  TOLLGATE_ACL_SUBSCRIBE_OVERLAP: z.enum(['filter', 'refuse'], { message: 'expected filter or refuse' }).default('filter'),
};

/** The shared part of every service's schema. */
export const serviceEnvShape = { ...commonEnvShape, ...peerEnvShape };
const serviceEnvSchema = z.object(serviceEnvShape);
export type ServiceEnv = z.infer<typeof serviceEnvSchema>;

/** Checks across the shared settings: the gRPC certificate and its key come together. */
export const commonChecks: CrossCheck<ServiceEnv> = (values) => bothOrNeither(values, 'TOLLGATE_GRPC_TLS_CERT', 'TOLLGATE_GRPC_TLS_KEY');

/** The shared settings as a service uses them. */
export interface CommonConfig {
  env: 'development' | 'production';
  dataDir: string;
  /** Postgres; unset: the embedded PGlite in `dataDir` (one process only). */
  databaseUrl: string | undefined;
  /** TOLLGATE_SECRET_KEY as given (cli/secret-key.ts turns it into the key, or makes one in development). */
  secretKey: string | undefined;
  host: string;
  hostname: string | undefined;
  logLevel: z.infer<typeof logLevel>;
  otlpEndpoint: string | undefined;
  /** OTEL_TRACES_SAMPLER and its ratio (OTEL_TRACES_SAMPLER_ARG, 1 when unset). */
  traceSampling: TraceSampling;
  /** gRPC TLS (both undefined: plaintext); with a CA, mutual TLS: each service presents its certificate. */
  grpcTls: { server: RpcTlsConfig | undefined; client: RpcClientTlsConfig | undefined };
  /** Peers' gRPC targets (TOLLGATE_<PEER>_URL); the one-process mesh adds what it starts. */
  peers: Partial<Record<ServiceName, string>>;
}

export function commonConfigFrom(env: ServiceEnv): CommonConfig {
  const cert = env.TOLLGATE_GRPC_TLS_CERT;
  const key = env.TOLLGATE_GRPC_TLS_KEY;
  return {
    env: env.TOLLGATE_ENV,
    dataDir: env.TOLLGATE_DATA_DIR,
    databaseUrl: env.DATABASE_URL,
    secretKey: env.TOLLGATE_SECRET_KEY,
    host: env.TOLLGATE_HOST,
    hostname: env.HOSTNAME,
    logLevel: env.TOLLGATE_LOG_LEVEL,
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    traceSampling: { sampler: env.OTEL_TRACES_SAMPLER, ratio: env.OTEL_TRACES_SAMPLER_ARG ?? 1 },
    grpcTls:
      cert && key
        ? { server: { certFile: cert, keyFile: key, caFile: env.TOLLGATE_GRPC_TLS_CA }, client: { caFile: env.TOLLGATE_GRPC_TLS_CA ?? cert, certFile: cert, keyFile: key } }
        : { server: undefined, client: undefined },
    peers: {
      ...(env.TOLLGATE_IDENTITY_URL ? { identity: env.TOLLGATE_IDENTITY_URL } : {}),
      ...(env.TOLLGATE_AUTHZ_URL ? { authz: env.TOLLGATE_AUTHZ_URL } : {}),
      ...(env.TOLLGATE_QUOTA_URL ? { quota: env.TOLLGATE_QUOTA_URL } : {}),
      ...(env.TOLLGATE_BROKER_URL ? { broker: env.TOLLGATE_BROKER_URL } : {}),
    },
  };
}
