import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as OTPAuth from 'otpauth';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { browser, enterUserCode, field, formAction, signInThroughPages as signInThroughPagesOf, type Browser } from './oauth-browser.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const REDIRECT = 'http://127.0.0.1:1/callback';
/** RFC 6749 §5.2: a failed client authentication over HTTP Basic is a 401 with a challenge naming invalid_client. */
const INVALID_CLIENT = { status: 401, cause: [{ scheme: 'basic', parameters: expect.objectContaining({ error: 'invalid_client' }) }] };

describe('identity as an OAuth 2.0 / OIDC provider (openid-client as the relying party)', () => {
  let mesh: TestMesh;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let issuer: string;

  async function tenantWithUser(name: string) {
    const t = await mesh.createTenant(name);
    const username = `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
    const password = 'correct horse battery staple';
    await identity.createUser({ username, password, accountId: t.accountId, role: Role.OWNER }, bearer(t.masterToken));
    return { ...t, username, password };
  }

  async function newClient(masterToken: string, accountId: string, type: OAuthClientType, extra: { redirectUris?: string[]; firstParty?: boolean; scopes?: string[] } = {}) {
    return identity.createClient({ accountId, name: `app ${type}`, type, redirectUris: extra.redirectUris ?? [], postLogoutRedirectUris: [], scopes: extra.scopes ?? [], firstParty: extra.firstParty ?? false }, bearer(masterToken));
  }

  async function rp(clientId: string, auth: client.ClientAuth) {
    return client.discovery(new URL(issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
  }

  /** Drives the sign-in pages like a person; every page shown is a 200 under the provider's CSP. */
  function signInThroughPages(b: Browser, startUrl: string, user: { username: string; password: string }, stopAt = REDIRECT): Promise<string> {
    return signInThroughPagesOf(b, startUrl, user, stopAt, (res, html) => {
      expect(res.status, html).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    });
  }

  beforeAll(async () => {
    mesh = await startTestMesh();
    identity = createRpcClient(IdentityService, mesh.address('identity'));
    issuer = mesh.services.find((s) => s.name === 'identity')!.httpAddress!;
  });
  afterAll(async () => {
    identity?.close();
    await mesh?.stop();
  });

  it('publishes a discovery document listing exactly what it supports', async () => {
    const doc = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
      token_endpoint: `${issuer}/oauth/token`,
      device_authorization_endpoint: `${issuer}/oauth/device/auth`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      end_session_endpoint: `${issuer}/oauth/logout`,
    });
    expect(doc['registration_endpoint']).toBeUndefined();
    expect(new Set(doc['grant_types_supported'] as string[])).toEqual(new Set(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']));
    expect(doc['id_token_signing_alg_values_supported']).toEqual(['EdDSA', 'ES256']);
  });

  it('runs authorization code + PKCE through the login and consent pages; the access token verifies from the JWKS alone', async () => {
    const u = await tenantWithUser('oauth-code');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.WEB, { redirectUris: [REDIRECT] });
    expect(created.clientSecret).toMatch(/^tgcs_/);
    const config = await rp(created.client!.id, client.ClientSecretBasic(created.clientSecret));
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const authUrl = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile offline_access tollgate', prompt: 'consent', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    const callback = await signInThroughPages(browser(), authUrl.href, u);
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()).toMatchObject({ iss: issuer, aud: created.client!.id });
    expect(tokens.refresh_token).toBeTruthy();

    const doc = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(doc.jwks_uri)), { issuer, audience: 'tollgate', typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({ sub: expect.stringMatching(/^usr_/), acc: u.accountId, roles: ['owner'], client_id: created.client!.id });
    // A token for the mesh (resource urn:tollgate) is not one for userinfo (RFC 8707 audience).
    await expect(client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).rejects.toMatchObject({ status: 401 });
  });

  it('signs ID tokens with ES256 for a client registered with it; access tokens stay EdDSA', async () => {
    const u = await tenantWithUser('oauth-es256');
    const created = await identity.createClient({ accountId: u.accountId, name: 'legacy', type: OAuthClientType.WEB, redirectUris: [REDIRECT], postLogoutRedirectUris: [], scopes: [], firstParty: true, idTokenSignedResponseAlg: 'ES256' }, bearer(u.masterToken));
    expect(created.client!.idTokenSignedResponseAlg).toBe('ES256');
    const config = await rp(created.client!.id, client.ClientSecretBasic(created.clientSecret));
    const verifier = client.randomPKCECodeVerifier();
    const callback = await signInThroughPages(browser(), client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid tollgate', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, u);
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier });
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    const { protectedHeader } = await jwtVerify(tokens.id_token!, jwks, { issuer, audience: created.client!.id, algorithms: ['ES256'] });
    expect(protectedHeader.alg).toBe('ES256');
    await expect(jwtVerify(tokens.access_token, jwks, { issuer, audience: 'tollgate', algorithms: ['EdDSA'] })).resolves.toBeDefined();
    await expect(identity.createClient({ accountId: u.accountId, name: 'x', type: OAuthClientType.SERVICE, idTokenSignedResponseAlg: 'HS256' }, bearer(u.masterToken))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'id_token_signed_response_alg' });
  });

  it('rotates refresh tokens; a reused one revokes the whole family', async () => {
    const u = await tenantWithUser('oauth-refresh');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.SPA, { redirectUris: [REDIRECT], firstParty: true });
    expect(created.clientSecret).toBe('');
    const config = await rp(created.client!.id, client.None());
    const verifier = client.randomPKCECodeVerifier();
    const authUrl = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid offline_access', prompt: 'consent', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const callback = await signInThroughPages(browser(), authUrl.href, u);
    const first = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier });
    const info = await client.fetchUserInfo(config, first.access_token, first.claims()!.sub);
    expect(info).toMatchObject({ sub: first.claims()!.sub });
    const second = await client.refreshTokenGrant(config, first.refresh_token!);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first.refresh_token);

    const active = await client.tokenIntrospection(config, second.refresh_token!);
    expect(active, JSON.stringify(active)).toMatchObject({ active: true, client_id: created.client!.id, scope: 'openid offline_access' });

    await expect(client.refreshTokenGrant(config, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The family is gone: the newest token stops working too.
    await expect(client.refreshTokenGrant(config, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await client.tokenIntrospection(config, second.refresh_token!)).toEqual({ active: false });
  });

  it('issues client-credentials tokens to a service client; introspection and revocation of an opaque token', async () => {
    const u = await tenantWithUser('oauth-cc');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.SERVICE);
    const config = await rp(created.client!.id, client.ClientSecretBasic(created.clientSecret));
    const jwt = await client.clientCredentialsGrant(config, { scope: 'tollgate' });
    const { payload } = await jwtVerify(jwt.access_token, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'tollgate' });
    expect(payload).toMatchObject({ sub: created.client!.id, client_id: created.client!.id, acc: u.accountId });

    const opaque = await client.clientCredentialsGrant(config);
    expect(await client.tokenIntrospection(config, opaque.access_token)).toMatchObject({ active: true, client_id: created.client!.id });
    await client.tokenRevocation(config, opaque.access_token);
    expect(await client.tokenIntrospection(config, opaque.access_token)).toEqual({ active: false });

    // Introspection (RFC 7662 §4): a confidential client of the same account may look; another account's may not.
    const peer = await newClient(u.masterToken, u.accountId, OAuthClientType.SERVICE);
    const stranger = await tenantWithUser('oauth-cc-other');
    const foreign = await newClient(stranger.masterToken, stranger.accountId, OAuthClientType.SERVICE);
    const live = await client.clientCredentialsGrant(config);
    expect(await client.tokenIntrospection(await rp(peer.client!.id, client.ClientSecretBasic(peer.clientSecret)), live.access_token)).toMatchObject({ active: true, client_id: created.client!.id });
    expect(await client.tokenIntrospection(await rp(foreign.client!.id, client.ClientSecretBasic(foreign.clientSecret)), live.access_token)).toEqual({ active: false });

    const wrong = await rp(created.client!.id, client.ClientSecretBasic('tgcs_not-the-secret'));
    await expect(client.clientCredentialsGrant(wrong)).rejects.toMatchObject(INVALID_CLIENT);
    const unknown = await rp('cli_00000000000000000000', client.ClientSecretBasic('tgcs_x'));
    await expect(client.clientCredentialsGrant(unknown)).rejects.toMatchObject(INVALID_CLIENT);

    // A rotated secret replaces the old one at once.
    const rotated = await identity.rotateClientSecret({ clientId: created.client!.id }, bearer(u.masterToken));
    await expect(client.clientCredentialsGrant(config)).rejects.toMatchObject(INVALID_CLIENT);
    await expect(client.clientCredentialsGrant(await rp(created.client!.id, client.ClientSecretBasic(rotated.clientSecret)))).resolves.toMatchObject({ token_type: 'bearer' });
  });

  it('runs the device authorization grant (RFC 8628) with slow_down for a client polling too fast', async () => {
    const u = await tenantWithUser('oauth-device');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.DEVICE, { firstParty: true });
    const config = await rp(created.client!.id, client.None());
    const device = await client.initiateDeviceAuthorization(config, { scope: 'openid tollgate' });
    expect(device.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);

    const poll = (code: string) => fetch(`${issuer}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: code, client_id: created.client!.id }) });
    expect(await (await poll(device.device_code)).json()).toMatchObject({ error: 'authorization_pending' });
    const fast = await poll(device.device_code);
    expect(fast.status).toBe(400);
    expect(await fast.json()).toMatchObject({ error: 'slow_down' });

    // The person: enter the code, confirm, sign in.
    const b = browser();
    const { entry, confirmHtml, signInUrl } = await enterUserCode(b, device.verification_uri, device.user_code);
    expect(entry.res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(entry.html.match(/name="user_code"/g)).toHaveLength(1); // one field: the form posts exactly what the person typed
    expect(confirmHtml).toContain(device.user_code);
    const done = await signInThroughPages(b, signInUrl, u, 'never:');
    expect(done).toContain('Device connected');

    const tokens = await fetch(`${issuer}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: created.client!.id }) });
    const body = (await tokens.json()) as { access_token: string };
    expect(tokens.status).toBe(200);
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'tollgate' });
    expect(payload).toMatchObject({ acc: u.accountId, client_id: created.client!.id });
  });

  it('asks for the TOTP code of an enrolled user on the sign-in page; the login is audited like any other', async () => {
    const u = await tenantWithUser('oauth-totp');
    const access = (await identity.login({ username: u.username, password: u.password, peerIp: '10.66.0.1' }, bearer(mintServiceCredential(mesh.secretKey, 'console')))).session!;
    const enrolled = await identity.enrollTotp({ userId: access.userId }, bearer(access.accessToken));
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    const confirmed = await identity.confirmTotp({ userId: access.userId, code: totp.generate() }, bearer(access.accessToken));
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.SPA, { redirectUris: [REDIRECT], firstParty: true });
    const config = await rp(created.client!.id, client.None());
    const verifier = client.randomPKCECodeVerifier();
    const b = browser();
    const step = await b.follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, REDIRECT);
    const html = await step.res!.text();
    const action = new URL(formAction(html)!, step.url).href;
    const asked = await b.post(action, { csrf: field(html, 'csrf')!, username: u.username, password: u.password });
    expect(asked.status).toBe(401);
    const askedHtml = await asked.text();
    expect(askedHtml).toContain('name="totp"');
    // The code that confirmed enrollment spent this time step: a recovery code signs in without waiting for the next.
    const done = await b.post(action, { csrf: field(askedHtml, 'csrf')!, username: u.username, password: u.password, totp: confirmed.recoveryCodes[0]! });
    expect(done.status).toBe(303);
    const callback = (await b.follow(new URL(done.headers.get('location')!, action).href, REDIRECT)).url;
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier });
    expect(tokens.claims()).toMatchObject({ sub: access.userId });
    const events = await identity.listAuditEvents({ accountId: u.accountId, kind: 'login_ok' }, bearer(u.masterToken));
    expect(events.events.length).toBeGreaterThanOrEqual(2);
  });

  it('signs out through RP-initiated logout back to a registered post-logout URI', async () => {
    const u = await tenantWithUser('oauth-logout');
    const postLogout = 'http://127.0.0.1:1/signed-out';
    const created = await identity.createClient({ accountId: u.accountId, name: 'logout app', type: OAuthClientType.SPA, redirectUris: [REDIRECT], postLogoutRedirectUris: [postLogout], scopes: [], firstParty: true }, bearer(u.masterToken));
    const config = await rp(created.client!.id, client.None());
    const verifier = client.randomPKCECodeVerifier();
    const b = browser();
    const authorize = async () => client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href;
    const callback = await signInThroughPages(b, await authorize(), u);
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier });
    // Signed in: a second authorization needs no form.
    expect((await b.follow(await authorize(), REDIRECT)).res).toBeUndefined();

    const page = await b.follow(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogout }).href, postLogout);
    const html = await page.res!.text();
    expect(page.res!.headers.get('content-security-policy')).toContain("default-src 'none'");
    const out = await b.post(new URL(formAction(html)!, page.url).href, { xsrf: field(html, 'xsrf')!, logout: 'yes' });
    expect(out.status).toBe(303);
    expect((await b.follow(new URL(out.headers.get('location')!, page.url).href, postLogout)).url).toBe(postLogout);
    // Signed out: the login form again.
    expect(await (await b.follow(await authorize(), REDIRECT)).res!.text()).toContain('name="password"');
  });

  it('a changed password ends the user\'s provider sessions and OAuth refresh tokens too', async () => {
    const u = await tenantWithUser('oauth-password');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.SPA, { redirectUris: [REDIRECT], firstParty: true });
    const config = await rp(created.client!.id, client.None());
    const verifier = client.randomPKCECodeVerifier();
    const authorize = async () => client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid offline_access', prompt: 'consent', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href;
    const b = browser();
    const tokens = await client.authorizationCodeGrant(config, new URL(await signInThroughPages(b, await authorize(), u)), { pkceCodeVerifier: verifier });
    expect((await b.follow(await authorize(), REDIRECT)).res).toBeUndefined(); // still signed in
    const userId = tokens.claims()!.sub;
    // The user's own session is the proof of who asks (with the current password).
    const session = (await identity.login({ username: u.username, password: u.password, peerIp: '10.66.0.2' }, bearer(mintServiceCredential(mesh.secretKey, 'console')))).session!;
    await identity.changePassword({ userId, currentPassword: u.password, newPassword: 'a brand new passphrase' }, bearer(session.accessToken));
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await (await b.follow(await authorize(), REDIRECT)).res!.text()).toContain('name="password"');
  });

  it('a disabled client can no longer authenticate, and its tokens end at once', async () => {
    const u = await tenantWithUser('oauth-disable');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.SERVICE);
    const config = await rp(created.client!.id, client.ClientSecretBasic(created.clientSecret));
    const opaque = await client.clientCredentialsGrant(config);
    await identity.updateClient({ clientId: created.client!.id, disabled: true }, bearer(u.masterToken));
    await expect(client.clientCredentialsGrant(config)).rejects.toMatchObject(INVALID_CLIENT);
    await identity.updateClient({ clientId: created.client!.id, disabled: false }, bearer(u.masterToken));
    expect(await client.tokenIntrospection(config, opaque.access_token)).toEqual({ active: false });
    await expect(client.clientCredentialsGrant(config)).resolves.toMatchObject({ token_type: 'bearer' });
  });

  it('a rotated secret ends the old one at the next grant, and a deleted client is refused at once (no cached client outlives its change)', async () => {
    const u = await tenantWithUser('oauth-rotate');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.SERVICE);
    const old = await rp(created.client!.id, client.ClientSecretBasic(created.clientSecret));
    // Twice: the client is now in identity's cache.
    await expect(client.clientCredentialsGrant(old)).resolves.toMatchObject({ token_type: 'bearer' });
    await expect(client.clientCredentialsGrant(old)).resolves.toMatchObject({ token_type: 'bearer' });
    const rotated = await identity.rotateClientSecret({ clientId: created.client!.id }, bearer(u.masterToken));
    await expect(client.clientCredentialsGrant(old)).rejects.toMatchObject(INVALID_CLIENT);
    const fresh = await rp(created.client!.id, client.ClientSecretBasic(rotated.clientSecret));
    await expect(client.clientCredentialsGrant(fresh)).resolves.toMatchObject({ token_type: 'bearer' });
    await identity.deleteClient({ clientId: created.client!.id }, bearer(u.masterToken));
    await expect(client.clientCredentialsGrant(fresh)).rejects.toMatchObject(INVALID_CLIENT);
  });

  it('answers bad input with the standard error codes, never a 500', async () => {
    const u = await tenantWithUser('oauth-bad');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.WEB, { redirectUris: [REDIRECT], firstParty: true });
    const config = await rp(created.client!.id, client.ClientSecretBasic(created.clientSecret));
    const verifier = client.randomPKCECodeVerifier();
    const challenge = await client.calculatePKCECodeChallenge(verifier);

    // Wrong redirect URI: never redirected to; an error page.
    const wrongRedirect = await fetch(client.buildAuthorizationUrl(config, { redirect_uri: `${REDIRECT}/other`, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
    expect(wrongRedirect.status).toBe(400);
    expect(await wrongRedirect.text()).toContain('invalid_redirect_uri');

    // response_mode=form_post: the auto-submit page runs under the CSP by its hash, nothing else.
    const b0 = browser();
    await signInThroughPages(b0, client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }).href, u);
    const posted = await b0.request(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', response_mode: 'form_post', code_challenge: challenge, code_challenge_method: 'S256' }).href);
    const postHtml = await posted.text();
    const script = /<script>([\s\S]*?)<\/script>/.exec(postHtml)![1]!;
    const { createHash } = await import('node:crypto');
    expect(posted.headers.get('content-security-policy')).toContain(`script-src 'sha256-${createHash('sha256').update(script).digest('base64')}';`);
    expect(posted.headers.get('content-security-policy')).not.toContain("'none' 'sha256");
    expect(postHtml).toContain(`action="${REDIRECT}"`);

    // Missing PKCE: redirected back with invalid_request.
    const noPkce = await fetch(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid' }), { redirect: 'manual' });
    expect(noPkce.status).toBe(303);
    expect(new URL(noPkce.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');

    // Wrong verifier, then a replayed code.
    const callback = await signInThroughPages(browser(), client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }).href, u);
    await expect(client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: client.randomPKCECodeVerifier() })).rejects.toMatchObject({ error: 'invalid_grant' });
    const callback2 = await signInThroughPages(browser(), client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }).href, u);
    await client.authorizationCodeGrant(config, new URL(callback2), { pkceCodeVerifier: verifier });
    await expect(client.authorizationCodeGrant(config, new URL(callback2), { pkceCodeVerifier: verifier })).rejects.toMatchObject({ error: 'invalid_grant' });

    // A wrong password is shown on the page (401), not an error status from the provider.
    const b = browser();
    const step = await b.follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }).href, REDIRECT);
    const html = await step.res!.text();
    const wrong = await b.post(new URL(formAction(html)!, step.url).href, { csrf: field(html, 'csrf')!, username: u.username, password: 'not the password at all' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('Wrong username or password');
    const forged = await b.post(new URL(formAction(html)!, step.url).href, { csrf: 'forged', username: u.username, password: u.password });
    expect(forged.status).toBe(403);
  });

  it('answers malformed and hostile requests with 4xx, never a 500', async () => {
    const u = await tenantWithUser('oauth-junk');
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.SERVICE);
    const device = await newClient(u.masterToken, u.accountId, OAuthClientType.DEVICE);
    const basic = `Basic ${Buffer.from(`${created.client!.id}:${created.clientSecret}`).toString('base64')}`;
    const form = (body: string, auth?: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) } });
    const cases: [string, string, RequestInit | undefined, number, string | undefined][] = [
      ['authorize without parameters', '/oauth/authorize', undefined, 400, undefined],
      ['authorize for an unknown client', '/oauth/authorize?client_id=cli_00000000000000000000&response_type=code&scope=openid', undefined, 400, undefined],
      ['token without a grant type', '/oauth/token', form('', basic), 400, 'invalid_request'],
      ['an unsupported grant type', '/oauth/token', form('grant_type=password&username=a&password=b', basic), 400, 'unsupported_grant_type'],
      ['a grant the client may not use', '/oauth/token', form('grant_type=refresh_token&refresh_token=x', basic), 400, 'unauthorized_client'],
      ['an unknown resource', '/oauth/token', form('grant_type=client_credentials&resource=https://elsewhere.example', basic), 400, 'invalid_target'],
      ['an unknown scope', '/oauth/token', form('grant_type=client_credentials&scope=openid', basic), 400, 'invalid_scope'],
      ['introspection without client authentication', '/oauth/introspect', form('token=x'), 400, 'invalid_request'],
      ['a wrong client secret', '/oauth/token', form('grant_type=client_credentials', `Basic ${Buffer.from(`${created.client!.id}:tgcs_wrong`).toString('base64')}`), 401, 'invalid_client'],
      ['a malformed Basic header', '/oauth/token', form('grant_type=client_credentials', 'Basic !!!'), 400, 'invalid_request'],
      ['a JSON body', '/oauth/token', { method: 'POST', body: '{"grant_type":"client_credentials"}', headers: { 'content-type': 'application/json', authorization: basic } }, 400, 'invalid_request'],
      ['an unknown interaction', '/oauth/interaction/nope', undefined, 400, undefined],
      ['a login post without the interaction cookie', '/oauth/interaction/nope/login', form('csrf=x&username=a&password=b'), 400, undefined],
      ['a device code that does not exist', '/oauth/token', form(`grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=nope&client_id=${device.client!.id}`), 400, 'invalid_grant'],
      ['an unknown route', '/oauth/nothing-here', undefined, 404, undefined],
    ];
    const seen: [string, number, string | undefined][] = [];
    for (const [what, path, init] of cases) {
      const res = await fetch(`${issuer}${path}`, { redirect: 'manual', ...init });
      const text = await res.text();
      expect(text, what).not.toMatch(/at .*\.(js|ts):\d+/); // no stack trace
      const json = res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as { error?: string }) : undefined;
      seen.push([what, res.status, json?.error]);
    }
    expect(seen).toEqual(cases.map(([what, , , status, error]) => [what, status, error]));
    // Refusals naming a client of this account are in its audit log with the standard error code.
    const audited = async () => (await identity.listAuditEvents({ accountId: u.accountId, kind: 'oauth_refused' }, bearer(u.masterToken))).events;
    for (const until = Date.now() + 5_000; (await audited()).length < 4 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    const refusals = (await audited()).map((e) => [e.outcome, e.subjectId, e.details['endpoint']]);
    expect(refusals).toEqual(
      expect.arrayContaining([
        ['denied:invalid_client', created.client!.id, 'grant'],
        ['denied:invalid_target', created.client!.id, 'grant'],
        ['denied:invalid_scope', created.client!.id, 'grant'],
        ['denied:invalid_grant', device.client!.id, 'grant'],
      ]),
    );
  });

  it('manages clients over gRPC: exact redirect URIs, admin only, secrets never listed', async () => {
    const u = await tenantWithUser('oauth-admin');
    const other = await mesh.createTenant('oauth-other');
    await expect(newClient(u.masterToken, u.accountId, OAuthClientType.WEB, { redirectUris: ['https://app.example.com/*'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'redirect_uris[0]' });
    await expect(newClient(u.masterToken, u.accountId, OAuthClientType.SPA, { redirectUris: ['http://app.example.com/cb'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(newClient(u.masterToken, u.accountId, OAuthClientType.SERVICE, { redirectUris: ['https://app.example.com/cb'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const created = await newClient(u.masterToken, u.accountId, OAuthClientType.NATIVE, { redirectUris: ['com.example.app:/callback'] });
    await expect(identity.getClient({ clientId: created.client!.id }, bearer(other.masterToken))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(identity.getClient({ clientId: created.client!.id })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const listed = await identity.listClients({ accountId: u.accountId }, bearer(u.masterToken));
    expect(listed.clients.map((c) => c.id)).toEqual([created.client!.id]);
    const updated = await identity.updateClient({ clientId: created.client!.id, name: 'renamed', redirectUris: { values: ['http://127.0.0.1/cb'] } }, bearer(u.masterToken));
    expect(updated.client).toMatchObject({ name: 'renamed', redirectUris: ['http://127.0.0.1/cb'] });
    await identity.deleteClient({ clientId: created.client!.id }, bearer(u.masterToken));
    await expect(identity.getClient({ clientId: created.client!.id }, bearer(u.masterToken))).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'client_id' });
  });
});
