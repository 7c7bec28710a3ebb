import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { createRpcClient } from '#libs/rpc/index.ts';
import type { AppError } from '#libs/errors/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import type { ServiceName } from '#libs/config/index.ts';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

/**
 * RPCs meant to answer without a credential, and why. Every other RPC of every Tollgate service
 * must refuse a call without a (valid) credential with UNAUTHENTICATED before it looks at the
 * request — so an empty request gets UNAUTHENTICATED, never INVALID_ARGUMENT naming a field.
 */
const open: Record<string, string> = {
  'tollgate.identity.v1.IdentityService/Login': 'the password (and TOTP code) is the proof',
  'tollgate.identity.v1.IdentityService/RefreshSession': 'the refresh token is the proof',
  'tollgate.identity.v1.IdentityService/Logout': 'the refresh token is the proof',
  'tollgate.identity.v1.IdentityService/SwitchAccount': 'the refresh token is the proof',
  'tollgate.identity.v1.IdentityService/GetJwks': 'public keys, for verifying access tokens offline',
  'tollgate.authz.v1.AuthzService/Authenticate': 'the credential to check is the request itself',
  'tollgate.authz.v1.AuthzService/Authorize': 'the credential to check is the request itself',
  'tollgate.authz.v1.AuthzService/AuthorizeBatch': 'the credential to check is the request itself',
};
// Health, reflection and the foreign contracts (Envoy ext_authz / rate limit, go-auth) are not
// Tollgate services: Envoy and mosquitto call them with the credential inside the request.
const services: [DescService, ServiceName][] = [
  [IdentityService, 'identity'],
  [AuthzService, 'authz'],
  [QuotaService, 'quota'],
  [BrokerAdminService, 'broker'],
];

describe('every admin RPC authenticates before it validates', () => {
  let mesh: TestMesh;

  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  /** The status of one call with an empty request: 'OK' or the error code. */
  async function statusOf(service: DescService, address: string, method: DescMethod, headers: Record<string, string>): Promise<string> {
    const client = createRpcClient(service, address) as unknown as Record<string, (req: unknown, options: unknown) => unknown> & { close(): void };
    const controller = new AbortController();
    try {
      const call = client[method.localName]!({}, { headers, signal: controller.signal, deadlineMs: 5_000 });
      if (method.methodKind === 'server_streaming') {
        // A refused stream fails on its first read; one let in yields, or waits until the deadline.
        await (call as AsyncIterable<unknown>)[Symbol.asyncIterator]().next();
        return 'OK';
      }
      await call;
      return 'OK';
    } catch (error) {
      return (error as AppError).code;
    } finally {
      controller.abort();
      client.close();
    }
  }

  const rpcs = services.flatMap(([service, name]) => service.methods.map((method) => [`${service.typeName}/${method.name}`, service, name, method] as const));

  it.each(rpcs)('%s', async (rpc, service, name, method) => {
    const address = mesh.address(name);
    const anonymous = await statusOf(service, address, method, {});
    const forged = await statusOf(service, address, method, { authorization: 'Bearer tg_not-a-real-token' });
    if (rpc in open) {
      // Listed as open: it must really answer without a credential (or the list is stale).
      expect(anonymous).not.toBe('UNAUTHENTICATED');
      return;
    }
    expect({ anonymous, forged }).toEqual({ anonymous: 'UNAUTHENTICATED', forged: 'UNAUTHENTICATED' });
  });

  it('lists only RPCs that exist', () => {
    const known = new Set<string>(rpcs.map(([rpc]) => rpc));
    expect(Object.keys(open).filter((rpc) => !known.has(rpc))).toEqual([]);
  });

  it('ListTokens without a credential: UNAUTHENTICATED, not INVALID_ARGUMENT naming account_id', async () => {
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    try {
      await expect(authz.listTokens({})).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      const tenant = await mesh.createTenant('validate-after');
      await expect(authz.listTokens({}, { headers: { authorization: `Bearer ${tenant.masterToken}` } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'account_id' });
    } finally {
      authz.close();
    }
  });
});

describe('BrokerAdminService/GetStats is guarded', () => {
  let mesh: TestMesh;
  let broker: ReturnType<typeof createRpcClient<typeof BrokerAdminService>>;

  beforeAll(async () => {
    mesh = await startTestMesh();
    broker = createRpcClient(BrokerAdminService, mesh.address('broker'));
  });
  afterAll(async () => {
    broker?.close();
    await mesh?.stop();
  });

  it('refuses an anonymous call (UNAUTHENTICATED) and a tenant (PERMISSION_DENIED: it counts every account), answers a mesh service', async () => {
    await expect(broker.getStats({})).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const tenant = await mesh.createTenant('stats');
    await expect(broker.getStats({}, { headers: { authorization: `Bearer ${tenant.masterToken}` } })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    const stats = await broker.getStats({}, { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'operator')}` } });
    expect(stats.connections).toBe(0n);
  });
});
