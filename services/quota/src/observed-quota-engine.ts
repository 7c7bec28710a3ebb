import type { Meter } from '@opentelemetry/api';
import type { QuotaEngine } from './domain/quota-engine.ts';

/**
 * Quota's decisions as metrics (docs/METRICS.md, "quota"): the engine's deciding methods wrapped
 * on the instance, so every path — QuotaService, Envoy's rate limit, forwarded calls — is counted
 * once, where it is decided. Labels are the metric catalogue's closed set of names and a result.
 */
export function observeQuotaEngine(engine: QuotaEngine, meter: Meter): void {
  const consumes = meter.createCounter('tollgate.quota.consumes', {
    description: 'consumes decided, by metric and result (admitted; rejected; shadow_admitted: over a limit in shadow mode, so over-admitted on purpose)',
  });
  const leases = meter.createCounter('tollgate.quota.lease_grants', { description: 'leases asked by edges, by metric and result (granted, empty: nothing granted, volume_exhausted)' });
  const leasedUnits = meter.createCounter('tollgate.quota.leased_units', { description: 'units of budget granted to edges in leases, by metric' });
  const returnedUnits = meter.createCounter('tollgate.quota.returned_units', { description: 'leased units edges gave back unspent and quota credited to the counters again, by metric' });
  const slots = meter.createCounter('tollgate.quota.slot_requests', { description: 'connection slots and slot blocks asked, by metric and result (granted, limited, refused)' });

  const outcome = (r: { allowed: boolean; shadowed: boolean }) => (r.shadowed ? 'shadow_admitted' : r.allowed ? 'admitted' : 'rejected');
  const consume = engine.consume.bind(engine);
  engine.consume = (input) => {
    const result = consume(input);
    consumes.add(1, { metric: input.metric, result: outcome(result) });
    return result;
  };
  const consumeAll = engine.consumeAll.bind(engine);
  engine.consumeAll = (inputs) => {
    const results = consumeAll(inputs);
    results.forEach((result, i) => consumes.add(1, { metric: inputs[i]!.metric, result: outcome(result) }));
    return results;
  };
  const lease = engine.lease.bind(engine);
  engine.lease = (input) => {
    const result = lease(input);
    if (input.want > 0) leases.add(1, { metric: input.metric, result: result.volumeExhausted ? 'volume_exhausted' : result.granted > 0 ? 'granted' : 'empty' });
    if (result.granted > 0) leasedUnits.add(result.granted, { metric: input.metric });
    if (result.returned > 0) returnedUnits.add(result.returned, { metric: input.metric });
    return result;
  };
  const acquireSlot = engine.acquireSlot.bind(engine);
  engine.acquireSlot = (input) => {
    const result = acquireSlot(input);
    slots.add(1, { metric: input.metric, result: result.allowed ? 'granted' : 'refused' });
    return result;
  };
  const leaseSlots = engine.leaseSlots.bind(engine);
  engine.leaseSlots = (input) => {
    const result = leaseSlots(input);
    slots.add(1, { metric: input.metric, result: result.limited ? 'limited' : 'granted' });
    return result;
  };
}
