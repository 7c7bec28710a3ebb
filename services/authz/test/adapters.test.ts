import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
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
    it('answers user / vhost / resource / topic with exactly allow or deny, no newline', async () => {
      expect(await text(await form('/rabbitmq/user', { username: device, password: '', vhost: '/', client_id: 'c1' }))).toEqual({ status: 200, body: 'allow' });
      expect(await text(await form('/rabbitmq/user', { username: 'tg_nope', password: 'x' }))).toEqual({ status: 200, body: 'deny' });
      expect((await text(await form('/rabbitmq/vhost', { username: device, vhost: '/', ip: '127.0.0.1', tags: '', client_id: 'c1' }))).body).toBe('allow');
      // Two accounts are isolated by vhost: a token may not enter another account's vhost.
      expect((await text(await form('/rabbitmq/vhost', { username: device, vhost: other.accountId, ip: '127.0.0.1', tags: '' }))).body).toBe('deny');
      expect((await text(await form('/rabbitmq/resource', { username: device, vhost: '/', resource: 'exchange', name: 'amq.topic', permission: 'write', tags: '', client_id: 'c1' }))).body).toBe('allow');
      expect((await text(await form('/rabbitmq/resource', { username: device, vhost: '/', resource: 'queue', name: 'mqtt-subscription-c1qos1', permission: 'configure', tags: '', client_id: 'c1' }))).body).toBe('allow');
      expect((await text(await form('/rabbitmq/resource', { username: device, vhost: '/', resource: 'queue', name: 'someone-elses', permission: 'read', tags: '' }))).body).toBe('deny');
      const topic = (routing_key: string, permission: string) =>
        form('/rabbitmq/topic', { username: device, vhost: '/', resource: 'topic', name: 'amq.topic', permission, tags: '', routing_key, 'variable_map.client_id': 'c1', 'variable_map.username': device, 'variable_map.vhost': '/' });
      expect((await text(await topic('devices.c1.temp', 'write'))).body).toBe('allow');
      expect((await text(await topic('devices.c2.temp', 'write'))).body).toBe('deny');
      expect((await text(await topic('devices.c1.#', 'read'))).body).toBe('allow');
      expect((await text(await topic('devices.*.temp', 'read'))).body).toBe('deny');
      expect((await text(await topic('devices.c1.*', 'write'))).body).toBe('deny');
    });

    it('accepts GET queries, and answers malformed or oversized input with deny, never 5xx', async () => {
      const get = await fetch(`${base}/rabbitmq/user?${new URLSearchParams({ username: device, password: '' })}`);
      expect(await text(get)).toEqual({ status: 200, body: 'allow' });
      expect(await text(await form('/rabbitmq/topic', { username: device }))).toEqual({ status: 200, body: 'deny' });
      expect(await text(await form('/rabbitmq/vhost', { username: 'someone-never-logged-in', vhost: '/' }))).toEqual({ status: 200, body: 'deny' });
      const huge = await fetch(`${base}/rabbitmq/user`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${'a'.repeat(20_000)}` });
      expect(await text(huge)).toEqual({ status: 200, body: 'deny' });
    });

    it('remembers a username+password login for the later checks that carry only the username', async () => {
      const identity = createRpcClient(IdentityService, mesh.address('identity'));
      const username = `rmq-${Date.now()}`;
      await identity.createUser({ username, password: 'a long enough passphrase', accountId: tenant.accountId, role: Role.MEMBER }, bearer(tenant.masterToken));
      identity.close();
      expect((await text(await form('/rabbitmq/vhost', { username, vhost: '/', ip: '127.0.0.1', tags: '' }))).body).toBe('deny');
      expect((await text(await form('/rabbitmq/user', { username, password: 'a long enough passphrase' }))).body).toBe('allow');
      expect((await text(await form('/rabbitmq/vhost', { username, vhost: '/', ip: '127.0.0.1', tags: '' }))).body).toBe('allow');
    });
  });

  describe('EMQX 5 HTTP authn / authz', () => {
    it('allows with the token rules in EMQX acl form, ignores strangers, never a superuser', async () => {
      const res = (await (await json('/emqx/authn', { clientid: 'c1', username: device, password: '', peerhost: '127.0.0.1' })).json()) as { result: string; is_superuser: boolean; acl: unknown[] };
      expect(res).toMatchObject({ result: 'allow', is_superuser: false });
      expect(res.acl).toEqual([
        { permission: 'allow', action: 'publish', topic: 'devices/${clientid}/#' },
        { permission: 'allow', action: 'subscribe', topic: 'devices/${clientid}/#' },
      ]);
      expect(await (await json('/emqx/authn', { clientid: 'x', username: 'nobody-at-all', password: 'whatever it is' })).json()).toMatchObject({ result: 'ignore' });
      const master = (await (await json('/emqx/authn', { clientid: 'm', username: tenant.masterToken, password: '' })).json()) as { result: string; is_superuser: boolean };
      expect(master).toMatchObject({ result: 'allow', is_superuser: false });
      const authz = async (topic: string, action: string) => ((await (await json('/emqx/authz', { clientid: 'c1', username: device, peerhost: '127.0.0.1', action, topic, qos: '1', retain: 'false' })).json()) as { result: string }).result;
      expect(await authz('devices/c1/t', 'publish')).toBe('allow');
      expect(await authz('devices/c2/t', 'publish')).toBe('deny');
      expect(await authz('devices/c1/#', 'subscribe')).toBe('allow');
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
      const acl = (topic: string, acc: number) => json('/mosquitto/aclcheck', { username: device, clientid: 'c1', topic, acc });
      expect((await acl('devices/c1/t', 2)).status).toBe(200);
      expect((await acl('devices/c2/t', 2)).status).toBe(403);
      expect((await acl('devices/c1/#', 4)).status).toBe(200);
      expect((await acl('devices/c1/t', 1)).status).toBe(200);
      expect((await acl('devices/c1/t', 3)).status).toBe(200);
      expect((await form('/mosquitto/aclcheck', { username: device, clientid: 'c1', topic: 'devices/c1/t', acc: '2' })).status).toBe(200);
      expect((await json('/mosquitto/aclcheck', { username: device, topic: 'x', acc: 9 })).status).toBe(400);
      const malformed = await fetch(`${base}/mosquitto/aclcheck`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
      expect(malformed.status).toBe(400);
    });
  });

  it('counts adapter decisions by source in the recent-decisions buffer', async () => {
    await form('/rabbitmq/topic', { username: device, vhost: '/', resource: 'topic', name: 'amq.topic', permission: 'write', tags: '', routing_key: 'secret.x', 'variable_map.client_id': 'c1' });
    const authz = createRpcClient(AuthzService, mesh.address('authz'));
    const recent = await authz.listRecentDecisions({ accountId: tenant.accountId, denialsOnly: true }, bearer(tenant.masterToken));
    authz.close();
    expect(recent.decisions.some((d) => d.source === 'rabbitmq' && d.resource === 'mqtt:secret/x')).toBe(true);
  });
});
