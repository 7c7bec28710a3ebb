import { describe, expect, it } from 'vitest';
import { AppError } from '#libs/errors/index.ts';
import { calendarWindow } from './calendar-window.ts';
import { assertWithinParent, effectiveLimits, validateLimit, type Limit } from './limits.ts';
import { QuotaEngine, type PathLevel } from './quota-engine.ts';

class FakeClock {
  t = Date.UTC(2026, 10, 22, 12, 0, 0);
  nowMs = () => this.t;
}

const rate = (value: number, period: 'second' | 'minute' = 'minute', extra: Partial<Limit> = {}): Limit => ({ metric: 'mqtt.messages.in', kind: 'rate', value, period, burst: undefined, shadow: false, ...extra });
const volume = (value: number, period: 'day' | 'month' = 'day'): Limit => ({ metric: 'mqtt.messages.in', kind: 'volume', value, period, burst: undefined, shadow: false });

describe('limits', () => {
  it('validates metric, kind, period and value, naming the field', () => {
    const bad = (l: Partial<Limit>) => {
      try {
        validateLimit({ ...rate(10), ...l }, 'limits[0]');
        return undefined;
      } catch (e) {
        return (e as AppError).field;
      }
    };
    expect(bad({ metric: 'mqtt.nope' })).toBe('limits[0].metric');
    expect(bad({ kind: 'concurrency' })).toBe('limits[0].kind');
    expect(bad({ period: 'day' })).toBe('limits[0].period');
    expect(bad({ value: -2 })).toBe('limits[0].value');
    expect(bad({})).toBeUndefined();
  });

  it('inherits with -1 and refuses a child above its parent, naming both values', () => {
    const parent = effectiveLimits([{ accountId: 'acc_p', limits: [rate(1000)] }]);
    expect(() => assertWithinParent(rate(2000), parent, 'limits[0]')).toThrow(/2000 is above the parent's 1000/);
    expect(() => assertWithinParent(rate(500), parent, 'limits[0]')).not.toThrow();
    const eff = effectiveLimits([
      { accountId: 'acc_p', limits: [rate(1000)] },
      { accountId: 'acc_c', limits: [rate(-1)] },
    ]);
    expect(eff.get('mqtt.messages.in|rate')?.sourceAccountId).toBe('acc_p');
  });

  it('computes UTC calendar windows across month ends and leap years', () => {
    expect(calendarWindow('month', Date.UTC(2028, 1, 29, 23, 59))).toEqual({ startMs: Date.UTC(2028, 1, 1), endMs: Date.UTC(2028, 2, 1) });
    expect(calendarWindow('month', Date.UTC(2026, 11, 31, 23, 59))).toEqual({ startMs: Date.UTC(2026, 11, 1), endMs: Date.UTC(2027, 0, 1) });
    expect(calendarWindow('day', Date.UTC(2026, 0, 1, 0, 0))).toEqual({ startMs: Date.UTC(2026, 0, 1), endMs: Date.UTC(2026, 0, 2) });
  });
});

describe('QuotaEngine', () => {
  it('refills a token bucket with the clock', () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const path: PathLevel[] = [{ accountId: 'acc_a', limits: [rate(60, 'minute')] }];
    for (let i = 0; i < 60; i++) expect(engine.consume({ path, metric: 'mqtt.messages.in', amount: 1 }).allowed).toBe(true);
    const no = engine.consume({ path, metric: 'mqtt.messages.in', amount: 1 });
    expect(no).toMatchObject({ allowed: false, limitingAccountId: 'acc_a', limit: 60 });
    expect(no.resetAfterMs).toBe(1_000);
    clock.t += 1_000;
    expect(engine.consume({ path, metric: 'mqtt.messages.in', amount: 1 }).allowed).toBe(true);
  });

  it('checks every level atomically: a refusal at the parent leaves the child untouched', () => {
    const engine = new QuotaEngine({ clock: new FakeClock() });
    const path: PathLevel[] = [
      { accountId: 'acc_parent', limits: [volume(10)] },
      { accountId: 'acc_child', limits: [volume(100)] },
    ];
    expect(engine.consume({ path, metric: 'mqtt.messages.in', amount: 8 }).allowed).toBe(true);
    const no = engine.consume({ path, metric: 'mqtt.messages.in', amount: 5 });
    expect(no).toMatchObject({ allowed: false, limitingAccountId: 'acc_parent' });
    expect(engine.volumeUsed('acc_child', 'mqtt.messages.in')).toBe(8);
    expect(engine.volumeUsed('acc_parent', 'mqtt.messages.in')).toBe(8);
  });

  it('counts shadow limits but never refuses by them', () => {
    const engine = new QuotaEngine({ clock: new FakeClock() });
    const path: PathLevel[] = [{ accountId: 'acc_s', limits: [{ ...volume(1), shadow: true }] }];
    expect(engine.consume({ path, metric: 'mqtt.messages.in', amount: 1 })).toMatchObject({ allowed: true, shadowed: false });
    expect(engine.consume({ path, metric: 'mqtt.messages.in', amount: 1 })).toMatchObject({ allowed: true, shadowed: true });
    expect(engine.volumeUsed('acc_s', 'mqtt.messages.in')).toBe(2);
  });

  it('answers a repeated idempotency key with the first answer, counting once', () => {
    const engine = new QuotaEngine({ clock: new FakeClock() });
    const path: PathLevel[] = [{ accountId: 'acc_i', limits: [volume(10)] }];
    engine.consume({ path, metric: 'mqtt.messages.in', amount: 3, idempotencyKey: 'k1' });
    engine.consume({ path, metric: 'mqtt.messages.in', amount: 3, idempotencyKey: 'k1' });
    expect(engine.volumeUsed('acc_i', 'mqtt.messages.in')).toBe(3);
  });

  it('holds concurrency slots at every level and reclaims expired ones', () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const path: PathLevel[] = [
      { accountId: 'acc_p', limits: [{ metric: 'mqtt.connections', kind: 'concurrency', value: 2, period: undefined, burst: undefined, shadow: false }] },
      { accountId: 'acc_c', limits: [] },
    ];
    expect(engine.acquireSlot({ path, metric: 'mqtt.connections', slotId: 's1', ttlMs: 1_000 }).allowed).toBe(true);
    expect(engine.acquireSlot({ path, metric: 'mqtt.connections', slotId: 's2', ttlMs: 5_000 }).allowed).toBe(true);
    expect(engine.acquireSlot({ path, metric: 'mqtt.connections', slotId: 's3', ttlMs: 1_000 })).toEqual({ allowed: false, limitingAccountId: 'acc_p' });
    clock.t += 1_500; // s1 was not renewed: a crashed edge does not leak it
    expect(engine.renewSlots(['s1', 's2'], 5_000)).toEqual(['s1']);
    expect(engine.acquireSlot({ path, metric: 'mqtt.connections', slotId: 's3', ttlMs: 1_000 }).allowed).toBe(true);
    engine.releaseSlot('s3');
    expect(engine.slotCount('acc_c', 'mqtt.connections')).toBe(1);
  });

  it('a retried acquireSlot with the same id counts once', () => {
    const engine = new QuotaEngine({ clock: new FakeClock() });
    const path: PathLevel[] = [{ accountId: 'acc_r', limits: [{ metric: 'mqtt.connections', kind: 'concurrency', value: 2, period: undefined, burst: undefined, shadow: false }] }];
    engine.acquireSlot({ path, metric: 'mqtt.connections', slotId: 's1', ttlMs: 1_000 });
    engine.acquireSlot({ path, metric: 'mqtt.connections', slotId: 's1', ttlMs: 1_000 });
    expect(engine.slotCount('acc_r', 'mqtt.connections')).toBe(1);
  });

  describe('slot blocks (edges holding connection slots)', () => {
    const connections = (value: number): Limit => ({ metric: 'mqtt.connections', kind: 'concurrency', value, period: undefined, burst: undefined, shadow: false });
    const tree = (parentLimit: number): PathLevel[][] => {
      const parent = { accountId: 'acc_p', limits: [connections(parentLimit)] };
      return [[parent, { accountId: 'acc_c1', limits: [] }], [parent, { accountId: 'acc_c2', limits: [] }]];
    };

    it('grants a block without a limit in full and reserves it at every level', () => {
      const engine = new QuotaEngine({ clock: new FakeClock() });
      const path: PathLevel[] = [{ accountId: 'acc_p', limits: [] }, { accountId: 'acc_c', limits: [] }];
      expect(engine.leaseSlots({ path, metric: 'mqtt.connections', slotId: 'b1', held: 0, want: 64, ttlMs: 1_000 })).toEqual({ granted: 64, limitingAccountId: '', limited: false });
      expect(engine.slotCount('acc_p', 'mqtt.connections')).toBe(64);
      expect(engine.slotCount('acc_c', 'mqtt.connections')).toBe(64);
    });

    it('is a resize, not an addition: the same block asked twice is held once', () => {
      const engine = new QuotaEngine({ clock: new FakeClock() });
      const [c1] = tree(100);
      engine.leaseSlots({ path: c1!, metric: 'mqtt.connections', slotId: 'b1', held: 0, want: 10, ttlMs: 1_000 });
      engine.leaseSlots({ path: c1!, metric: 'mqtt.connections', slotId: 'b1', held: 0, want: 10, ttlMs: 1_000 });
      expect(engine.slotCount('acc_p', 'mqtt.connections')).toBe(10);
      // Shrinking to what is in use gives the rest back; held 0 and want 0 releases the block.
      expect(engine.leaseSlots({ path: c1!, metric: 'mqtt.connections', slotId: 'b1', held: 3, want: 0, ttlMs: 1_000 }).granted).toBe(3);
      expect(engine.slotCount('acc_p', 'mqtt.connections')).toBe(3);
      engine.leaseSlots({ path: c1!, metric: 'mqtt.connections', slotId: 'b1', held: 0, want: 0, ttlMs: 1_000 });
      expect(engine.slotCount('acc_p', 'mqtt.connections')).toBe(0);
    });

    it('never lets the blocks of several edges together exceed a parent limit', () => {
      const engine = new QuotaEngine({ clock: new FakeClock() });
      const [c1, c2] = tree(10);
      // Four edges (two per child) each grow their block one connection at a time, as edges do.
      const edges = [c1!, c2!, c1!, c2!].map((path, i) => ({ path, id: `edge-${i}`, held: 0, capacity: 0, refused: 0 }));
      for (let round = 0; round < 20; round++) {
        for (const e of edges) {
          if (e.held < e.capacity) {
            e.held++;
            continue;
          }
          const r = engine.leaseSlots({ path: e.path, metric: 'mqtt.connections', slotId: e.id, held: e.held, want: 4, ttlMs: 60_000 });
          e.capacity = r.granted;
          if (e.held < e.capacity) e.held++;
          else {
            e.refused++;
            expect(r.limitingAccountId).toBe('acc_p');
          }
        }
      }
      expect(edges.reduce((a, e) => a + e.held, 0)).toBe(10);
      expect(edges.reduce((a, e) => a + e.capacity, 0)).toBeLessThanOrEqual(10);
      expect(engine.slotCount('acc_p', 'mqtt.connections')).toBeLessThanOrEqual(10);
      expect(edges.every((e) => e.refused > 0)).toBe(true);
    });

    it('keeps what an edge holds even above a lowered limit, and grants nothing more', () => {
      const engine = new QuotaEngine({ clock: new FakeClock() });
      const [c1] = tree(1);
      const r = engine.leaseSlots({ path: c1!, metric: 'mqtt.connections', slotId: 'b1', held: 5, want: 2, ttlMs: 1_000 });
      expect(r).toEqual({ granted: 5, limitingAccountId: 'acc_p', limited: true });
    });

    it('expires a block that is not renewed (the edge died), with everything it held', () => {
      const clock = new FakeClock();
      const engine = new QuotaEngine({ clock });
      const [c1, c2] = tree(10);
      engine.leaseSlots({ path: c1!, metric: 'mqtt.connections', slotId: 'dead', held: 8, want: 0, ttlMs: 1_000 });
      expect(engine.leaseSlots({ path: c2!, metric: 'mqtt.connections', slotId: 'live', held: 0, want: 8, ttlMs: 5_000 }).granted).toBe(1);
      clock.t += 1_500;
      expect(engine.renewSlots(['dead', 'live'], 5_000)).toEqual(['dead']);
      expect(engine.slotCount('acc_p', 'mqtt.connections')).toBe(1);
      expect(engine.leaseSlots({ path: c2!, metric: 'mqtt.connections', slotId: 'live', held: 1, want: 8, ttlMs: 5_000 }).granted).toBe(3);
    });
  });

  it('the issue scenario: parent 1,000 msgs/min, two children, 4 edges on leases — admitted ≤ 1,000 × 1.01 + one lease', () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const parent = { accountId: 'acc_parent', limits: [rate(1_000, 'minute', { burst: 1_000 })] };
    const children = ['acc_c1', 'acc_c2'].map((id) => [parent, { accountId: id, limits: [] }] as PathLevel[]);
    const edges = [0, 1, 2, 3].map((i) => ({ id: `edge-${i}`, budget: 0, admitted: 0, path: children[i % 2]! }));
    let maxLease = 0;
    // 60 s of demand far above the limit, interleaved deterministically in 10 ms steps.
    for (let step = 0; step < 6_000; step++) {
      clock.t += 10;
      for (const edge of edges) {
        for (let m = 0; m < 5; m++) {
          if (edge.budget === 0) {
            const lease = engine.lease({ path: edge.path, metric: 'mqtt.messages.in', want: 100, edgeId: edge.id });
            maxLease = Math.max(maxLease, lease.granted);
            edge.budget += lease.granted;
          }
          if (edge.budget > 0) {
            edge.budget--;
            edge.admitted++;
          }
        }
      }
    }
    const admitted = edges.reduce((a, e) => a + e.admitted, 0);
    const allowedByLimit = 1_000 + 1_000; // the initial burst plus 60 s of refill at 1,000/min
    expect(admitted).toBeLessThanOrEqual(allowedByLimit * 1.01 + maxLease);
    expect(admitted).toBeGreaterThan(allowedByLimit * 0.9);
  });
});
