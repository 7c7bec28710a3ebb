import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient, PeerDirectory } from '#libs/rpc/index.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { LimitKind, Period, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { RateLimitResponse_Code, RateLimitService } from '#gen/envoy/service/ratelimit/v3/rls_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { createQuotaApp } from '../src/app.ts';

describe('Envoy ShouldRateLimit with several quota replicas', () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('is decided by the owner of the account tree, whichever replica Envoy asks', async () => {
    const tenant = await mesh.createTenant('rls-replicas');
    const quota = createRpcClient(QuotaService, mesh.address('quota'));
    await quota.setLimits({ accountId: tenant.accountId, limits: [{ metric: 'api.requests', kind: LimitKind.VOLUME, value: 5n, period: Period.DAY }] }, { headers: { authorization: `Bearer ${tenant.masterToken}` } });
    quota.close();
    const addresses: string[] = [];
    const make = (self: number) =>
      createQuotaApp(
        { listen: { host: '127.0.0.1', grpcPort: 0, httpPort: 0 }, peers: new PeerDirectory({ identity: mesh.address('identity'), authz: mesh.address('authz') }), replicas: { addresses: () => addresses, self } },
        { database: mesh.database, logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey },
      );
    const apps = [make(0), make(1)];
    for (const app of apps) addresses.push((await app.start()).grpcAddress);
    const clients = addresses.map((a) => createRpcClient(RateLimitService, a));
    const envoy = { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'envoy')}` } };
    const ask = (replica: number, hits: bigint) => clients[replica]!.shouldRateLimit({ domain: 'tollgate', descriptors: [{ entries: [{ key: 'account', value: tenant.accountId }], hitsAddend: hits }] }, envoy);
    try {
      // 3 through one replica and 3 through the other: without one owner each would allow its 3.
      expect((await ask(0, 3n)).overallCode).toBe(RateLimitResponse_Code.OK);
      const second = await ask(1, 3n);
      expect(second.overallCode).toBe(RateLimitResponse_Code.OVER_LIMIT);
      expect(second.statuses[0]).toMatchObject({ code: RateLimitResponse_Code.OVER_LIMIT, limitRemaining: 2 });
      expect((await ask(1, 2n)).statuses[0]).toMatchObject({ code: RateLimitResponse_Code.OK, limitRemaining: 0 });
    } finally {
      clients.forEach((c) => c.close());
      for (const app of apps) await app.stop();
    }
  });

  it('answers INVALID_ARGUMENT naming hits_addend, with the right bound, for 2^63 or 0', async () => {
    const tenant = await mesh.createTenant('rls-hits');
    const client = createRpcClient(RateLimitService, mesh.address('quota'));
    const envoy = { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'envoy')}` } };
    const ask = (hits: bigint) => client.shouldRateLimit({ domain: 'tollgate', descriptors: [{ entries: [{ key: 'account', value: tenant.accountId }], hitsAddend: hits }] }, envoy);
    try {
      for (const hits of [2n ** 63n, 2n ** 64n - 1n, 2n ** 53n]) {
        await expect(ask(hits)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'descriptors[0].hits_addend', message: 'descriptors[0].hits_addend: must be at most 9007199254740991 (2^53 − 1)' });
      }
      await expect(ask(0n)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'descriptors[0].hits_addend: must be ≥ 1' });
      expect((await ask(2n ** 53n - 1n)).overallCode).toBe(RateLimitResponse_Code.OK);
    } finally {
      client.close();
    }
  });
});
