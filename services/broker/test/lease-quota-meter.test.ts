/**
 * Inbound budgets leased from quota (the real engine in process, fake clock, behind a fake
 * QuotaService client): units granted and dropped unspent go back to quota.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '#libs/telemetry/index.ts';
import { QuotaEngine, type PathLevel } from '#services/quota/src/domain/quota-engine.ts';
import { createLeaseQuotaMeter } from '../src/clients/lease-quota-meter.ts';

class FakeClock {
  t = Date.UTC(2026, 10, 24, 12, 0, 0);
  nowMs = () => this.t;
}

const metric = 'mqtt.messages.in';
const volume = (value: number) => ({ metric, kind: 'volume' as const, value, period: 'day' as const, burst: undefined, shadow: false });

interface LeaseCall {
  accountId: string;
  metric: string;
  want: bigint;
  returns: { leaseId: string; units: bigint }[];
  /** The call's deadline: past it the edge counts quota as unavailable (and may admit fail-open). */
  deadlineMs: number | undefined;
}

/** A QuotaService client over one engine: records leases; can hold them, fail them, or lose their answer. */
function fakeQuota(engine: QuotaEngine, paths: Record<string, PathLevel[]>) {
  const state = { leases: [] as LeaseCall[], hold: false, held: [] as (() => void)[], loseAnswers: 0 };
  const client = {
    async lease(req: Omit<LeaseCall, 'deadlineMs'> & { edgeId: string }, opts?: { deadlineMs?: number }) {
      state.leases.push({ accountId: req.accountId, metric: req.metric, want: req.want, returns: (req.returns ?? []).map((r) => ({ ...r })), deadlineMs: opts?.deadlineMs });
      if (state.hold) await new Promise<void>((r) => state.held.push(r));
      const r = engine.lease({ path: paths[req.accountId]!, metric: req.metric, want: Number(req.want), edgeId: req.edgeId, returns: (req.returns ?? []).map((x) => ({ leaseId: x.leaseId, units: Number(x.units) })) });
      if (state.loseAnswers > 0) {
        state.loseAnswers--;
        throw Object.assign(new Error('deadline exceeded'), { code: 'DEADLINE_EXCEEDED' });
      }
      return { granted: BigInt(r.granted), leaseId: r.leaseId, validForMs: 10_000n, refillBelow: BigInt(r.refillBelow), limitingAccountId: r.limitingAccountId, retryAfterMs: BigInt(Number.isFinite(r.retryAfterMs) ? r.retryAfterMs : 60_000), volumeExhausted: r.volumeExhausted, returned: BigInt(r.returned) };
    },
    async reportUsage() {
      return { duplicate: false };
    },
  };
  return { state, client: client as never };
}

const meters: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const m of meters.splice(0)) await m.stop().catch(() => {});
});

function meter(quota: never, clock: FakeClock, options: { leaseDeadlineMs?: number } = {}) {
  const m = createLeaseQuotaMeter({ quota, edgeId: 'edge-1', logger: silentLogger(), failOpen: false, clock, leaseSize: 100, reportEveryMs: 3_600_000, ...options });
  meters.push(m);
  return m;
}

/** Settles the leases a spend or a forget started. */
const settle = () => new Promise((r) => setTimeout(r, 0));

/** One message, waiting out refills (never real time: each wait is one turn of the event loop). */
async function send(m: ReturnType<typeof meter>, account: string): Promise<'ok' | 'exhausted'> {
  for (let i = 0; i < 20; i++) {
    const r = m.spendInbound(account, 1, 10);
    if (r.kind === 'ok') return 'ok';
    if (r.kind === 'exhausted') return 'exhausted';
    await settle();
  }
  throw new Error('still throttled');
}

