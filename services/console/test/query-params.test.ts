import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';

/** Issue 11, item 8: bad query values are 400 problem+json naming the parameter (were 500s). */
describe('console API query parameters', () => {
  let mesh: TestMesh;
  let master: string;
  let accountId: string;
  beforeAll(async () => {
    mesh = await startTestMesh();
    ({ masterToken: master, accountId } = await mesh.createTenant('console-query'));
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  const get = (path: string, token = master) => fetch(`${mesh.console!.httpAddress}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it.each([
    ['/api/v1/decisions?account_id=%00', 'account_id'],
    ['/api/v1/decisions?account_id=acc_%00aaaaaaaaaaaaaaaaaaa', 'account_id'],
    ['/api/v1/decisions?limit=-5', 'limit'],
    ['/api/v1/decisions?limit=1e9', 'limit'],
    ['/api/v1/decisions?limit=0', 'limit'],
    ['/api/v1/decisions?denials_only=yes', 'denials_only'],
    ['/api/v1/clients?account_id=%00', 'account_id'],
    ['/api/v1/traces?limit=-5', 'limit'],
    ['/api/v1/traces?trace_id=%00', 'trace_id'],
  ])('%s → 400 naming %s', async (path, field) => {
    const res = await get(path);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const body = (await res.json()) as { field?: string; detail: string; status: number };
    expect(body).toMatchObject({ status: 400, field });
    expect(body.detail.startsWith(`${field}:`)).toBe(true);
    expect(body.detail).not.toMatch(/encode|uint32|stack/i);
  });

  it('authenticates before looking at the query', async () => {
    const res = await fetch(`${mesh.console!.httpAddress}/api/v1/decisions?limit=-5`);
    expect(res.status).toBe(401);
  });

  it('still answers good values', async () => {
    expect((await get(`/api/v1/decisions?account_id=${accountId}&limit=5&denials_only=false`)).status).toBe(200);
    expect((await get(`/api/v1/clients?account_id=${accountId}`)).status).toBe(200);
    expect((await get('/api/v1/traces?limit=2000')).status).toBe(200);
  });
});
