import type { Meter } from '@opentelemetry/api';
import { CountingMetrics } from '../adapters/counting-metrics.ts';
import type { BrokerCounter } from '../domain/ports.ts';

type Family = { name: string; description: string; attributes?: Record<string, string> };
/** One Prometheus family shared by several counters, told apart by their labels. */
const family = (name: string, description: string) => (attributes: Record<string, string>): Family => ({ name, description, attributes });

const connects = family('tollgate.broker.connects', 'MQTT CONNECTs by result');
const refusal = (reason: string) =>
  family('tollgate.broker.connect_refusals', 'CONNECTs refused, by reason (the CONNACK reason: bad_credentials 0x86, not_authorized 0x87 — throttled ones too, server_unavailable 0x88, quota_exceeded 0x97, client_id_invalid 0x85, bad_authentication_method 0x8C, will_topic_invalid 0x90, packet_too_large 0x95, protocol_error)')({ reason });
const messages = family('tollgate.broker.messages', 'PUBLISH packets by direction (in: from clients, out: to subscribers)');
const bytes = family('tollgate.broker.bytes', 'bytes by direction (in: payload bytes published, out: PUBLISH packet bytes delivered)');
const denials = family('tollgate.broker.denials', 'PUBLISH and SUBSCRIBE refused by the ACL');
const quotaLimited = family('tollgate.broker.quota_limited', 'PUBLISH not admitted at once by quota, by outcome (throttled: reading paused until budget returns, then metered again; exhausted: refused)');
const dropped = family('tollgate.broker.dropped_messages', 'messages not delivered, by reason');
const limitRefusals = family('tollgate.broker.limit_refusals', 'requests refused by an edge security limit, by limit');
const peerUnavailable = family('tollgate.broker.peer_unavailable', 'calls to a peer that failed (fail-closed or stale decisions, per policy), by peer');
const decisionReports = family('tollgate.broker.decision_reports', "the edge's own topic denials for authz's decision log, by outcome (sent, dropped)");

/** Each broker counter's Prometheus family and labels (docs/METRICS.md lists them). */
const families: Record<BrokerCounter, Family> = {
  connections_opened: { name: 'tollgate.broker.connections_opened', description: 'network connections accepted (TCP, TLS, WebSocket)' },
  connections_closed: { name: 'tollgate.broker.connections_closed', description: 'network connections closed' },
  connects_accepted: connects({ result: 'accepted' }),
  connects_refused: connects({ result: 'refused' }),
  connect_refused_bad_credentials: refusal('bad_credentials'),
  connect_refused_not_authorized: refusal('not_authorized'),
  connect_refused_server_unavailable: refusal('server_unavailable'),
  connect_refused_quota_exceeded: refusal('quota_exceeded'),
  connect_refused_client_id_invalid: refusal('client_id_invalid'),
  connect_refused_bad_authentication_method: refusal('bad_authentication_method'),
  connect_refused_will_topic_invalid: refusal('will_topic_invalid'),
  connect_refused_protocol_error: refusal('protocol_error'),
  connect_refused_packet_too_large: refusal('packet_too_large'),
  connects_throttled: { name: 'tollgate.broker.connects_throttled', description: 'CONNECTs refused by the credential-failure throttle without asking authz (also counted in connects{result="refused"})' },
  messages_in: messages({ direction: 'in' }),
  messages_out: messages({ direction: 'out' }),
  bytes_in: bytes({ direction: 'in' }),
  bytes_out: bytes({ direction: 'out' }),
  publish_denied: denials({ action: 'publish' }),
  subscribe_denied: denials({ action: 'subscribe' }),
  quota_throttled: quotaLimited({ outcome: 'throttled' }),
  quota_exhausted: quotaLimited({ outcome: 'exhausted' }),
  dropped_qos0_slow_consumer: dropped({ reason: 'qos0_slow_consumer' }),
  dropped_queue_full: dropped({ reason: 'queue_full' }),
  dropped_expired: dropped({ reason: 'expired' }),
  dropped_too_large: dropped({ reason: 'too_large' }),
  dropped_unencodable: dropped({ reason: 'unencodable' }),
  retained_refused: limitRefusals({ limit: 'retained_per_account' }),
  subscribe_quota_exceeded: limitRefusals({ limit: 'filters_per_subscribe' }),
  connects_too_large: limitRefusals({ limit: 'connect_bytes' }),
  pending_connects_refused: limitRefusals({ limit: 'pending_connects_per_address' }),
  connection_errors: { name: 'tollgate.broker.connection_errors', description: 'connections closed because parsing, encoding, writing or a handler failed on them (contained to that connection)' },
  protocol_errors: { name: 'tollgate.broker.protocol_errors', description: 'malformed or out-of-order packets (the connection is closed)' },
  authz_unavailable: peerUnavailable({ peer: 'authz' }),
  quota_unavailable: peerUnavailable({ peer: 'quota' }),
  decisions_reported: decisionReports({ outcome: 'sent' }),
  decisions_report_dropped: decisionReports({ outcome: 'dropped' }),
};

/**
 * Broker counters kept as plain numbers on the hot path and read by OpenTelemetry only when
 * /metrics is scraped (observable instruments): metering a message costs a Map update, nothing more.
 * `openConnections` feeds the `tollgate_broker_connections` gauge.
 */
export function createObservedBrokerMetrics(meter: Meter, openConnections: () => number): CountingMetrics {
  const counting = new CountingMetrics();
  const byFamily = new Map<string, { description: string; counters: [BrokerCounter, Record<string, string>][] }>();
  for (const [counter, f] of Object.entries(families) as [BrokerCounter, Family][]) {
    const entry = byFamily.get(f.name) ?? { description: f.description, counters: [] };
    entry.counters.push([counter, f.attributes ?? {}]);
    byFamily.set(f.name, entry);
  }
  for (const [name, { description, counters }] of byFamily) {
    meter.createObservableCounter(name, { description }).addCallback((result) => {
      for (const [counter, attributes] of counters) result.observe(counting.get(counter), attributes);
    });
  }
  meter.createObservableGauge('tollgate.broker.connections', { description: 'MQTT connections open now' }).addCallback((result) => result.observe(openConnections()));
  return counting;
}
