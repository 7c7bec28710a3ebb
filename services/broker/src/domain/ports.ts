/**
 * Ports of the broker edge: what it asks the rest of the mesh. The broker depends on these
 * interfaces only; `adapters/` holds in-memory versions for tests and dev, and the lead's
 * `grpc/` wires them to authz and quota. Topics and filters handed to a port are always the
 * client-visible ones (never the account mount prefix).
 */

export type MqttProtocol = 'mqtt3.1' | 'mqtt3.1.1' | 'mqtt5';

export interface AuthenticateRequest {
  username: string | undefined;
  password: Buffer | undefined;
  clientId: string;
  peerIp: string;
  protocol: MqttProtocol;
}

export interface Principal {
  /** Account whose topic namespace the client is mounted in. */
  account: string;
  /** Who this is inside the account (token id, user id…), for logs and admin listings. */
  subject: string;
  tokenId?: string;
  /** OAuth access tokens: the grant (refresh-token family) they came from; revoking it disconnects the client. */
  grantId?: string;
  /** Skips the topic ACL (still inside its account namespace). */
  superuser: boolean;
}

/** `unknown`: the fast path cannot answer; ask the async fallback. */
export type TopicDecision = 'allow' | 'deny' | 'unknown';

/**
 * Subscribe may also answer `allow-filtered`: the filter overlaps a deny rule, and is granted on
 * the condition that every message delivered through it passes `mayReceive`.
 */
export type SubscribeDecision = TopicDecision | 'allow-filtered';

/**
 * Per-session topic ACL. The sync checks answer from rules shipped with the principal or a
 * local cache, with no I/O; only `unknown` makes the broker await the async fallback.
 */
export interface TopicAuthorizer {
  checkPublish(topic: string): TopicDecision;
  checkSubscribe(filter: string): SubscribeDecision;
  /** For subscriptions granted `allow-filtered` only: may a message on `topic` go through them? */
  mayReceive?(topic: string): boolean;
  authorizePublish(topic: string): Promise<boolean>;
  /** One answer per filter, in order (a batch: one round trip for a multi-topic SUBSCRIBE). */
  authorizeSubscribe(filters: readonly string[]): Promise<boolean[]>;  /** Why a topic was refused, for the decision log (asked on denials only, never on the allow path). */
  denyReason?(action: 'publish' | 'subscribe', topic: string): string;
}

/** Why a CONNECT is refused; maps to CONNACK 0x86/0x87/0x88/0x8A (v5) or 4/5/3 (v3). */
export type AuthDenyReason = 'bad_credentials' | 'not_authorized' | 'banned' | 'expired' | 'unavailable';

export type AuthenticateResult =
  | {
      allowed: true;
      principal: Principal;
      acl: TopicAuthorizer;
      /** How long the decision may be reused for the same credentials. */
      cacheTtlMs: number;
      /** The credential stops being valid then: the broker disconnects the client (0x87). */
      expiresAtMs?: number;
    }
  | { allowed: false; reason: AuthDenyReason; unavailable?: boolean };

/** A topic the edge refused by itself (publish, subscribe or a will), for authz's decision log. */
export interface TopicDenial {
  action: 'publish' | 'subscribe';
  /** Client-visible topic or filter. */
  topic: string;
  account: string;
  subject: string;
  clientId: string;
  /** `ACL_DENIED` (the rules said no) or `AUTHZ_UNAVAILABLE` (no answer: refused, fail closed). */
  reason: string;
}

export interface Authenticator {
  /**
   * Synchronous when it can answer locally (a credential in its cache): a CONNECT from a known
   * device then costs no promise and no pause of its socket.
   */
  authenticate(request: AuthenticateRequest): AuthenticateResult | Promise<AuthenticateResult>;
}

export type ConnectionSlot = { granted: true } | { granted: false; reason: 'quota_exceeded' | 'unavailable' };

/**
 * Inbound metering. `spendInbound` is synchronous: it spends from a local lease; refilling the
 * lease from the quota service happens behind it.
 */
export type SpendResult =
  | { kind: 'ok' }
  /** Over a rate limit: stop reading the client until `retryAfterMs` has passed. */
  | { kind: 'throttled'; retryAfterMs: number }
  /** Over a volume limit: refuse (0x97). `cutOff`: the account is cut off, disconnect too. */
  | { kind: 'exhausted'; cutOff: boolean };

export interface QuotaMeter {
  /** Synchronous when it can answer locally (a slot from the edge's block). */
  acquireConnection(account: string, clientId: string): ConnectionSlot | Promise<ConnectionSlot>;
  releaseConnection(account: string, clientId: string): void;
  spendInbound(account: string, messages: number, bytes: number): SpendResult;
}

/**
 * The account's quota on retained topics (quota's `mqtt.retained` count limit), applied on top of
 * the edge's own `maxRetainedPerAccount`. Synchronous once known: `limitFor` answers from memory;
 * `undefined` means not known yet, and the caller waits for `load` (which never rejects: a limit
 * that cannot be read counts as none, and the edge's own cap still holds).
 */
export interface RetainedLimits {
  /** The effective limit; `null` for none; `undefined` not known yet. */
  limitFor(account: string): number | null | undefined;
  load(account: string): Promise<void>;
}

/** The mesh's one clock port (libs/clock). */
export type { Clock } from '#libs/clock/index.ts';

export type BrokerCounter =
  | 'connections_opened'
  | 'connections_closed'
  | 'connects_accepted'
  | 'connects_refused'
  | 'connect_refused_bad_credentials'
  | 'connect_refused_not_authorized'
  | 'connect_refused_server_unavailable'
  | 'connect_refused_quota_exceeded'
  | 'connect_refused_client_id_invalid'
  | 'connect_refused_bad_authentication_method'
  | 'connect_refused_will_topic_invalid'
  | 'connect_refused_protocol_error'
  | 'connect_refused_packet_too_large'
  | 'messages_in'
  | 'bytes_in'
  | 'messages_out'
  | 'bytes_out'
  | 'publish_denied'
  | 'subscribe_denied'
  | 'quota_throttled'
  | 'quota_exhausted'
  | 'dropped_qos0_slow_consumer'
  | 'dropped_queue_full'
  | 'retained_refused'
  | 'subscribe_quota_exceeded'
  | 'dropped_expired'
  | 'dropped_too_large'
  | 'protocol_errors'
  /** A first CONNECT over `maxConnectBytes` (also counted in connects_refused). */
  | 'connects_too_large'
  /** Closed at once: its address already held `maxPendingConnectsPerIp` unanswered connections. */
  | 'pending_connects_refused'
  /** An unexpected error parsing, encoding, writing or handling closed one connection. */
  | 'connection_errors'
  /** A message that could not be encoded for one subscriber, dropped for it. */
  | 'dropped_unencodable'
  | 'authz_unavailable'
  /** CONNECTs refused by the credential-failure throttle without asking authz. */
  | 'connects_throttled'
  | 'quota_unavailable'
  /** Topic denials of this edge sent to authz's decision log, and those dropped (over the rate cap, or authz unreachable). */
  | 'decisions_reported'
  | 'decisions_report_dropped';

export interface BrokerMetrics {
  count(counter: BrokerCounter, n?: number): void;
}
