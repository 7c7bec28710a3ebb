import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { createRpcClient } from '#libs/rpc/index.ts';
import type { AppError } from '#libs/errors/index.ts';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { ConfigError, parseEnv } from '#libs/config/index.ts';
import { authzEnvSchema } from '../src/config.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { AuthService } from '#gen/grpc/auth_pb.js';
import { RateLimitService } from '#gen/envoy/service/ratelimit/v3/rls_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

// Edge cases of the EMQX, mosquitto-go-auth and Envoy adapters; the main contract paths are also
// called by an independent client in test/interop/adapters-grpcio.test.ts.
describe('EMQX, go-auth and Envoy adapters: edge cases and bad input', () => {
  let mesh: TestMesh;
  let base: string;
  let tenant: { accountId: string; masterToken: string };
  let device: string;
  let guarded: string;
  let expiring: { secret: string; expiresAtS: number };
  let authz: ReturnType<typeof createRpcClient<typeof AuthzService>>;

  beforeAll(async () => {
    mesh = await startTestMesh();
    base = mesh.services.find((s) => s.name === 'authz')!.httpAddress!;
    tenant = await mesh.createTenant('adapter-edges');
    authz = createRpcClient(AuthzService, mesh.address('authz'));
    const acl = async (rules: { effect: Effect; actions: string[]; resources: string[] }[], expiresAtMs?: number) =>
      (await authz.createToken({ accountId: tenant.accountId, kind: TokenKind.ACL, rules, ...(expiresAtMs ? { expiresAt: { seconds: BigInt(Math.floor(expiresAtMs / 1000)), nanos: 0 } } : {}) }, bearer(tenant.masterToken))).secret;
    device = await acl([{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }]);
    guarded = await acl([
      { effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] },
      { effect: Effect.DENY, actions: ['subscribe'], resources: ['mqtt:devices/${client_id}/secret'] },
    ]);
    const expiresAtMs = Date.now() + 3_600_000;
    expiring = { secret: await acl([{ effect: Effect.ALLOW, actions: ['publish'], resources: ['mqtt:x'] }], expiresAtMs), expiresAtS: Math.floor(expiresAtMs / 1000) };
  });
  afterAll(async () => {
    authz?.close();
    await mesh?.stop();
  });

  const post = (path: string, body: string, type = 'application/json') => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
  const json = (path: string, body: unknown) => post(path, JSON.stringify(body));
  const result = async (r: Response) => {
    expect(r.status).toBe(200);
    return ((await r.json()) as { result: string }).result;
  };
  /** A topic of the test tenant's namespace on a shared broker (TOLLGATE_SHARED_BROKER_NAMESPACE=account-prefix). */
  const inA = (topic: string) => `${tenant.accountId}/${topic}`;
  const recorded = (source: string, reason: string, where: (d: { accountId: string; resource: string; clientId: string }) => boolean = () => true) =>
    mesh.authz!.core.decisions.list({ denialsOnly: true }).some((d) => d.source === source && d.reason === reason && where(d));

  describe('EMQX 5 HTTP authn / authz', () => {
    it('takes the GET query form and POST forms, and puts expire_at (Unix seconds) on an expiring token', async () => {
      const viaGet = (await (await fetch(`${base}/emqx/authn?${new URLSearchParams({ clientid: 'c1', username: device, password: '', peerhost: '127.0.0.1' })}`)).json()) as { result: string; acl: unknown[] };
      expect(viaGet).toMatchObject({ result: 'allow', is_superuser: false, client_attrs: { tollgate_account: tenant.accountId } });
      expect(await result(await post('/emqx/authn', new URLSearchParams({ clientid: 'c1', username: device }).toString(), 'application/x-www-form-urlencoded'))).toBe('allow');
      const exp = (await (await json('/emqx/authn', { clientid: 'e1', username: expiring.secret, password: '' })).json()) as { result: string; expire_at: number };
      expect(exp).toMatchObject({ result: 'allow', expire_at: expiring.expiresAtS });
      const authzGet = await fetch(`${base}/emqx/authz?${new URLSearchParams({ clientid: 'c1', username: device, action: 'publish', topic: inA('devices/c1/t') })}`);
      expect(await result(authzGet)).toBe('allow');
    });

    it('ships only what EMQX decides as we do: deny rules, and no allow for an action a deny rule names', async () => {
      const res = (await (await json('/emqx/authn', { clientid: 'g1', username: guarded, password: '' })).json()) as { acl: unknown[] };
      expect(res.acl).toEqual([
        { permission: 'deny', action: 'subscribe', topic: inA('devices/g1/secret') },
        { permission: 'allow', action: 'publish', topic: inA('devices/g1/#') },
      ]);
      // The subscription EMQX would have allowed comes to us, and we refuse it.
      expect(await result(await json('/emqx/authz', { clientid: 'g1', username: guarded, action: 'subscribe', topic: inA('devices/g1/#') }))).toBe('deny');
      expect(await result(await json('/emqx/authz', { clientid: 'g1', username: guarded, action: 'subscribe', topic: inA('devices/g1/temp') }))).toBe('allow');
    });

    it('keeps a token-in-password login per (username, client id): a shared username never borrows another client’s rules', async () => {
      const other = await mesh.createTenant('adapter-edges-other');
      expect(await result(await json('/emqx/authn', { clientid: 'a', username: 'sensor', password: device }))).toBe('allow');
      expect(await result(await json('/emqx/authn', { clientid: 'b', username: 'sensor', password: other.masterToken }))).toBe('allow');
      expect(await result(await json('/emqx/authz', { clientid: 'a', username: 'sensor', action: 'publish', topic: inA('elsewhere/x') }))).toBe('deny');
      expect(await result(await json('/emqx/authz', { clientid: 'a', username: 'sensor', action: 'publish', topic: inA('devices/a/x') }))).toBe('allow');
      expect(await result(await json('/emqx/authz', { clientid: 'b', username: 'sensor', action: 'publish', topic: `${other.accountId}/elsewhere/x` }))).toBe('allow');
      expect(await result(await json('/emqx/authz', { clientid: 'c', username: 'sensor', action: 'publish', topic: inA('devices/c/x') }))).toBe('ignore');
    });

    it('answers bad input with 200 ignore (authn) or deny (authz), never 5xx, and records it', async () => {
      expect(await result(await post('/emqx/authn', '{not json'))).toBe('ignore');
      expect(await result(await post('/emqx/authn', '[1,2]'))).toBe('ignore');
      expect(await result(await json('/emqx/authn', { clientid: 'x', username: { nested: true } }))).toBe('ignore');
      expect(await result(await json('/emqx/authn', { clientid: 'x' }))).toBe('ignore');
      expect(await result(await post('/emqx/authn', JSON.stringify({ username: 'a'.repeat(20_000) })))).toBe('ignore');
      expect(await result(await post('/emqx/authz', JSON.stringify({ username: device, topic: 'a'.repeat(20_000), action: 'publish' })))).toBe('deny');
      expect(await result(await post('/emqx/authz', '{not json'))).toBe('deny');
      expect(await result(await json('/emqx/authz', { clientid: 'c1', username: device, action: 'all', topic: inA('devices/c1/t') }))).toBe('deny');
      expect(await result(await json('/emqx/authz', { clientid: 'c1', username: device, action: 'publish' }))).toBe('deny');
      expect(await result(await json('/emqx/authz', { clientid: 'c1', username: device, action: 'publish', topic: inA('devices/c1/#') }))).toBe('deny');
      expect(await result(await json('/emqx/authz', { clientid: 'c1', username: device, action: 'subscribe', topic: inA('devices/#/x') }))).toBe('deny');
      expect(await result(await json('/emqx/authz', { clientid: 'z', username: 'never-logged-in', action: 'publish', topic: 't' }))).toBe('ignore');
      expect(recorded('emqx', 'MALFORMED_REQUEST')).toBe(true);
      expect(recorded('emqx', 'REQUEST_TOO_LARGE')).toBe(true);
      expect(recorded('emqx', 'PRINCIPAL_UNKNOWN', (d) => d.clientId === 'z')).toBe(true);
      expect(recorded('emqx', 'CREDENTIAL_MISSING')).toBe(true);
      // A known caller's malformed check shows in its own account's recent decisions.
      const mine = await authz.listRecentDecisions({ accountId: tenant.accountId, denialsOnly: true }, bearer(tenant.masterToken));
      expect(mine.decisions.some((d) => d.source === 'emqx' && d.reason === 'MALFORMED_REQUEST' && d.resource === `mqtt:${inA('devices/c1/#')}`)).toBe(true);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/tollgate_authz_decisions_total\{[^}]*reason="MALFORMED_REQUEST"[^}]*source="emqx"|tollgate_authz_decisions_total\{[^}]*source="emqx"[^}]*reason="MALFORMED_REQUEST"/);
    });
  });

  describe('mosquitto-go-auth HTTP backend', () => {
    /** go-auth sends its JSON body even with GET, which fetch() cannot. */
    const rawRequest = (method: string, path: string, body: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(`${base}${path}`);
        const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'mosquitto' } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });

    it('grants a subscription overlapping a deny rule and refuses the denied topics at delivery (go-auth checks every delivery: acc 1)', async () => {
      const check = async (topic: string, acc: number) => (await rawRequest('POST', '/mosquitto/aclcheck', JSON.stringify({ username: guarded, clientid: 'g2', topic: inA(topic), acc }))).status;
      // EMQX cannot filter deliveries, so it refuses the same filter whole (test above); go-auth may grant it.
      expect(await check('devices/g2/#', 4)).toBe(200);
      expect(await check('devices/g2/temp', 1)).toBe(200);
      expect(await check('devices/g2/secret', 1)).toBe(403);
      // A filter inside the denied subtree is refused outright.
      expect(await check('devices/g2/secret', 4)).toBe(403);
    });

    it('takes the JSON body with GET and PUT as well as POST (auth_opt_http_method)', async () => {
      expect(await rawRequest('GET', '/mosquitto/getuser', JSON.stringify({ username: device, password: '', clientid: 'c1' }))).toEqual({ status: 200, body: '{"ok":true,"error":""}' });
      expect((await rawRequest('PUT', '/mosquitto/aclcheck', JSON.stringify({ username: device, clientid: 'c1', topic: inA('devices/c1/t'), acc: 2 }))).status).toBe(200);
      expect((await rawRequest('GET', '/mosquitto/aclcheck', JSON.stringify({ username: device, clientid: 'c1', topic: inA('devices/c2/t'), acc: 2 }))).status).toBe(403);
      expect((await rawRequest('GET', '/mosquitto/aclcheck', JSON.stringify({ username: device, clientid: 'c1', topic: 'x', acc: 2, pad: 'a'.repeat(20_000) }))).status).toBe(413);
    });

    it('answers bad input with 4xx and {ok:false}, never 5xx, and records it', async () => {
      const answers = await Promise.all([
        post('/mosquitto/getuser', '{'),
        json('/mosquitto/getuser', { password: 'x' }),
        json('/mosquitto/getuser', { username: '', password: 'x', clientid: 'q' }),
        post('/mosquitto/aclcheck', JSON.stringify({ username: device, topic: 'x', acc: 2, pad: 'a'.repeat(20_000) })),
        json('/mosquitto/aclcheck', { username: device, clientid: 'c1', topic: inA('devices/c1/#'), acc: 2 }),
        json('/mosquitto/aclcheck', { username: device, clientid: 'c1', topic: inA('devices/c1/t'), acc: 0 }),
        json('/mosquitto/aclcheck', { username: device, clientid: 'c1', topic: ['a'], acc: 1 }),
        json('/mosquitto/aclcheck', { username: 'never-logged-in', clientid: 'n1', topic: 't', acc: 1 }),
      ]);
      expect(answers.map((r) => r.status)).toEqual([400, 400, 400, 413, 400, 400, 400, 403]);
      for (const r of answers) expect(await r.json()).toMatchObject({ ok: false, error: expect.any(String) });
      expect(recorded('go-auth', 'MALFORMED_REQUEST', (d) => d.accountId === tenant.accountId && d.resource === `mqtt:${inA('devices/c1/#')}`)).toBe(true);
      expect(recorded('go-auth', 'REQUEST_TOO_LARGE')).toBe(true);
      expect(recorded('go-auth', 'CREDENTIAL_MISSING', (d) => d.clientId === 'q')).toBe(true);
      expect(recorded('go-auth', 'PRINCIPAL_UNKNOWN', (d) => d.clientId === 'n1')).toBe(true);
    });
  });

  describe('go-auth gRPC', () => {
    it('names the field of malformed input and records it', async () => {
      const goAuth = createRpcClient(AuthService, mesh.address('authz'));
      try {
        const error = async (p: Promise<unknown>) => (await p.catch((e: unknown) => e)) as AppError;
        expect(await error(goAuth.getUser({ username: '', password: 'x', clientid: 'g0' }))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'username' });
        expect(await error(goAuth.checkAcl({ username: device, topic: inA('devices/c1/t'), clientid: 'c1', acc: 5 }))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'acc' });
        expect(await error(goAuth.checkAcl({ username: device, topic: inA('devices/+/t'), clientid: 'c1', acc: 2 }))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'topic' });
        expect(await goAuth.checkAcl({ username: device, topic: inA('devices/c1/t'), clientid: 'c1', acc: 2 })).toMatchObject({ ok: true });
        expect(recorded('go-auth', 'CREDENTIAL_MISSING', (d) => d.clientId === 'g0')).toBe(true);
        expect(recorded('go-auth', 'MALFORMED_REQUEST', (d) => d.accountId === tenant.accountId && d.resource === `mqtt:${inA('devices/+/t')}`)).toBe(true);
      } finally {
        goAuth.close();
      }
    });
  });

  // EMQX and Mosquitto have one topic space for every account. With the default
  // TOLLGATE_SHARED_BROKER_NAMESPACE=account-prefix every topic is `<account id>/<topic>`; each case
  // asks EMQX's authz, go-auth's HTTP aclcheck and its gRPC CheckAcl the same question.
  describe('one topic space shared by every account (TOLLGATE_SHARED_BROKER_NAMESPACE)', () => {
    const deviceRules = [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }];
    const password = 'a long enough passphrase';
    let other: { accountId: string; masterToken: string };
    let otherDevice: string;
    let child: { accountId: string; masterToken: string; device: string };
    let admin: string;
    let goAuth: ReturnType<typeof createRpcClient<typeof AuthService>>;

    beforeAll(async () => {
      other = await mesh.createTenant('adapter-edges-b');
      goAuth = createRpcClient(AuthService, mesh.address('authz'));
      const identity = createRpcClient(IdentityService, mesh.address('identity'));
      try {
        const childId = (await identity.createAccount({ name: 'adapter-edges-child', parentId: tenant.accountId }, bearer(tenant.masterToken))).account!.id;
        const token = async (accountId: string, kind: TokenKind, by: string) => (await authz.createToken({ accountId, kind, rules: kind === TokenKind.ACL ? deviceRules : [] }, bearer(by))).secret;
        child = { accountId: childId, masterToken: await token(childId, TokenKind.MASTER, tenant.masterToken), device: await token(childId, TokenKind.ACL, tenant.masterToken) };
        otherDevice = await token(other.accountId, TokenKind.ACL, other.masterToken);
        admin = `edges-admin-${Date.now()}`;
        await identity.createUser({ username: admin, password, accountId: tenant.accountId, role: Role.ADMIN }, bearer(tenant.masterToken));
      } finally {
        identity.close();
      }
      // A username + password login, remembered for EMQX's and go-auth's later checks alike.
      expect(await result(await json('/emqx/authn', { clientid: 'adm', username: admin, password }))).toBe('allow');
    });
    afterAll(() => goAuth?.close());

    const yes = { emqx: true, goAuthHttp: true, goAuthGrpc: true };
    const no = { emqx: false, goAuthHttp: false, goAuthGrpc: false };
    const checker =
      (httpBase: string, grpc: ReturnType<typeof createRpcClient<typeof AuthService>>) =>
      async (username: string, clientid: string, action: 'publish' | 'subscribe', topic: string) => {
        const send = (path: string, body: unknown) => fetch(`${httpBase}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const acc = action === 'publish' ? 2 : 4;
        return {
          emqx: (await result(await send('/emqx/authz', { clientid, username, action, topic }))) === 'allow',
          goAuthHttp: (await send('/mosquitto/aclcheck', { username, clientid, topic, acc })).status === 200,
          goAuthGrpc: (await grpc.checkAcl({ username, clientid, topic, acc })).ok,
        };
      };
    const check = (username: string, clientid: string, action: 'publish' | 'subscribe', topic: string) => checker(base, goAuth)(username, clientid, action, topic);
    const inB = (topic: string) => `${other.accountId}/${topic}`;

    it("a master token cannot subscribe to the broker's whole topic space, nor to another account's namespace", async () => {
      for (const filter of ['#', '+/x', '+/#', '/#', 'devices/c1/#', '$SYS/#', inA('$SYS/#'), '$share/g1/#', inB('#')]) {
        expect(await check(tenant.masterToken, 'm1', 'subscribe', filter), filter).toEqual(no);
      }
      expect(await check(tenant.masterToken, 'm1', 'publish', inB('devices/c1/cmd'))).toEqual(no);
      expect(await check(tenant.masterToken, 'm1', 'publish', '$SYS/x')).toEqual(no);
      // Its own namespace, all of it.
      expect(await check(tenant.masterToken, 'm1', 'subscribe', inA('#'))).toEqual(yes);
      expect(await check(tenant.masterToken, 'm1', 'publish', inA('devices/c1/cmd'))).toEqual(yes);
      // Refusals are decisions in the caller's own account; another root's id is refused by the engine's account selector.
      expect(recorded('emqx', 'NAMESPACE_MISMATCH', (d) => d.accountId === tenant.accountId && d.resource === 'mqtt:#')).toBe(true);
      expect(recorded('go-auth', 'NAMESPACE_MISMATCH', (d) => d.accountId === tenant.accountId && d.resource === 'mqtt:+/x')).toBe(true);
      expect(recorded('emqx', 'ACCOUNT_NOT_IN_SCOPE', (d) => d.accountId === tenant.accountId && d.resource === 'mqtt:#')).toBe(true);
      expect(recorded('emqx', 'ACCOUNT_NOT_IN_SCOPE', (d) => d.accountId !== tenant.accountId && d.resource === 'mqtt:#')).toBe(false);
    });

    it('two accounts whose rules both say devices/${client_id}/# no longer share devices/c1/…', async () => {
      expect(await check(device, 'c1', 'publish', inA('devices/c1/t'))).toEqual(yes);
      expect(await check(device, 'c1', 'subscribe', inA('devices/c1/#'))).toEqual(yes);
      expect(await check(device, 'c1', 'publish', inB('devices/c1/t'))).toEqual(no);
      expect(await check(device, 'c1', 'subscribe', inB('devices/c1/#'))).toEqual(no);
      expect(await check(device, 'c1', 'publish', 'devices/c1/t')).toEqual(no);
      expect(await check(otherDevice, 'c1', 'publish', inB('devices/c1/t'))).toEqual(yes);
      expect(await check(otherDevice, 'c1', 'subscribe', inA('devices/c1/#'))).toEqual(no);
      expect(recorded('emqx', 'NAMESPACE_MISMATCH', (d) => d.accountId === tenant.accountId && d.resource === `mqtt:${inB('devices/c1/t')}`)).toBe(true);
      expect(recorded('go-auth', 'NAMESPACE_MISMATCH', (d) => d.accountId === other.accountId && d.resource === `mqtt:${inA('devices/c1/#')}`)).toBe(true);
    });

    it("a parent's master token addresses its subaccount's namespace; the subaccount's tokens never reach up", async () => {
      const inChild = (topic: string) => `${child.accountId}/${topic}`;
      expect(await check(tenant.masterToken, 'm2', 'publish', inChild('x'))).toEqual(yes);
      expect(await check(tenant.masterToken, 'm2', 'subscribe', inChild('#'))).toEqual(yes);
      expect(await check(child.masterToken, 'm3', 'publish', inChild('x'))).toEqual(yes);
      expect(await check(child.masterToken, 'm3', 'publish', inA('x'))).toEqual(no);
      expect(await check(child.masterToken, 'm3', 'subscribe', inA('#'))).toEqual(no);
      expect(await check(child.device, 'c1', 'publish', inChild('devices/c1/t'))).toEqual(yes);
      expect(await check(child.device, 'c1', 'publish', inA('devices/c1/t'))).toEqual(no);
      // Only master tokens select another account: the parent's acl token stays in its own.
      expect(await check(device, 'c1', 'publish', inChild('devices/c1/t'))).toEqual(no);
    });

    it('an admin user (a username + password login) has its own namespace, nothing else', async () => {
      expect(await check(admin, 'adm', 'subscribe', '#')).toEqual(no);
      expect(await check(admin, 'adm', 'subscribe', inB('#'))).toEqual(no);
      expect(await check(admin, 'adm', 'subscribe', `${child.accountId}/#`)).toEqual(no);
      expect(await check(admin, 'adm', 'subscribe', inA('#'))).toEqual(yes);
      expect(await check(admin, 'adm', 'publish', inA('anything/at/all'))).toEqual(yes);
    });

    it('a remembered username + password login stops working when its account is suspended', async () => {
      const identity = createRpcClient(IdentityService, mesh.address('identity'));
      try {
        const sub = (await identity.createAccount({ name: 'adapter-edges-suspended', parentId: tenant.accountId }, bearer(tenant.masterToken))).account!.id;
        const member = `edges-member-${Date.now()}`;
        await identity.createUser({ username: member, password, accountId: sub, role: Role.ADMIN }, bearer(tenant.masterToken));
        expect(await result(await json('/emqx/authn', { clientid: 'sus', username: member, password }))).toBe('allow');
        expect(await check(member, 'sus', 'publish', `${sub}/x`)).toEqual(yes);
        await identity.suspendAccount({ accountId: sub }, bearer(tenant.masterToken));
        // identity's account feed reaches authz asynchronously: wait for it, boundedly.
        const deadline = Date.now() + 5_000;
        let answer = await check(member, 'sus', 'publish', `${sub}/x`);
        while (JSON.stringify(answer) !== JSON.stringify(no) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
          answer = await check(member, 'sus', 'publish', `${sub}/x`);
        }
        expect(answer).toEqual(no);
        expect(recorded('emqx', 'ACCOUNT_SUSPENDED', (d) => d.resource === 'mqtt:x')).toBe(true);
      } finally {
        identity.close();
      }
    });

    it('shared subscriptions carry the account level after $share/{group}/', async () => {
      expect(await check(device, 'c1', 'subscribe', `$share/g1/${inA('devices/c1/#')}`)).toEqual(yes);
      expect(await check(device, 'c1', 'subscribe', `$share/g1/${inB('devices/c1/#')}`)).toEqual(no);
      expect(await check(tenant.masterToken, 'm1', 'subscribe', `$share/g1/${inA('#')}`)).toEqual(yes);
      expect(await check(tenant.masterToken, 'm1', 'subscribe', '$share/g1/+/devices/#')).toEqual(no);
    });

    it('EMQX authn ships the acl in the same prefixed form, and the account as client_attrs.tollgate_account', async () => {
      expect(await (await json('/emqx/authn', { clientid: 'c1', username: otherDevice, password: '' })).json()).toEqual({
        result: 'allow',
        is_superuser: false,
        client_attrs: { tollgate_account: other.accountId },
        acl: [
          { permission: 'allow', action: 'publish', topic: inB('devices/c1/#') },
          { permission: 'allow', action: 'subscribe', topic: inB('devices/c1/#') },
        ],
      });
      expect(await (await json('/emqx/authn', { clientid: 'm', username: child.masterToken, password: '' })).json()).toEqual({ result: 'allow', is_superuser: false, client_attrs: { tollgate_account: child.accountId } });
    });

    it('with TOLLGATE_SHARED_BROKER_NAMESPACE=none topics are checked as they are, in the principal’s account: one topic space for all', async () => {
      expect(parseEnv(authzEnvSchema, {}).TOLLGATE_SHARED_BROKER_NAMESPACE).toBe('account-prefix');
      expect(() => parseEnv(authzEnvSchema, { TOLLGATE_SHARED_BROKER_NAMESPACE: 'off' })).toThrow(ConfigError);
      const single = await startTestMesh({ only: 'authz', database: mesh.database, env: { TOLLGATE_IDENTITY_URL: mesh.address('identity'), TOLLGATE_SHARED_BROKER_NAMESPACE: 'none' } });
      const grpc = createRpcClient(AuthService, single.address('authz'));
      try {
        const at = single.services.find((s) => s.name === 'authz')!.httpAddress!;
        const checkNone = checker(at, grpc);
        const authn = await fetch(`${at}/emqx/authn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clientid: 'c1', username: device, password: '' }) });
        expect(await authn.json()).toEqual({
          result: 'allow',
          is_superuser: false,
          client_attrs: { tollgate_account: tenant.accountId },
          acl: [
            { permission: 'allow', action: 'publish', topic: 'devices/c1/#' },
            { permission: 'allow', action: 'subscribe', topic: 'devices/c1/#' },
          ],
        });
        expect(await checkNone(device, 'c1', 'publish', 'devices/c1/t')).toEqual(yes);
        expect(await checkNone(device, 'c1', 'publish', 'devices/c2/t')).toEqual(no);
        expect(await checkNone(device, 'c1', 'subscribe', `$share/g1/devices/c1/#`)).toEqual(yes);
        // An account level is just a topic level here.
        expect(await checkNone(device, 'c1', 'publish', inA('devices/c1/t'))).toEqual(no);
        // What account-prefix prevents: a master token reads every account's topics, and two
        // accounts' devices meet on the same topic.
        expect(await checkNone(tenant.masterToken, 'm1', 'subscribe', '#')).toEqual(yes);
        expect(await checkNone(otherDevice, 'c1', 'publish', 'devices/c1/t')).toEqual(yes);
      } finally {
        grpc.close();
        await single.stop();
      }
    });
  });

  describe('Envoy Check', () => {
    const check = (http: Record<string, unknown>, sourceIp = '127.0.0.1') => {
      const envoy = createRpcClient(Authorization, mesh.address('authz'));
      return envoy
        .check({ attributes: { source: { address: { address: { case: 'socketAddress', value: { address: sourceIp, portSpecifier: { case: 'portValue', value: 4000 } } } } }, request: { http: { method: 'GET', path: '/v1/x', headers: {}, ...http } } } })
        .finally(() => envoy.close());
    };

    it('reads the credential from header_map (encode_raw_headers) and takes any casing of the Bearer scheme', async () => {
      const raw = await check({ headerMap: { headers: [{ key: 'authorization', value: '', rawValue: new TextEncoder().encode(`Bearer ${tenant.masterToken}`) }] } });
      expect(raw.status?.code).toBe(0);
      const lower = await check({ headers: { authorization: `bearer ${tenant.masterToken}` } });
      expect(lower.status?.code).toBe(0);
    });

    it('answers an over-long credential or path with 3 and a 400, and records the refusals', async () => {
      const long = await check({ headers: { authorization: `Bearer ${'x'.repeat(5_000)}` } });
      expect(long.status?.code).toBe(3);
      expect(long.httpResponse.case === 'deniedResponse' && long.httpResponse.value.status?.code).toBe(400);
      expect((await check({ path: `/${'p'.repeat(9_000)}`, headers: { authorization: `Bearer ${tenant.masterToken}` } })).status?.code).toBe(3);
      expect((await check({ headers: {} }, '10.9.9.9')).status?.code).toBe(16);
      expect(recorded('envoy', 'MALFORMED_REQUEST')).toBe(true);
      expect(mesh.authz!.core.decisions.list({ denialsOnly: true }).some((d) => d.source === 'envoy' && d.reason === 'CREDENTIAL_MISSING' && d.peerIp === '10.9.9.9')).toBe(true);
    });
  });

  describe('Envoy ShouldRateLimit', () => {
    it('refuses a request without a service credential, or whose account entry is not an account id', async () => {
      const rls = createRpcClient(RateLimitService, mesh.address('quota'));
      try {
        const error = async (p: Promise<unknown>) => (await p.catch((e: unknown) => e)) as AppError;
        const request = (account: string) => ({ domain: 'tollgate', descriptors: [{ entries: [{ key: 'account', value: account }] }] });
        expect((await error(rls.shouldRateLimit(request(tenant.accountId)))).code).toBe('UNAUTHENTICATED');
        const envoy = bearer(mintServiceCredential(mesh.secretKey, 'envoy'));
        expect(await error(rls.shouldRateLimit(request('1.2.3.4'), envoy))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'descriptors[0].entries.account' });
        expect(await error(rls.shouldRateLimit({ domain: 'tollgate', descriptors: [] }, envoy))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'descriptors' });
        expect(await error(rls.shouldRateLimit({ domain: 'tollgate', descriptors: [{ entries: [{ key: 'account', value: tenant.accountId }], hitsAddend: 0n }] }, envoy))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'descriptors[0].hits_addend' });
        // No limit on the account: OK, and no current_limit.
        const free = await rls.shouldRateLimit(request(tenant.accountId), envoy);
        expect(free.overallCode).toBe(1);
        expect(free.statuses[0]?.currentLimit).toBeUndefined();
      } finally {
        rls.close();
      }
    });
  });
});
