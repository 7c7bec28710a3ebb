/**
 * The broker survives 100,000 mutated packets' worth of hostile connections (issue 11): no
 * uncaught error, no connection left open after its peer ended, no unexpected error contained on
 * a connection, and a real MQTT.js client connects, subscribes and round-trips QoS 1 after every
 * batch. The seed is random per run unless TOLLGATE_FUZZ_SEED is set, and is in every failure
 * message; replay with `node services/broker/test/fuzz/broker-fuzz.ts --seed S --from F --cases N`.
 */
import { describe, expect, it } from 'vitest';
import { runBrokerFuzz } from './fuzz/broker-fuzz.ts';

const seed = process.env['TOLLGATE_FUZZ_SEED'] !== undefined ? Number(process.env['TOLLGATE_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);

describe('broker fuzz', () => {
  it('100,000 mutated MQTT 3.1/3.1.1/5.0 cases over in-memory pairs and TCP: the process and a real client survive', async () => {
    const result = await runBrokerFuzz({ seed, cases: 100_000 });
    const context = `seed ${seed}${result.firstCrash ? `; replay --seed ${seed} --from ${result.firstCrash.batchFrom} --cases ${result.firstCrash.batchCases}: ${result.firstCrash.error}` : ''}`;
    expect(result.crashes, context).toBe(0);
    expect(result.cases, context).toBe(100_000);
    expect(result.mutatedPackets, context).toBeGreaterThanOrEqual(100_000);
    expect(result.tcpCases, context).toBeGreaterThan(0);
    expect(result.stuck, context).toBe(0);
    expect(result.counters['connection_errors'] ?? 0, context).toBe(0);
    // The cases reached the broker's handlers, not just its framer.
    expect(result.counters['connects_accepted'], context).toBeGreaterThan(5_000);
  }, 60_000);
});
