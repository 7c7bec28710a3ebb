import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { serviceNames } from '#libs/config/index.ts';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';
import { hasGrpcio, python } from '../harness/python.ts';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const script = new URL('./reflection_descriptors.py', import.meta.url).pathname;
const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
const buf = require.resolve('@bufbuild/buf/bin/buf');

/**
 * Server reflection as strict clients use it: every served file, grpc.health.v1 included, must
 * build into a descriptor pool (Python's protobuf and buf refuse a hand-declared map entry).
 */
describe('server reflection serves descriptors strict clients accept', () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it.skipIf(!hasGrpcio)('builds every listed service into a Python protobuf descriptor pool, on each of the four servers', { timeout: 60_000 }, async () => {
    for (const name of serviceNames) {
      const { stdout } = await run(python, [script, mesh.address(name), reflectionProto], { timeout: 30_000 }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
      const result = JSON.parse(stdout) as { services?: Record<string, string[]>; error?: string };
      expect({ name, error: result.error }).toEqual({ name, error: undefined });
      expect(result.services!['grpc.health.v1.Health']).toEqual(['Check', 'Watch', 'List']);
    }
  });

  it('lists methods with `buf curl --list-methods`', { timeout: 60_000 }, async () => {
    const { stdout } = await run(buf, ['curl', '--list-methods', '--protocol', 'grpc', '--http2-prior-knowledge', `http://${mesh.address('authz')}`], { timeout: 30_000 });
    const methods = stdout.trim().split('\n');
    expect(methods).toContain('grpc.health.v1.Health/Check');
    expect(methods).toContain('tollgate.authz.v1.AuthzService/Authorize');
    expect(methods).toContain('envoy.service.auth.v3.Authorization/Check');
  });
});
