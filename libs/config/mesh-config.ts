import { z } from 'zod';
import { bool, databaseUrl, duration, host, logLevel, port, positiveInt, url } from './env-schema.ts';

/** Well-known default ports (ARCHITECTURE §2). */
export const defaultPorts = Object.freeze({
  console: { http: 7000 },
  identity: { grpc: 7101, http: 7100 },
  authz: { grpc: 7201, http: 7200 },
  quota: { grpc: 7301, http: 7300 },
  broker: { grpc: 7401, mqtt: 1883, mqtts: 8883, mqttWs: 8083 },
});

export type ServiceName = 'identity' | 'authz' | 'quota' | 'broker';
export const serviceNames: readonly ServiceName[] = ['identity', 'authz', 'quota', 'broker'];

/** Settings every service reads. Keys are the environment variable names. */
export const commonEnvShape = {
  TOLLGATE_ENV: z.enum(['development', 'production'], { message: 'expected development or production' }).default('development'),
  TOLLGATE_DATA_DIR: z.string().default('./data'),
  DATABASE_URL: databaseUrl.optional(),
  TOLLGATE_SECRET_KEY: z.string().optional(),
  TOLLGATE_HOST: host('127.0.0.1'),
  TOLLGATE_LOG_LEVEL: logLevel,
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http', 'https']).optional(),
  TOLLGATE_GRPC_TLS_CERT: z.string().optional(),
  TOLLGATE_GRPC_TLS_KEY: z.string().optional(),
  TOLLGATE_GRPC_TLS_CA: z.string().optional(),
};

/** Peer gRPC addresses (`host:port`) of a service run alone. */
export const peerEnvShape = {
  TOLLGATE_IDENTITY_URL: z.string().regex(/^[A-Za-z0-9.:_\-[\]]+:\d{1,5}$/, { message: 'expected host:port' }).optional(),
  TOLLGATE_AUTHZ_URL: z.string().regex(/^[A-Za-z0-9.:_\-[\]]+:\d{1,5}$/, { message: 'expected host:port' }).optional(),
  TOLLGATE_QUOTA_URL: z.string().regex(/^[A-Za-z0-9.:_\-[\]]+:\d{1,5}$/, { message: 'expected host:port' }).optional(),
  TOLLGATE_BROKER_URL: z.string().regex(/^[A-Za-z0-9.:_\-[\]]+:\d{1,5}$/, { message: 'expected host:port' }).optional(),
};

export const portEnvShape = {
  TOLLGATE_CONSOLE_HTTP_PORT: port(defaultPorts.console.http),
  TOLLGATE_IDENTITY_GRPC_PORT: port(defaultPorts.identity.grpc),
  TOLLGATE_IDENTITY_HTTP_PORT: port(defaultPorts.identity.http),
  TOLLGATE_AUTHZ_GRPC_PORT: port(defaultPorts.authz.grpc),
  TOLLGATE_AUTHZ_HTTP_PORT: port(defaultPorts.authz.http),
  TOLLGATE_QUOTA_GRPC_PORT: port(defaultPorts.quota.grpc),
  TOLLGATE_QUOTA_HTTP_PORT: port(defaultPorts.quota.http),
  TOLLGATE_BROKER_GRPC_PORT: port(defaultPorts.broker.grpc),
  TOLLGATE_MQTT_PORT: port(defaultPorts.broker.mqtt),
  TOLLGATE_MQTTS_PORT: port(defaultPorts.broker.mqtts),
  TOLLGATE_MQTT_WS_PORT: port(defaultPorts.broker.mqttWs),
};

/** Broker edge settings beyond its ports. */
export const brokerEnvShape = {
  TOLLGATE_MQTT_TLS_CERT: z.string().optional(),
  TOLLGATE_MQTT_TLS_KEY: z.string().optional(),
  /** acl token id whose account and rules apply to clients that send no credentials. */
  TOLLGATE_BROKER_ANONYMOUS_TOKEN: z.string().regex(/^tok_[0-9a-z]{20}$/, { message: 'expected a token id (tok_…)' }).optional(),
  TOLLGATE_BROKER_AUTHZ_STALE_LIMIT: duration('5m'),
  /** Quota unreachable and the edge's lease spent: keep admitting (true) or hold clients back. */
  TOLLGATE_BROKER_QUOTA_FAIL_OPEN: bool(true),
  TOLLGATE_ACCESS_TOKEN_TTL: duration('6h'),
  /** Public issuer URL of identity's tokens and OIDC provider (`iss`, discovery); unset: identity's own HTTP address. */
  TOLLGATE_JWT_ISSUER: url(['http', 'https']).optional(),
  /** argon2id cost (OWASP defaults: 19456 KiB, 2 iterations, parallelism 1). */
  TOLLGATE_ARGON2_MEMORY_KIB: positiveInt(19_456, 'KiB'),
  TOLLGATE_ARGON2_ITERATIONS: positiveInt(2, 'iterations'),
  /** Failed logins (per username, and per IP) before a lockout, and how long it lasts. */
  TOLLGATE_LOGIN_MAX_FAILURES: positiveInt(5, 'failures'),
  TOLLGATE_LOGIN_LOCKOUT: duration('15m'),
  /** Quota replicas (gRPC host:port, comma separated, the same order on every replica); unset: one. */
  TOLLGATE_QUOTA_REPLICAS: z.string().regex(/^[A-Za-z0-9.:_\-[\]]+:\d{1,5}(,[A-Za-z0-9.:_\-[\]]+:\d{1,5})*$/, { message: 'expected host:port,host:port,…' }).optional(),
  TOLLGATE_QUOTA_REPLICA_INDEX: z.string().regex(/^\d{1,3}$/, { message: 'expected the 0-based index of this replica in TOLLGATE_QUOTA_REPLICAS' }).transform(Number).optional(),
};

/** authz settings beyond its ports. */
export const authzEnvShape = {
  /**
   * The account RabbitMQ's default vhost `/` stands for (single-tenant deployments: only that
   * account's principals, or its ancestors' master tokens, may use `/`); unset: `/` is refused and
   * every account uses the vhost named by its id.
   */
  TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT: z.string().regex(/^acc_[0-9a-z]{20}$/, { message: 'expected an account id (acc_…)' }).optional(),
  /**
   * How EMQX and Mosquitto (go-auth), which have one topic space for every account, keep accounts
   * apart: `account-prefix` — every topic is `<account id>/<topic>` — or `none`, topics as they are
   * in the principal's own account (single tenant: every account shares the broker's topics).
   */
  TOLLGATE_SHARED_BROKER_NAMESPACE: z.enum(['account-prefix', 'none'], { message: 'expected account-prefix or none' }).default('account-prefix'),
};

export const meshEnvSchema = z.object({ ...commonEnvShape, ...peerEnvShape, ...portEnvShape, ...brokerEnvShape, ...authzEnvShape });
export type MeshEnv = z.infer<typeof meshEnvSchema>;
