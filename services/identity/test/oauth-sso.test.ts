import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as samlify from 'samlify';
import * as client from 'openid-client';
import type { Database } from '#libs/db/index.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { IdentityService, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { openIsolatedTestDatabase } from '../../../test/harness/database.ts';
import { browser, field, formAction } from './oauth-browser.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const REDIRECT = 'http://127.0.0.1:1/app-callback';
const password = 'correct horse battery staple';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Single sign-on from an upstream OpenID Connect provider: the upstream is another Tollgate
 * identity (its own database, keys and issuer on another host name, so no cookie is shared), the
 * relying party in the middle is this identity's openid-client, the app at the end openid-client too.
 */
describe('identity SSO from upstream OIDC and SAML providers', () => {
  let upstream: TestMesh;
  let upstreamDb: Database;
  let mesh: TestMesh;
  let upIdentity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let identity: ReturnType<typeof createRpcClient<typeof IdentityService>>;
  let upIssuer: string;
  let issuer: string;

  beforeAll(async () => {
    const port = await freePort();
    upIssuer = `http://localhost:${port}`;
    upstreamDb = await openIsolatedTestDatabase();
    upstream = await startTestMesh({ database: upstreamDb, env: { TOLLGATE_IDENTITY_HTTP_PORT: String(port), TOLLGATE_JWT_ISSUER: upIssuer } });
    mesh = await startTestMesh();
    upIdentity = createRpcClient(IdentityService, upstream.address('identity'));
    identity = createRpcClient(IdentityService, mesh.address('identity'));
    issuer = mesh.services.find((s) => s.name === 'identity')!.httpAddress!;
  });
  afterAll(async () => {
    upIdentity?.close();
    identity?.close();
    await mesh?.stop();
    await upstream?.stop();
    await upstreamDb?.close();
  });

  it('signs a person in through the upstream, creates and links them once, and the app gets tokens', async () => {
    // Upstream: a person, and a client for Tollgate's callback.
    const corp = await upstream.createTenant('corp');
    const upUser = `alice-${Date.now().toString(36)}`;
    await upIdentity.createUser({ username: upUser, password, accountId: corp.accountId, role: Role.MEMBER }, bearer(corp.masterToken));
    const upClient = await upIdentity.createClient({ accountId: corp.accountId, name: 'Tollgate', type: OAuthClientType.WEB, redirectUris: [`${issuer}/oauth/sso/callback`], firstParty: true, scopes: ['openid', 'profile', 'email'] }, bearer(corp.masterToken));

    // Tollgate: an account with that connection, and an app of the account.
    const t = await mesh.createTenant('sso');
    const created = await identity.createSsoConnection({ accountId: t.accountId, name: 'Corp', issuer: upIssuer, clientId: upClient.client!.id, clientSecret: upClient.clientSecret, defaultRole: 'viewer' }, bearer(t.masterToken));
    expect(created.redirectUri).toBe(`${issuer}/oauth/sso/callback`);
    const listed = await identity.listSsoConnections({ accountId: t.accountId }, bearer(t.masterToken));
    expect(listed.connections.map((c) => c.id)).toEqual([created.connection!.id]);
    expect(JSON.stringify(listed, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(upClient.clientSecret);
    const app = await identity.createClient({ accountId: t.accountId, name: 'App', type: OAuthClientType.SPA, redirectUris: [REDIRECT], firstParty: true }, bearer(t.masterToken));
    const config = await client.discovery(new URL(issuer), app.client!.id, undefined, client.None(), { execute: [client.allowInsecureRequests] });

    const signIn = async () => {
      const verifier = client.randomPKCECodeVerifier();
      const b = browser();
      const page = await b.follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, REDIRECT);
      const html = await page.res!.text();
      const link = /<a class="sso" href="([^"]+)">Sign in with Corp<\/a>/.exec(html)?.[1];
      expect(link).toBeTruthy();
      // Off to the upstream's own sign-in page.
      const up = await b.follow(new URL(link!.replaceAll('&amp;', '&'), page.url).href, REDIRECT);
      expect(new URL(up.url).host).toBe(new URL(upIssuer).host);
      const upHtml = await up.res!.text();
      const action = new URL(formAction(upHtml)!, up.url).href;
      const posted = await b.post(action, { csrf: field(upHtml, 'csrf')!, username: upUser, password });
      expect(posted.status).toBe(303);
      const back = await b.follow(new URL(posted.headers.get('location')!, action).href, REDIRECT);
      expect(back.res, back.res ? await back.res.clone().text() : '').toBeUndefined();
      return client.authorizationCodeGrant(config, new URL(back.url), { pkceCodeVerifier: verifier });
    };

    const first = await signIn();
    const userId = first.claims()!.sub;
    const info = await client.fetchUserInfo(config, first.access_token, userId);
    expect(info).toMatchObject({ sub: expect.stringMatching(/^usr_/), preferred_username: expect.stringContaining(upUser), acc: t.accountId, roles: ['viewer'] });
    // Linked by the upstream subject: the same person again is the same Tollgate user.
    expect((await signIn()).claims()!.sub).toBe(userId);
    const events = await identity.listAuditEvents({ accountId: t.accountId, kind: 'login_ok' }, bearer(t.masterToken));
    expect(events.events.filter((e) => e.subjectId === userId).length).toBe(2);
  });

  it('signs a person in through a SAML 2.0 IdP (samlify) with a signed assertion, bound to the request', async () => {
    // The IdP: samlify with a test key pair (fixtures), answering with the HTTP-POST binding.
    samlify.setSchemaValidator({ validate: async () => 'skipped: test IdP' });
    const idpKey = readFileSync(new URL('./fixtures/saml-idp.key', import.meta.url), 'utf8');
    const idpCert = readFileSync(new URL('./fixtures/saml-idp.crt', import.meta.url), 'utf8');
    const idpEntityId = 'https://idp.corp.example/saml';
    const idp = samlify.IdentityProvider({
      entityID: idpEntityId,
      privateKey: idpKey,
      signingCert: idpCert,
      wantAuthnRequestsSigned: false,
      nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
      singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: 'http://localhost:9/sso' }],
    });

    const t = await mesh.createTenant('saml');
    const created = await identity.createSsoConnection({ accountId: t.accountId, kind: 'saml', name: 'CorpSAML', issuer: idpEntityId, samlEntryPoint: 'http://localhost:9/sso', samlIdpCertificate: idpCert, defaultRole: 'member' }, bearer(t.masterToken));
    expect(created).toMatchObject({ redirectUri: `${issuer}/oauth/sso/saml/acs`, samlSpEntityId: `${issuer}/oauth/sso/saml/${created.connection!.id}` });
    const sp = samlify.ServiceProvider({
      entityID: created.samlSpEntityId,
      wantAssertionsSigned: true,
      assertionConsumerService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: created.redirectUri }],
    });
    const app = await identity.createClient({ accountId: t.accountId, name: 'App', type: OAuthClientType.SPA, redirectUris: [REDIRECT], firstParty: true }, bearer(t.masterToken));
    const config = await client.discovery(new URL(issuer), app.client!.id, undefined, client.None(), { execute: [client.allowInsecureRequests] });

    const verifier = client.randomPKCECodeVerifier();
    const b = browser();
    const page = await b.follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, REDIRECT);
    const link = /<a class="sso" href="([^"]+)">Sign in with CorpSAML<\/a>/.exec(await page.res!.text())?.[1];
    const toIdp = await b.request(new URL(link!.replaceAll('&amp;', '&'), page.url).href);
    expect(toIdp.status).toBe(303);
    const authnRequest = new URL(toIdp.headers.get('location')!);
    expect(authnRequest.origin + authnRequest.pathname).toBe('http://localhost:9/sso');
    const parsed = await idp.parseLoginRequest(sp, 'redirect', { query: Object.fromEntries(authnRequest.searchParams) });
    const relayState = authnRequest.searchParams.get('RelayState')!;
    const response = (await idp.createLoginResponse(sp, parsed as unknown as Parameters<typeof idp.createLoginResponse>[1], 'post', { email: 'bob@corp.example' }, { relayState })) as { context: string };

    const acs = await b.post(created.redirectUri, { SAMLResponse: response.context, RelayState: relayState });
    expect(acs.status, await acs.clone().text()).toBe(303);
    const back = await b.follow(new URL(acs.headers.get('location')!, created.redirectUri).href, REDIRECT);
    expect(back.res).toBeUndefined();
    const tokens = await client.authorizationCodeGrant(config, new URL(back.url), { pkceCodeVerifier: verifier });
    const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
    expect(info).toMatchObject({ preferred_username: expect.stringContaining('bob@corp.example'), acc: t.accountId, roles: ['member'] });

    // The same response again (a replay), or one for another request: refused.
    const replay = await browser().post(created.redirectUri, { SAMLResponse: response.context, RelayState: relayState });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('already used');
    const otherRelay = authnRequest.searchParams.get('RelayState')!.slice(0, -4) + 'AAAA';
    expect((await b.post(created.redirectUri, { SAMLResponse: response.context, RelayState: otherRelay })).status).toBe(400);
    // A response signed by another key: refused.
    const forgedIdp = samlify.IdentityProvider({ entityID: idpEntityId, privateKey: (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), signingCert: idpCert, nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'], singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: 'http://localhost:9/sso' }] });
    const forged = (await forgedIdp.createLoginResponse(sp, parsed as unknown as Parameters<typeof idp.createLoginResponse>[1], 'post', { email: 'mallory@corp.example' }, { relayState })) as { context: string };
    expect((await b.post(created.redirectUri, { SAMLResponse: forged.context, RelayState: relayState })).status).toBe(400);
  });

  it('refuses a forged or missing SSO cookie at the callback, and manages connections as an admin only', async () => {
    const noCookie = await fetch(`${issuer}/oauth/sso/callback?code=x&state=y`);
    expect(noCookie.status).toBe(400);
    const forged = await fetch(`${issuer}/oauth/sso/callback?code=x&state=y`, { headers: { cookie: 'tollgate_sso=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.BBBB.CCCC' } });
    expect(forged.status).toBe(400);
    const t = await mesh.createTenant('sso-admin');
    await expect(identity.createSsoConnection({ accountId: t.accountId, name: 'X', issuer: 'http://idp.example.com', clientId: 'c', clientSecret: 's' }, bearer(t.masterToken))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'issuer' });
    await expect(identity.createSsoConnection({ accountId: t.accountId, name: 'X', issuer: 'https://idp.example.com', clientId: 'c', clientSecret: '' }, bearer(t.masterToken))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'client_secret' });
    await expect(identity.createSsoConnection({ accountId: t.accountId, name: 'X', issuer: 'https://idp.example.com', clientId: 'c', clientSecret: 's', defaultRole: 'owner' }, bearer(t.masterToken))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'default_role' });
    await expect(identity.createSsoConnection({ accountId: t.accountId, name: 'X', issuer: 'https://idp.example.com', clientId: 'c', clientSecret: 's' })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(identity.createSsoConnection({ accountId: t.accountId, kind: 'ldap', name: 'X', issuer: 'x' }, bearer(t.masterToken))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'kind' });
    await expect(identity.createSsoConnection({ accountId: t.accountId, kind: 'saml', name: 'X', issuer: 'urn:idp', samlEntryPoint: 'https://idp.example.com/sso', samlIdpCertificate: 'not a certificate' }, bearer(t.masterToken))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'saml_idp_certificate' });
    await expect(identity.createSsoConnection({ accountId: t.accountId, kind: 'saml', name: 'X', issuer: 'urn:idp', samlEntryPoint: 'http://idp.example.com/sso', samlIdpCertificate: 'x' }, bearer(t.masterToken))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'saml_entry_point' });
    const made = await identity.createSsoConnection({ accountId: t.accountId, name: 'X', issuer: 'https://idp.example.com', clientId: 'c', clientSecret: 's' }, bearer(t.masterToken));
    const other = await mesh.createTenant('sso-other');
    await expect(identity.deleteSsoConnection({ connectionId: made.connection!.id }, bearer(other.masterToken))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await identity.deleteSsoConnection({ connectionId: made.connection!.id }, bearer(t.masterToken));
    expect((await identity.listSsoConnections({ accountId: t.accountId }, bearer(t.masterToken))).connections).toEqual([]);
  });
});
