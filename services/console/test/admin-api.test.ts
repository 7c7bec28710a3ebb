import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { Secret, TOTP } from 'otpauth';
import { silentLogger } from '#libs/telemetry/index.ts';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { createConsoleApp } from '../src/app.ts';

/**
 * The REST admin API against the whole mesh in this process: every route is documented, every
 * documented route answers, bad input is refused naming the field, and another account's
 * credential is refused by the services (the console holds no policy of its own).
 */

interface Problem {
  status: number;
  title: string;
  detail: string;
  field?: string;
}

let mesh: TestMesh;
let consoleApp: ReturnType<typeof createConsoleApp>;
let base: string;
let a: { accountId: string; masterToken: string };
let b: { accountId: string; masterToken: string };
/** Things of tenant a, made through the API itself. */
const ids = { sub: '', user: '', username: '', token: '', aclSecret: '', totpSecret: '', oauthClient: '', sso: '' };
const totpCode = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret) }).generate();

async function call(method: string, path: string, options: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? a.masterToken : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/api/v1${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', json: json as Record<string, unknown> };
}

beforeAll(async () => {
  mesh = await startTestMesh();
  // The very factory `tollgate start` uses, on port 0, so the test can also read its route table.
  consoleApp = createConsoleApp({ host: '127.0.0.1', httpPort: 0, peers: mesh.peers }, { logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey });
  base = (await consoleApp.start()).httpAddress;
  a = await mesh.createTenant('api-a');
  b = await mesh.createTenant('api-b');
  const sub = await call('POST', '/accounts', { body: { name: 'plant 7' } });
  expect(sub.status).toBe(201);
  ids.sub = (sub.json.account as { id: string }).id;
  ids.username = `ops-${Date.now()}`;
  const user = await call('POST', '/users', { body: { username: ids.username, password: 'correct horse battery staple', account_id: ids.sub, role: 'viewer' } });
  expect(user.status).toBe(201);
  ids.user = (user.json.user as { id: string }).id;
  await makeOAuthThings();
  const token = await call('POST', '/tokens', { body: { account_id: ids.sub, kind: 'acl', name: 'sensor', rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:plant/7/#'] }] } });
  expect(token.status).toBe(201);
  ids.token = token.json.id as string;
  ids.aclSecret = token.json.secret as string;
});

/** A confidential OAuth client and an SSO connection of the subaccount (the route check deletes both). */
async function makeOAuthThings() {
  const client = await call('POST', '/oauth-clients', { body: { account_id: ids.sub, name: 'plant backend', type: 'service' } });
  expect(client.status).toBe(201);
  expect(client.json.client_secret).toMatch(/^tgcs_/);
  ids.oauthClient = (client.json.client as { client_id: string }).client_id;
  const sso = await call('POST', '/sso-connections', { body: { account_id: ids.sub, name: 'Plant IdP', issuer: 'https://idp.plant.example', client_id: 'tollgate', client_secret: 'upstream secret' } });
  expect(sso.status).toBe(201);
  ids.sso = (sso.json.connection as { id: string }).id;
}

afterAll(async () => {
  await consoleApp?.stop();
  await mesh?.stop();
});

/** One valid call of each operation on tenant a's things, by `METHOD path` as documented. */
function validCall(method: string, path: string): { path: string; body?: unknown } {
  const concrete = path.replace('/oauth-clients/{client_id}', `/oauth-clients/${ids.oauthClient}`).replace('{connection_id}', ids.sso).replace('{username}', encodeURIComponent(ids.username)).replace('{account_id}', ids.sub).replace('{user_id}', ids.user).replace('{token_id}', ids.token).replace('{client_id}', 'nobody-here').replace('{resource_id}', 'dataset.7');
  const bodies: Record<string, unknown> = {
    'POST /accounts': { name: 'made by the route check', parent_id: ids.sub },
    'PATCH /accounts/{account_id}': { name: 'plant 7 renamed' },
    'POST /accounts/{account_id}/suspend': { reason: 'route check' },
    'POST /accounts/{account_id}/resume': {},
    'POST /users': { username: `route-check-${Date.now()}`, password: 'correct horse battery staple', account_id: ids.sub, role: 'member' },
    'PUT /users/{user_id}/memberships/{account_id}': { role: 'viewer' },
    'POST /tokens': { account_id: ids.sub, kind: 'standard', name: 'route check' },
    'PATCH /tokens/{token_id}': { name: 'sensor renamed' },
    'POST /tokens/{token_id}/rotate': { grace_seconds: 60 },
    'POST /decisions/check': { token: ids.aclSecret, action: 'publish', resource: 'mqtt:plant/7/temp' },
    'PUT /limits': { account_id: ids.sub, limits: [{ metric: 'mqtt.messages.in', kind: 'rate', value: 100, per: 'second' }] },
    'POST /clients/{client_id}/kick': { account_id: ids.sub },
    'POST /users/{user_id}/password': { current_password: 'correct horse battery staple', new_password: 'another horse battery staple' },
    'PUT /accounts/{account_id}/datasets/{resource_id}/restricted': { restricted: true },
    'PUT /accounts/{account_id}/datasets/{resource_id}/grants/{user_id}': { permission: 'read' },
    'POST /oauth-clients': { account_id: ids.sub, name: 'plant dashboard', type: 'web', redirect_uris: ['https://plant.example/callback'], first_party: true },
    'PATCH /oauth-clients/{client_id}': { name: 'plant backend renamed', scopes: ['tollgate'], acl_rules: [{ effect: 'allow', actions: ['subscribe'], resources: ['mqtt:plant/7/#'] }] },
    'POST /sso-connections': { account_id: ids.sub, kind: 'oidc', name: 'Second IdP', issuer: 'https://idp2.plant.example', client_id: 'tollgate', client_secret: 'upstream secret', provisioning: 'jit', default_role: 'viewer' },
    'POST /users/{username}/unlock': { address: '192.0.2.7' },
  };
  if (path === '/accounts/{account_id}/datasets/{resource_id}/access') return { path: `${concrete}?user_id=${ids.user}&permission=read` };
  if (path === '/oauth-clients' || path === '/sso-connections') {
    if (method === 'GET') return { path: `${path}?account_id=${ids.sub}` };
  }
  if (path === '/stats') return { path: `/stats?account_id=${ids.sub}&subtree=true` };
  if (path === '/decisions/stats') return { path: `/decisions/stats?account_id=${ids.sub}&subtree=true` };
  if (method === 'POST' && path === '/users/{user_id}/totp/confirm') bodies[`${method} ${path}`] = { code: totpCode(ids.totpSecret) };
  const key = `${method} ${path}`;
  return { path: concrete, ...(key in bodies ? { body: bodies[key] } : {}) };
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1, lists every API route, and every documented operation answers', async () => {
    const res = await fetch(`${base}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');

    // Every route the app serves under /api/v1 (but the document and its rendering) is in the document.
    const served = new Set<string>();
    for (const r of consoleApp.app.routes) {
      if (!r.path.startsWith('/api/v1/') || r.method === 'ALL' || r.path === '/api/v1/openapi.json' || r.path === '/api/v1/reference') continue;
      served.add(`${r.method} ${r.path.slice('/api/v1'.length).replace(/:(\w+)/g, '{$1}')}`);
    }
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    expect(served.size).toBeGreaterThan(25);
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);

    // Reads first, then writes, then the destructive ones, so each finds its things still there;
    // resume after suspend, so the subaccount is active again for the tests after this one.
    const order = (key: string) =>
      key.startsWith('GET') ? 0 : key.endsWith('/totp/confirm') ? 1.5 : key.includes('/memberships/') && key.startsWith('DELETE') ? 2.5 : key.includes('revoke') || key.includes('DELETE') || key.includes('suspend') ? 2 : key.includes('resume') ? 3 : 1;
    const failures: string[] = [];
    for (const key of [...documented].sort((x, y) => order(x) - order(y))) {
      const [method, path] = key.split(' ') as [string, string];
      const { path: concrete, body } = validCall(method, path);
      const answer = await call(method, concrete, { body });
      if (key === 'POST /users/{user_id}/totp') ids.totpSecret = answer.json.secret as string;
      // A client secret is in the answer that made it (a confidential client's), and nowhere else.
      if (key === 'POST /oauth-clients' || key === 'POST /oauth-clients/{client_id}/rotate-secret') expect(answer.json.client_secret, key).toMatch(/^tgcs_/);
      if (key === 'PATCH /oauth-clients/{client_id}') expect(answer.json.client).toMatchObject({ name: 'plant backend renamed', acl_rules: [{ effect: 'allow', actions: ['subscribe'], resources: ['mqtt:plant/7/#'] }], acl_token_id: expect.stringMatching(/^tok_/) });
      if (key === 'GET /oauth-clients/{client_id}') expect(answer.json).not.toHaveProperty('client_secret');
      if (key === 'GET /stats') {
        expect(answer).toMatchObject({ status: 200, json: { account_id: ids.sub, subtree: true, accounts: 1, connections: 0 } });
        // The edge-wide counters cover every tenant: the broker answers them to a mesh service
        // credential only (services/broker/README.md), so a tenant's owner is refused — by the
        // broker, passed through as 403 with the broker's reason.
        expect(await call('GET', '/stats')).toMatchObject({ status: 403, json: { type: expect.stringContaining('service-credential-required') } });
        continue;
      }
      if (key === 'GET /decisions/stats') {
        // One authz replica's figures (the mesh has one), for the subaccount and its subtree.
        expect(answer).toMatchObject({ status: 200, json: { account_id: ids.sub, subtree: true, accounts: 1, replica_id: expect.stringMatching(/^azr_/) } });
        continue;
      }
      // A valid call by the owner's master token succeeds: not merely "not 404/500".
      if (answer.status >= 400) failures.push(`${key} → ${answer.status} ${JSON.stringify(answer.json)}`);
    }
    expect(failures).toEqual([]);
  });

  it('is rendered as a reference page from the app itself, with no script', async () => {
    const res = await fetch(`${base}/api/v1/reference`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('<code>/api/v1/tokens/{token_id}/rotate</code>');
    expect(page).not.toContain('<script');
  });
});

/** Per documented operation: a call with one bad field, and a call on tenant a's things with tenant b's credential. */
function cases(): Record<string, { bad?: { path: string; body?: unknown; field: string }; foreign?: { path: string; body?: unknown; token?: string } }> {
  const long = 'x'.repeat(300);
  return {
    'GET /accounts': { bad: { path: '/accounts?limit=-5', field: 'limit' }, foreign: { path: `/accounts?root_id=${ids.sub}` } },
    'POST /accounts': { bad: { path: '/accounts', body: { name: '' }, field: 'name' }, foreign: { path: '/accounts', body: { name: 'intruder', parent_id: ids.sub } } },
    'GET /accounts/{account_id}': { bad: { path: '/accounts/acc_%00', field: 'account_id' }, foreign: { path: `/accounts/${ids.sub}` } },
    'PATCH /accounts/{account_id}': { bad: { path: `/accounts/${ids.sub}`, body: {}, field: 'name' }, foreign: { path: `/accounts/${ids.sub}`, body: { name: 'mine now' } } },
    'POST /accounts/{account_id}/suspend': { bad: { path: `/accounts/${ids.sub}/suspend`, body: { reason: long }, field: 'reason' }, foreign: { path: `/accounts/${ids.sub}/suspend`, body: {} } },
    'POST /accounts/{account_id}/resume': { bad: { path: '/accounts/nope/resume', body: {}, field: 'account_id' }, foreign: { path: `/accounts/${ids.sub}/resume`, body: {} } },
    'GET /accounts/{account_id}/tree': { bad: { path: '/accounts/tok_abc/tree', field: 'account_id' }, foreign: { path: `/accounts/${ids.sub}/tree` } },
    'GET /users': { bad: { path: '/users?account_id=%00', field: 'account_id' }, foreign: { path: `/users?account_id=${ids.sub}` } },
    'POST /users': { bad: { path: '/users', body: { username: 'u', password: 'p', role: 'god' }, field: 'role' }, foreign: { path: '/users', body: { username: 'intruder', password: 'correct horse battery staple', account_id: ids.sub, role: 'owner' } } },
    'GET /users/{user_id}': { bad: { path: '/users/usr_!', field: 'user_id' }, foreign: { path: `/users/${ids.user}` } },
    'PUT /users/{user_id}/memberships/{account_id}': { bad: { path: `/users/${ids.user}/memberships/${ids.sub}`, body: { role: 'god' }, field: 'role' }, foreign: { path: `/users/${ids.user}/memberships/${ids.sub}`, body: { role: 'owner' } } },
    'DELETE /users/{user_id}/memberships/{account_id}': { bad: { path: `/users/${ids.user}/memberships/nope`, field: 'account_id' }, foreign: { path: `/users/${ids.user}/memberships/${ids.sub}` } },
    'GET /tokens': { bad: { path: '/tokens?include_revoked=yes', field: 'include_revoked' }, foreign: { path: `/tokens?account_id=${ids.sub}` } },
    'POST /tokens': { bad: { path: '/tokens', body: { kind: 'acl', rules: [{ effect: 'allow', actions: [], resources: [] }] }, field: 'rules[0].actions' }, foreign: { path: '/tokens', body: { account_id: ids.sub, kind: 'master' } } },
    'GET /tokens/{token_id}': { bad: { path: '/tokens/tok_', field: 'token_id' }, foreign: { path: `/tokens/${ids.token}` } },
    'PATCH /tokens/{token_id}': { bad: { path: `/tokens/${ids.token}`, body: { ttl_seconds: -1 }, field: 'ttl_seconds' }, foreign: { path: `/tokens/${ids.token}`, body: { name: 'mine now' } } },
    'POST /tokens/{token_id}/revoke': { bad: { path: '/tokens/acc_x/revoke', field: 'token_id' }, foreign: { path: `/tokens/${ids.token}/revoke` } },
    'POST /tokens/{token_id}/rotate': { bad: { path: `/tokens/${ids.token}/rotate`, body: { grace_seconds: 'soon' }, field: 'grace_seconds' }, foreign: { path: `/tokens/${ids.token}/rotate`, body: {} } },
    'GET /decisions': { bad: { path: '/decisions?limit=0', field: 'limit' }, foreign: { path: `/decisions?account_id=${ids.sub}` } },
    'GET /decisions/stats': { bad: { path: '/decisions/stats?subtree=yes', field: 'subtree' }, foreign: { path: `/decisions/stats?account_id=${ids.sub}&subtree=true` } },
    'POST /decisions/check': { bad: { path: '/decisions/check', body: { action: 'publish' }, field: 'token' } },
    'GET /limits': { bad: { path: '/limits?account_id=acc_%2F', field: 'account_id' }, foreign: { path: `/limits?account_id=${ids.sub}` } },
    'PUT /limits': { bad: { path: '/limits', body: { limits: [{ metric: 'mqtt.messages.in', kind: 'fast', value: 1 }] }, field: 'limits[0].kind' }, foreign: { path: '/limits', body: { account_id: ids.sub, limits: [{ metric: 'mqtt.messages.in', kind: 'rate', value: 1_000_000, per: 'second' }] } } },
    'GET /usage': { bad: { path: '/usage?since_seconds=5', field: 'since_seconds' }, foreign: { path: `/usage?account_id=${ids.sub}` } },
    'GET /stats': { bad: { path: '/stats?subtree=yes', field: 'subtree' }, foreign: { path: `/stats?account_id=${ids.sub}` } },
    'GET /clients': { bad: { path: '/clients?limit=abc', field: 'limit' }, foreign: { path: `/clients?account_id=${ids.sub}` } },
    'POST /clients/{client_id}/kick': { bad: { path: '/clients/dev1/kick', body: { reason_code: 1 }, field: 'reason_code' }, foreign: { path: '/clients/dev1/kick', body: { account_id: ids.sub } } },
    'GET /audit': { bad: { path: '/audit?since=yesterday', field: 'since' }, foreign: { path: `/audit?account_id=${ids.sub}` } },
    'GET /traces': { bad: { path: '/traces?trace_id=xyz', field: 'trace_id' }, foreign: { path: '/traces', token: subMaster } },
    'POST /keys/rotate': { foreign: { path: '/keys/rotate', token: subMaster } },
    'POST /users/{user_id}/totp': { bad: { path: '/users/usr_%20/totp', field: 'user_id' }, foreign: { path: `/users/${ids.user}/totp` } },
    'POST /users/{user_id}/totp/confirm': { bad: { path: `/users/${ids.user}/totp/confirm`, body: { code: 'abc' }, field: 'code' }, foreign: { path: `/users/${ids.user}/totp/confirm`, body: { code: '123456' } } },
    'DELETE /users/{user_id}/totp': { bad: { path: `/users/${ids.user}/totp`, body: { code: long }, field: 'code' }, foreign: { path: `/users/${ids.user}/totp`, body: {} } },
    'GET /accounts/{account_id}/datasets/{resource_id}/grants': { bad: { path: `/accounts/${ids.sub}/datasets/a%20b/grants`, field: 'resource_id' }, foreign: { path: `/accounts/${ids.sub}/datasets/dataset.7/grants` } },
    'PUT /accounts/{account_id}/datasets/{resource_id}/restricted': { bad: { path: `/accounts/${ids.sub}/datasets/dataset.7/restricted`, body: { restricted: 'yes' }, field: 'restricted' }, foreign: { path: `/accounts/${ids.sub}/datasets/dataset.7/restricted`, body: { restricted: false } } },
    'PUT /accounts/{account_id}/datasets/{resource_id}/grants/{user_id}': { bad: { path: `/accounts/${ids.sub}/datasets/dataset.7/grants/${ids.user}`, body: { permission: 'all' }, field: 'permission' }, foreign: { path: `/accounts/${ids.sub}/datasets/dataset.7/grants/${ids.user}`, body: { permission: 'admin' } } },
    'DELETE /accounts/{account_id}/datasets/{resource_id}/grants/{user_id}': { bad: { path: `/accounts/${ids.sub}/datasets/dataset.7/grants/acc_x`, field: 'user_id' }, foreign: { path: `/accounts/${ids.sub}/datasets/dataset.7/grants/${ids.user}` } },
    'GET /accounts/{account_id}/datasets/{resource_id}/access': { bad: { path: `/accounts/${ids.sub}/datasets/dataset.7/access?user_id=${ids.user}&permission=root`, field: 'permission' }, foreign: { path: `/accounts/${ids.sub}/datasets/dataset.7/access?user_id=${ids.user}&permission=read` } },
    'GET /oauth-clients': { bad: { path: '/oauth-clients?account_id=usr_x', field: 'account_id' }, foreign: { path: `/oauth-clients?account_id=${ids.sub}` } },
    'POST /oauth-clients': { bad: { path: '/oauth-clients', body: { name: 'x', type: 'daemon' }, field: 'type' }, foreign: { path: '/oauth-clients', body: { account_id: ids.sub, name: 'intruder', type: 'service' } } },
    'GET /oauth-clients/{client_id}': { bad: { path: '/oauth-clients/tok_abc', field: 'client_id' }, foreign: { path: `/oauth-clients/${ids.oauthClient}` } },
    'PATCH /oauth-clients/{client_id}': { bad: { path: `/oauth-clients/${ids.oauthClient}`, body: { redirect_uris: 'https://x.example/cb' }, field: 'redirect_uris' }, foreign: { path: `/oauth-clients/${ids.oauthClient}`, body: { name: 'mine now' } } },
    'POST /oauth-clients/{client_id}/rotate-secret': { bad: { path: '/oauth-clients/cli_%20/rotate-secret', field: 'client_id' }, foreign: { path: `/oauth-clients/${ids.oauthClient}/rotate-secret` } },
    'DELETE /oauth-clients/{client_id}': { bad: { path: '/oauth-clients/nope', field: 'client_id' }, foreign: { path: `/oauth-clients/${ids.oauthClient}` } },
    'GET /sso-connections': { bad: { path: '/sso-connections?account_id=%00', field: 'account_id' }, foreign: { path: `/sso-connections?account_id=${ids.sub}` } },
    'POST /sso-connections': { bad: { path: '/sso-connections', body: { name: 'x', issuer: 'https://idp.example', default_role: 'owner' }, field: 'default_role' }, foreign: { path: '/sso-connections', body: { account_id: ids.sub, name: 'intruder', issuer: 'https://evil.example', client_id: 'x', client_secret: 'y', provisioning: 'jit', default_role: 'admin' } } },
    'DELETE /sso-connections/{connection_id}': { bad: { path: '/sso-connections/cli_abc', field: 'connection_id' }, foreign: { path: `/sso-connections/${ids.sso}` } },
    'POST /users/{username}/unlock': { bad: { path: `/users/${ids.username}/unlock`, body: { address: 'localhost' }, field: 'address' }, foreign: { path: `/users/${ids.username}/unlock`, body: {} } },
    // The current password is the proof here, not the caller's account: no foreign case.
    'POST /users/{user_id}/password': { bad: { path: `/users/${ids.user}/password`, body: { current_password: 'x', new_password: '' }, field: 'new_password' } },
  };
}
/** Operations that take no input and show nothing of any account, so have neither case. */
const inputless = ['GET /me', 'GET /services', 'GET /keys/jwks'];
let subMaster = '';

describe('each operation', () => {
  beforeAll(async () => {
    const made = await call('POST', '/tokens', { body: { account_id: ids.sub, kind: 'master', name: 'sub master' } });
    expect(made.status).toBe(201);
    subMaster = made.json.secret as string;
    // Fresh things: the route check above revoked and removed the first ones.
    ids.username = `viewer-${Date.now()}`;
    const user = await call('POST', '/users', { body: { username: ids.username, password: 'correct horse battery staple', account_id: ids.sub, role: 'viewer' } });
    ids.user = (user.json.user as { id: string }).id;
    const token = await call('POST', '/tokens', { body: { account_id: ids.sub, kind: 'acl', rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:plant/7/#'] }] } });
    ids.token = token.json.id as string;
    await makeOAuthThings();
  });

  it('has a bad-input case and a foreign-credential case (or takes no input)', async () => {
    const doc = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const table = cases();
    const missing = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .filter((key) => !inputless.includes(key) && !(key in table));
    expect(missing).toEqual([]);
  });

  it('refuses bad input with 400 problem+json naming the field', async () => {
    const wrong: string[] = [];
    for (const [key, c] of Object.entries(cases())) {
      if (!c.bad) continue;
      const method = key.split(' ')[0]!;
      const res = await call(method, c.bad.path, { body: c.bad.body });
      const p = res.json as unknown as Problem;
      if (res.status !== 400 || p.field !== c.bad.field || !res.type.startsWith('application/problem+json')) wrong.push(`${key}: ${res.status} ${JSON.stringify(p)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("refuses another account's credential (403 or 404), as the services decide", async () => {
    const wrong: string[] = [];
    for (const [key, c] of Object.entries(cases())) {
      if (!c.foreign) continue;
      const method = key.split(' ')[0]!;
      const res = await call(method, c.foreign.path, { body: c.foreign.body, token: c.foreign.token ?? b.masterToken });
      if (res.status !== 403 && res.status !== 404) wrong.push(`${key}: ${res.status} ${JSON.stringify(res.json)}`);
    }
    expect(wrong).toEqual([]);
    // Nothing was done: the subaccount kept its name, the user did not become an owner.
    const account = await call('GET', `/accounts/${ids.sub}`);
    expect((account.json.account as { name: string }).name).toBe('plant 7 renamed');
    const user = await call('GET', `/users/${ids.user}`);
    expect((user.json.user as { memberships: { role: string }[] }).memberships.map((m) => m.role)).toEqual(['viewer']);
    expect((await call('GET', `/tokens/${ids.token}`)).json.revoked_at).toBeNull();
    // The OAuth client is still there with its name, and the SSO connection too; tenant b has none.
    expect((await call('GET', `/oauth-clients/${ids.oauthClient}`)).json.client).toMatchObject({ name: 'plant backend', account_id: ids.sub, disabled: false });
    const connections = (await call('GET', `/sso-connections?account_id=${ids.sub}`)).json.connections as { id: string; name: string }[];
    expect(connections.map((c) => c.id)).toContain(ids.sso);
    expect(connections.map((c) => c.name)).not.toContain('intruder');
    expect((await call('GET', '/oauth-clients', { token: b.masterToken })).json.clients).toEqual([]);
  });

  it('GET /decisions/stats counts the decisions tried through POST /decisions/check, by result and reason, and the token-cache lookups', async () => {
    const made = await call('POST', '/tokens', { body: { account_id: ids.sub, kind: 'acl', rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:plant/7/#'] }] } });
    const secret = made.json.secret as string;
    const read = async () => (await call('GET', `/decisions/stats?account_id=${ids.sub}`)).json as { replica_id: string; allowed: number; denied: number; denied_by_reason: { reason: string; count: number }[]; cache_hits: number; cache_misses: number };
    const before = await read();
    expect((await call('POST', '/decisions/check', { body: { token: secret, action: 'publish', resource: 'mqtt:plant/7/temp' } })).json.allowed).toBe(true);
    expect((await call('POST', '/decisions/check', { body: { token: secret, action: 'publish', resource: 'mqtt:plant/8/temp' } })).json.reason).toBe('NO_MATCHING_RULE');
    const after = await read();
    expect(after.replica_id).toBe(before.replica_id);
    const reason = (s: typeof before) => s.denied_by_reason.find((r) => r.reason === 'NO_MATCHING_RULE')?.count ?? 0;
    expect({ allowed: after.allowed - before.allowed, denied: after.denied - before.denied, noMatch: reason(after) - reason(before), hits: after.cache_hits - before.cache_hits, misses: after.cache_misses - before.cache_misses })
      .toEqual({ allowed: 1, denied: 1, noMatch: 1, hits: 1, misses: 1 });
  });

  it('authenticates before validating: bad input without a credential is 401, not 400', async () => {
    const none = await call('GET', '/users?account_id=%00', { token: null });
    expect(none.status).toBe(401);
    expect((none.json as unknown as Problem).title).toBe('UNAUTHENTICATED');
    const forged = await call('GET', '/tokens', { token: 'not-a-token' });
    expect(forged.status).toBe(401);
    const malformed = await call('GET', '/me', { token: null, headers: { authorization: 'Basic abc' } });
    expect(malformed.status).toBe(401);
  });

  it('refuses a NUL account id and a negative limit on the operator views (400 naming the field)', async () => {
    for (const [path, field] of [['/decisions?account_id=%00', 'account_id'], ['/clients?account_id=%00', 'account_id'], ['/decisions?limit=-5', 'limit'], ['/clients?limit=-5', 'limit'], ['/traces?limit=-5', 'limit']] as const) {
      const res = await call('GET', path);
      expect(res.status, path).toBe(400);
      expect((res.json as unknown as Problem).field, path).toBe(field);
    }
  });

  it('refuses a body that is not JSON with 400 naming the body, not 500', async () => {
    for (const [contentType, body] of [['application/json', '{nope'], ['text/plain', 'x']] as const) {
      const res = await fetch(`${base}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${a.masterToken}`, 'content-type': contentType }, body });
      expect(res.status, contentType).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(((await res.json()) as Problem).field).toBe('body');
    }
  });

  it("passes a service's INVALID_ARGUMENT through with the service's field", async () => {
    const res = await call('POST', '/tokens', { body: { kind: 'acl', rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:a/#/b'] }] } });
    expect(res.status).toBe(400);
    expect((res.json as unknown as Problem).field).toBe('rules[0].resources[0]');
  });

  it('pages lists by cursor', async () => {
    for (let i = 0; i < 3; i++) expect((await call('POST', '/tokens', { body: { kind: 'standard', name: `page ${i}` } })).status).toBe(201);
    const first = await call('GET', '/tokens?limit=2');
    expect((first.json.tokens as unknown[]).length).toBe(2);
    expect(first.json.next_cursor).toEqual(expect.any(String));
    const second = await call('GET', `/tokens?limit=2&cursor=${encodeURIComponent(first.json.next_cursor as string)}`);
    const seen = [...(first.json.tokens as { id: string }[]), ...(second.json.tokens as { id: string }[])].map((t) => t.id);
    expect(new Set(seen).size).toBe(seen.length);
    const standardOnly = await call('GET', '/tokens?kind=standard&limit=100');
    expect((standardOnly.json.tokens as { kind: string }[]).every((t) => t.kind === 'standard')).toBe(true);
    expect((standardOnly.json.tokens as unknown[]).length).toBeGreaterThanOrEqual(3);
  });

  it('pages decisions by cursor, newest first, with reason, source and client filters', async () => {
    const tenant = await mesh.createTenant('api-decisions');
    // An acl token allowed only plant/# is denied everything asked below: every one is kept.
    const acl = await call('POST', '/tokens', { token: tenant.masterToken, body: { kind: 'acl', rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:plant/#'] }] } });
    expect(acl.status).toBe(201);
    const ask = (i: number, source: string, clientId: string) =>
      mesh.authz!.core.authorize({ credential: { bearer: acl.json.secret as string }, action: 'publish', resources: [`mqtt:$SYS/d/${i}`], clientId, peerIp: '127.0.0.1', accountId: undefined, source });
    for (let i = 0; i < 5; i++) await ask(i, 'broker', `dev-${i % 2}`);
    await ask(5, 'emqx', 'dev-0');
    const as = { token: tenant.masterToken };
    const first = await call('GET', '/decisions?limit=2&denials_only=true', as);
    expect(first.status).toBe(200);
    const resources = (r: typeof first) => (r.json.decisions as { resource: string }[]).map((d) => d.resource);
    expect(resources(first)).toEqual(['mqtt:$SYS/d/5', 'mqtt:$SYS/d/4']);
    // A decision made between pages does not shift the next page.
    await ask(6, 'broker', 'dev-1');
    const second = await call('GET', `/decisions?limit=2&denials_only=true&cursor=${encodeURIComponent(first.json.next_cursor as string)}`, as);
    expect(resources(second)).toEqual(['mqtt:$SYS/d/3', 'mqtt:$SYS/d/2']);
    const third = await call('GET', `/decisions?limit=2&denials_only=true&cursor=${encodeURIComponent(second.json.next_cursor as string)}`, as);
    expect(resources(third)).toEqual(['mqtt:$SYS/d/1', 'mqtt:$SYS/d/0']);
    expect(third.json.next_cursor).toBeNull();

    const reason = (first.json.decisions as { reason: string }[])[0]!.reason;
    const filtered = await call('GET', `/decisions?source=broker&client_id=dev-0&reason=${encodeURIComponent(reason)}`, as);
    expect(resources(filtered)).toEqual(['mqtt:$SYS/d/4', 'mqtt:$SYS/d/2', 'mqtt:$SYS/d/0']);
    expect((await call('GET', '/decisions?source=emqx', as)).json.decisions).toHaveLength(1);
    expect((await call('GET', '/decisions?reason=no_such_reason', as)).json.decisions).toEqual([]);

    const bad = await call('GET', '/decisions?cursor=bm90LWEtY3Vyc29y', as);
    expect(bad.status).toBe(400);
    expect((bad.json as unknown as Problem).field).toBe('page_token');
    expect(((await call('GET', '/decisions?source=', as)).json as unknown as Problem).field).toBe('source');
  });

  it('pages MQTT clients by cursor in client id order', async () => {
    const tenant = await mesh.createTenant('api-clients');
    const clients: MqttClient[] = [];
    try {
      for (const clientId of ['pager-c', 'pager-a', 'pager-b']) {
        const c = mqtt.connect(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId, username: tenant.masterToken, reconnectPeriod: 0, connectTimeout: 5_000 });
        clients.push(c);
        await new Promise<void>((resolve, reject) => {
          c.once('connect', () => resolve());
          c.once('error', reject);
        });
      }
      const as = { token: tenant.masterToken };
      const ids = (r: { json: Record<string, unknown> }) => (r.json.clients as { client_id: string }[]).map((c) => c.client_id);
      const first = await call('GET', '/clients?limit=2', as);
      expect(first.status).toBe(200);
      expect(ids(first)).toEqual(['pager-a', 'pager-b']);
      const second = await call('GET', `/clients?limit=2&cursor=${encodeURIComponent(first.json.next_cursor as string)}`, as);
      expect(ids(second)).toEqual(['pager-c']);
      expect(second.json.next_cursor).toBeNull();
      const bad = await call('GET', '/clients?cursor=bm90LWEtY3Vyc29y', as);
      expect(bad.status).toBe(400);
      expect((bad.json as unknown as Problem).field).toBe('page_token');
    } finally {
      await Promise.all(clients.map((c) => c.endAsync()));
    }
  });
});
