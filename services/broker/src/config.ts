import { z } from 'zod';
import {
  bool,
  bothOrNeither,
  commonChecks,
  commonConfigFrom,
  defaultPorts,
  distinctPorts,
  duration,
  parseEnv,
  port,
  positiveInt,
  serviceEnvShape,
  subscribeOverlapEnvShape,
  url,
  type CommonConfig,
  type CrossCheck,
  type Env,
} from '#libs/config/index.ts';
import type { BrokerAppConfig } from './app.ts';

/** The broker edge's own settings (env names are the keys; README "Settings"). */
export const brokerEnvShape = {
  TOLLGATE_BROKER_GRPC_PORT: port(defaultPorts.broker.grpc),
  TOLLGATE_BROKER_HTTP_PORT: port(defaultPorts.broker.http),
  TOLLGATE_MQTT_PORT: port(defaultPorts.broker.mqtt),
  TOLLGATE_MQTTS_PORT: port(defaultPorts.broker.mqtts),
  TOLLGATE_MQTT_WS_PORT: port(defaultPorts.broker.mqttWs),
  TOLLGATE_MQTT_TLS_CERT: z.string().optional(),
  TOLLGATE_MQTT_TLS_KEY: z.string().optional(),
  /** acl token id whose account and rules apply to clients that send no credentials. */
  TOLLGATE_BROKER_ANONYMOUS_TOKEN: z.string().regex(/^tok_[0-9a-z]{20}$/, { message: 'expected a token id (tok_…)' }).optional(),
  TOLLGATE_BROKER_AUTHZ_STALE_LIMIT: duration('5m'),
  /** How long a CONNECT waits for authz's Authenticate before CONNACK 0x88 (server unavailable). */
  TOLLGATE_BROKER_AUTHZ_DEADLINE: duration('200ms'),
  /** How long the edge waits for a quota lease (messages, bytes, a connection block) before quota counts as unreachable. */
  TOLLGATE_BROKER_QUOTA_DEADLINE: duration('500ms'),
  /** Quota unreachable and the edge's lease spent: keep admitting (true) or hold clients back. */
  TOLLGATE_BROKER_QUOTA_FAIL_OPEN: bool(true),
  /** Topic filters taken from one SUBSCRIBE; the rest get SUBACK 0x97 (v3.1.1 0x80). */
  TOLLGATE_BROKER_MAX_FILTERS_PER_SUBSCRIBE: positiveInt(128, 'filters'),
  /** Subscriptions one MQTT session may hold; a new one beyond gets SUBACK 0x97 (v3.1.1 0x80). */
  TOLLGATE_BROKER_MAX_SUBSCRIPTIONS_PER_SESSION: positiveInt(10_000, 'subscriptions'),
  /** Retained messages per account on an edge; a retained PUBLISH adding one more gets 0x97. */
  TOLLGATE_BROKER_MAX_RETAINED_PER_ACCOUNT: positiveInt(100_000, 'messages'),
  ...subscribeOverlapEnvShape,
  /** MQTT credential-failure throttle at the edge: bad CONNECT credentials per source address / per username before CONNECTs are refused without asking authz. */
  TOLLGATE_MQTT_AUTH_FAILURES_PER_ADDRESS: positiveInt(10, 'failures'),
  TOLLGATE_MQTT_AUTH_FAILURES_PER_USERNAME: positiveInt(5, 'failures'),
  /** First block once throttled (doubles with every further failure, up to the max); quiet time that forgets the count. */
  TOLLGATE_MQTT_AUTH_BACKOFF: duration('1s'),
  TOLLGATE_MQTT_AUTH_BACKOFF_MAX: duration('5m'),
  TOLLGATE_MQTT_AUTH_FAILURE_WINDOW: duration('10m'),
  /** Largest first CONNECT read before authentication (v5: CONNACK 0x95 above it, else closed). */
  TOLLGATE_BROKER_MAX_CONNECT_BYTES: positiveInt(8_192, 'bytes'),
  /** Connections one address may hold before their CONNACK; more are closed at once. */
  TOLLGATE_BROKER_MAX_PENDING_CONNECTS_PER_IP: positiveInt(64, 'connections'),
  /** A connection not answered CONNACK within this of being accepted is closed. */
  TOLLGATE_BROKER_CONNECT_TIMEOUT: duration('5s'),
  /** Largest packet accepted after CONNECT (advertised to v5 clients as Maximum Packet Size). */
  TOLLGATE_BROKER_MAX_PACKET_BYTES: positiveInt(1_048_576, 'bytes').refine((n) => n <= 268_435_455, { message: 'expected at most 268435455 bytes (the MQTT maximum)' }),
  /** v5 clients asking a longer keep-alive (or 0) are told this one (Server Keep Alive); 0: off. */
  TOLLGATE_BROKER_MAX_KEEPALIVE: z
    .string()
    .regex(/^\d{1,5}$/, { message: 'expected a whole number of seconds 0-65535' })
    .transform(Number)
    .refine((n) => n <= 65_535, { message: 'expected a whole number of seconds 0-65535' })
    .default(0),
  /** NATS server(s) the broker edges form one MQTT cluster over; unset: a single edge, no NATS. */
  TOLLGATE_NATS_URL: z
    .string()
    .refine((v) => v.split(',').every((u) => url(['nats', 'tls']).safeParse(u.trim()).success), { message: 'expected nats:// or tls:// URLs, comma separated' })
    .optional(),
  /** NATS credentials file (user JWT + NKey seed) for the broker edges; user and password go in the URL. */
  TOLLGATE_NATS_CREDS: z.string().min(1).optional(),
  /** CA bundle (PEM) for the NATS servers' TLS certificates; client certificate and key for mutual TLS. */
  TOLLGATE_NATS_TLS_CA: z.string().min(1).optional(),
  TOLLGATE_NATS_TLS_CERT: z.string().min(1).optional(),
  TOLLGATE_NATS_TLS_KEY: z.string().min(1).optional(),
  /** Replicas of the cluster's JetStream KV buckets (3 on a three-node NATS cluster). */
  TOLLGATE_NATS_KV_REPLICAS: z.string().regex(/^[1-5]$/, { message: 'expected 1-5' }).transform(Number).default(1),
  /** Edges with the same cluster name share subjects and the retained store. */
  TOLLGATE_BROKER_CLUSTER: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'expected letters, digits, _ and - (at most 64)' }).default('tollgate'),
  /** This edge's name in the cluster and in quota leases; unset: random per process. */
  TOLLGATE_BROKER_EDGE_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'expected letters, digits, _ and - (at most 64)' }).optional(),
  /** Share of PUBLISH/SUBSCRIBE packets the edge traces (0..1; every CONNECT is traced). */
  TOLLGATE_BROKER_TRACE_SAMPLE: z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0+)?)$/, { message: 'expected a ratio between 0 and 1, e.g. 0.001' })
    .transform(Number)
    .default(0.001),
  /** The edge's own topic denials sent to authz's decision log per second at most; more are counted as dropped. */
  TOLLGATE_BROKER_DECISION_REPORTS_PER_SECOND: positiveInt(200, 'decisions'),
};

