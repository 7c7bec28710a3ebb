import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { credentials, makeGenericClientConstructor, Metadata, type Client } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, AuthorizeRequestSchema } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { toServiceDefinition } from '#libs/rpc/service-definition.ts';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/**
 * Head sampling on the MQTT edge: with OTEL_TRACES_SAMPLER=parentbased_traceidratio at 0, a device's
 * CONNECT and PUBLISH (every one offered for tracing here, TOLLGATE_BROKER_TRACE_SAMPLE=1) are
 * served as ever and leave no span — neither the broker's nor authz's or identity's under them —
 * while a caller's sampled traceparent in the same mesh is still recorded (the sentinel that proves
 * the span buffer is live).
 */
describe('the broker edge under trace sampling', () => {
  let mesh: TestMesh;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let bare: Client & Record<string, (...args: unknown[]) => unknown>;

  beforeAll(async () => {
    mesh = await startTestMesh({ env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0', TOLLGATE_BROKER_TRACE_SAMPLE: '1' } });
    identity = createRpcClient(IdentityService, mesh.address('identity'));
    const Authz = makeGenericClientConstructor(toServiceDefinition(AuthzService), 'AuthzService');
    bare = new Authz(mesh.address('authz'), credentials.createInsecure()) as never;
  });
  afterAll(async () => {
    identity?.close();
    bare?.close();
    await mesh?.stop();
  });

  it('a CONNECT and a PUBLISH through the whole mesh record nothing; a sampled caller still does', async () => {
    const t = await mesh.createTenant('unsampled');
    const username = `unsampled-${Date.now().toString(36)}`;
    const password = 'correct horse battery staple';
    await identity.createUser({ username, password, accountId: t.accountId, role: Role.MEMBER }, bearer(t.masterToken));
    const device = await mqtt.connectAsync(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'unsampled-device', username, password, reconnectPeriod: 0 });
    await device.subscribeAsync('sensors/#', { qos: 1 });
    const echoed = new Promise<string>((resolve) => device.once('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
    await device.publishAsync('sensors/t', 'x', { qos: 1 });
    expect(await echoed).toBe('sensors/t=x');
    await device.endAsync();

    // The sentinel: a call that carries a sampled traceparent is recorded in this same mesh.
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const metadata = new Metadata();
    metadata.set('traceparent', `00-${traceId}-b7ad6b7169203331-01`);
    await new Promise<void>((resolve, reject) =>
      bare.authorize!(create(AuthorizeRequestSchema, { credential: { bearer: 'not-a-token' }, action: 'publish', resource: 'mqtt:a/b' }), metadata, (error: Error | null) => (error ? reject(error) : resolve())),
    );
    const spans = mesh.telemetry.spans.list();
    expect(spans.filter((s) => s.traceId === traceId).map((s) => `${s.service}:${s.name}`)).toEqual(['authz:tollgate.authz.v1.AuthzService/Authorize']);
    expect(spans.filter((s) => s.traceId !== traceId).map((s) => `${s.service}:${s.name}`)).toEqual([]);
  });
});
