/** BrokerMetrics that keeps counters in memory: for tests, the admin stats and as a no-op stand-in. */
import type { BrokerCounter, BrokerMetrics } from '../domain/ports.ts';

export class CountingMetrics implements BrokerMetrics {
  readonly counters = new Map<BrokerCounter, number>();

  count(counter: BrokerCounter, n = 1): void {
    this.counters.set(counter, (this.counters.get(counter) ?? 0) + n);
  }

  get(counter: BrokerCounter): number {
    return this.counters.get(counter) ?? 0;
  }
}

export const noopMetrics: BrokerMetrics = { count() {} };