export const brokerEnvSchema = z.object({ ...serviceEnvShape, ...brokerEnvShape });
export type BrokerEnv = z.infer<typeof brokerEnvSchema>;

/** The ports an edge binds (MQTTS only with its certificate). */
export function brokerPortNames(values: Partial<BrokerEnv>): string[] {
  return ['TOLLGATE_BROKER_GRPC_PORT', 'TOLLGATE_BROKER_HTTP_PORT', 'TOLLGATE_MQTT_PORT', ...(values.TOLLGATE_MQTT_TLS_CERT ? ['TOLLGATE_MQTTS_PORT'] : []), 'TOLLGATE_MQTT_WS_PORT'];
}

/** Checks across the edge's settings: certificates come with their keys, every port once. */
export const brokerChecks: CrossCheck<BrokerEnv> = (values) => [
  ...commonChecks(values),
  ...bothOrNeither(values, 'TOLLGATE_MQTT_TLS_CERT', 'TOLLGATE_MQTT_TLS_KEY'),
  ...bothOrNeither(values, 'TOLLGATE_NATS_TLS_CERT', 'TOLLGATE_NATS_TLS_KEY'),
  ...distinctPorts(values, brokerPortNames(values)),
];

export interface BrokerConfig {
  common: CommonConfig;
  grpcPort: number;
  httpPort: number;
  mqtt: {
    port: number;
    /** MQTT over TLS: on when the certificate and key are set. */
    tls: { port: number; certFile: string; keyFile: string } | undefined;
    wsPort: number;
  };
  /** Everything else the edge app takes, as createBrokerApp names it. */
  edge: Omit<BrokerAppConfig, 'listen' | 'peers' | 'clientTls' | 'mqtt'>;
}

