import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { statSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AppError } from '#libs/errors/index.ts';
import { openDatabase } from '#libs/db/index.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { AuthzService, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const run = promisify(execFile);
const cli = new URL('../../bin/tollgate.js', import.meta.url).pathname;

async function tollgate(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('the mesh in one process', () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('serves grpc.health.v1 SERVING on all four services, as `tollgate health --json` reports', async () => {
    const env = {
      TOLLGATE_IDENTITY_URL: mesh.address('identity'),
      TOLLGATE_AUTHZ_URL: mesh.address('authz'),
      TOLLGATE_QUOTA_URL: mesh.address('quota'),
      TOLLGATE_BROKER_URL: mesh.address('broker'),
    };
    const { code, stdout } = await tollgate(['health', '--json'], env);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { healthy: boolean; services: { name: string; status: string }[] };
    expect(report.healthy).toBe(true);
    expect(report.services.map((s) => [s.name, s.status])).toEqual([
      ['identity', 'SERVING'],
      ['authz', 'SERVING'],
      ['quota', 'SERVING'],
      ['broker', 'SERVING'],
    ]);
  });

  it('serves the console HTTP port with service health and Prometheus metrics', async () => {
    const base = mesh.console!.httpAddress;
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    await authz.authenticate({ bearer: 'not-a-token' });
    authz.close();
    const services = (await (await fetch(`${base}/api/v1/services`)).json()) as { services: { status: string }[] };
    expect(services.services.every((s) => s.status === 'SERVING')).toBe(true);
    // The console's scrape is its own: authz's call durations are on authz's port only.
    const consoleMetrics = await (await fetch(`${base}/metrics`)).text();
    expect(consoleMetrics).toContain('target_info{service_name="console"}');
    expect(consoleMetrics).not.toContain('rpc_server_duration');
    const authzMetrics = await (await fetch(`${mesh.services.find((s) => s.name === 'authz')!.httpAddress}/metrics`)).text();
    expect(authzMetrics).toMatch(/rpc_server_duration_seconds_count\{[^}]*rpc_method="tollgate\.authz\.v1\.AuthzService\/Authenticate"/);
    const denied = await fetch(`${base}/api/v1/traces`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toContain('application/problem+json');
  });

  it('shows operators recent denials, clients and traces on the console API (traces: root operators only)', async () => {
    const root = await mesh.createTenant('operator');
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const acl = await authz.createToken({ accountId: root.accountId, kind: TokenKind.ACL, rules: [] }, bearer(root.masterToken));
    await authz.authorize({ credential: { bearer: acl.secret }, action: 'publish', resource: 'mqtt:nope', clientId: 'dev9' });
    authz.close();
    const base = mesh.console!.httpAddress;
    const get = (path: string, token = root.masterToken) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const decisions = (await (await get('/api/v1/decisions?denials_only=true')).json()) as { decisions: { resource: string; client_id: string }[] };
    expect(decisions.decisions[0]).toMatchObject({ resource: 'mqtt:nope', client_id: 'dev9' });
    expect((await get('/api/v1/clients')).status).toBe(200);
    const traces = (await (await get('/api/v1/traces?limit=5')).json()) as { spans: unknown[] };
    expect(traces.spans.length).toBeGreaterThan(0);
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const sub = await identity.createAccount({ name: 'not an operator', parentId: root.accountId }, bearer(root.masterToken));
    identity.close();
    const subAuthz = createRpcClient(AuthzService, mesh.address('authz'));
    const subMaster = await subAuthz.createToken({ accountId: sub.account!.id, kind: TokenKind.MASTER }, bearer(root.masterToken));
    subAuthz.close();
    // The console decides nothing: authz refuses a subaccount's token the root's decisions.
    expect((await get(`/api/v1/decisions?account_id=${root.accountId}`, subMaster.secret)).status).toBe(403);
    expect((await get('/api/v1/traces', subMaster.secret)).status).toBe(403);
    // The console's pages need a session: without one, the sign-in page.
    const home = await fetch(`${base}/`, { redirect: 'manual' });
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/login');
    expect(await (await fetch(`${base}/login`)).text()).toContain('<title>Sign in · Tollgate</title>');
  });

  it('keeps admin RPCs closed: no credential, a foreign account, an acl-less standard token', async () => {
    const a = await mesh.createTenant('tenant-a');
    const b = await mesh.createTenant('tenant-b');
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const none = (await identity.createAccount({ name: 'x', parentId: a.accountId }).catch((e: unknown) => e)) as AppError;
    expect(none.code).toBe('UNAUTHENTICATED');
    const foreign = (await identity.createAccount({ name: 'x', parentId: b.accountId }, bearer(a.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(foreign.code).toBe('PERMISSION_DENIED');
    const forged = (await identity.createAccount({ name: 'x', parentId: a.accountId }, bearer('tgsvc_identity_forged')).catch((e: unknown) => e)) as AppError;
    expect(forged.code).toBe('UNAUTHENTICATED');
    const sub = await identity.createAccount({ name: 'plant 7', parentId: a.accountId }, bearer(a.masterToken));
    expect(sub.account?.depth).toBe(2);
    expect(sub.account?.id).toMatch(/^acc_/);
    identity.close();
  });

  it('refuses a ninth level and names the field', async () => {
    const a = await mesh.createTenant('deep');
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    let parent = a.accountId;
    for (let depth = 2; depth <= 8; depth++) parent = (await identity.createAccount({ name: `level ${depth}`, parentId: parent }, bearer(a.masterToken))).account!.id;
    const error = (await identity.createAccount({ name: 'level 9', parentId: parent }, bearer(a.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.field).toBe('parent_id');
    const empty = (await identity.createAccount({ name: '', parentId: a.accountId }, bearer(a.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(empty.code).toBe('INVALID_ARGUMENT');
    expect(empty.field).toBe('name');
    identity.close();
  });

  it('creates, authenticates and revokes a token over gRPC; a denial is an answer', async () => {
    const a = await mesh.createTenant('tokens');
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const created = await authz.createToken({ accountId: a.accountId, name: 'device fleet', kind: TokenKind.STANDARD }, bearer(a.masterToken));
    expect(created.secret).toMatch(/^tg_/);
    const ok = await authz.authenticate({ bearer: created.secret });
    expect(ok.allowed).toBe(true);
    expect(ok.principal?.accountId).toBe(a.accountId);
    const last = created.secret.at(-1)!;
    const typo = await authz.authenticate({ bearer: `${created.secret.slice(0, -1)}${last === 'x' ? 'y' : 'x'}` });
    expect(typo).toMatchObject({ allowed: false, reason: 'TOKEN_MALFORMED' });
    await authz.revokeToken({ tokenId: created.token!.id }, bearer(a.masterToken));
    const revoked = await authz.authenticate({ username: created.secret });
    expect(revoked).toMatchObject({ allowed: false, reason: 'TOKEN_REVOKED' });
    const badKind = (await authz.createToken({ accountId: a.accountId, kind: TokenKind.UNSPECIFIED }, bearer(a.masterToken)).catch((e: unknown) => e)) as AppError;
    expect(badKind.field).toBe('kind');
    authz.close();
  });

  it('traces one admin call across authz and identity (parent/child over real gRPC)', async () => {
    const a = await mesh.createTenant('traced');
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    await authz.createToken({ accountId: a.accountId, name: 'traced', kind: TokenKind.STANDARD }, bearer(a.masterToken));
    authz.close();
    const spans = mesh.telemetry.spans.list({ limit: 500 });
    const create = spans.find((s) => s.name === 'tollgate.authz.v1.AuthzService/CreateToken' && s.kind === 1);
    expect(create).toBeDefined();
    const trace = spans.filter((s) => s.traceId === create!.traceId);
    const hop = trace.find((s) => s.name === 'tollgate.identity.v1.IdentityService/GetAccountTree' && s.kind === 2 && s.parentSpanId === create!.spanId);
    expect(hop).toBeDefined();
    const served = trace.find((s) => s.name === 'tollgate.identity.v1.IdentityService/GetAccountTree' && s.kind === 1 && s.parentSpanId === hop!.spanId);
    expect(served).toBeDefined();
  });
});

describe('first start', () => {
  // Two whole meshes on an embedded PGlite (every schema migrated): slow on a loaded machine.
  it('bootstraps a root account, an admin and a master token once, into bootstrap.json (0600)', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-boot-'));
    try {
      const database = await openDatabase({ dataDir });
      const first = await startTestMesh({ database, bootstrap: true, env: { TOLLGATE_DATA_DIR: dataDir } });
      expect(first.bootstrap?.created).toBe(true);
      const file = join(dataDir, 'bootstrap.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const creds = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      expect(Object.keys(creds).sort()).toEqual(['account_id', 'master_token', 'password', 'username']);
      const authz = createRpcClient(AuthzService, first.address('authz'));
      const who = await authz.authenticate({ bearer: creds.master_token! });
      expect(who.principal).toMatchObject({ accountId: creds.account_id, kind: TokenKind.MASTER });
      const login = await authz.authenticate({ username: creds.username!, password: creds.password! });
      expect(login).toMatchObject({ allowed: true });
      const wrong = await authz.authenticate({ username: creds.username!, password: 'not the password at all' });
      expect(wrong).toMatchObject({ allowed: false, reason: 'INVALID_CREDENTIALS' });
      authz.close();
      await first.stop();
      const again = await startTestMesh({ database, bootstrap: true, env: { TOLLGATE_DATA_DIR: dataDir } });
      expect(again.bootstrap?.created).toBe(false);
      await again.stop();
      await database.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('bad configuration', () => {
  it('lists every problem in one line, exits non-zero, no stack trace', async () => {
    const { code, stderr } = await tollgate(['migrate'], { TOLLGATE_AUTHZ_GRPC_PORT: '70000', DATABASE_URL: 'mysql://x', TOLLGATE_LOG_LEVEL: 'loud' });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('TOLLGATE_AUTHZ_GRPC_PORT');
    expect(lines[0]).toContain('DATABASE_URL');
    expect(lines[0]).toContain('TOLLGATE_LOG_LEVEL');
    expect(stderr).not.toContain('    at ');
  });

  it('names an unreachable database without its password', async () => {
    const { code, stderr } = await tollgate(['migrate'], { DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/db' });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('tollgate: database unreachable at 127.0.0.1:1/db (ECONNREFUSED)');
  });

  it('says which port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const error = await startTestMesh({ only: 'quota', env: { TOLLGATE_QUOTA_HTTP_PORT: String(port) } }).catch((e: unknown) => e);
    blocker.close();
    expect(String(error)).toContain(`cannot listen on 127.0.0.1:${port}: port in use`);
  });

  it('in development, moves an MQTT port left at its default off a port another broker holds, and says so', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const mesh = await startTestMesh({ only: 'broker', env: { TOLLGATE_MQTT_PORT: String(port) }, mqttDefaultPortFallback: true });
    try {
      expect(mesh.notes).toEqual([`port ${port} is taken (another MQTT broker?): TOLLGATE_MQTT_PORT uses a free port instead; set TOLLGATE_MQTT_PORT to choose one`]);
      expect(mesh.broker!.mqttAddresses().tcp).not.toBe(`127.0.0.1:${port}`);
    } finally {
      await mesh.stop();
      blocker.close();
    }
  });

  it('refuses an unknown command with usage exit code 2', async () => {
    const { code, stderr } = await tollgate(['frobnicate'], {});
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command 'frobnicate'");
  });
});
