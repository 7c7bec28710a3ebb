import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { ConfigError, parseEnv } from '#libs/config/index.ts';
import { authzEnvSchema } from '../src/config.ts';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('foreign broker adapters over HTTP (exact request shapes)', () => {
  let mesh: TestMesh;
  let base: string;
  let tenant: { accountId: string; masterToken: string };
  let device: string;
  let other: { accountId: string; masterToken: string };

  beforeAll(async () => {
    mesh = await startTestMesh();
    base = mesh.services.find((s) => s.name === 'authz')!.httpAddress!;
    tenant = await mesh.createTenant('adapters');
    other = await mesh.createTenant('adapters-other');
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    device = (
      await authz.createToken(
        { accountId: tenant.accountId, kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }] },
        bearer(tenant.masterToken),
      )
    ).secret;
    authz.close();
  });
  afterAll(async () => {
    await mesh?.stop();
  });

  const form = (path: string, fields: Record<string, string>) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  const json = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = async (r: Response) => ({ status: r.status, body: await r.text() });

  describe('RabbitMQ rabbitmq_auth_backend_http', () => {
    const topicCheck = (username: string, vhost: string, routing_key: string, permission: string, clientId = 'c1') =>
      form('/rabbitmq/topic', { username, vhost, resource: 'topic', name: 'amq.topic', permission, tags: '', routing_key, 'variable_map.client_id': clientId, 'variable_map.username': username, 'variable_map.vhost': vhost });
    const resourceCheck = (username: string, vhost: string, resource: string, name: string, permission: string, clientId = 'c1') =>
      form('/rabbitmq/resource', { username, vhost, resource, name, permission, tags: '', client_id: clientId });
    const vhostCheck = (username: string, vhost: string) => form('/rabbitmq/vhost', { username, vhost, ip: '127.0.0.1', tags: '' });

    it('answers user / vhost / resource / topic with exactly allow or deny, no newline', async () => {
      const vhost = tenant.accountId;
      expect(await text(await form('/rabbitmq/user', { username: device, password: '', vhost, client_id: 'c1' }))).toEqual({ status: 200, body: 'allow' });
      expect(await text(await form('/rabbitmq/user', { username: 'tg_nope', password: 'x' }))).toEqual({ status: 200, body: 'deny' });
      const answer = await form('/rabbitmq/vhost', { username: device, vhost, ip: '127.0.0.1', tags: '', client_id: 'c1' });
      expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
      // Idle keep-alive connections outlive RabbitMQ's httpc (120 s): no request meets a closed socket.
      expect(answer.headers.get('keep-alive')).toBe('timeout=125');
      expect(await text(answer)).toEqual({ status: 200, body: 'allow' });
      expect(await text(await resourceCheck(device, vhost, 'exchange', 'amq.topic', 'write'))).toEqual({ status: 200, body: 'allow' });
      expect((await text(await resourceCheck(device, vhost, 'queue', 'mqtt-subscription-c1qos1', 'configure'))).body).toBe('allow');
      expect((await text(await resourceCheck(device, vhost, 'queue', 'someone-elses', 'read'))).body).toBe('deny');
      expect(await text(await topicCheck(device, vhost, 'devices.c1.temp', 'write'))).toEqual({ status: 200, body: 'allow' });
      expect((await text(await topicCheck(device, vhost, 'devices.c2.temp', 'write'))).body).toBe('deny');
      expect((await text(await topicCheck(device, vhost, 'devices.c1.#', 'read'))).body).toBe('allow');
      expect((await text(await topicCheck(device, vhost, 'devices.*.temp', 'read'))).body).toBe('deny');
      expect((await text(await topicCheck(device, vhost, 'devices.c1.*', 'write'))).body).toBe('deny');
    });

    it("checks a token's IP allow-list on `vhost`, the one call that carries the peer address", async () => {
      const authz = createRpcClient(AuthzService, mesh.address('authz'));
      const fenced = (
        await authz.createToken(
          { accountId: tenant.accountId, kind: TokenKind.ACL, ipAllow: ['10.9.0.0/16'], rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }] },
          bearer(tenant.masterToken),
        )
      ).secret;
      authz.close();
      const vhost = tenant.accountId;
      const fromIp = (username: string, ip: string | undefined, clientId = 'c1') => form('/rabbitmq/vhost', { username, vhost, ...(ip === undefined ? {} : { ip }), tags: '', client_id: clientId });
      // `user` has no address: the login passes, and the connection is decided on `vhost`.
      expect((await text(await form('/rabbitmq/user', { username: fenced, password: 'x', vhost, client_id: 'c1' }))).body).toBe('allow');
      expect((await text(await fromIp(fenced, '10.9.1.2'))).body).toBe('allow');
      expect((await text(await fromIp(fenced, '192.168.1.1'))).body).toBe('deny');
      expect((await text(await fromIp(fenced, undefined))).body).toBe('deny');
      // Resource and topic calls come only for connections whose vhost check passed.
      expect((await text(await topicCheck(fenced, vhost, 'devices.c1.temp', 'write'))).body).toBe('allow');
      expect((await text(await resourceCheck(fenced, vhost, 'exchange', 'amq.topic', 'write'))).body).toBe('allow');
      // The token as the password of a made-up username (remembered per client id) gets the same check.
      expect((await text(await form('/rabbitmq/user', { username: 'meter', password: fenced, vhost, client_id: 'c7' }))).body).toBe('allow');
      expect((await text(await fromIp('meter', '192.168.1.1', 'c7'))).body).toBe('deny');
      expect((await text(await fromIp('meter', '10.9.200.1', 'c7'))).body).toBe('allow');
      expect(mesh.authz!.core.decisions.list({ denialsOnly: true }).some((d) => d.source === 'rabbitmq' && d.reason === 'IP_NOT_ALLOWED' && d.peerIp === '192.168.1.1')).toBe(true);
    });

    it('the vhost is the account: its own id, a subaccount for a parent master token, never `/` by default', async () => {
      const identity = createRpcClient(IdentityService, mesh.address('identity'));
      const sub = (await identity.createAccount({ name: 'rmq-sub', parentId: tenant.accountId }, bearer(tenant.masterToken))).account!.id;
      identity.close();
      // Two tenants whose devices both said `/` shared amq.topic: `/` is refused unless bound to one account.
      expect((await text(await vhostCheck(device, '/'))).body).toBe('deny');
      expect((await text(await vhostCheck(tenant.masterToken, '/'))).body).toBe('deny');
      expect((await text(await topicCheck(device, '/', 'devices.c1.temp', 'write'))).body).toBe('deny');
      expect((await text(await resourceCheck(device, '/', 'exchange', 'amq.topic', 'write'))).body).toBe('deny');
      // Another account's vhost, either way round, and names that are no account at all.
      expect((await text(await vhostCheck(device, other.accountId))).body).toBe('deny');
      expect((await text(await vhostCheck(other.masterToken, tenant.accountId))).body).toBe('deny');
      expect((await text(await topicCheck(device, other.accountId, 'devices.c1.temp', 'write'))).body).toBe('deny');
      expect((await text(await resourceCheck(device, other.accountId, 'queue', 'mqtt-subscription-c1qos0', 'configure'))).body).toBe('deny');
      expect((await text(await vhostCheck(device, 'production'))).body).toBe('deny');
      expect((await text(await vhostCheck(device, ''))).body).toBe('deny');
      // The parent's master token names its subaccount; the parent's acl token cannot.
      expect((await text(await vhostCheck(tenant.masterToken, sub))).body).toBe('allow');
      expect((await text(await topicCheck(tenant.masterToken, sub, 'anything.at.all', 'write'))).body).toBe('allow');
      expect((await text(await vhostCheck(device, sub))).body).toBe('deny');
      // The subaccount's own master token enters its vhost but does not reach up.
      const authz = createRpcClient(AuthzService, mesh.address('authz'));
      const subMaster = (await authz.createToken({ accountId: sub, kind: TokenKind.MASTER }, bearer(tenant.masterToken))).secret;
      expect((await text(await vhostCheck(subMaster, sub))).body).toBe('allow');
      expect((await text(await vhostCheck(subMaster, tenant.accountId))).body).toBe('deny');
      const recent = await authz.listRecentDecisions({ accountId: tenant.accountId, denialsOnly: true }, bearer(tenant.masterToken));
      const strangers = await authz.listRecentDecisions({ accountId: other.accountId, denialsOnly: true }, bearer(other.masterToken));
      authz.close();
      // Refusals are listed in the caller's own account; the account it named learns nothing of them.
      expect(recent.decisions).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ source: 'rabbitmq', reason: 'VHOST_NOT_ACCOUNT', action: 'connect', resource: 'vhost:/' }),
          expect.objectContaining({ source: 'rabbitmq', reason: 'ACCOUNT_NOT_IN_SCOPE', action: 'connect', resource: `vhost:${other.accountId}`, accountId: tenant.accountId }),
        ]),
      );
      expect(strangers.decisions.filter((d) => d.source === 'rabbitmq' && d.resource === `vhost:${other.accountId}` && d.reason === 'ACCOUNT_NOT_IN_SCOPE')).toEqual([]);
    });

    it('TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT binds `/` to one account (and its ancestors\' master tokens)', async () => {
      const identity = createRpcClient(IdentityService, mesh.address('identity'));
      const sub = (await identity.createAccount({ name: 'rmq-single-tenant', parentId: tenant.accountId }, bearer(tenant.masterToken))).account!.id;
      identity.close();
      const authz = createRpcClient(AuthzService, mesh.address('authz'));
      const subDevice = (
        await authz.createToken({ accountId: sub, kind: TokenKind.ACL, rules: [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }] }, bearer(tenant.masterToken))
      ).secret;
      authz.close();
      expect(() => parseEnv(authzEnvSchema, { TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT: 'tenant-a' })).toThrow(ConfigError);
      const single = await startTestMesh({ only: 'authz', database: mesh.database, env: { TOLLGATE_IDENTITY_URL: mesh.address('identity'), TOLLGATE_RABBITMQ_DEFAULT_VHOST_ACCOUNT: sub } });
      try {
        const at = single.services.find((s) => s.name === 'authz')!.httpAddress!;
        const post = async (path: string, fields: Record<string, string>) =>
          (await fetch(`${at}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() })).text();
        const vhostOf = (username: string) => post('/rabbitmq/vhost', { username, vhost: '/', ip: '127.0.0.1', tags: '' });
        expect(await vhostOf(subDevice)).toBe('allow');
        expect(await vhostOf(tenant.masterToken)).toBe('allow'); // an ancestor's master token
        expect(await vhostOf(device)).toBe('deny'); // the parent's acl token is not the bound account
        expect(await vhostOf(other.masterToken)).toBe('deny');
        const topic = (username: string, routing_key: string) =>
          post('/rabbitmq/topic', { username, vhost: '/', resource: 'topic', name: 'amq.topic', permission: 'write', tags: '', routing_key, 'variable_map.client_id': 'c1', 'variable_map.username': username, 'variable_map.vhost': '/' });
        expect(await topic(subDevice, 'devices.c1.t')).toBe('allow');
        expect(await topic(subDevice, 'devices.c2.t')).toBe('deny');
        expect(await topic(device, 'devices.c1.t')).toBe('deny');
        // An account id still names that account's own vhost.
        expect(await post('/rabbitmq/vhost', { username: device, vhost: tenant.accountId, ip: '127.0.0.1', tags: '' })).toBe('allow');
      } finally {
        await single.stop();
      }
    });

    it('acl tokens use amq.topic, their own MQTT subscription queues and server-named queues, nothing else', async () => {
      const v = tenant.accountId;
      const allowed = async (resource: string, name: string, permission: string, clientId = 'c1') => (await text(await resourceCheck(device, v, resource, name, permission, clientId))).body;
      expect(await allowed('exchange', 'amq.topic', 'write')).toBe('allow');
      expect(await allowed('exchange', 'amq.topic', 'read')).toBe('allow');
      expect(await allowed('exchange', 'amq.topic', 'configure')).toBe('deny');
      expect(await allowed('exchange', 'amq.default', 'write')).toBe('deny'); // straight to a queue: no topic check
      expect(await allowed('exchange', 'amq.direct', 'write')).toBe('deny');
      for (const permission of ['configure', 'read', 'write']) {
        expect(await allowed('queue', 'mqtt-subscription-c1qos0', permission)).toBe('allow');
        expect(await allowed('queue', 'mqtt-subscription-c1qos1', permission)).toBe('allow');
        expect(await allowed('queue', 'amq.gen-rYD2xyz', permission)).toBe('allow');
      }
      expect(await allowed('queue', 'mqtt-subscription-c2qos1', 'read')).toBe('deny'); // another client's queue
      expect(await allowed('queue', 'mqtt-subscription-qos1', 'read', '')).toBe('deny');
      expect(await allowed('queue', 'alice.q1', 'configure')).toBe('deny');
      expect(await allowed('queue', 'amq.gen-x', 'delete')).toBe('deny');
      // A master token may use every queue and exchange of its vhost.
      expect((await text(await resourceCheck(tenant.masterToken, v, 'queue', 'orders', 'configure', ''))).body).toBe('allow');
    });

    it('reasons about routing keys as RabbitMQ matches them: patterns as filters, `.` as a level', async () => {
      const v = tenant.accountId;
      const check = async (rk: string, permission: string) => (await text(await topicCheck(device, v, rk, permission))).body;
      expect(await check('devices.c1.*.t', 'read')).toBe('allow'); // MQTT devices/c1/+/t
      expect(await check('devices.c1', 'read')).toBe('allow'); // `#` includes the parent level
      expect(await check('devices.#', 'read')).toBe('deny'); // would match devices/c2/…
      expect(await check('#', 'read')).toBe('deny');
      expect(await check('*.c1.t', 'read')).toBe('deny');
      // MQTT `devices/c2.x` and `devices.c2/x` both arrive as `devices.c2.x` and are routed as it:
      expect(await check('devices.c2.x', 'write')).toBe('deny');
      expect(await check('devices.c1.x', 'write')).toBe('allow');
      // Keys the rules cannot speak for: a `/` inside a word (AMQP only), `$` topics, wildcards in a publish.
      expect(await check('devices/c1/x', 'write')).toBe('deny');
      expect(await check('devices.c1.x/y', 'read')).toBe('deny');
      expect(await check('$SYS.x', 'write')).toBe('deny');
      expect(await check('devices.c1.#', 'write')).toBe('deny');
      expect(await check('', 'write')).toBe('deny');
      expect(await check('devices.c1.a#', 'read')).toBe('deny');
      expect(await check('devices.c1.x', 'configure')).toBe('deny');
    });

    it('accepts GET queries, and answers malformed or oversized input with deny, never 5xx, each a recorded decision', async () => {
      const get = await fetch(`${base}/rabbitmq/user?${new URLSearchParams({ username: device, password: '' })}`);
      expect(await text(get)).toEqual({ status: 200, body: 'allow' });
      expect(await text(await fetch(`${base}/rabbitmq/topic`))).toEqual({ status: 200, body: 'deny' });
      expect(await text(await form('/rabbitmq/topic', { username: device }))).toEqual({ status: 200, body: 'deny' });
      expect(await text(await form('/rabbitmq/user', {}))).toEqual({ status: 200, body: 'deny' });
      expect(await text(await form('/rabbitmq/vhost', { username: 'someone-never-logged-in', vhost: tenant.accountId }))).toEqual({ status: 200, body: 'deny' });
      const raw = (path: string, body: string) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      expect(await text(await raw('/rabbitmq/resource', '%%%&&=&username=%zz'))).toEqual({ status: 200, body: 'deny' });
      // A NUL in a username + password credential is a denial, not a 5xx (identity would refuse it as malformed).
      expect(await text(await form('/rabbitmq/user', { username: 'some\u0000one', password: 'a password' }))).toEqual({ status: 200, body: 'deny' });
      expect(await text(await form('/rabbitmq/user', { username: 'someone', password: 'a pass\u0000word' }))).toEqual({ status: 200, body: 'deny' });
      const huge = await raw('/rabbitmq/user', `username=${'a'.repeat(20_000)}`);
      expect(await text(huge)).toEqual({ status: 200, body: 'deny' });
      const recent = mesh.authz!.core.decisions.list({ denialsOnly: true, limit: 200 }).filter((d) => d.source === 'rabbitmq');
      const reasons = new Set(recent.map((d) => d.reason));
      for (const reason of ['MALFORMED_REQUEST', 'PRINCIPAL_UNKNOWN', 'REQUEST_TOO_LARGE', 'TOKEN_MALFORMED']) expect(reasons).toContain(reason);
    });

    it('remembers a username+password login for the later checks that carry only the username', async () => {
      const identity = createRpcClient(IdentityService, mesh.address('identity'));
      const username = `rmq-${Date.now()}`;
      await identity.createUser({ username, password: 'a long enough passphrase', accountId: tenant.accountId, role: Role.MEMBER }, bearer(tenant.masterToken));
      identity.close();
      expect((await text(await vhostCheck(username, tenant.accountId))).body).toBe('deny');
      expect((await text(await form('/rabbitmq/user', { username, password: 'a long enough passphrase' }))).body).toBe('allow');
      expect((await text(await vhostCheck(username, tenant.accountId))).body).toBe('allow');
      expect((await text(await vhostCheck(username, '/'))).body).toBe('deny');
      expect((await text(await vhostCheck(username, other.accountId))).body).toBe('deny');
    });
  });

  describe('EMQX 5 HTTP authn / authz', () => {
    // EMQX has one topic space for every account: topics are `<account id>/<topic>` (TOLLGATE_SHARED_BROKER_NAMESPACE=account-prefix).
    const inTenant = (topic: string) => `${tenant.accountId}/${topic}`;

    it('allows with the token rules in EMQX acl form, ignores strangers, never a superuser', async () => {
      const res = (await (await json('/emqx/authn', { clientid: 'c1', username: device, password: '', peerhost: '127.0.0.1' })).json()) as { result: string; is_superuser: boolean; acl: unknown[] };
      expect(res).toMatchObject({ result: 'allow', is_superuser: false, client_attrs: { tollgate_account: tenant.accountId } });
      expect(res.acl).toEqual([
        { permission: 'allow', action: 'publish', topic: inTenant('devices/c1/#') },
        { permission: 'allow', action: 'subscribe', topic: inTenant('devices/c1/#') },
      ]);
      expect(await (await json('/emqx/authn', { clientid: 'x', username: 'nobody-at-all', password: 'whatever it is' })).json()).toMatchObject({ result: 'ignore' });
      const master = (await (await json('/emqx/authn', { clientid: 'm', username: tenant.masterToken, password: '' })).json()) as { result: string; is_superuser: boolean };
      expect(master).toMatchObject({ result: 'allow', is_superuser: false });
      const authz = async (topic: string, action: string) => ((await (await json('/emqx/authz', { clientid: 'c1', username: device, peerhost: '127.0.0.1', action, topic, qos: '1', retain: 'false' })).json()) as { result: string }).result;
      expect(await authz(inTenant('devices/c1/t'), 'publish')).toBe('allow');
      expect(await authz(inTenant('devices/c2/t'), 'publish')).toBe('deny');
      expect(await authz(inTenant('devices/c1/#'), 'subscribe')).toBe('allow');
      // Another account's namespace, or none at all, is refused whatever the rules say.
      expect(await authz(`${other.accountId}/devices/c1/t`, 'publish')).toBe('deny');
      expect(await authz('devices/c1/t', 'publish')).toBe('deny');
      expect(await (await json('/emqx/authz', { username: 'nobody-at-all', action: 'publish', topic: 'x' })).json()).toMatchObject({ result: 'ignore' });
      const garbage = await fetch(`${base}/emqx/authn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
      expect(garbage.status).toBe(200);
      expect(await garbage.json()).toMatchObject({ result: 'ignore' });
    });
  });

  describe('mosquitto-go-auth HTTP backend', () => {
    it('getuser / superuser / aclcheck with JSON or form parameters, 200 or 403 with {ok, error}', async () => {
      expect((await json('/mosquitto/getuser', { username: device, password: '', clientid: 'c1' })).status).toBe(200);
      const bad = await json('/mosquitto/getuser', { username: 'tg_forged', password: 'x', clientid: 'c1' });
      expect(bad.status).toBe(403);
      expect(await bad.json()).toMatchObject({ ok: false });
      expect((await json('/mosquitto/superuser', { username: device })).status).toBe(403);
      // Mosquitto has one topic space for every account: topics are `<account id>/<topic>` (TOLLGATE_SHARED_BROKER_NAMESPACE=account-prefix).
      const acl = (topic: string, acc: number) => json('/mosquitto/aclcheck', { username: device, clientid: 'c1', topic, acc });
      const t = (topic: string) => `${tenant.accountId}/${topic}`;
      expect((await acl(t('devices/c1/t'), 2)).status).toBe(200);
      expect((await acl(t('devices/c2/t'), 2)).status).toBe(403);
      expect((await acl(t('devices/c1/#'), 4)).status).toBe(200);
      expect((await acl(t('devices/c1/t'), 1)).status).toBe(200);
      expect((await acl(t('devices/c1/t'), 3)).status).toBe(200);
      expect((await form('/mosquitto/aclcheck', { username: device, clientid: 'c1', topic: t('devices/c1/t'), acc: '2' })).status).toBe(200);
      const elsewhere = await acl(`${other.accountId}/devices/c1/t`, 2);
      expect(elsewhere.status).toBe(403);
      expect(await elsewhere.json()).toEqual({ ok: false, error: 'namespace_mismatch' });
      expect((await acl('devices/c1/t', 2)).status).toBe(403);
      expect((await json('/mosquitto/aclcheck', { username: device, topic: 'x', acc: 9 })).status).toBe(400);
      const malformed = await fetch(`${base}/mosquitto/aclcheck`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
      expect(malformed.status).toBe(400);
    });
  });

  it('counts adapter decisions by source in the recent-decisions buffer', async () => {
    await form('/rabbitmq/topic', { username: device, vhost: tenant.accountId, resource: 'topic', name: 'amq.topic', permission: 'write', tags: '', routing_key: 'secret.x', 'variable_map.client_id': 'c1' });
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const recent = await authz.listRecentDecisions({ accountId: tenant.accountId, denialsOnly: true }, bearer(tenant.masterToken));
    authz.close();
    expect(recent.decisions.some((d) => d.source === 'rabbitmq' && d.resource === 'mqtt:secret/x')).toBe(true);
  });
});
