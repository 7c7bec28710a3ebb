import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { createRpcClient } from '#libs/rpc/index.ts';
import { RateLimitResponse_Code, RateLimitService } from '#gen/envoy/service/ratelimit/v3/rls_pb.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { IdentityService, LoginOutcome } from '#gen/tollgate/identity/v1/identity_pb.js';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { startTestMesh, type TestMesh } from '../test/harness/mesh.ts';

const cli = new URL('../bin/tollgate.js', import.meta.url).pathname;

describe('tollgate CLI admin verbs against a running mesh', () => {
  let mesh: TestMesh;
  let tenant: { accountId: string; masterToken: string };
  let env: Record<string, string>;

  function tollgate(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [cli, ...args], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin ?? '');
    });
  }
  const json = async (args: string[], stdin?: string) => {
    const r = await tollgate([...args, '--json'], stdin);
    if (r.code !== 0 && r.code !== 3) throw new Error(`${args.join(' ')} → ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  beforeAll(async () => {
    // One failure locks a (username, address): `user unlock` is tested without waiting out backoffs.
    mesh = await startTestMesh({ env: { TOLLGATE_LOGIN_MAX_FAILURES: '1' } });
    tenant = await mesh.createTenant('cli');
    env = {
      PATH: process.env.PATH ?? '',
      TOLLGATE_IDENTITY_URL: mesh.address('identity'),
      TOLLGATE_AUTHZ_URL: mesh.address('authz'),
      TOLLGATE_BROKER_URL: mesh.address('broker'),
      TOLLGATE_QUOTA_URL: mesh.address('quota'),
      TOLLGATE_TOKEN: tenant.masterToken,
      TOLLGATE_DATA_DIR: mesh.dataDir,
    };
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  it('creates an acl token from stdin rules, checks it, revokes it', async () => {
    const rules = JSON.stringify([{ effect: 'allow', actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }]);
    const created = await json(['token', 'create', '--kind', 'acl', '--name', 'sensor', '--rules', '-', '--expires', '30d'], rules);
    expect(created.id).toMatch(/^tok_/);
    expect(created.secret).toMatch(/^tg_/);
    const secret = created.secret as string;
    const allowed = await json(['check', '--token', secret, '--action', 'publish', '--resource', 'mqtt:devices/c1/temp', '--client-id', 'c1']);
    expect(allowed).toMatchObject({ allowed: true, reason: 'ALLOWED' });
    const denied = await tollgate(['check', '--token', secret, '--action', 'publish', '--resource', 'mqtt:devices/c2/temp', '--client-id', 'c1', '--json']);
    expect(denied.code).toBe(3);
    expect(JSON.parse(denied.stdout)).toMatchObject({ allowed: false, reason: 'NO_MATCHING_RULE' });
    const narrowed = await json(['token', 'update', created.id as string, '--rules', '-'], JSON.stringify([{ effect: 'allow', actions: ['publish'], resources: ['mqtt:devices/${client_id}/temp'] }]));
    expect((narrowed.rules as unknown[]).length).toBe(1);
    const rotated = await json(['token', 'rotate', created.id as string, '--grace', '1h']);
    expect(rotated.secret).not.toBe(secret);
    const listed = await json(['token', 'list']);
    expect((listed.tokens as { id: string }[]).some((t) => t.id === created.id)).toBe(true);
    await json(['token', 'revoke', created.id as string]);
    const after = await json(['check', '--token', secret, '--action', 'publish', '--resource', 'mqtt:devices/c1/temp', '--client-id', 'c1']);
    expect(after).toMatchObject({ allowed: false, reason: 'TOKEN_REVOKED' });
  });

  it("decisions stats: an account's decisions by result and reason, from the authz replica that answers", async () => {
    // Set up over gRPC (each CLI run is a process start); the verb under test runs as the CLI.
    const auth = { headers: { authorization: `Bearer ${tenant.masterToken}` } };
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    let subId: string;
    try {
      subId = (await identity.createAccount({ name: 'decision-stats', parentId: tenant.accountId }, auth)).account!.id;
      const { secret } = await authz.createToken({ accountId: subId, kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:a'] }] }, auth);
      const decided = await authz.authorizeBatch({ credential: { bearer: secret }, action: 'publish', resources: ['mqtt:a', 'mqtt:b'] });
      await authz.authorize({ credential: { bearer: secret }, action: 'publish', resource: 'mqtt:c' });
      expect(decided.decisions.map((d) => d.allowed)).toEqual([true, false]);
    } finally {
      identity.close();
      authz.close();
    }
    const own = await json(['decisions', 'stats', '--account', subId]);
    expect(own).toMatchObject({ account_id: subId, accounts: 1, allowed: 1, denied: 2, denied_by_reason: [{ reason: 'NO_MATCHING_RULE', count: 2 }], cache_hits: 1, cache_misses: 1, replica_id: expect.stringMatching(/^azr_/) });
    const text = await tollgate(['decisions', 'stats', '--subtree']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^accounts\s+([2-9]|\d\d+)$/m);
    expect(text.stdout).toMatch(/^cache_hit_ratio\s+\d+\.\d%$/m);
  }, 60_000);

  it('creates a subaccount and a user (password on stdin), and lists the tree', async () => {
    const sub = await json(['account', 'create', 'plant-3']);
    expect(sub).toMatchObject({ parent_id: tenant.accountId, depth: 2 });
    const user = await json(['user', 'create', `operator-${Date.now()}`, '--account', sub.id as string, '--role', 'admin'], 'a long enough passphrase\n');
    expect(user.id).toMatch(/^usr_/);
    const tree = await json(['account', 'list']);
    // The tenant first (shallowest), then its subaccounts — this one among them (other tests of this
    // file add theirs to the same tenant).
    const ids = (tree.accounts as { id: string }[]).map((a) => a.id);
    expect(ids[0]).toBe(tenant.accountId);
    expect(ids.slice(1)).toContain(sub.id);
  });

  it('logs a user in (password on stdin), lists the audit log, suspends and resumes, rotates keys', async () => {
    const username = `cli-user-${Date.now()}`;
    const created = await json(['user', 'create', username, '--account', tenant.accountId, '--role', 'admin'], 'a long enough passphrase\n');
    const session = await json(['login', username], 'a long enough passphrase\n');
    expect(session).toMatchObject({ user_id: created.id, account_id: tenant.accountId });
    expect(session.access_token).toMatch(/^eyJ/);
    const refused = await tollgate(['login', username], 'not the passphrase\n');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('login refused: INVALID_CREDENTIALS');
    const audit = await json(['audit', 'list']);
    expect((audit.events as { kind: string }[]).map((e) => e.kind)).toEqual(expect.arrayContaining(['login_ok', 'login_failed']));
    const sub = await json(['account', 'create', 'to-suspend']);
    expect(await json(['account', 'suspend', sub.id as string])).toMatchObject({ suspended: true });
    expect(await json(['account', 'resume', sub.id as string])).toMatchObject({ suspended: false });
    const suspensions = await json(['audit', 'list', '--kind', 'account_suspended']);
    expect(suspensions.events).toEqual([expect.objectContaining({ kind: 'account_suspended', account_id: sub.id, subject_id: sub.id, actor_kind: 'master', source: 'identity', request_id: expect.stringMatching(/^req_/) })]);
    expect((await tollgate(['audit', 'list', '--kind', 'no_such_kind'])).code).not.toBe(0);
    expect(await json(['user', 'add-role', created.id as string, '--account', sub.id as string, '--role', 'viewer'])).toMatchObject({ id: created.id });
    const rotated = await tollgate(['keys', 'rotate', '--json']);
    expect(rotated.code).toBe(1); // no mesh secret key in this environment
    env.TOLLGATE_SECRET_KEY = Buffer.from(mesh.secretKey).toString('base64');
    expect((await json(['keys', 'rotate'])).kid).toBeTruthy();
    delete env.TOLLGATE_SECRET_KEY;
  }, 60_000);

  it('sets and shows limits, and refuses a child above its parent', async () => {
    const set = await json(['limit', 'set', 'mqtt.messages.in', '1000', '--per', 'minute', '--burst', '200']);
    expect((set.limits as { metric: string; value: number }[])[0]).toMatchObject({ metric: 'mqtt.messages.in', value: 1000, per: 'minute', burst: 200 });
    const sub = await json(['account', 'create', 'limited-child']);
    const shown = await json(['limit', 'show', '--account', sub.id as string]);
    expect((shown.limits as { source_account_id: string }[])[0]!.source_account_id).toBe(tenant.accountId);
    const above = await tollgate(['limit', 'set', '--account', sub.id as string, 'mqtt.messages.in', '5000', '--per', 'minute']);
    expect(above.code).toBe(1);
    expect(above.stderr).toContain("5000 is above the parent's 1000");
    const usage = await json(['usage', 'show', '--since', '1h']);
    expect(Array.isArray(usage.series)).toBe(true);
  });

  it('sets mqtt.retained as a count limit', async () => {
    const set = await json(['limit', 'set', 'mqtt.retained', '2']);
    expect((set.limits as { metric: string }[]).find((l) => l.metric === 'mqtt.retained')).toMatchObject({ metric: 'mqtt.retained', kind: 'count', value: 2, per: null });
  });

  it('lists and kicks MQTT clients', async () => {
    const device = await mqtt.connectAsync(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'cli-dev', username: tenant.masterToken, reconnectPeriod: 0 });
    const listed = await json(['clients', 'list']);
    expect((listed.clients as { client_id: string }[]).map((c) => c.client_id)).toEqual(['cli-dev']);
    const gone = new Promise<number | undefined>((resolve) => device.once('disconnect', (p) => resolve(p.reasonCode)));
    expect(await json(['clients', 'kick', 'cli-dev'])).toMatchObject({ kicked: true });
    expect(await gone).toBe(0x98);
    device.end(true);
  });

  it('mints a service credential that quota accepts from Envoy, and refuses a bad name', async () => {
    expect((await tollgate(['service-credential', 'envoy', '--json'])).code).toBe(1); // no mesh secret key in this environment
    env.TOLLGATE_SECRET_KEY = Buffer.from(mesh.secretKey).toString('base64');
    try {
      const minted = await json(['service-credential', 'envoy']);
      expect(minted).toMatchObject({ service: 'envoy', credential: expect.stringMatching(/^tgsvc_envoy_/) });
      const rls = createRpcClient(RateLimitService, mesh.address('quota'));
      const request = { domain: 'tollgate', descriptors: [{ entries: [{ key: 'account', value: tenant.accountId }, { key: 'metric', value: 'api.requests' }] }] };
      await expect(rls.shouldRateLimit(request)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      const answer = await rls.shouldRateLimit(request, { headers: { authorization: `Bearer ${minted.credential as string}` } });
      expect(answer.overallCode).toBe(RateLimitResponse_Code.OK);
      rls.close();
      expect((await tollgate(['service-credential', 'Envoy!'])).code).toBe(2);
    } finally {
      delete env.TOLLGATE_SECRET_KEY;
    }
  });

  it('fails with one line and a non-zero exit on bad input', async () => {
    const weak = await tollgate(['user', 'create', 'weakling', '--account', tenant.accountId, '--role', 'member', '--json'], 'short\n');
    expect(weak.code).toBe(1);
    expect(weak.stderr.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(weak.stdout).error.code).toBe('INVALID_ARGUMENT');
    const badKind = await tollgate(['token', 'create', '--kind', 'root']);
    expect(badKind.code).toBe(2);
  });

  it('refuses an explicitly empty --token (or TOLLGATE_TOKEN) with a usage error, never falling back to bootstrap.json', async () => {
    // A dev data dir whose bootstrap master token would answer ALLOW for anything.
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
    writeFileSync(join(dataDir, 'bootstrap.json'), JSON.stringify({ account_id: tenant.accountId, username: 'admin', password: 'x', master_token: tenant.masterToken }), { mode: 0o600 });
    const saved = env;
    try {
      const { TOLLGATE_TOKEN: _ignored, ...rest } = saved;
      env = { ...rest, TOLLGATE_DATA_DIR: dataDir };
      const check = ['check', '--action', 'publish', '--resource', 'mqtt:anything'];
      const flagEmpty = await tollgate([...check, '--token', '']);
      expect(flagEmpty.code).toBe(2);
      expect(flagEmpty.stdout).not.toContain('ALLOW');
      expect(flagEmpty.stderr).toContain('--token');
      const blank = await tollgate([...check, '--token=  ']);
      expect(blank.code).toBe(2);
      env = { ...rest, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_TOKEN: '' };
      const envEmpty = await tollgate(check);
      expect(envEmpty.code).toBe(2);
      expect(envEmpty.stderr).toContain('TOLLGATE_TOKEN');
      // Neither given: development falls back to the bootstrap token, as documented.
      env = { ...rest, TOLLGATE_DATA_DIR: dataDir };
      expect((await tollgate(check)).stdout).toContain('ALLOW');
    } finally {
      env = saved;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('user unlock USERNAME --address IP lifts that lockout (audited); without --address every lockout', async () => {
    const username = `locked-${Date.now().toString(36)}`;
    const password = 'correct horse battery staple';
    const created = await json(['user', 'create', username, '--account', tenant.accountId, '--role', 'member'], `${password}\n`);
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const service = { headers: { authorization: `Bearer ${mintServiceCredential(mesh.secretKey, 'console')}` } };
    const login = (pass: string, peerIp: string) => identity.login({ username, password: pass, peerIp }, service);
    try {
      // A wrong password from one address locks it (this mesh locks at the first failure)…
      expect((await login('wrong password 123', '203.0.113.50')).outcome).toBe(LoginOutcome.INVALID_CREDENTIALS);
      expect((await login(password, '203.0.113.50')).outcome).toBe(LoginOutcome.LOCKED_OUT);
      // …and that address only.
      expect((await login(password, '203.0.113.51')).allowed).toBe(true);
      const bad = await tollgate(['user', 'unlock', username, '--address', 'nope']);
      expect(bad.code).toBe(2);
      const lifted = await json(['user', 'unlock', username, '--address', '203.0.113.50']);
      expect(lifted).toEqual({ username, address: '203.0.113.50', lifted: 1 });
      expect((await login(password, '203.0.113.50')).allowed).toBe(true);
      expect(await json(['user', 'unlock', username])).toEqual({ username, address: null, lifted: 0 });
      const events = await json(['audit', 'list', '--account', tenant.accountId]);
      const unlocks = (events.events as { kind: string; subject_id: string }[]).filter((e) => e.kind === 'lockout_lifted' && e.subject_id === created.id);
      expect(unlocks).toHaveLength(2);
    } finally {
      identity.close();
    }
  });
});
