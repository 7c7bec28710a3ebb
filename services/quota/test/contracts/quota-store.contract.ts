/**
 * The contracts quota's store adapters pass (`LimitStore`, `UsageStore`, `QuotaStateStore`):
 * in-memory, PGlite and Postgres (`../quota-stores.contract.test.ts`). Each case works on its own
 * account ids and batch ids, so a suite shares one database without cleanup.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Limit } from '../../src/domain/limits.ts';
import type { LimitStore, QuotaStateStore, UsageStore, VolumeCount } from '../../src/domain/ports.ts';

type Factory<T> = () => Promise<T> | T;
type Options = { skip?: string | undefined };
const title = (port: string, name: string, options: Options) => `${port} contract: ${name}${options.skip ? ` (skipped: ${options.skip})` : ''}`;
const tag = () => randomBytes(5).toString('hex');
const MINUTE = 60_000;
const T0 = Date.UTC(2031, 4, 1, 12, 0);

export function describeLimitStoreContract(name: string, createStore: Factory<LimitStore>, options: Options = {}): void {
  const byKey = (limits: Limit[] | undefined) => [...(limits ?? [])].sort((a, b) => `${a.metric}|${a.kind}`.localeCompare(`${b.metric}|${b.kind}`));

  describe.skipIf(options.skip !== undefined)(title('LimitStore', name, options), () => {
    it('answers every asked account, with an empty list for one without limits', async () => {
      const store = await createStore();
      const t = tag();
      const limit: Limit = { metric: 'mqtt.messages.in', kind: 'rate', value: 100, period: undefined, burst: 200, shadow: false };
      await store.setLimits(`acc_${t}_a`, [limit]);
      const found = await store.limitsOf([`acc_${t}_a`, `acc_${t}_b`]);
      expect([...found.keys()].sort()).toEqual([`acc_${t}_a`, `acc_${t}_b`]);
      expect(found.get(`acc_${t}_a`)).toEqual([limit]);
      expect(found.get(`acc_${t}_b`)).toEqual([]);
      expect((await store.limitsOf([])).size).toBe(0);
    });

    it('replaces the named (metric, kind) pairs and keeps the others', async () => {
      const store = await createStore();
      const account = `acc_${tag()}`;
      const rate: Limit = { metric: 'api.requests', kind: 'rate', value: 10, period: undefined, burst: undefined, shadow: false };
      const volume: Limit = { metric: 'api.requests', kind: 'volume', value: 1_000, period: 'day', burst: undefined, shadow: true };
      const bytes: Limit = { metric: 'mqtt.bytes.in', kind: 'volume', value: -1, period: 'month', burst: undefined, shadow: false };
      await store.setLimits(account, [rate, volume]);
      await store.setLimits(account, [{ ...rate, value: 20, burst: 40, shadow: true }, bytes]);
      expect(byKey((await store.limitsOf([account])).get(account))).toEqual(byKey([{ ...rate, value: 20, burst: 40, shadow: true }, volume, bytes]));
      await store.setLimits(account, []);
      expect((await store.limitsOf([account])).get(account)).toHaveLength(3);
    });

    it('keeps accounts apart', async () => {
      const store = await createStore();
      const t = tag();
      const limit = (value: number): Limit => ({ metric: 'mqtt.connections', kind: 'concurrency', value, period: undefined, burst: undefined, shadow: false });
      await store.setLimits(`acc_${t}_a`, [limit(1)]);
      await store.setLimits(`acc_${t}_b`, [limit(2)]);
      const found = await store.limitsOf([`acc_${t}_b`, `acc_${t}_a`]);
      expect(found.get(`acc_${t}_a`)).toEqual([limit(1)]);
      expect(found.get(`acc_${t}_b`)).toEqual([limit(2)]);
    });
  });
}

export function describeUsageStoreContract(name: string, createStore: Factory<UsageStore>, options: Options = {}): void {
  describe.skipIf(options.skip !== undefined)(title('UsageStore', name, options), () => {
    it('applies a batch once: a repeated batch id adds nothing and answers false', async () => {
      const store = await createStore();
      const t = tag();
      const rows = [{ accountId: `acc_${t}`, metric: 'api.requests', minuteMs: T0, own: 3, subtree: 5 }];
      expect(await store.applyUsageBatch(`batch_${t}`, 'edge_1', rows)).toBe(true);
      expect(await store.applyUsageBatch(`batch_${t}`, 'edge_2', rows)).toBe(false);
      expect(await store.usage(`acc_${t}`, 'api.requests', T0, T0 + MINUTE)).toEqual(rows);
    });

    it('of two concurrent deliveries of one batch, exactly one applies', async () => {
      const store = await createStore();
      const t = tag();
      const rows = [{ accountId: `acc_${t}`, metric: 'api.requests', minuteMs: T0, own: 1, subtree: 1 }];
      const results = await Promise.all([store.applyUsageBatch(`batch_${t}`, 'edge_1', rows), store.applyUsageBatch(`batch_${t}`, 'edge_1', rows)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.usage(`acc_${t}`, 'api.requests', T0, T0 + MINUTE)).toEqual(rows);
    });

    it('sums batches into the same minute, and answers [from, to) oldest first for one account and metric', async () => {
      const store = await createStore();
      const t = tag();
      const [a, b] = [`acc_${t}_a`, `acc_${t}_b`];
      await store.applyUsageBatch(`batch_${t}_1`, 'edge_1', [
        { accountId: a, metric: 'api.requests', minuteMs: T0 + MINUTE, own: 1, subtree: 2 },
        { accountId: a, metric: 'api.requests', minuteMs: T0, own: 4, subtree: 4 },
        { accountId: a, metric: 'mqtt.messages.in', minuteMs: T0, own: 7, subtree: 7 },
        { accountId: b, metric: 'api.requests', minuteMs: T0, own: 9, subtree: 9 },
      ]);
      await store.applyUsageBatch(`batch_${t}_2`, 'edge_2', [
        { accountId: a, metric: 'api.requests', minuteMs: T0 + MINUTE, own: 10, subtree: 20 },
        { accountId: a, metric: 'api.requests', minuteMs: T0 + 2 * MINUTE, own: 5, subtree: 5 },
      ]);
      expect(await store.usage(a, 'api.requests', T0, T0 + 3 * MINUTE)).toEqual([
        { accountId: a, metric: 'api.requests', minuteMs: T0, own: 4, subtree: 4 },
        { accountId: a, metric: 'api.requests', minuteMs: T0 + MINUTE, own: 11, subtree: 22 },
        { accountId: a, metric: 'api.requests', minuteMs: T0 + 2 * MINUTE, own: 5, subtree: 5 },
      ]);
      expect((await store.usage(a, 'api.requests', T0 + MINUTE, T0 + 2 * MINUTE)).map((r) => r.minuteMs)).toEqual([T0 + MINUTE]);
      expect(await store.usage(a, 'api.requests', T0 - MINUTE, T0)).toEqual([]);
    });

    it('an empty batch still counts as applied', async () => {
      const store = await createStore();
      const t = tag();
      expect(await store.applyUsageBatch(`batch_${t}`, 'edge_1', [])).toBe(true);
      expect(await store.applyUsageBatch(`batch_${t}`, 'edge_1', [{ accountId: `acc_${t}`, metric: 'api.requests', minuteMs: T0, own: 1, subtree: 1 }])).toBe(false);
      expect(await store.usage(`acc_${t}`, 'api.requests', T0, T0 + MINUTE)).toEqual([]);
    });
  });
}

export function describeQuotaStateStoreContract(name: string, createStore: Factory<QuotaStateStore>, options: Options = {}): void {
  const mine = (counters: VolumeCount[], t: string) => counters.filter((c) => c.accountId.startsWith(`acc_${t}`)).sort((x, y) => `${x.accountId}|${JSON.stringify(x)}`.localeCompare(`${y.accountId}|${JSON.stringify(y)}`));

  describe.skipIf(options.skip !== undefined)(title('QuotaStateStore', name, options), () => {
    it('adds to each (account, metric, window) counter across calls', async () => {
      const store = await createStore();
      const t = tag();
      const day = Date.UTC(2031, 4, 1);
      await store.addVolume([
        { accountId: `acc_${t}_a`, metric: 'api.requests', windowStartMs: day, amount: 3 },
        { accountId: `acc_${t}_a`, metric: 'mqtt.bytes.in', windowStartMs: day, amount: 100 },
      ]);
      await store.addVolume([
        { accountId: `acc_${t}_a`, metric: 'api.requests', windowStartMs: day, amount: 4 },
        { accountId: `acc_${t}_b`, metric: 'api.requests', windowStartMs: day, amount: 1 },
      ]);
      await store.addVolume([]);
      expect(mine(await store.volumesSince(day), t)).toEqual(
        mine(
          [
            { accountId: `acc_${t}_a`, metric: 'api.requests', windowStartMs: day, used: 7 },
            { accountId: `acc_${t}_a`, metric: 'mqtt.bytes.in', windowStartMs: day, used: 100 },
            { accountId: `acc_${t}_b`, metric: 'api.requests', windowStartMs: day, used: 1 },
          ],
          t,
        ),
      );
    });

    it('takes a negative amount off the counter (leased units an edge gave back)', async () => {
      const store = await createStore();
      const t = tag();
      const day = Date.UTC(2031, 5, 1);
      await store.addVolume([{ accountId: `acc_${t}`, metric: 'mqtt.messages.in', windowStartMs: day, amount: 5 }]);
      await store.addVolume([{ accountId: `acc_${t}`, metric: 'mqtt.messages.in', windowStartMs: day, amount: -3 }]);
      expect(mine(await store.volumesSince(day), t).map((c) => c.used)).toEqual([2]);
    });

    it('answers the windows that start at or after the given start, each window its own counter', async () => {
      const store = await createStore();
      const t = tag();
      const [april, may, june] = [Date.UTC(2032, 3, 1), Date.UTC(2032, 4, 1), Date.UTC(2032, 5, 1)];
      for (const [windowStartMs, amount] of [[april, 1], [may, 2], [june, 3]] as const) await store.addVolume([{ accountId: `acc_${t}`, metric: 'mqtt.bytes.out', windowStartMs, amount }]);
      expect(mine(await store.volumesSince(may), t).map((c) => [c.windowStartMs, c.used]).sort()).toEqual([[may, 2], [june, 3]]);
      expect(mine(await store.volumesSince(june + 1), t)).toEqual([]);
    });
  });
}
