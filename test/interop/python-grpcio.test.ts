import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';
import { hasGrpcio, python } from '../harness/python.ts';

const run = promisify(execFile);
const require = createRequire(import.meta.url);

// Needs Debian's python3-grpcio and python3-grpc-tools (.ci/run installs them); skipped, saying so, elsewhere.
describe.skipIf(!hasGrpcio)('an independent client (Python grpcio) calls Tollgate cold', () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh({ only: undefined });
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('health, reflection, Authenticate, and INVALID_ARGUMENT naming the field', async () => {
    const tenant = await mesh.createTenant('python');
    const script = new URL('./grpc_cold_call.py', import.meta.url).pathname;
    const protoRoot = new URL('../../proto', import.meta.url).pathname;
    const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const { stdout } = await run(python, [script, mesh.address('authz'), tenant.masterToken, protoRoot, healthProtoPath, reflectionProto], { timeout: 60_000 });
    const result = JSON.parse(stdout) as { health: string; services: string[]; authenticate: { allowed: boolean; account_id: string }; invalid: { code: string; details: string } };
    expect(result.health).toBe('SERVING');
    expect(result.services).toEqual(expect.arrayContaining(['grpc.health.v1.Health', 'tollgate.authz.v1.AuthzService']));
    expect(result.authenticate).toMatchObject({ allowed: true, account_id: tenant.accountId });
    expect(result.invalid.code).toBe('INVALID_ARGUMENT');
    expect(result.invalid.details).toContain('credential');
  });
});