describe('lease quota meter: units dropped unspent go back to quota', () => {
  it('a budget dropped with units left gives them back with the next lease, before it is decided', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const quota = fakeQuota(engine, { acc_v: [{ accountId: 'acc_v', limits: [volume(40)] }] });
    const m = meter(quota.client, clock);
    expect(await send(m, 'acc_v')).toBe('ok');
    expect(engine.volumeUsed('acc_v', metric)).toBe(10); // ¼ of 40 leased, 1 spent
    m.forgetAll(); // a limit changed somewhere
    expect(await send(m, 'acc_v')).toBe('ok');
    const next = quota.state.leases.filter((l) => l.metric === metric).at(-1)!;
    expect(next.returns.map((r) => r.units)).toEqual([9n]);
    // 1 spent, then the new lease: ¼ of the 39 left.
    expect(engine.volumeUsed('acc_v', metric)).toBe(1 + 9);
  });

  it('stop() gives back what every budget holds', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const quota = fakeQuota(engine, { acc_v: [{ accountId: 'acc_v', limits: [volume(40)] }] });
    const m = meter(quota.client, clock);
    for (let i = 0; i < 3; i++) expect(await send(m, 'acc_v')).toBe('ok');
    await m.stop();
    expect(engine.volumeUsed('acc_v', metric)).toBe(3);
    expect(quota.state.leases.at(-1)).toMatchObject({ want: 0n, returns: [{ units: 7n }] });
  });

  it('a refill that lands on a budget dropped meanwhile gives its grant back, and the new budget leases after it', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const quota = fakeQuota(engine, { acc_v: [{ accountId: 'acc_v', limits: [volume(3)] }] });
    const m = meter(quota.client, clock);
    expect(await send(m, 'acc_v')).toBe('ok'); // lease 1 (1 unit) spent: a refill starts
    await settle();
    quota.state.hold = true;
    expect(m.spendInbound('acc_v', 1, 10).kind).toBe('ok'); // spends the refill's unit, starts another refill: held
    await settle();
    expect(quota.state.held).toHaveLength(1);
    m.forgetAll();
    expect(m.spendInbound('acc_v', 1, 10).kind).toBe('throttled'); // waits for the dropped budget's refill
    quota.state.hold = false;
    quota.state.held.shift()!(); // it lands: granted 1 (3 of 3 used), on the dropped budget
    await settle();
    // The third message: its lease gives that unit back first, then gets it.
    expect(await send(m, 'acc_v')).toBe('ok');
    expect(engine.volumeUsed('acc_v', metric)).toBe(3);
    expect(await send(m, 'acc_v')).toBe('exhausted');
  });

  it('exactly N messages when every budget is dropped between messages', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const quota = fakeQuota(engine, { acc_v: [{ accountId: 'acc_v', limits: [volume(7)] }] });
    const m = meter(quota.client, clock);
    const results: string[] = [];
    for (let i = 0; i < 8; i++) {
      results.push(await send(m, 'acc_v'));
      m.forgetAll();
      if (i % 2) await settle(); // sometimes the refill lands first, sometimes on the dropped budget
    }
    expect(results).toEqual([...Array<string>(7).fill('ok'), 'exhausted']);
    expect(engine.volumeUsed('acc_v', metric)).toBe(7);
  });

  it('a return whose answer was lost is sent again and credited once', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const quota = fakeQuota(engine, { acc_v: [{ accountId: 'acc_v', limits: [volume(40)] }] });
    const m = meter(quota.client, clock);
    expect(await send(m, 'acc_v')).toBe('ok');
    m.forgetAll();
    quota.state.loseAnswers = 1; // quota credits the 9 units, the edge never hears
    expect(m.spendInbound('acc_v', 1, 10).kind).toBe('throttled');
    await settle();
    expect(engine.volumeUsed('acc_v', metric)).toBe(1 + 9); // credited, then a new grant of ¼ of 39 (lost with the answer)
    clock.t += 1_000; // past the edge's retry wait
    expect(await send(m, 'acc_v')).toBe('ok');
    const retried = quota.state.leases.filter((l) => l.metric === metric).at(-1)!;
    expect(retried.returns.map((r) => r.units)).toEqual([9n]); // the same lease id again: not credited twice
    expect(engine.volumeUsed('acc_v', metric)).toBe(10 + 7); // ¼ of the 30 left
  });

  it('asks quota within its lease deadline: 500 ms by default, or the configured one (TOLLGATE_BROKER_QUOTA_DEADLINE)', async () => {
    const clock = new FakeClock();
    const engine = new QuotaEngine({ clock });
    const quota = fakeQuota(engine, { acc_v: [{ accountId: 'acc_v', limits: [volume(40)] }] });
    expect(await send(meter(quota.client, clock), 'acc_v')).toBe('ok');
    expect(await send(meter(quota.client, clock, { leaseDeadlineMs: 2_000 }), 'acc_v')).toBe('ok');
    expect(new Set(quota.state.leases.map((l) => l.deadlineMs))).toEqual(new Set([500, 2_000]));
    expect(quota.state.leases.filter((l) => l.deadlineMs === 2_000)).toHaveLength(2); // its message and byte leases
  });
});
