import { z } from 'zod';
import { bool, databaseUrl, duration, host, logLevel, port, positiveInt, url } from './env-schema.ts';

/** Well-known default ports (ARCHITECTURE §2). */
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
  TOLLGATE_GRPC_TLS_CERT: z.string().optional(),
  TOLLGATE_GRPC_TLS_KEY: z.string().optional(),
  TOLLGATE_GRPC_TLS_CA: z.string().optional(),
};

/** Peer gRPC addresses (`host:port`) of a service run alone. */
/**
 * A peer's gRPC target: `host:port` (every address the name resolves to is used, calls spread
 * round robin), `dns:///host:port`, or a fixed list `ipv4:a:p,b:p` / `ipv6:[a]:p,[b]:p`.
 */
const peerTarget = z
  .string()
  .regex(/^(?:(?:dns:\/\/\/)?[A-Za-z0-9.:_\-[\]]+:\d{1,5}|ipv[46]:[A-Za-z0-9.:_\-[\]]+:\d{1,5}(?:,[A-Za-z0-9.:_\-[\]]+:\d{1,5})*)$/, { message: 'expected host:port, dns:///host:port or ipv4:host:port,host:port' })
  .optional();
export const peerEnvShape = {
  TOLLGATE_IDENTITY_URL: peerTarget,
  TOLLGATE_AUTHZ_URL: peerTarget,
  TOLLGATE_QUOTA_URL: peerTarget,
  TOLLGATE_BROKER_URL: peerTarget,
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
  TOLLGATE_BROKER_HTTP_PORT: port(defaultPorts.broker.http),
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
  /** How long a CONNECT waits for authz's Authenticate before CONNACK 0x88 (server unavailable). */
  TOLLGATE_BROKER_AUTHZ_DEADLINE: duration('200ms'),
  /** Quota unreachable and the edge's lease spent: keep admitting (true) or hold clients back. */
  TOLLGATE_BROKER_QUOTA_FAIL_OPEN: bool(true),
  /** Topic filters taken from one SUBSCRIBE; the rest get SUBACK 0x97 (v3.1.1 0x80). */
  TOLLGATE_BROKER_MAX_FILTERS_PER_SUBSCRIBE: positiveInt(128, 'filters'),
  /** Subscriptions one MQTT session may hold; a new one beyond gets SUBACK 0x97 (v3.1.1 0x80). */
  TOLLGATE_BROKER_MAX_SUBSCRIPTIONS_PER_SESSION: positiveInt(10_000, 'subscriptions'),
  /** Retained messages per account on an edge; a retained PUBLISH adding one more gets 0x97. */
  TOLLGATE_BROKER_MAX_RETAINED_PER_ACCOUNT: positiveInt(100_000, 'messages'),
  /** A subscribe filter overlapping a deny rule: granted and filtered per delivery, or refused (0x87). */
  TOLLGATE_ACL_SUBSCRIBE_OVERLAP: z.enum(['filter', 'refuse'], { message: 'expected filter or refuse' }).default('filter'),
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
  TOLLGATE_ACCESS_TOKEN_TTL: duration('6h'),
  /** Console sessions end after this long without a request, and this long after sign-in at most. */
  TOLLGATE_CONSOLE_SESSION_IDLE: duration('30m'),
  TOLLGATE_CONSOLE_SESSION_MAX: duration('12h'),
  /** Public issuer URL of identity's tokens and OIDC provider (`iss`, discovery); unset: identity's own HTTP address. */
  TOLLGATE_JWT_ISSUER: url(['http', 'https']).optional(),
  /** argon2id cost (OWASP defaults: 19456 KiB, 2 iterations, parallelism 1). */
  TOLLGATE_ARGON2_MEMORY_KIB: positiveInt(19_456, 'KiB'),
  TOLLGATE_ARGON2_ITERATIONS: positiveInt(2, 'iterations'),
  /** Failed logins of one username from one address before that (username, address) is locked out, and how long it lasts. */
  TOLLGATE_LOGIN_MAX_FAILURES: positiveInt(5, 'failures'),
  TOLLGATE_LOGIN_LOCKOUT: duration('15m'),
  /** Failed logins from one address over every username (password spraying) before the address is locked out. */
  TOLLGATE_LOGIN_MAX_FAILURES_PER_ADDRESS: positiveInt(20, 'failures'),
  /** Distinct addresses failing for one username within the window that lock it from every address (a distributed attack). */
  TOLLGATE_LOGIN_DISTRIBUTED_ADDRESSES: positiveInt(3, 'addresses'),
  /**
   * Quota replicas (gRPC host:port, comma separated, the same order on every replica; one `{a..b}`
   * range per entry expands, e.g. `quota-{0..1}.quota-headless:7301`); unset: one replica. Each
   * replica finds itself by its host name (HOSTNAME) = an entry's first DNS label
   * (libs/config/quota-replicas.ts).
   */
  TOLLGATE_QUOTA_REPLICAS: z.string().regex(/^[A-Za-z0-9.:_\-[\]{}]+:\d{1,5}(,[A-Za-z0-9.:_\-[\]{}]+:\d{1,5})*$/, { message: 'expected host:port,host:port,… (or quota-{0..N}.name:port)' }).optional(),
  /** Explicit override of the host-name match: this replica's 0-based position in TOLLGATE_QUOTA_REPLICAS. */
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
