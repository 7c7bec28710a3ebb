import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import * as oidc from 'openid-client';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const fleetRules = [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }];

/** An OAuth client's client-credentials token as a Tollgate credential: MQTT.js through the whole mesh. */
describe('OAuth access tokens as Tollgate credentials', () => {
  let mesh: TestMesh;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let authz: ReturnType<typeof createRpcClient<typeof AuthzService>>;
  let issuer: string;
  let mqttUrl: string;
  const clients: MqttClient[] = [];

  function connect(opts: IClientOptions): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(mqttUrl, { reconnectPeriod: 0, connectTimeout: 3_000, ...opts });
      clients.push(client);
      client.once('connect', () => resolve(client));
      client.once('error', (e) => {
        client.end(true);
        reject(e);
      });
    });
  }

  async function serviceToken(clientId: string, secret: string): Promise<string> {
    const config = await oidc.discovery(new URL(issuer), clientId, undefined, oidc.ClientSecretBasic(secret), { execute: [oidc.allowInsecureRequests] });
    return (await oidc.clientCredentialsGrant(config, { scope: 'tollgate' })).access_token;
  }

  beforeAll(async () => {
    mesh = await startTestMesh();
    identity = createRpcClient(IdentityService, mesh.address('identity'));
    authz = createRpcClient(AuthzService, mesh.address('authz'));
    issuer = mesh.services.find((s) => s.name === 'identity')!.httpAddress!;
    mqttUrl = `mqtt://${mesh.broker!.mqttAddresses().tcp}`;
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    identity?.close();
    authz?.close();
    await mesh?.stop();
  });

  it('a bound service client token is its acl rules: MQTT password with any username, authz Authenticate', async () => {
    const t = await mesh.createTenant('oauth-fleet');
    const created = await identity.createClient({ accountId: t.accountId, name: 'fleet', type: OAuthClientType.SERVICE, aclRules: fleetRules }, bearer(t.masterToken));
    expect(created.client!.aclTokenId).toMatch(/^tok_/);
    const jwt = await serviceToken(created.client!.id, created.clientSecret);

    const who = await authz.authenticate({ bearer: jwt });
    expect(who).toMatchObject({ allowed: true, principal: { accountId: t.accountId, kind: TokenKind.ACL, subject: created.client!.aclTokenId, tokenId: created.client!.aclTokenId } });

    const dev = await connect({ protocolVersion: 5, clientId: 'o1', username: 'whatever', password: jwt });
    expect((await dev.subscribeAsync('devices/o1/#')).map((g) => g.qos)).toEqual([0]);
    await expect(dev.subscribeAsync('devices/+/temp')).rejects.toThrow(/Not authorized/);
    const got = new Promise<string>((resolve) => dev.once('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
    await dev.publishAsync('devices/o1/temp', '20.5', { qos: 1 });
    expect(await got).toBe('devices/o1/temp=20.5');
  });

  it('the same token on the EMQX HTTP adapter (password) and Envoy Check (bearer)', async () => {
    const t = await mesh.createTenant('oauth-adapters');
    const rules = [...fleetRules, { effect: Effect.ALLOW, actions: ['read'], resources: ['api:/v1/readings/*'] }];
    const created = await identity.createClient({ accountId: t.accountId, name: 'edge', type: OAuthClientType.SERVICE, aclRules: rules }, bearer(t.masterToken));
    const jwt = await serviceToken(created.client!.id, created.clientSecret);
    const authzHttp = mesh.services.find((s) => s.name === 'authz')!.httpAddress!;
    const emqx = async (path: string, body: Record<string, string>) => ((await (await fetch(`${authzHttp}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { result: string }).result;
    expect(await emqx('/emqx/authn', { clientid: 'e1', username: 'edge', password: jwt })).toBe('allow');
    expect(await emqx('/emqx/authz', { clientid: 'e1', username: 'edge', password: jwt, action: 'publish', topic: `${t.accountId}/devices/e1/x` })).toBe('allow');
    expect(await emqx('/emqx/authz', { clientid: 'e1', username: 'edge', password: jwt, action: 'publish', topic: `${t.accountId}/devices/e2/x` })).not.toBe('allow');

    const envoy = createRpcClient(Authorization, mesh.address('authz'));
    try {
      const check = (path: string) =>
        envoy.check({ attributes: { source: { address: { address: { case: 'socketAddress', value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: 4000 } } } } }, request: { http: { method: 'GET', path, headers: { authorization: `Bearer ${jwt}` } } } } });
      expect((await check('/v1/readings/today')).status?.code).toBe(0);
      expect((await check('/v1/admin')).status?.code).toBe(7);
    } finally {
      envoy.close();
    }
  });

  it('deleting the client disconnects its MQTT clients within one second; an unbound client token is refused', async () => {
    const t = await mesh.createTenant('oauth-revoke');
    const created = await identity.createClient({ accountId: t.accountId, name: 'fleet', type: OAuthClientType.SERVICE, aclRules: fleetRules }, bearer(t.masterToken));
    const jwt = await serviceToken(created.client!.id, created.clientSecret);
    const dev = await connect({ protocolVersion: 5, clientId: 'o2', username: 'device', password: jwt });
    const disconnected = new Promise<number>((resolve) => dev.once('disconnect', (p) => resolve(p.reasonCode ?? -1)));
    const deletedAt = performance.now();
    await identity.deleteClient({ clientId: created.client!.id }, bearer(t.masterToken));
    expect(await disconnected).toBe(0x98);
    expect(performance.now() - deletedAt).toBeLessThan(1_000);
    await expect(connect({ protocolVersion: 5, clientId: 'o2', username: 'device', password: jwt })).rejects.toMatchObject({ code: 0x86 });
    expect(await authz.authenticate({ bearer: jwt })).toMatchObject({ allowed: false, reason: 'TOKEN_REVOKED' });

    const unbound = await identity.createClient({ accountId: t.accountId, name: 'bare', type: OAuthClientType.SERVICE }, bearer(t.masterToken));
    const bare = await serviceToken(unbound.client!.id, unbound.clientSecret);
    expect(await authz.authenticate({ bearer: bare })).toMatchObject({ allowed: false, reason: 'OAUTH_CLIENT_UNBOUND' });
  });

  it('disabling a client ends its connections; enabling binds a fresh acl token; bad rules name acl_rules', async () => {
    const t = await mesh.createTenant('oauth-disable');
    const created = await identity.createClient({ accountId: t.accountId, name: 'fleet', type: OAuthClientType.SERVICE, aclRules: fleetRules }, bearer(t.masterToken));
    const dev = await connect({ protocolVersion: 5, clientId: 'o3', username: 'device', password: await serviceToken(created.client!.id, created.clientSecret) });
    const disconnected = new Promise<number>((resolve) => dev.once('disconnect', (p) => resolve(p.reasonCode ?? -1)));
    await identity.updateClient({ clientId: created.client!.id, disabled: true }, bearer(t.masterToken));
    expect(await disconnected).toBe(0x98);
    const enabled = await identity.updateClient({ clientId: created.client!.id, disabled: false }, bearer(t.masterToken));
    expect(enabled.client!.aclTokenId).toMatch(/^tok_/);
    expect(enabled.client!.aclTokenId).not.toBe(created.client!.aclTokenId);
    await expect(connect({ protocolVersion: 5, clientId: 'o3', username: 'device', password: await serviceToken(created.client!.id, created.clientSecret) })).resolves.toBeDefined();

    await expect(identity.createClient({ accountId: t.accountId, name: 'bad', type: OAuthClientType.SERVICE, aclRules: [{ effect: Effect.ALLOW, actions: ['fly'], resources: ['mqtt:x'] }] }, bearer(t.masterToken))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: expect.stringMatching(/^acl_rules\[0\]/),
    });
    await expect(identity.createClient({ accountId: t.accountId, name: 'web', type: OAuthClientType.WEB, redirectUris: ['https://a.example/cb'], aclRules: fleetRules }, bearer(t.masterToken))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'acl_rules' });
  });
});
