import type { Authenticator, BrokerMetrics, Clock, QuotaMeter, RetainedLimits } from './domain/ports.ts';
import type { CredentialThrottlePolicy, ThrottleEpisode } from './domain/credential-throttle.ts';
import type { BrokerCore } from './broker-core.ts';
import type { BrokerCluster } from './cluster/broker-cluster.ts';
import type { BrokerTracing } from './broker-tracing.ts';
import type { TopicDenial } from './domain/ports.ts';

export interface ListenAddress {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface BrokerOptions {
  authenticator: Authenticator;
  quota: QuotaMeter;
  clock?: Clock;
  metrics?: BrokerMetrics;
  /** Plain MQTT. Default 0.0.0.0:1883; `false` disables it. */
  tcp?: ListenAddress | false;
  /** MQTT over TLS (TLS 1.2 minimum). Off unless given. */
  tls?: ListenAddress & { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  /** MQTT over WebSocket (`mqtt` subprotocol). Off unless given. */
  ws?: ListenAddress & { path?: string };
  /**
   * A connection not answered CONNACK 0 within this of being accepted (no CONNECT, a trickled
   * one, or one still being authenticated) is closed. Default 5 s.
   */
  connectTimeoutMs?: number;
  /**
   * Largest first CONNECT read before authentication (will message included); a bigger one is
   * refused as soon as its length is known (v5 CONNACK 0x95, else closed). Default 8 KiB.
   */
  maxConnectBytes?: number;
  /** Connections one peer address may hold before their CONNACK; more are closed at once. Default 64. */
  maxPendingConnectsPerIp?: number;
  /** v5: clients asking for more (or 0) get this as Server Keep Alive. 0: accept the client's. */
  maxKeepAliveSeconds?: number;
  /** Largest packet accepted (advertised as Maximum Packet Size). Default 1 MiB. */
  maxPacketSizeBytes?: number;
  /** Our Receive Maximum: unacknowledged inbound QoS 2 per client. Default 64. */
  receiveMaximum?: number;
  /** Outbound in-flight window per client (capped by the client's Receive Maximum). Default 64. */
  maxInflightOut?: number;
  /** Queued outbound QoS>0 messages per session beyond the window. Default 1,000. */
  maxQueuedMessages?: number;
  /** Bytes waiting in the socket before QoS 0 to that client is dropped. Default 1 MiB. */
  maxBufferedBytesPerClient?: number;
  /** Topic Alias Maximum accepted from clients. Default 32. */
  topicAliasMaximum?: number;
  /**
   * Topic aliases the broker assigns on PUBLISH packets to a v5 client that asks for them (its
   * CONNECT Topic Alias Maximum), at most this many per connection. Default 32; 0 turns it off.
   */
  outboundTopicAliasMaximum?: number;
  /** Cap on Session Expiry, also the lifetime of a v3.1.1 CleanSession=0 session. Default 7 days. */
  maxSessionExpirySeconds?: number;
  /**
   * Retained messages kept per account (default 100,000). A retained PUBLISH that would add one
   * more is refused whole: PUBACK/PUBREC 0x97 at QoS > 0, dropped and counted at QoS 0.
   */
  maxRetainedPerAccount?: number;
  /** Each account's own retained quota (quota's `mqtt.retained`); the lower of it and the cap above applies. Unset: the cap alone. */
  retainedLimits?: RetainedLimits;
  /** Topic filters taken from one SUBSCRIBE; each one beyond gets SUBACK 0x97 (v3.1.1: 0x80). Default 128. */
  maxFiltersPerSubscribe?: number;
  /** Subscriptions one session may hold; a new one beyond gets SUBACK 0x97 (v3.1.1: 0x80). Default 10,000. */
  maxSubscriptionsPerSession?: number;
  /**
   * Keep allowed CONNECT decisions in the broker's own credential cache for their TTL (default
   * true). Turn off when the Authenticator caches itself (e.g. with a stale-serving policy).
   */
  cacheCredentials?: boolean;
  /** Period of the housekeeping sweep (timeouts, keep-alive, wills, expiry). Default 500 ms. */
  sweepIntervalMs?: number;
  /**
   * Credential-failure throttle per source address and per username (domain/credential-throttle.ts);
   * unset fields take the defaults there. `false` turns it off.
   */
  credentialThrottle?: Partial<CredentialThrottlePolicy> | false;
  /** Told once when a throttled episode starts and once when it ends (aggregated, for the log). */
  onCredentialThrottle?: (episode: ThrottleEpisode) => void;
  /** Joins the other edges of a cluster (cluster/nats-cluster.ts). Unset: a single edge. */
  cluster?: { attach(core: BrokerCore): BrokerCluster };
  /** Spans for every CONNECT and sampled PUBLISH/SUBSCRIBE (broker-tracing.ts). Unset: none. */
  tracing?: BrokerTracing;
  /**
   * Told of every topic the edge itself refused (the compiled ACL answers in process, so authz
   * never sees these): the app reports them to authz's decision log. Must not block.
   */
  onTopicDenied?: (denial: TopicDenial) => void;
}

export type ResolvedBrokerOptions = Required<
  Omit<BrokerOptions, 'tls' | 'ws' | 'tcp' | 'clock' | 'metrics' | 'credentialThrottle' | 'onCredentialThrottle' | 'cluster' | 'tracing' | 'onTopicDenied' | 'retainedLimits'>
> & Pick<BrokerOptions, 'tls' | 'ws' | 'tcp' | 'credentialThrottle' | 'onCredentialThrottle' | 'tracing' | 'onTopicDenied' | 'retainedLimits'>;

export function resolveBrokerOptions(options: BrokerOptions): ResolvedBrokerOptions {
  return {
    authenticator: options.authenticator,
    quota: options.quota,
    tcp: options.tcp,
    tls: options.tls,
    ws: options.ws,
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    maxConnectBytes: options.maxConnectBytes ?? 8_192,
    maxPendingConnectsPerIp: options.maxPendingConnectsPerIp ?? 64,
    maxKeepAliveSeconds: options.maxKeepAliveSeconds ?? 0,
    maxPacketSizeBytes: options.maxPacketSizeBytes ?? 1_048_576,
    receiveMaximum: options.receiveMaximum ?? 64,
    maxInflightOut: options.maxInflightOut ?? 64,
    maxQueuedMessages: options.maxQueuedMessages ?? 1_000,
    maxBufferedBytesPerClient: options.maxBufferedBytesPerClient ?? 1_048_576,
    topicAliasMaximum: options.topicAliasMaximum ?? 32,
    outboundTopicAliasMaximum: options.outboundTopicAliasMaximum ?? 32,
    maxSessionExpirySeconds: options.maxSessionExpirySeconds ?? 7 * 86_400,
    maxRetainedPerAccount: options.maxRetainedPerAccount ?? 100_000,
    retainedLimits: options.retainedLimits,
    maxFiltersPerSubscribe: options.maxFiltersPerSubscribe ?? 128,
    maxSubscriptionsPerSession: options.maxSubscriptionsPerSession ?? 10_000,
    cacheCredentials: options.cacheCredentials ?? true,
    sweepIntervalMs: options.sweepIntervalMs ?? 500,
    credentialThrottle: options.credentialThrottle ?? {},
    onCredentialThrottle: options.onCredentialThrottle,
    tracing: options.tracing,
    onTopicDenied: options.onTopicDenied,
  };
}
