import { metrics } from '@opentelemetry/api';
import type { NatsCluster } from './nats-cluster.ts';

/**
 * The cluster on /metrics: `tollgate.broker.cluster.connected` (1 while NATS is reachable, 0 when
 * the edge is degraded) and `tollgate.broker.cluster.events` by kind (forwarded, received, …).
 */
export function observeCluster(cluster: NatsCluster): void {
  const meter = metrics.getMeter('tollgate-broker');
  meter.createObservableGauge('tollgate.broker.cluster.connected', { description: '1 while this edge reaches NATS (its cluster), 0 when degraded' }).addCallback((result) => {
    result.observe(cluster.connected ? 1 : 0, { edge: cluster.edgeId });
  });
  meter.createObservableCounter('tollgate.broker.cluster.events', { description: 'Cluster traffic of this edge by kind' }).addCallback((result) => {
    for (const [kind, value] of cluster.counters) result.observe(value, { kind, edge: cluster.edgeId });
  });
}