export function brokerConfigFrom(env: BrokerEnv): BrokerConfig {
  const cert = env.TOLLGATE_MQTT_TLS_CERT;
  const key = env.TOLLGATE_MQTT_TLS_KEY;
  return {
    common: commonConfigFrom(env),
    grpcPort: env.TOLLGATE_BROKER_GRPC_PORT,
    httpPort: env.TOLLGATE_BROKER_HTTP_PORT,
    mqtt: { port: env.TOLLGATE_MQTT_PORT, tls: cert && key ? { port: env.TOLLGATE_MQTTS_PORT, certFile: cert, keyFile: key } : undefined, wsPort: env.TOLLGATE_MQTT_WS_PORT },
    edge: {
      anonymousTokenId: env.TOLLGATE_BROKER_ANONYMOUS_TOKEN,
      authzStaleLimitMs: env.TOLLGATE_BROKER_AUTHZ_STALE_LIMIT,
      authzDeadlineMs: env.TOLLGATE_BROKER_AUTHZ_DEADLINE,
      quotaDeadlineMs: env.TOLLGATE_BROKER_QUOTA_DEADLINE,
      quotaFailOpen: env.TOLLGATE_BROKER_QUOTA_FAIL_OPEN,
      maxFiltersPerSubscribe: env.TOLLGATE_BROKER_MAX_FILTERS_PER_SUBSCRIBE,
      maxSubscriptionsPerSession: env.TOLLGATE_BROKER_MAX_SUBSCRIPTIONS_PER_SESSION,
      maxRetainedPerAccount: env.TOLLGATE_BROKER_MAX_RETAINED_PER_ACCOUNT,
      subscribeOverlap: env.TOLLGATE_ACL_SUBSCRIBE_OVERLAP,
      credentialThrottle: {
        maxFailuresPerAddress: env.TOLLGATE_MQTT_AUTH_FAILURES_PER_ADDRESS,
        maxFailuresPerUsername: env.TOLLGATE_MQTT_AUTH_FAILURES_PER_USERNAME,
        backoffBaseMs: env.TOLLGATE_MQTT_AUTH_BACKOFF,
        backoffMaxMs: env.TOLLGATE_MQTT_AUTH_BACKOFF_MAX,
        windowMs: env.TOLLGATE_MQTT_AUTH_FAILURE_WINDOW,
      },
      limits: {
        maxConnectBytes: env.TOLLGATE_BROKER_MAX_CONNECT_BYTES,
        maxPendingConnectsPerIp: env.TOLLGATE_BROKER_MAX_PENDING_CONNECTS_PER_IP,
        connectTimeoutMs: env.TOLLGATE_BROKER_CONNECT_TIMEOUT,
        maxPacketSizeBytes: env.TOLLGATE_BROKER_MAX_PACKET_BYTES,
        maxKeepAliveSeconds: env.TOLLGATE_BROKER_MAX_KEEPALIVE,
      },
      edgeId: env.TOLLGATE_BROKER_EDGE_ID,
      cluster: env.TOLLGATE_NATS_URL
        ? {
            natsUrl: env.TOLLGATE_NATS_URL,
            name: env.TOLLGATE_BROKER_CLUSTER,
            credsFile: env.TOLLGATE_NATS_CREDS,
            tlsCaFile: env.TOLLGATE_NATS_TLS_CA,
            tlsCertFile: env.TOLLGATE_NATS_TLS_CERT,
            tlsKeyFile: env.TOLLGATE_NATS_TLS_KEY,
            kvReplicas: env.TOLLGATE_NATS_KV_REPLICAS,
          }
        : undefined,
      traceSampleRatio: env.TOLLGATE_BROKER_TRACE_SAMPLE,
      decisionReportsPerSecond: env.TOLLGATE_BROKER_DECISION_REPORTS_PER_SECOND,
    },
  };
}

/** The edge's configuration from the environment: every problem reported together (ConfigError). */
export function loadBrokerConfig(env: Env): BrokerConfig {
  return brokerConfigFrom(parseEnv(brokerEnvSchema, env, brokerChecks));
}
