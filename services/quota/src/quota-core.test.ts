import { describe, expect, it } from 'vitest';
import { silentLogger } from '#libs/telemetry/index.ts';
import { InMemoryLimitStore } from '../test/doubles/in-memory-limit-store.ts';
import { InMemoryQuotaStateStore } from '../test/doubles/in-memory-quota-state-store.ts';
import { InMemoryUsageStore } from '../test/doubles/in-memory-usage-store.ts';
import type { Limit } from './domain/limits.ts';
import type { LimitStore } from './domain/ports.ts';
import { createQuotaCore } from './quota-core.ts';

const rate: Limit = { metric: 'mqtt.messages.in', kind: 'rate', value: 20, period: 'second', burst: 10, shadow: false };

/** A limit store whose next read takes its answer at once but hands it over only when released. */
function slowReadOnce(inner: LimitStore) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let armed = true;
  const store: LimitStore = {
    async limitsOf(ids) {
      const answer = await inner.limitsOf(ids);
      if (armed) {
        armed = false;
        await released;
      }
      return answer;
    },
    setLimits: (id, limits) => inner.setLimits(id, limits),
  };
  return { store, release };
}

describe('quota core: limits cache', () => {
  it('a read that began before a limit was written does not put the old limits back in the cache', async () => {
    const { store, release } = slowReadOnce(new InMemoryLimitStore());
    const core = createQuotaCore({ limits: store, usage: new InMemoryUsageStore(), state: new InMemoryQuotaStateStore(), accounts: { pathOf: async (id) => [id] }, logger: silentLogger() });
    const before = core.getLimits('acc_a'); // reads "no limits", answers late
    await core.setLimits('acc_a', [rate]);
    release();
    expect([...(await before).values()]).toEqual([]); // that call began before the write: its answer is the old one
    // Every later call sees the limit: an edge's lease is sized to it, never the unlimited grant.
    expect([...(await core.getLimits('acc_a')).values()].map((e) => e.limit)).toEqual([rate]);
    const lease = core.engine.lease({ path: await core.levels('acc_a'), metric: 'mqtt.messages.in', want: 20_000, edgeId: 'edge-1' });
    expect(lease.granted).toBe(2); // a quarter of the burst of 10
  });
});
