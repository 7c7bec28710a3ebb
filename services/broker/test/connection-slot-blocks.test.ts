/**
 * Connection slots leased to the edge in blocks, against the real quota engine (in process, fake
 * clock) behind a fake QuotaService client: how many round trips, and the guarantees across edges.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '#libs/telemetry/index.ts';
import { QuotaEngine, type PathLevel } from '#services/quota/src/domain/quota-engine.ts';
import { createConnectionSlotBlocks, type ConnectionSlotBlocks } from '../src/clients/connection-slot-blocks.ts';

class FakeClock {
  t = Date.UTC(2026, 10, 24, 12, 0, 0);
  nowMs = () => this.t;
}

const connections = (value: number) => ({ metric: 'mqtt.connections', kind: 'concurrency' as const, value, period: undefined, burst: undefined, shadow: false });

/** A QuotaService client over one engine: counts calls, can be taken down. */
function fakeQuota(engine: QuotaEngine, paths: Record<string, PathLevel[]>) {
  const state = { down: false, leaseSlots: 0, renewSlots: 0, releaseSlot: 0 };
  const unavailable = () => Object.assign(new Error('quota unavailable'), { code: 'UNAVAILABLE' });
  const client = {
    async leaseSlots(req: { accountId: string; metric: string; holderId: string; held: bigint; want: bigint; ttlMs: bigint }) {
      state.leaseSlots++;
      if (state.down) throw unavailable();
      const slotId = `r0.${req.holderId}:${req.metric}`;
      const r = engine.leaseSlots({ path: paths[req.accountId]!, metric: req.metric, slotId, held: Number(req.held), want: Number(req.want), ttlMs: Number(req.ttlMs) });
      return { granted: BigInt(r.granted), slotId: r.granted > 0 ? slotId : '', limitingAccountId: r.limitingAccountId, expiresInMs: req.ttlMs, limited: r.limited };
    },
    async renewSlots(req: { slotIds: string[]; ttlMs: bigint }) {
      state.renewSlots++;
      if (state.down) throw unavailable();
      return { expiredSlotIds: engine.renewSlots(req.slotIds, Number(req.ttlMs)) };
    },
    async releaseSlot(req: { slotId: string }) {
      state.releaseSlot++;
      if (state.down) throw unavailable();
      engine.releaseSlot(req.slotId);
      return {};
    },
  };
  return { state, client: client as never };
}

const open: ConnectionSlotBlocks[] = [];
afterEach(async () => {
  for (const e of open.splice(0)) await e.stop().catch(() => {});
});

let edges = 0;
function edge(quota: never, clock: FakeClock, extra: { failOpen?: boolean; onUnavailable?: () => void } = {}): ConnectionSlotBlocks {
  const e = createConnectionSlotBlocks({ quota, edgeId: `edge-${edges++}`, logger: silentLogger(), failOpen: extra.failOpen ?? true, onUnavailable: extra.onUnavailable, ttlMs: 60_000, nowMs: clock.nowMs });
  open.push(e);
  return e;
}

