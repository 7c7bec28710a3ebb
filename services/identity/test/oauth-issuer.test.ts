import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { mintServiceCredential } from '#libs/admin-auth/service-credential.ts';
import type { Database } from '#libs/db/index.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { openIsolatedTestDatabase } from '../../../test/harness/database.ts';
import { browser, field, formAction } from './oauth-browser.ts';
import { freePort } from '../../../test/harness/ports.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** A port that was free a moment ago: the issuer URL must name identity's port before it starts. */

/** TOLLGATE_JWT_ISSUER with a path: every provider route lives under it; the key ring's rotation reaches the provider. */
describe('identity OAuth provider under an issuer path (own database: rotates keys)', () => {
  let mesh: TestMesh;
  let database: Database;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let issuer: string;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}/auth`;
    database = await openIsolatedTestDatabase();
    mesh = await startTestMesh({ database, env: { TOLLGATE_IDENTITY_HTTP_PORT: String(port), TOLLGATE_JWT_ISSUER: issuer } });
    identity = createRpcClient(IdentityService, mesh.address('identity'));
  });
  afterAll(async () => {
    identity?.close();
    await mesh?.stop();
    await database?.close();
  });

  it('serves discovery, endpoints and the JWKS under the path; identity login tokens carry the same issuer', async () => {
    const doc = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(doc).toMatchObject({ issuer, token_endpoint: `${issuer}/oauth/token`, jwks_uri: `${issuer}/.well-known/jwks.json`, authorization_endpoint: `${issuer}/oauth/authorize` });
    const t = await mesh.createTenant('issuer-path');
    const username = `issuer-${Date.now().toString(36)}`;
    await identity.createUser({ username, password: 'correct horse battery staple', accountId: t.accountId, role: Role.OWNER }, bearer(t.masterToken));
    const session = (await identity.login({ username, password: 'correct horse battery staple', peerIp: '10.55.0.1' }, bearer(mintServiceCredential(mesh.secretKey, 'console')))).session!;
    await expect(jwtVerify(session.accessToken, createRemoteJWKSet(new URL(doc['jwks_uri']!)), { issuer, audience: 'tollgate' })).resolves.toBeDefined();
  });

  it('runs the sign-in pages under the path (authorization code + PKCE)', async () => {
    const t = await mesh.createTenant('issuer-pages');
    const username = `pages-${Date.now().toString(36)}`;
    const password = 'correct horse battery staple';
    await identity.createUser({ username, password, accountId: t.accountId, role: Role.OWNER }, bearer(t.masterToken));
    const redirect = 'http://127.0.0.1:1/cb';
    const created = await identity.createClient({ accountId: t.accountId, name: 'spa', type: OAuthClientType.SPA, redirectUris: [redirect], firstParty: true }, bearer(t.masterToken));
    const config = await client.discovery(new URL(issuer), created.client!.id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const b = browser();
    const page = await b.follow(client.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, redirect);
    expect(page.url).toContain('/auth/oauth/interaction/');
    const html = await page.res!.text();
    const action = new URL(formAction(html)!, page.url).href;
    const posted = await b.post(action, { csrf: field(html, 'csrf')!, username, password });
    expect(posted.status).toBe(303);
    const callback = (await b.follow(new URL(posted.headers.get('location')!, action).href, redirect)).url;
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier });
    expect(tokens.claims()).toMatchObject({ iss: issuer });
  });

  it('signs OAuth access tokens with the new key after a rotation; tokens of the old key still verify', async () => {
    const t = await mesh.createTenant('issuer-rotate');
    const created = await identity.createClient({ accountId: t.accountId, name: 'svc', type: OAuthClientType.SERVICE }, bearer(t.masterToken));
    const config = await client.discovery(new URL(issuer), created.client!.id, undefined, client.ClientSecretBasic(created.clientSecret), { execute: [client.allowInsecureRequests] });
    const before = (await client.clientCredentialsGrant(config, { scope: 'tollgate' })).access_token;
    const rotated = await identity.rotateSigningKey({}, bearer(mintServiceCredential(mesh.secretKey, 'console')));
    expect(decodeProtectedHeader(before).kid).not.toBe(rotated.kid);
    const after = (await client.clientCredentialsGrant(config, { scope: 'tollgate' })).access_token;
    expect(decodeProtectedHeader(after).kid).toBe(rotated.kid);
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    for (const token of [before, after]) await expect(jwtVerify(token, jwks, { issuer, audience: 'tollgate' })).resolves.toBeDefined();
  });
});
