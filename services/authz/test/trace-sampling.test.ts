import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, makeGenericClientConstructor, Metadata, type Client } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { AuthzService, AuthorizeRequestSchema } from '#gen/tollgate/authz/v1/authz_pb.js';
import { toServiceDefinition } from '#libs/rpc/service-definition.ts';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';

const AUTHORIZE = 'tollgate.authz.v1.AuthzService/Authorize';

/**
 * Head sampling (OTEL_TRACES_SAMPLER): with parentbased_traceidratio at 0, a root call to authz
 * (no traceparent) records no span, while a caller's sampled traceparent still gets authz's server
 * span, in the caller's trace. The calls come from a bare grpc-js client: Tollgate's own client
 * would start a (here unsampled) span of its own and send its traceparent.
 */
describe('authz under trace sampling', () => {
  let mesh: TestMesh;
  let client: Client & Record<string, (...args: unknown[]) => unknown>;

  const authorize = (metadata: Metadata) =>
    new Promise<{ allowed: boolean; reason: string }>((resolve, reject) =>
      client.authorize!(create(AuthorizeRequestSchema, { credential: { bearer: 'not-a-token' }, action: 'publish', resource: 'mqtt:a/b' }), metadata, (error: Error | null, response: { allowed: boolean; reason: string }) =>
        error ? reject(error) : resolve(response),
      ),
    );
  const authorizeSpans = () => mesh.telemetry.spans.list().filter((s) => s.name === AUTHORIZE);

  beforeAll(async () => {
    mesh = await startTestMesh({ only: 'authz', env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' } });
    const Authz = makeGenericClientConstructor(toServiceDefinition(AuthzService), 'AuthzService');
    client = new Authz(mesh.address('authz'), credentials.createInsecure()) as never;
  });

  afterAll(async () => {
    client?.close();
    await mesh?.stop();
  });

  it('runs the configured sampler', () => {
    expect(mesh.telemetry.sampler).toBe('parentbased_traceidratio 0');
  });

  it('a root call is answered as ever and leaves no span in the span buffer', async () => {
    const answer = await authorize(new Metadata());
    expect(answer).toMatchObject({ allowed: false, reason: 'TOKEN_MALFORMED' });
    expect(authorizeSpans()).toEqual([]);
  });

  it("a caller's sampled traceparent still produces authz's server span, in the caller's trace", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const metadata = new Metadata();
    metadata.set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`);
    await authorize(metadata);
    const [span, ...more] = authorizeSpans();
    expect(more).toEqual([]);
    expect(span).toMatchObject({ traceId, parentSpanId: '00f067aa0ba902b7', service: 'authz', kind: 1, ok: true });
    expect(span!.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.method': 'Authorize', 'rpc.grpc.status_code': 'OK' });
  });

  it("a caller's unsampled traceparent is not recorded either", async () => {
    const metadata = new Metadata();
    metadata.set('traceparent', '00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-00');
    await authorize(metadata);
    expect(authorizeSpans().map((s) => s.traceId)).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736']);
  });
});