/** Settles the resize a tick or a forget started. */
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('connection slot blocks', () => {
  it('admits 1,000 connects and disconnects with a handful of round trips, held at every level', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const paths = { acc_c: [{ accountId: 'acc_p', limits: [] }, { accountId: 'acc_c', limits: [] }] };
    const quota = fakeQuota(engine, paths);
    const e = edge(quota.client, clock);
    for (let i = 0; i < 1_000; i++) expect(await e.acquire('acc_c')).toEqual({ granted: true });
    expect(quota.state.leaseSlots).toBeLessThanOrEqual(6); // blocks double: 64, 128, 256, 512, 1024
    expect(engine.slotCount('acc_p', 'mqtt.connections')).toBeGreaterThanOrEqual(1_000);
    const calls = quota.state.leaseSlots;
    for (let round = 0; round < 1_000; round++) {
      e.release('acc_c');
      expect(e.acquire('acc_c')).toEqual({ granted: true }); // synchronous: a local decision
    }
    expect(quota.state.leaseSlots).toBe(calls);
  });

  it('never admits more than a parent limit across two edges, and hands back what one edge stops using', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const parent = { accountId: 'acc_p', limits: [connections(10)] };
    const paths = { acc_c1: [parent, { accountId: 'acc_c1', limits: [] }], acc_c2: [parent, { accountId: 'acc_c2', limits: [] }] };
    const quota = fakeQuota(engine, paths);
    const a = edge(quota.client, clock);
    const b = edge(quota.client, clock);
    let admitted = 0;
    const refusals: unknown[] = [];
    for (let i = 0; i < 12; i++) {
      for (const [e, account] of [[a, 'acc_c1'], [b, 'acc_c2']] as const) {
        const slot = await e.acquire(account);
        if (slot.granted) admitted++;
        else refusals.push(slot);
      }
    }
    expect(admitted).toBe(10);
    expect(refusals[0]).toEqual({ granted: false, reason: 'quota_exceeded' });
    expect(engine.slotCount('acc_p', 'mqtt.connections')).toBe(10);
    // Edge a closes its connections: b is refused until a's next tick gives the slots back.
    const held = a.block('acc_c1')!.used;
    for (let i = 0; i < held; i++) a.release('acc_c1');
    expect(await b.acquire('acc_c2')).toEqual({ granted: false, reason: 'quota_exceeded' });
    a.tick();
    await settle();
    expect(a.block('acc_c1')!.reserved).toBeLessThanOrEqual(2);
    expect(await b.acquire('acc_c2')).toEqual({ granted: true });
    expect(engine.slotCount('acc_p', 'mqtt.connections')).toBeLessThanOrEqual(10);
  });

  it('a dead edge\'s block expires on quota, so its slots come back to the others', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const paths = { acc_x: [{ accountId: 'acc_x', limits: [connections(3)] }] };
    const quota = fakeQuota(engine, paths);
    const dying = edge(quota.client, clock);
    for (let i = 0; i < 3; i++) expect((await dying.acquire('acc_x')).granted).toBe(true);
    open.splice(open.indexOf(dying), 1); // it crashes: never renews, never releases
    const other = edge(quota.client, clock);
    expect(await other.acquire('acc_x')).toEqual({ granted: false, reason: 'quota_exceeded' });
    clock.t += 60_001;
    expect(await other.acquire('acc_x')).toEqual({ granted: true });
  });

  it('quota unreachable: the block is spent first, then fail open admits (and registers them later) or fail closed refuses', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const paths = { acc_o: [{ accountId: 'acc_o', limits: [connections(100)] }] };
    const quota = fakeQuota(engine, paths);
    let unavailable = 0;
    const open_ = edge(quota.client, clock, { failOpen: true, onUnavailable: () => unavailable++ });
    const closed = edge(quota.client, clock, { failOpen: false, onUnavailable: () => unavailable++ });
    expect((await open_.acquire('acc_o')).granted).toBe(true);
    expect((await closed.acquire('acc_o')).granted).toBe(true);
    quota.state.down = true;
    // What is left of each block is still admitted locally (the last lease is enforced)...
    const spare = closed.block('acc_o')!.capacity - closed.block('acc_o')!.used;
    for (let i = 0; i < spare; i++) expect(closed.acquire('acc_o')).toEqual({ granted: true });
    // ...then the policy answers, counted.
    expect(await closed.acquire('acc_o')).toEqual({ granted: false, reason: 'unavailable' });
    const before = open_.block('acc_o')!.capacity;
    for (let i = 0; i < before + 5; i++) expect((await open_.acquire('acc_o')).granted).toBe(true);
    expect(unavailable).toBeGreaterThanOrEqual(6);
    expect(open_.block('acc_o')!.used).toBe(before + 6);
    // Quota is back: the next tick registers every connection the edge holds.
    quota.state.down = false;
    clock.t += 1_000;
    open_.tick();
    await settle();
    expect(open_.block('acc_o')!.reserved).toBe(before + 6);
  });

  it('a limit change stops local admissions at once; the next connect asks quota at the new limit', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const level = { accountId: 'acc_l', limits: [] as ReturnType<typeof connections>[] };
    const quota = fakeQuota(engine, { acc_l: [level] });
    const e = edge(quota.client, clock);
    expect((await e.acquire('acc_l')).granted).toBe(true);
    expect(e.block('acc_l')!.capacity).toBeGreaterThan(1); // an unlimited account holds a large block
    level.limits = [connections(1)];
    e.forget();
    expect(e.block('acc_l')).toMatchObject({ used: 1, capacity: 1 }); // no call yet: nothing more is admitted locally
    const calls = quota.state.leaseSlots;
    expect(await e.acquire('acc_l')).toEqual({ granted: false, reason: 'quota_exceeded' });
    expect(quota.state.leaseSlots).toBe(calls + 1);
    expect(engine.slotCount('acc_l', 'mqtt.connections')).toBe(1); // the resize gave the rest back
    e.release('acc_l');
    expect(await e.acquire('acc_l')).toEqual({ granted: true });
  });

  it('after a limit change, the next tick gives back what is not in use; an idle account releases its block', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const quota = fakeQuota(engine, { acc_i: [{ accountId: 'acc_i', limits: [] }] });
    const e = edge(quota.client, clock);
    for (let i = 0; i < 3; i++) await e.acquire('acc_i');
    expect(engine.slotCount('acc_i', 'mqtt.connections')).toBe(64);
    e.forget();
    e.tick();
    await settle();
    expect(engine.slotCount('acc_i', 'mqtt.connections')).toBe(3);
    for (let i = 0; i < 3; i++) e.release('acc_i');
    e.tick(); // idle from now on
    clock.t += 60_000;
    e.tick();
    await settle();
    expect(engine.slotCount('acc_i', 'mqtt.connections')).toBe(0);
    e.tick();
    expect(e.block('acc_i')).toBeUndefined();
  });
});
