import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { createRpcClient } from '#libs/rpc/index.ts';
import { AuthzService, Effect, TokenKind } from '#gen/tollgate/authz/v1/authz_pb.js';
import { Authorization } from '#gen/envoy/service/auth/v3/external_auth_pb.js';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { approveDevice, browser, enterUserCode, signInThroughPages } from '../../services/identity/test/oauth-browser.ts';
import { startTestMesh, type TestMesh } from '../harness/mesh.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const REDIRECT = 'http://127.0.0.1:1/callback';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const fleetRules = [{ effect: Effect.ALLOW, actions: ['publish', 'subscribe'], resources: ['mqtt:devices/${client_id}/#'] }];

/** An OAuth client's client-credentials or device-flow token as a Tollgate credential: MQTT.js through the whole mesh. */
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
  const signIn = (startUrl: string, user: { username: string; password: string }) => signInThroughPages(browser(), startUrl, user, REDIRECT);

  async function tenantWithUser(name: string) {
    const t = await mesh.createTenant(name);
    const user = { username: `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`, password: 'correct horse battery staple' };
    const created = await identity.createUser({ ...user, accountId: t.accountId, role: Role.OWNER }, bearer(t.masterToken));
    return { ...t, user, userId: created.user!.id };
  }

  /** An SPA of a fresh tenant with one user: each `grant()` is authorization code + PKCE through the pages. */
  async function spaWithUser(name: string) {
    const { user, ...t } = await tenantWithUser(name);
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

  /**
   * A DEVICE client of a fresh tenant bound to `fleetRules`; each `approve()` is the device
   * authorization grant (RFC 8628) approved by a person of the account through the pages (a fresh
   * browser: a new grant). The token endpoint is polled by hand, not by `pollDeviceAuthorizationGrant`,
   * which sleeps the server's interval (5 s) on real time before every poll.
   */
  async function deviceWithUser(name: string) {
    const { user, userId: _userId, ...t } = await tenantWithUser(name);
    const created = await identity.createClient({ accountId: t.accountId, name: 'thermostat', type: OAuthClientType.DEVICE, aclRules: fleetRules }, bearer(t.masterToken));
    const config = await oidc.discovery(new URL(issuer), created.client!.id, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    return {
      ...t,
      client: created.client!,
      config,
      user,
      /** Starts a device authorization; `poll()` asks the token endpoint once. */
      async start() {
        const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid offline_access tollgate' });
        return { device, poll: () => oidc.genericGrantRequest(config, DEVICE_CODE_GRANT, { device_code: device.device_code }) };
      },
      async approve() {
        const { device, poll } = await this.start();
        await expect(poll()).rejects.toMatchObject({ error: 'authorization_pending' });
        expect(await approveDevice(browser(), device, user)).toContain('Device connected');
        const tokens = await poll();
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

  /**
   * Revokes a refresh token (RFC 7009): `dev`, on an access token of its grant, is disconnected
   * (0x98) within one second, and `bystander` (another grant) still gets its own message back.
   */
  async function revokeRefreshAndExpectOnly(config: oidc.Configuration, refreshToken: string, dev: MqttClient, bystander: MqttClient, topic: string): Promise<void> {
    let revokedAt = 0;
    const disconnected = disconnectOf(dev, () => revokedAt);
    revokedAt = performance.now();
    await oidc.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
    const { reasonCode, afterMs } = await disconnected;
    expect(reasonCode).toBe(0x98);
    expect(afterMs).toBeLessThan(1_000);
    expect(await echoes(bystander, topic)).toBe(`${topic}=still here`);
    expect(bystander.connected).toBe(true);
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
    // Only that grant: the other one's client is still served after the disconnect arrived.
    await revokeRefreshAndExpectOnly(app.config, revoked.refresh_token!, dev, bystander, 'lab/f2');

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

  it('a device-flow token of a bound DEVICE client is its acl rules: MQTT password with any username, grant named in authz', async () => {
    const fleet = await deviceWithUser('oauth-device');
    expect(fleet.client.aclTokenId).toMatch(/^tok_/);
    const tokens = await fleet.approve();
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'tollgate' });
    expect(payload).toMatchObject({ acc: fleet.accountId, client_id: fleet.client.id, tok: fleet.client.aclTokenId, gid: expect.stringMatching(/^grt_[0-9a-z]{20}$/) });

    const who = await authz.authenticate({ bearer: tokens.access_token });
    expect(who).toMatchObject({ allowed: true, principal: { accountId: fleet.accountId, kind: TokenKind.ACL, subject: fleet.client.aclTokenId, tokenId: fleet.client.aclTokenId, grantId: payload['gid'] } });

    const dev = await connect({ protocolVersion: 5, clientId: 'd1', username: 'anything at all', password: tokens.access_token });
    expect((await dev.subscribeAsync('devices/d1/#')).map((g) => g.qos)).toEqual([0]);
    await expect(dev.subscribeAsync('devices/+/temp')).rejects.toThrow(/Not authorized/);
    await expect(dev.subscribeAsync('lab/d1')).rejects.toThrow(/Not authorized/);
    const got = new Promise<string>((resolve) => dev.once('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
    await dev.publishAsync('devices/d1/temp', '19.5', { qos: 1 });
    expect(await got).toBe('devices/d1/temp=19.5');
    // Outside the rules a QoS 1 publish is refused (PUBACK 0x87), and nothing is delivered.
    await expect(dev.publishAsync('devices/d2/temp', '0', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
  });

  it('revoking a device grant\'s refresh token (RFC 7009) disconnects the MQTT client using its access token within one second; the same client\'s other grant stays', async () => {
    const fleet = await deviceWithUser('oauth-device-revoke');
    const revoked = await fleet.approve();
    const other = await fleet.approve();
    expect(decodeJwt(other.access_token)['gid']).not.toBe(decodeJwt(revoked.access_token)['gid']);

    const dev = await connect({ protocolVersion: 5, clientId: 'd3', username: 'thermostat', password: revoked.access_token });
    const sentinel = await connect({ protocolVersion: 5, clientId: 'd4', username: 'thermostat', password: other.access_token });
    // Only that grant: the same client's other device is still served after the disconnect arrived.
    await revokeRefreshAndExpectOnly(fleet.config, revoked.refresh_token!, dev, sentinel, 'devices/d4/temp');

    await expect(connect({ protocolVersion: 5, clientId: 'd3', username: 'thermostat', password: revoked.access_token })).rejects.toMatchObject({ code: 0x86 });
    expect(await authz.authenticate({ bearer: revoked.access_token })).toMatchObject({ allowed: false, reason: 'OAUTH_GRANT_REVOKED' });
    await expect(oidc.refreshTokenGrant(fleet.config, revoked.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The other grant still refreshes, and its new access token is the same acl rules.
    const refreshed = await oidc.refreshTokenGrant(fleet.config, other.refresh_token!);
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ gid: decodeJwt(other.access_token)['gid'], tok: fleet.client.aclTokenId });

    // Disabling the client ends the rest: its acl token is revoked, so every device of it goes.
    let disabledAt = 0;
    const ended = disconnectOf(sentinel, () => disabledAt);
    disabledAt = performance.now();
    await identity.updateClient({ clientId: fleet.client.id, disabled: true }, bearer(fleet.masterToken));
    expect(await ended).toMatchObject({ reasonCode: 0x98, afterMs: expect.any(Number) });
    expect((await ended).afterMs).toBeLessThan(1_000);
  });

  it('only a person of the device client\'s account approves its device code: a stranger is refused on the sign-in page and with a session; a refresh after leaving the account is refused', async () => {
    const fleet = await deviceWithUser('oauth-device-owner');
    const stranger = await tenantWithUser('oauth-device-stranger');

    // Signing in on the device's pages: the login form says so and lets another person sign in.
    const first = await fleet.start();
    const b = browser();
    const { signInUrl } = await enterUserCode(b, first.device.verification_uri, first.device.user_code);
    await expect(signInThroughPages(b, signInUrl, stranger.user, 'never:')).rejects.toThrow(/HTTP 403[\s\S]*belongs to another account/);
    await expect(first.poll()).rejects.toMatchObject({ error: 'authorization_pending' });

    // Already signed in (through an app of their own account): the approval is access_denied.
    const app = await identity.createClient({ accountId: stranger.accountId, name: 'own app', type: OAuthClientType.SPA, redirectUris: [REDIRECT], firstParty: true }, bearer(stranger.masterToken));
    const appConfig = await oidc.discovery(new URL(issuer), app.client!.id, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const session = browser();
    const verifier = oidc.randomPKCECodeVerifier();
    const authorize = oidc.buildAuthorizationUrl(appConfig, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    expect(await signInThroughPages(session, authorize.href, stranger.user, REDIRECT)).toMatch(/^http:\/\/127\.0\.0\.1:1\/callback\?code=/);
    const second = await fleet.start();
    const entered = await enterUserCode(session, second.device.verification_uri, second.device.user_code);
    const refused = await session.follow(entered.signInUrl, 'never:');
    expect(await refused.res!.text()).toContain('The device was not connected: only a person of the account that registered this client may approve it.');
    await expect(second.poll()).rejects.toMatchObject({ error: 'access_denied' });

    // A viewer of the account only reads: it may not put a device on the account's data plane.
    await identity.setMembership({ userId: stranger.userId, accountId: fleet.accountId, role: Role.VIEWER }, bearer(fleet.masterToken));
    const viewing = await fleet.start();
    await expect(approveDevice(browser(), viewing.device, stranger.user)).rejects.toThrow(/HTTP 403/);
    await expect(viewing.poll()).rejects.toMatchObject({ error: 'authorization_pending' });
    // Each refusal is in the client's account's audit log, naming the client and the person.
    const refusals = (await identity.listAuditEvents({ accountId: fleet.accountId, kind: 'oauth_refused' }, bearer(fleet.masterToken))).events.filter((e) => e.outcome === 'denied:approver_not_permitted');
    expect(refusals.map((e) => [e.subjectId, e.details['user_id']])).toEqual([0, 1, 2].map(() => [fleet.client.id, stranger.userId]));

    // A person of the account approves; once they leave it, the grant's refresh is refused.
    const member = await identity.setMembership({ userId: stranger.userId, accountId: fleet.accountId, role: Role.MEMBER }, bearer(fleet.masterToken));
    expect(member.user!.memberships.length).toBe(2);
    const third = await fleet.start();
    expect(await approveDevice(browser(), third.device, stranger.user)).toContain('Device connected');
    const tokens = await third.poll();
    expect(decodeJwt(tokens.access_token)).toMatchObject({ acc: fleet.accountId, tok: fleet.client.aclTokenId, sub: stranger.userId });
    await identity.removeMembership({ userId: stranger.userId, accountId: fleet.accountId }, bearer(fleet.masterToken));
    await expect(oidc.refreshTokenGrant(fleet.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
