import { metrics } from '@opentelemetry/api';
import { CountingMetrics } from '../adapters/counting-metrics.ts';

/**
 * Broker counters kept as plain numbers on the hot path and read by OpenTelemetry only when
 * /metrics is scraped (observable counters): metering a message costs a Map update, nothing more.
 */
export function createObservedBrokerMetrics(): CountingMetrics {
  const counting = new CountingMetrics();
  const counter = metrics.getMeter('tollgate-broker').createObservableCounter('tollgate.broker.events', { description: 'MQTT broker events by kind' });
  counter.addCallback((result) => {
    for (const [kind, value] of counting.counters) result.observe(value, { kind });
  });
  return counting;
}
