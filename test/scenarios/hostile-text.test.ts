import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, type DescField, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { AppError } from '#libs/errors/index.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { AuthzService } from '#gen/tollgate/authz/v1/authz_pb.js';
import { QuotaService } from '#gen/tollgate/quota/v1/quota_pb.js';
import { BrokerAdminService } from '#gen/tollgate/broker/v1/broker_pb.js';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { RateLimitService } from '#gen/envoy/service/ratelimit/v3/rls_pb.js';
import { AuthService } from '#gen/grpc/auth_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

/**
 * Issue 11, item 7: a NUL in any string field of any RPC is the caller's mistake. Generated from
 * the descriptors in gen/, so an RPC added later is walked too. Called with a valid master token
 * (and again as a mesh service) so that, without the shared check, the value would reach the
 * handlers and the database.
 */
const served: { service: DescService; at: 'identity' | 'authz' | 'quota' | 'broker' }[] = [
  { service: IdentityService, at: 'identity' },
  { service: AuthzService, at: 'authz' },
  { service: Authorization, at: 'authz' },
  { service: AuthService, at: 'authz' },
  { service: QuotaService, at: 'quota' },
  { service: RateLimitService, at: 'quota' },
  { service: BrokerAdminService, at: 'broker' },
];

/** Every path to a string field: top level, repeated, in maps, and one message deep. */
function stringFieldPaths(schema: DescMessage, depth = 0): { path: string; init: (value: string) => Record<string, unknown> }[] {
  const out: { path: string; init: (value: string) => Record<string, unknown> }[] = [];
  for (const field of schema.fields) {
    const set = (v: unknown): Record<string, unknown> => (field.oneof ? { [field.oneof.localName]: { case: field.localName, value: v } } : { [field.localName]: v });
    if (field.fieldKind === 'scalar' && field.scalar === 9 /* STRING */) out.push({ path: field.name, init: (v) => set(v) });
    else if (field.fieldKind === 'list' && field.listKind === 'scalar' && field.scalar === 9) out.push({ path: `${field.name}[0]`, init: (v) => set([v]) });
    else if (field.fieldKind === 'map' && field.mapKind === 'scalar' && field.scalar === 9) out.push({ path: `${field.name}["k"]`, init: (v) => set({ k: v }) });
    else if (depth < 2 && (field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message'))) {
      const inner = (field as DescField & { message: DescMessage }).message;
      if (inner.typeName.startsWith('google.protobuf.')) continue;
      for (const sub of stringFieldPaths(inner, depth + 1)) {
        out.push({
          path: field.fieldKind === 'list' ? `${field.name}[0].${sub.path}` : `${field.name}.${sub.path}`,
          init: (v) => set(field.fieldKind === 'list' ? [create(inner, sub.init(v) as never)] : create(inner, sub.init(v) as never)),
        });
      }
    }
  }
  return out;
}

describe('NUL in any string field of any RPC', () => {
  let mesh: TestMesh;
  let master: string;
  let service: string;
  beforeAll(async () => {
    mesh = await startTestMesh();
    master = (await mesh.createTenant('hostile-text')).masterToken;
    service = mintServiceCredential(mesh.secretKey, 'console');
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('answers INVALID_ARGUMENT naming the field (or UNAUTHENTICATED), never INTERNAL, on every RPC', async () => {
    const answers: { rpc: string; field: string; code: string; message: string }[] = [];
    let cases = 0;
    for (const { service: desc, at } of served) {
      const client = createRpcClient(desc, mesh.address(at));
      const table = client as unknown as Record<string, (req: unknown, opts: unknown) => unknown>;
      for (const method of desc.methods) {
        if (method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming') continue;
        for (const { path, init } of stringFieldPaths(method.input)) {
          for (const credential of [master, service]) {
            cases++;
            const request = create(method.input, init('ok\u0000ok') as never);
            const opts = { headers: { authorization: `Bearer ${credential}` }, deadlineMs: 5_000 };
            let error: unknown;
            try {
              const result = table[method.localName]!(request, opts);
              if (method.methodKind === 'server_streaming') for await (const _ of result as AsyncIterable<unknown>) break;
              else await result;
            } catch (e) {
              error = e;
            }
            const code = error instanceof AppError ? error.code : error === undefined ? 'OK' : 'NOT_AN_APP_ERROR';
            answers.push({ rpc: `${desc.typeName}/${method.name}`, field: path, code, message: error instanceof AppError ? error.publicMessage : String(error) });
          }
        }
      }
      client.close();
    }
    expect(cases).toBeGreaterThan(100);
    const wrong = answers.filter((a) => a.code !== 'INVALID_ARGUMENT' && a.code !== 'UNAUTHENTICATED');
    expect(wrong).toEqual([]);
    const unnamed = answers.filter((a) => a.code === 'INVALID_ARGUMENT' && !a.message.startsWith(`${a.field}:`));
    expect(unnamed).toEqual([]);
  }, 120_000);
});
