import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { browser, field, formAction } from '../../services/identity/test/oauth-browser.ts';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const REDIRECT = 'http://127.0.0.1:1/callback';
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

  /** A person signs in through the provider's pages (a fresh browser: a new session, so a new grant). */
  async function signIn(startUrl: string, user: { username: string; password: string }): Promise<string> {
    const b = browser();
    let step = await b.follow(startUrl, REDIRECT);
    for (let i = 0; i < 5 && step.res; i++) {
      const html = await step.res.text();
      const action = new URL(formAction(html)!, step.url).href;
      const csrf = field(html, 'csrf')!;
      const res = html.includes('name="password"') ? await b.post(action, { csrf, username: user.username, password: user.password }) : await b.post(action, { csrf, decision: 'allow' });
      expect(res.status, html).toBe(303);
      step = await b.follow(new URL(res.headers.get('location')!, action).href, REDIRECT);
    }
    return step.url;
  }

  /** An SPA of a fresh tenant with one user: each `grant()` is authorization code + PKCE through the pages. */
  async function spaWithUser(name: string) {
    const t = await mesh.createTenant(name);
    const user = { username: `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`, password: 'correct horse battery staple' };
    await identity.createUser({ ...user, accountId: t.accountId, role: Role.OWNER }, bearer(t.masterToken));
    const created = await identity.createClient({ accountId: t.accountId, name: 'dashboard', type: OAuthClientType.SPA, redirectUris: [REDIRECT], firstParty: true }, bearer(t.masterToken));
    const config = await oidc.discovery(new URL(issuer), created.client!.id, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    return {
      config,
      async grant() {
        const verifier = oidc.randomPKCECodeVerifier();
        const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid offline_access tollgate', prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
        const tokens = await oidc.authorizationCodeGrant(config, new URL(await signIn(url.href, user)), { pkceCodeVerifier: verifier });
        expect(tokens.refresh_token).toBeTruthy();
        return tokens;
      },
    };
  }

  /** Resolves with the DISCONNECT reason code and how long after `since` it arrived. */
  function disconnectOf(client: MqttClient, since: () => number) {
    return new Promise<{ reasonCode: number; afterMs: number }>((resolve) => client.once('disconnect', (p) => resolve({ reasonCode: p.reasonCode ?? -1, afterMs: performance.now() - since() })));
  }

  /** Proof that a client is still served: its own message comes back to it. */
  async function echoes(client: MqttClient, topic: string): Promise<string> {
    await client.subscribeAsync(topic);
    const got = new Promise<string>((resolve) => client.once('message', (t, payload) => resolve(`${t}=${payload.toString()}`)));
    await client.publishAsync(topic, 'still here', { qos: 1 });
    return got;
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

  it('revoking a refresh token (RFC 7009) disconnects the MQTT clients using its grant\'s access tokens within one second; another grant\'s stay', async () => {
    const app = await spaWithUser('oauth-family');
    const revoked = await app.grant();
    const other = await app.grant();
    const { payload } = await jwtVerify(revoked.access_token, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'tollgate' });
    expect(payload['gid']).toMatch(/^grt_[0-9a-z]{20}$/);
    expect(decodeJwt(other.access_token)['gid']).not.toBe(payload['gid']);

    const dev = await connect({ protocolVersion: 5, clientId: 'f1', username: 'dashboard', password: revoked.access_token });
    const bystander = await connect({ protocolVersion: 5, clientId: 'f2', username: 'dashboard', password: other.access_token });
    let revokedAt = 0;
    const disconnected = disconnectOf(dev, () => revokedAt);
    revokedAt = performance.now();
    await oidc.tokenRevocation(app.config, revoked.refresh_token!, { token_type_hint: 'refresh_token' });
    const { reasonCode, afterMs } = await disconnected;
    expect(reasonCode).toBe(0x98);
    expect(afterMs).toBeLessThan(1_000);
    // Only that grant: the other one's client is still served after the disconnect arrived.
    expect(await echoes(bystander, 'lab/f2')).toBe('lab/f2=still here');
    expect(bystander.connected).toBe(true);

    await expect(connect({ protocolVersion: 5, clientId: 'f1', username: 'dashboard', password: revoked.access_token })).rejects.toMatchObject({ code: 0x86 });
    expect(await authz.authenticate({ bearer: revoked.access_token })).toMatchObject({ allowed: false, reason: 'OAUTH_GRANT_REVOKED' });
    expect(await authz.authenticate({ bearer: other.access_token })).toMatchObject({ allowed: true, principal: { grantId: decodeJwt(other.access_token)['gid'] } });
  });

  it('a reused refresh token revokes its family: every access token of the grant is refused and its MQTT clients disconnected within one second', async () => {
    const app = await spaWithUser('oauth-reuse');
    const first = await app.grant();
    const rotated = await oidc.refreshTokenGrant(app.config, first.refresh_token!);
    expect(decodeJwt(rotated.access_token)['gid']).toBe(decodeJwt(first.access_token)['gid']);
    const older = await connect({ protocolVersion: 5, clientId: 'r1', username: 'dashboard', password: first.access_token });
    const newer = await connect({ protocolVersion: 5, clientId: 'r2', username: 'dashboard', password: rotated.access_token });
    let replayedAt = 0;
    const both = Promise.all([disconnectOf(older, () => replayedAt), disconnectOf(newer, () => replayedAt)]);
    replayedAt = performance.now();
    await expect(oidc.refreshTokenGrant(app.config, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    for (const { reasonCode, afterMs } of await both) {
      expect(reasonCode).toBe(0x98);
      expect(afterMs).toBeLessThan(1_000);
    }
    await expect(oidc.refreshTokenGrant(app.config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(connect({ protocolVersion: 5, clientId: 'r2', username: 'dashboard', password: rotated.access_token })).rejects.toMatchObject({ code: 0x86 });
  });
});
