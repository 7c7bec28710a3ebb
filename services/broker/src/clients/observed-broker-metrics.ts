import type { Meter } from '@opentelemetry/api';
import { CountingMetrics } from '../adapters/counting-metrics.ts';
import type { BrokerCounter } from '../domain/ports.ts';

const QUOTA_LIMITED = 'PUBLISH not admitted at once by quota, by outcome (throttled: reading paused until budget returns, then metered again; exhausted: refused)';

const refusal = (reason: string) => ({ name: 'tollgate.broker.connect_refusals', description: 'CONNECTs refused, by reason (the CONNACK reason: bad_credentials 0x86, not_authorized 0x87 — throttled ones too, server_unavailable 0x88, quota_exceeded 0x97, client_id_invalid 0x85, bad_authentication_method 0x8C, will_topic_invalid 0x90, packet_too_large 0x95, protocol_error)', attributes: { reason } });

/** Each broker counter's Prometheus family and labels (docs/METRICS.md lists them). */
const families: Record<BrokerCounter, { name: string; description: string; attributes?: Record<string, string> }> = {
  connections_opened: { name: 'tollgate.broker.connections_opened', description: 'network connections accepted (TCP, TLS, WebSocket)' },
  connections_closed: { name: 'tollgate.broker.connections_closed', description: 'network connections closed' },
  connects_accepted: { name: 'tollgate.broker.connects', description: 'MQTT CONNECTs by result', attributes: { result: 'accepted' } },
  connects_refused: { name: 'tollgate.broker.connects', description: 'MQTT CONNECTs by result', attributes: { result: 'refused' } },
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
  messages_in: { name: 'tollgate.broker.messages', description: 'PUBLISH packets by direction (in: from clients, out: to subscribers)', attributes: { direction: 'in' } },
  messages_out: { name: 'tollgate.broker.messages', description: 'PUBLISH packets by direction (in: from clients, out: to subscribers)', attributes: { direction: 'out' } },
  bytes_in: { name: 'tollgate.broker.bytes', description: 'bytes by direction (in: payload bytes published, out: PUBLISH packet bytes delivered)', attributes: { direction: 'in' } },
  bytes_out: { name: 'tollgate.broker.bytes', description: 'bytes by direction (in: payload bytes published, out: PUBLISH packet bytes delivered)', attributes: { direction: 'out' } },
  publish_denied: { name: 'tollgate.broker.denials', description: 'PUBLISH and SUBSCRIBE refused by the ACL', attributes: { action: 'publish' } },
  subscribe_denied: { name: 'tollgate.broker.denials', description: 'PUBLISH and SUBSCRIBE refused by the ACL', attributes: { action: 'subscribe' } },
  quota_throttled: { name: 'tollgate.broker.quota_limited', description: QUOTA_LIMITED, attributes: { outcome: 'throttled' } },
  quota_exhausted: { name: 'tollgate.broker.quota_limited', description: QUOTA_LIMITED, attributes: { outcome: 'exhausted' } },
  dropped_qos0_slow_consumer: { name: 'tollgate.broker.dropped_messages', description: 'messages not delivered, by reason', attributes: { reason: 'qos0_slow_consumer' } },
  dropped_queue_full: { name: 'tollgate.broker.dropped_messages', description: 'messages not delivered, by reason', attributes: { reason: 'queue_full' } },
  dropped_expired: { name: 'tollgate.broker.dropped_messages', description: 'messages not delivered, by reason', attributes: { reason: 'expired' } },
  dropped_too_large: { name: 'tollgate.broker.dropped_messages', description: 'messages not delivered, by reason', attributes: { reason: 'too_large' } },
  retained_refused: { name: 'tollgate.broker.limit_refusals', description: 'requests refused by an edge security limit, by limit', attributes: { limit: 'retained_per_account' } },
  subscribe_quota_exceeded: { name: 'tollgate.broker.limit_refusals', description: 'requests refused by an edge security limit, by limit', attributes: { limit: 'filters_per_subscribe' } },
  connection_errors: { name: 'tollgate.broker.connection_errors', description: 'connections closed because parsing, encoding, writing or a handler failed on them (contained to that connection)' },
  connects_too_large: { name: 'tollgate.broker.limit_refusals', description: 'requests refused by an edge security limit, by limit', attributes: { limit: 'connect_bytes' } },
  pending_connects_refused: { name: 'tollgate.broker.limit_refusals', description: 'requests refused by an edge security limit, by limit', attributes: { limit: 'pending_connects_per_address' } },
  dropped_unencodable: { name: 'tollgate.broker.dropped_messages', description: 'messages not delivered, by reason', attributes: { reason: 'unencodable' } },
  protocol_errors: { name: 'tollgate.broker.protocol_errors', description: 'malformed or out-of-order packets (the connection is closed)' },
  authz_unavailable: { name: 'tollgate.broker.peer_unavailable', description: 'calls to a peer that failed (fail-closed or stale decisions, per policy), by peer', attributes: { peer: 'authz' } },
  quota_unavailable: { name: 'tollgate.broker.peer_unavailable', description: 'calls to a peer that failed (fail-closed or stale decisions, per policy), by peer', attributes: { peer: 'quota' } },
  decisions_reported: { name: 'tollgate.broker.decision_reports', description: "the edge's own topic denials for authz's decision log, by outcome (sent, dropped)", attributes: { outcome: 'sent' } },
  decisions_report_dropped: { name: 'tollgate.broker.decision_reports', description: "the edge's own topic denials for authz's decision log, by outcome (sent, dropped)", attributes: { outcome: 'dropped' } },
};

/**
 * Broker counters kept as plain numbers on the hot path and read by OpenTelemetry only when
 * /metrics is scraped (observable instruments): metering a message costs a Map update, nothing more.
 * `openConnections` feeds the `tollgate_broker_connections` gauge.
 */
export function createObservedBrokerMetrics(meter: Meter, openConnections: () => number): CountingMetrics {
  const counting = new CountingMetrics();
  const byFamily = new Map<string, { description: string; counters: [BrokerCounter, Record<string, string>][] }>();
  for (const [counter, family] of Object.entries(families) as [BrokerCounter, (typeof families)[BrokerCounter]][]) {
    const entry = byFamily.get(family.name) ?? { description: family.description, counters: [] };
    entry.counters.push([counter, family.attributes ?? {}]);
    byFamily.set(family.name, entry);
  }
  for (const [name, family] of byFamily) {
    meter.createObservableCounter(name, { description: family.description }).addCallback((result) => {
      for (const [counter, attributes] of family.counters) result.observe(counting.get(counter), attributes);
    });
  }
  meter.createObservableGauge('tollgate.broker.connections', { description: 'MQTT connections open now' }).addCallback((result) => result.observe(openConnections()));
  return counting;
}
