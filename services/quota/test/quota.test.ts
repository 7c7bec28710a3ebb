import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { createRpcClient, PeerDirectory } from '#libs/rpc/index.ts';
import type { AppError } from '#libs/errors/index.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { LimitKind, Period, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { createQuotaApp } from '../src/app.ts';
import { createQuotaCore } from '../src/quota-core.ts';
import { PostgresLimitStore } from '../src/store/postgres-limit-store.ts';
import { PostgresQuotaStateStore } from '../src/store/postgres-quota-state-store.ts';
import { PostgresUsageStore } from '../src/store/postgres-usage-store.ts';
import type { UsageStore } from '../src/domain/ports.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('quota service (real schema, real gRPC)', () => {
  let mesh: TestMesh;
  let quota: ReturnType<typeof createRpcClient<typeof QuotaService>>;
  let service: { headers: { authorization: string } };

  async function tree(name: string) {
    const t = await mesh.createTenant(name);
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const c1 = (await identity.createAccount({ name: 'child 1', parentId: t.accountId }, bearer(t.masterToken))).account!.id;
    const c2 = (await identity.createAccount({ name: 'child 2', parentId: t.accountId }, bearer(t.masterToken))).account!.id;
    identity.close();
    return { ...t, c1, c2 };
  }

  beforeAll(async () => {
    mesh = await startTestMesh();
    quota = createRpcClient(QuotaService, mesh.address('quota'));
    service = bearer(mintServiceCredential(mesh.secretKey, 'broker'));
  });
  afterAll(async () => {
    quota?.close();
    await mesh?.stop();
  });

  it('inherits limits down the tree and refuses a child above its parent, naming both values', async () => {
    const t = await tree('limits');
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.RATE, value: 1_000n, period: Period.MINUTE }] }, bearer(t.masterToken));
    const child = await quota.getLimits({ accountId: t.c1 }, bearer(t.masterToken));
    expect(child.limits[0]).toMatchObject({ sourceAccountId: t.accountId, limit: { value: 1_000n } });
    const above = (await quota.setLimits({ accountId: t.c1, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.RATE, value: 5_000n, period: Period.MINUTE }] }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(above.code).toBe('FAILED_PRECONDITION');
    expect(above.message).toContain('5000 is above the parent\'s 1000');
    const badMetric = (await quota.setLimits({ accountId: t.c1, limits: [{ metric: 'mqtt.nope', kind: LimitKind.RATE, value: 1n, period: Period.MINUTE }] }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(badMetric.field).toBe('limits[0].metric');
    const badWindow = (await quota.setLimits({ accountId: t.c1, limits: [{ metric: 'mqtt.messages.out', kind: LimitKind.VOLUME, value: 1n, period: Period.DAY }] }, bearer(t.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(badWindow.field).toBe('limits[0].kind');
    const stranger = await mesh.createTenant('stranger');
    const foreign = (await quota.getLimits({ accountId: t.c1 }, bearer(stranger.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(foreign.code).toBe('PERMISSION_DENIED');
  });

  it('consumes atomically over the tree: a refusal at the parent uses nothing below', async () => {
    const t = await tree('atomic');
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'api.requests', kind: LimitKind.VOLUME, value: 10n, period: Period.DAY }] }, bearer(t.masterToken));
    await quota.setLimits({ accountId: t.c1, limits: [{ metric: 'api.requests', kind: LimitKind.VOLUME, value: 8n, period: Period.DAY }] }, bearer(t.masterToken));
    expect((await quota.consume({ accountId: t.c2, metric: 'api.requests', amount: 6n }, service)).allowed).toBe(true);
    const no = await quota.consume({ accountId: t.c1, metric: 'api.requests', amount: 5n }, service);
    expect(no).toMatchObject({ allowed: false, limitingAccountId: t.accountId, limit: 10n });
    // c1's own counter was not touched by the refusal: it can still take 4 (the parent's headroom).
    expect(await quota.consume({ accountId: t.c1, metric: 'api.requests', amount: 4n }, service)).toMatchObject({ allowed: true, remaining: 0n });
    const anonymous = (await quota.consume({ accountId: t.c1, metric: 'api.requests', amount: 1n }).catch((e: unknown) => e)) as AppError;
    expect(anonymous.code).toBe('UNAUTHENTICATED');
    const negative = (await quota.consume({ accountId: t.c1, metric: 'api.requests', amount: -1n }, service).catch((e: unknown) => e)) as AppError;
    expect(negative.field).toBe('amount');
    const unknown = (await quota.consume({ accountId: 'acc_00000000000000000000', metric: 'api.requests', amount: 1n }, service).catch((e: unknown) => e)) as AppError;
    expect(unknown.code).toBe('NOT_FOUND');
  });

  it('takes usage batches once and serves own and subtree series', async () => {
    const t = await tree('usage');
    const items = [{ accountId: t.c1, metric: 'mqtt.messages.in', amount: 7n }, { accountId: t.c2, metric: 'mqtt.messages.in', amount: 5n }];
    expect((await quota.reportUsage({ batchId: `b-${t.accountId}`, edgeId: 'e1', items }, service)).duplicate).toBe(false);
    expect((await quota.reportUsage({ batchId: `b-${t.accountId}`, edgeId: 'e1', items }, service)).duplicate).toBe(true);
    const from = timestampFromMs(Date.now() - 3_600_000);
    const own = await quota.getUsage({ accountId: t.c1, metric: 'mqtt.messages.in', from }, bearer(t.masterToken));
    expect(own.series[0]!.total).toBe(7n);
    const subtree = await quota.getUsage({ accountId: t.accountId, metric: 'mqtt.messages.in', from, subtree: true }, bearer(t.masterToken));
    expect(subtree.series[0]!.total).toBe(12n);
  });

  it('keeps volume counters across a restart', async () => {
    const t = await tree('restart');
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.bytes.in', kind: LimitKind.VOLUME, value: 100n, period: Period.MONTH }] }, bearer(t.masterToken));
    expect((await quota.consume({ accountId: t.c1, metric: 'mqtt.bytes.in', amount: 90n }, service)).allowed).toBe(true);
    await mesh.quota!.core.flush();
    const second = createQuotaApp(
      { listen: { host: '127.0.0.1', grpcPort: 0, httpPort: 0 }, peers: new PeerDirectory({ identity: mesh.address('identity'), authz: mesh.address('authz') }) },
      { database: mesh.database, logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey },
    );
    const started = await second.start();
    const restarted = createRpcClient(QuotaService, started.grpcAddress);
    try {
      expect(await restarted.consume({ accountId: t.c2, metric: 'mqtt.bytes.in', amount: 20n }, service)).toMatchObject({ allowed: false, remaining: 10n });
    } finally {
      restarted.close();
      await second.stop();
    }
  });

  it('buffers usage while the database refuses writes and writes each batch once when it returns', async () => {
    const t = await tree('outage');
    const real = new PostgresUsageStore(mesh.database.db);
    let down = true;
    const flaky: UsageStore = {
      applyUsageBatch: (...args) => (down ? Promise.reject(new Error('connection refused')) : real.applyUsageBatch(...args)),
      usage: (...args) => real.usage(...args),
    };
    const identity = createRpcClient(IdentityService, mesh.address('identity'), { headers: service.headers });
    const core = createQuotaCore({
      limits: new PostgresLimitStore(mesh.database.db),
      usage: flaky,
      state: new PostgresQuotaStateStore(mesh.database.db),
      accounts: { pathOf: async (id) => { const tr = await identity.getAccountTree({ accountId: id }); return [...tr.ancestors.map((a) => a.id), tr.account!.id]; } },
      logger: silentLogger(),
    });
    await core.reportUsage('outage-1', 'e1', [{ accountId: t.c1, metric: 'api.requests', amount: 3 }]);
    await core.reportUsage('outage-1', 'e1', [{ accountId: t.c1, metric: 'api.requests', amount: 3 }]); // the edge retries
    expect(core.pendingBatchCount()).toBe(1);
    await core.flush();
    expect(core.pendingBatchCount()).toBe(1);
    down = false;
    await core.flush();
    expect(core.pendingBatchCount()).toBe(0);
    const usage = await quota.getUsage({ accountId: t.c1, metric: 'api.requests', from: timestampFromMs(Date.now() - 3_600_000) }, bearer(t.masterToken));
    expect(usage.series[0]!.total).toBe(3n);
    identity.close();
  });

  it('with two replicas, each tree has one owner: the limit holds whichever replica is asked', async () => {
    const t = await tree('replicas');
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'api.requests', kind: LimitKind.VOLUME, value: 10n, period: Period.DAY }] }, bearer(t.masterToken));
    const addresses: string[] = [];
    const make = (self: number) =>
      createQuotaApp(
        { listen: { host: '127.0.0.1', grpcPort: 0, httpPort: 0 }, peers: new PeerDirectory({ identity: mesh.address('identity'), authz: mesh.address('authz') }), replicas: { addresses: () => addresses, self } },
        { database: mesh.database, logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey },
      );
    const apps = [make(0), make(1)];
    for (const app of apps) addresses.push((await app.start()).grpcAddress);
    const clients = addresses.map((a) => createRpcClient(QuotaService, a));
    try {
      // 6 through one replica and 6 through the other: without an owner each would allow all 6.
      const first = await clients[0]!.consume({ accountId: t.c1, metric: 'api.requests', amount: 6n }, service);
      const second = await clients[1]!.consume({ accountId: t.c2, metric: 'api.requests', amount: 6n }, service);
      expect([first.allowed, second.allowed]).toEqual([true, false]);
      expect(second.limitingAccountId).toBe(t.accountId);
      // Slots too: acquired through one replica, released through the other.
      await clients[0]!.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.connections', kind: LimitKind.CONCURRENCY, value: 1n }] }, bearer(t.masterToken));
      const slot = await clients[1]!.acquireSlot({ accountId: t.c1, metric: 'mqtt.connections', holderId: 'edge/c1' }, service);
      expect(slot.allowed).toBe(true);
      // The new limit reaches the owner replica through NOTIFY: within a second at most.
      const deadline = Date.now() + 1_000;
      let other = await clients[0]!.acquireSlot({ accountId: t.c2, metric: 'mqtt.connections', holderId: 'edge/c2' }, service);
      while (other.allowed && Date.now() < deadline) {
        await clients[0]!.releaseSlot({ slotId: other.slotId }, service);
        await new Promise((r) => setTimeout(r, 20));
        other = await clients[0]!.acquireSlot({ accountId: t.c2, metric: 'mqtt.connections', holderId: 'edge/c2' }, service);
      }
      expect(other.allowed).toBe(false);
      await clients[0]!.releaseSlot({ slotId: slot.slotId }, service);
      expect((await clients[1]!.acquireSlot({ accountId: t.c2, metric: 'mqtt.connections', holderId: 'edge/c2' }, service)).allowed).toBe(true);
    } finally {
      clients.forEach((c) => c.close());
      for (const app of apps) await app.stop();
    }
  });

  it('leases blocks of connection slots to edges: reserved over the tree, resized, renewed, released', async () => {
    const t = await tree('slot-blocks');
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.connections', kind: LimitKind.CONCURRENCY, value: 8n }] }, bearer(t.masterToken));
    const ask = (accountId: string, holderId: string, held: bigint, want: bigint) => quota.leaseSlots({ accountId, metric: 'mqtt.connections', holderId, held, want, ttlMs: 60_000n }, service);
    const a = await ask(t.c1, 'edge-a/c1', 0n, 64n);
    expect(a).toMatchObject({ granted: 2n, limited: true, limitingAccountId: t.accountId }); // a quarter of the headroom
    expect(a.slotId).toMatch(/^r0\.edge-a\/c1:/);
    expect((await ask(t.c1, 'edge-a/c1', 0n, 64n)).granted).toBe(2n); // the same block again: a resize, not more
    // Another edge fills the parent; the held connections of a block are always kept.
    let b = await ask(t.c2, 'edge-b/c2', 0n, 1n);
    while (b.granted > 0n && !b.limitingAccountId) b = await ask(t.c2, 'edge-b/c2', b.granted, 1n);
    expect(b).toMatchObject({ granted: 6n, limitingAccountId: t.accountId });
    expect(await quota.renewSlots({ slotIds: [a.slotId, b.slotId], ttlMs: 60_000n }, service)).toMatchObject({ expiredSlotIds: [] });
    await quota.releaseSlot({ slotId: a.slotId }, service);
    expect((await ask(t.c2, 'edge-b/c2', 6n, 2n)).granted).toBe(7n);
    const wrong = (await quota.leaseSlots({ accountId: t.c1, metric: 'mqtt.messages.in', holderId: 'e', want: 1n }, service).catch((e: unknown) => e)) as AppError;
    expect(wrong.field).toBe('metric');
    await ask(t.c2, 'edge-b/c2', 0n, 0n);
  });

  it('takes back leased units an edge returns, once, and names a bad return field', async () => {
    const t = await tree('returns');
    await quota.setLimits({ accountId: t.c1, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.VOLUME, value: 8n, period: Period.DAY }] }, bearer(t.masterToken));
    const lease = await quota.lease({ accountId: t.c1, metric: 'mqtt.messages.in', want: 100n, edgeId: 'edge-r' }, service);
    expect(lease.granted).toBe(2n);
    expect(lease.leaseId).not.toBe('');
    const back = { accountId: t.c1, metric: 'mqtt.messages.in', want: 0n, edgeId: 'edge-r', returns: [{ leaseId: lease.leaseId, units: 2n }] };
    expect(await quota.lease(back, service)).toMatchObject({ granted: 0n, returned: 2n, volumeExhausted: false });
    expect(await quota.lease(back, service)).toMatchObject({ returned: 0n }); // a retried return
    // All 8 are there again: 2 + 2 + 1 + 1 + 1 + 1 (¼ of what is left, at least 1).
    let total = 0n;
    for (let i = 0; i < 8; i++) total += (await quota.lease({ accountId: t.c1, metric: 'mqtt.messages.in', want: 100n, edgeId: 'edge-r' }, service)).granted;
    expect(total).toBe(8n);
    const bad = async (req: Partial<typeof back>) => ((await quota.lease({ ...back, ...req }, service).catch((e: unknown) => e)) as AppError).field;
    expect(await bad({ returns: [{ leaseId: lease.leaseId, units: 0n }] })).toBe('returns[0].units');
    expect(await bad({ returns: [{ leaseId: '', units: 1n }] })).toBe('returns[0].lease_id');
    expect(await bad({ returns: [] })).toBe('want');
  });

  it('grants leases that never let four edges overshoot a parent limit', async () => {
    const t = await tree('leases');
    await quota.setLimits({ accountId: t.accountId, limits: [{ metric: 'mqtt.messages.in', kind: LimitKind.RATE, value: 1_000n, period: Period.MINUTE, burst: 1_000n }] }, bearer(t.masterToken));
    let granted = 0;
    let maxLease = 0n;
    const started = performance.now();
    for (let round = 0; round < 50; round++) {
      for (const [i, account] of [t.c1, t.c2, t.c1, t.c2].entries()) {
        const lease = await quota.lease({ accountId: account, metric: 'mqtt.messages.in', want: 100n, edgeId: `edge-${i}` }, service);
        granted += Number(lease.granted);
        if (lease.granted > maxLease) maxLease = lease.granted;
      }
    }
    const refilled = Math.ceil(((performance.now() - started) * 1_000) / 60_000); // the bucket refills at 1,000/min meanwhile
    expect(granted).toBeLessThanOrEqual(1_000 * 1.01 + Number(maxLease) + refilled);
    expect(granted).toBeGreaterThan(900);
  });
});
