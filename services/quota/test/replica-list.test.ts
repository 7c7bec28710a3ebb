import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient, PeerDirectory } from '#libs/rpc/index.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { LimitKind, Period, QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { createQuotaApp, type QuotaApp } from '../src/app.ts';
import { ownerIndex, replicaListDigest } from '../src/clients/shard-router.ts';
import { freePort } from '../../../test/harness/ports.ts';


describe('quota replicas refuse a replica list that disagrees with theirs', () => {
  let mesh: TestMesh;
  const apps: QuotaApp[] = [];
  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    for (const app of apps) await app.stop();
    await mesh?.stop();
  });

  const make = (addresses: () => readonly string[], self: number, grpcPort = 0) =>
    createQuotaApp(
      { listen: { host: '127.0.0.1', grpcPort, httpPort: 0 }, peers: new PeerDirectory({ identity: mesh.address('identity'), authz: mesh.address('authz') }), replicas: { addresses, self }, replicaCheckTimeoutMs: 1_000 },
      { database: mesh.database, logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey },
    );

  it('answers a forwarded call from a replica with another list FAILED_PRECONDITION naming both digests, and a starting replica with another list does not start', async () => {
    const ports = [await freePort(), await freePort()];
    const list = ports.map((p) => `127.0.0.1:${p}`);
    // Replica 1 believes in a third replica the others do not have.
    const lists = [list, [...list, '127.0.0.1:1']];
    const a = make(() => lists[0]!, 0, ports[0]);
    apps.push(a);
    await a.start();
    const b = make(() => lists[1]!, 1, ports[1]);
    // b asks a (reachable) for its list at start: a refuses, so b does not run.
    const refused = await b.start().then(
      () => undefined,
      (error: unknown) => error as { code: string; message: string },
    );
    expect(refused?.code).toBe('FAILED_PRECONDITION');
    expect(refused?.message).toContain(`TOLLGATE_QUOTA_REPLICAS: quota replica 0 (${list[0]}) refused this replica's list`);
    expect(refused?.message).toContain(`the calling replica's list has digest ${replicaListDigest(lists[1]!)}, this replica's (${list.join(',')}, replica 0) has ${replicaListDigest(list)}`);

    // The same b with a's list starts; then its list changes under it (a bad rollout): a's forwarded
    // calls to b are refused, naming both digests, rather than counted on a second owner.
    const b2 = make(() => lists[1]!, 1, ports[1]);
    lists[1] = list;
    apps.push(b2);
    await b2.start();
    const tenants: Awaited<ReturnType<TestMesh['createTenant']>>[] = [];
    for (let i = 0; i < 12 && !tenants.some((t) => ownerIndex(t.accountId, 2) === 1); i++) tenants.push(await mesh.createTenant(`replica-list-${i}`));
    const ownedByB = tenants.find((t) => ownerIndex(t.accountId, 2) === 1)!;
    expect(ownedByB).toBeDefined();
    const viaA = createRpcClient(QuotaService, list[0]!);
    const service = { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'broker')}` } };
    try {
      await viaA.setLimits({ accountId: ownedByB.accountId, limits: [{ metric: 'api.requests', kind: LimitKind.VOLUME, value: 10n, period: Period.DAY }] }, { headers: { authorization: `Bearer ${ownedByB.masterToken}` } });
      expect((await viaA.consume({ accountId: ownedByB.accountId, metric: 'api.requests', amount: 1n }, service)).allowed).toBe(true);
      lists[1] = [...list, '127.0.0.1:1'];
      const error = (await viaA.consume({ accountId: ownedByB.accountId, metric: 'api.requests', amount: 1n }, service).catch((e: unknown) => e)) as { code: string; reason: string; message: string };
      expect(error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'QUOTA_REPLICAS_DIFFER' });
      expect(error.message).toBe(
        `quota replica lists differ: the calling replica's list has digest ${replicaListDigest(list)}, this replica's (${lists[1].join(',')}, replica 1) has ${replicaListDigest(lists[1])} — set the same TOLLGATE_QUOTA_REPLICAS on every quota replica`,
      );
    } finally {
      viaA.close();
    }
  });

  it('refuses a forwarded call at a replica configured alone', async () => {
    const alone = createRpcClient(QuotaService, mesh.address('quota'));
    try {
      const error = (await alone
        .renewSlots({ slotIds: [] }, { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'quota')}`, 'x-tollgate-forwarded': '1', 'x-tollgate-quota-replicas': 'abc' } })
        .catch((e: unknown) => e)) as { code: string; message: string };
      expect(error.code).toBe('FAILED_PRECONDITION');
      expect(error.message).toContain("the calling replica's list has digest abc, this replica's (none) has (one replica: TOLLGATE_QUOTA_REPLICAS unset)");
    } finally {
      alone.close();
    }
  });
});
