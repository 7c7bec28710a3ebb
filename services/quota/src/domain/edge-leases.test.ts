/** Leases given back: what an edge drops unspent is credited to the counters the grant took it from, once. */
import { describe, expect, it } from 'vitest';
import type { AppError } from '#libs/errors/index.ts';
import type { Limit } from './limits.ts';
import { QuotaEngine, type PathLevel } from './quota-engine.ts';

class FakeClock {
  t = Date.UTC(2026, 10, 22, 12, 0, 0);
  nowMs = () => this.t;
}

const metric = 'mqtt.messages.in';
const volume = (value: number): Limit => ({ metric, kind: 'volume', value, period: 'day', burst: undefined, shadow: false });
const rate = (value: number, burst?: number): Limit => ({ metric, kind: 'rate', value, period: 'second', burst, shadow: false });
const fieldOf = (f: () => unknown) => {
  try {
    f();
    return undefined;
  } catch (e) {
    return `${(e as AppError).code}:${(e as AppError).field}`;
  }
};

describe('edge leases given back', () => {
  it('a grant under shadow limits alone commits nothing, so it names no lease to give back', () => {
    const engine = new QuotaEngine({ clock: new FakeClock() });
    const path: PathLevel[] = [{ accountId: 'acc_s', limits: [{ ...volume(10), shadow: true }] }];
    const l = engine.lease({ path, metric, want: 50, edgeId: 'e1' });
    expect(l).toMatchObject({ granted: 50, leaseId: '' });
    expect(engine.volumeUsed('acc_s', metric)).toBe(0);
  });

  it('credits the units back to every level, exactly, and a retried return credits nothing', () => {
    const clock = new FakeClock();
    const sunk: number[] = [];
    const engine = new QuotaEngine({ clock, volumeSink: { add: (_a, _m, _w, n) => sunk.push(n) } });
    const path: PathLevel[] = [
      { accountId: 'acc_p', limits: [volume(100)] },
      { accountId: 'acc_c', limits: [volume(20)] },
    ];
    const l = engine.lease({ path, metric, want: 1_000, edgeId: 'e1' });
    expect(l.granted).toBe(5); // ¼ of the child's 20
    expect(l.leaseId).not.toBe('');
    expect([engine.volumeUsed('acc_p', metric), engine.volumeUsed('acc_c', metric)]).toEqual([5, 5]);

    const back = engine.lease({ path, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 3 }] });
    expect(back).toMatchObject({ granted: 0, returned: 3, volumeExhausted: false });
    expect([engine.volumeUsed('acc_p', metric), engine.volumeUsed('acc_c', metric)]).toEqual([2, 2]);
    expect(sunk).toEqual([5, 5, -3, -3]); // persisted as a negative increment

    // Retried (the answer was lost): each lease is given back once.
    expect(engine.lease({ path, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 3 }] }).returned).toBe(0);
    expect(engine.volumeUsed('acc_c', metric)).toBe(2);
  });

  it('credits a return before deciding the lease it comes with', () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const path: PathLevel[] = [{ accountId: 'acc_v', limits: [volume(3)] }];
    const first = engine.lease({ path, metric, want: 100, edgeId: 'e1' });
    const second = engine.lease({ path, metric, want: 100, edgeId: 'e1' });
    const third = engine.lease({ path, metric, want: 100, edgeId: 'e1' });
    expect([first.granted, second.granted, third.granted]).toEqual([1, 1, 1]);
    expect(engine.lease({ path, metric, want: 100, edgeId: 'e1' })).toMatchObject({ granted: 0, volumeExhausted: true });
    // The edge dropped its budget holding the third unit: it comes back with the next lease, which gets it.
    expect(engine.lease({ path, metric, want: 100, edgeId: 'e1', returns: [{ leaseId: third.leaseId, units: 1 }] })).toMatchObject({ granted: 1, returned: 1, volumeExhausted: false });
    expect(engine.volumeUsed('acc_v', metric)).toBe(3);
  });

  it('clamps: never more than the lease granted, a bucket never above its capacity, a window that is over takes nothing back', () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const vol: PathLevel[] = [{ accountId: 'acc_v', limits: [volume(40)] }];
    const l = engine.lease({ path: vol, metric, want: 1_000, edgeId: 'e1' });
    expect(l.granted).toBe(10);
    expect(engine.lease({ path: vol, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 500 }] }).returned).toBe(10);
    expect(engine.volumeUsed('acc_v', metric)).toBe(0);

    const rated: PathLevel[] = [{ accountId: 'acc_r', limits: [rate(10, 40)] }];
    const r1 = engine.lease({ path: rated, metric, want: 1_000, edgeId: 'e1' });
    expect(r1.granted).toBe(10); // 30 tokens left
    clock.t += 500; // +5 tokens: 35 of 40
    expect(engine.lease({ path: rated, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: r1.leaseId, units: 10 }] }).returned).toBe(5);
    expect(engine.consume({ path: rated, metric, amount: 40 }).allowed).toBe(true);

    clock.t = Date.UTC(2026, 10, 22, 23, 59, 59);
    const late = engine.lease({ path: vol, metric, want: 1_000, edgeId: 'e1' });
    clock.t += 2_000; // the next day
    engine.consume({ path: vol, metric, amount: 4 });
    expect(engine.lease({ path: vol, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: late.leaseId, units: late.granted }] }).returned).toBe(0);
    expect(engine.volumeUsed('acc_v', metric)).toBe(4);
  });

  it('credits only the counters the grant took from, as limits are now, and only to the edge, account and metric it was granted to', () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const before: PathLevel[] = [{ accountId: 'acc_p', limits: [] }, { accountId: 'acc_c', limits: [volume(20)] }];
    const l = engine.lease({ path: before, metric, want: 1_000, edgeId: 'e1' });
    // A volume limit set on the parent since: its counter never had the units, so it does not lose them.
    const after: PathLevel[] = [{ accountId: 'acc_p', limits: [volume(50)] }, { accountId: 'acc_c', limits: [volume(20)] }];
    engine.consume({ path: after, metric, amount: 2 });
    expect(engine.lease({ path: after, metric, want: 0, edgeId: 'e2', returns: [{ leaseId: l.leaseId, units: 5 }] }).returned).toBe(0);
    expect(engine.lease({ path: [{ accountId: 'acc_x', limits: [volume(20)] }], metric, want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 5 }] }).returned).toBe(0);
    expect(engine.lease({ path: after, metric: 'mqtt.bytes.in', want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 5 }] }).returned).toBe(0);
    expect(engine.lease({ path: after, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: 'unknown.0.0', units: 5 }] }).returned).toBe(0);
    expect(engine.lease({ path: after, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 5 }] }).returned).toBe(5);
    expect([engine.volumeUsed('acc_p', metric), engine.volumeUsed('acc_c', metric)]).toEqual([2, 2]);
  });

  it('refuses bad input, naming the field', () => {
    const engine = new QuotaEngine({ clock: new FakeClock() });
    const path: PathLevel[] = [{ accountId: 'acc_v', limits: [volume(3)] }];
    const l = engine.lease({ path, metric, want: 1, edgeId: 'e1' });
    expect(fieldOf(() => engine.lease({ path, metric, want: 0, edgeId: 'e1' }))).toBe('INVALID_ARGUMENT:want');
    expect(fieldOf(() => engine.lease({ path, metric, want: -1, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 1 }] }))).toBe('INVALID_ARGUMENT:want');
    expect(fieldOf(() => engine.lease({ path, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 0 }] }))).toBe('INVALID_ARGUMENT:returns[0].units');
    expect(fieldOf(() => engine.lease({ path, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: -2 }] }))).toBe('INVALID_ARGUMENT:returns[0].units');
    expect(fieldOf(() => engine.lease({ path, metric, want: 0, edgeId: 'e1', returns: [{ leaseId: l.leaseId, units: 1 }, { leaseId: '', units: 1 }] }))).toBe('INVALID_ARGUMENT:returns[1].lease_id');
    expect(fieldOf(() => engine.lease({ path, metric, want: 0, edgeId: 'e1', returns: Array.from({ length: 101 }, () => ({ leaseId: l.leaseId, units: 1 })) }))).toBe('INVALID_ARGUMENT:returns');
    expect(engine.volumeUsed('acc_v', metric)).toBe(1); // nothing credited by a refused request
  });
});
