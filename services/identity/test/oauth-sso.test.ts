import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as samlify from 'samlify';
import * as OTPAuth from 'otpauth';
import * as client from 'openid-client';
import type { Database } from '#libs/db/index.ts';
import { createRpcClient } from '#libs/rpc/index.ts';
import { IdentityService, LoginOutcome, Role } from '#gen/tollgate/identity/v1/identity_pb.js';
import { OAuthClientType } from '#gen/tollgate/identity/v1/oauth_clients_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { openIsolatedTestDatabase } from '../../../test/harness/database.ts';
import { browser, field, formAction } from './oauth-browser.ts';
import { freePort } from '../../../test/harness/ports.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const REDIRECT = 'http://127.0.0.1:1/app-callback';
const password = 'correct horse battery staple';


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

  it('refuses an uninvited upstream identity by default, provisions with a jit connection, links once, and applies TOTP unless the upstream asserted MFA', async () => {
    // Upstream: a person (with an email the upstream does not verify), and a client for Tollgate's callback.
    const corp = await upstream.createTenant('corp');
    const upUser = `alice-${Date.now().toString(36)}`;
    const upCreated = await upIdentity.createUser({ username: upUser, password, accountId: corp.accountId, role: Role.MEMBER, email: 'alice@corp.example' }, bearer(corp.masterToken));
    const upClient = await upIdentity.createClient({ accountId: corp.accountId, name: 'Tollgate', type: OAuthClientType.WEB, redirectUris: [`${issuer}/oauth/sso/callback`], firstParty: true, scopes: ['openid', 'profile', 'email'] }, bearer(corp.masterToken));

    // Tollgate: an account with an invited-only connection (the default), a member with the same
    // email, and an app of the account.
    const t = await mesh.createTenant('sso');
    await identity.createUser({ username: `alice-local-${Date.now().toString(36)}`, password, accountId: t.accountId, role: Role.MEMBER, email: 'Alice@Corp.Example' }, bearer(t.masterToken));
    const invited = await identity.createSsoConnection({ accountId: t.accountId, name: 'Corp', issuer: upIssuer, clientId: upClient.client!.id, clientSecret: upClient.clientSecret }, bearer(t.masterToken));
    expect(invited.connection!.provisioning).toBe('invited');
    expect(invited.redirectUri).toBe(`${issuer}/oauth/sso/callback`);
    const listed = await identity.listSsoConnections({ accountId: t.accountId }, bearer(t.masterToken));
    expect(listed.connections.map((c) => c.id)).toEqual([invited.connection!.id]);
    expect(JSON.stringify(listed, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(upClient.clientSecret);
    const app = await identity.createClient({ accountId: t.accountId, name: 'App', type: OAuthClientType.SPA, redirectUris: [REDIRECT], firstParty: true }, bearer(t.masterToken));
    const config = await client.discovery(new URL(issuer), app.client!.id, undefined, client.None(), { execute: [client.allowInsecureRequests] });

    /** Through the upstream's own sign-in page; answers the page Tollgate shows on return, or the app's tokens. */
    const signIn = async (connectionName: string, upstreamTotp?: string, tollgateTotp?: string[]) => {
      const verifier = client.randomPKCECodeVerifier();
      const b = browser();
      const page = await b.follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, REDIRECT);
      const html = await page.res!.text();
      const link = new RegExp(`<a class="sso" href="([^"]+)">Sign in with ${connectionName}</a>`).exec(html)?.[1];
      expect(link).toBeTruthy();
      const up = await b.follow(new URL(link!.replaceAll('&amp;', '&'), page.url).href, REDIRECT);
      expect(new URL(up.url).host).toBe(new URL(upIssuer).host);
      const upHtml = await up.res!.text();
      const action = new URL(formAction(upHtml)!, up.url).href;
      const posted = await b.post(action, { csrf: field(upHtml, 'csrf')!, username: upUser, password, ...(upstreamTotp ? { totp: upstreamTotp } : {}) });
      expect(posted.status).toBe(303);
      let back = await b.follow(new URL(posted.headers.get('location')!, action).href, REDIRECT);
      for (const code of tollgateTotp ?? []) {
        // Tollgate's own TOTP page after the upstream leg.
        const totpHtml = await back.res!.text();
        expect(totpHtml).toContain('Authentication code');
        const totpAction = new URL(formAction(totpHtml)!, back.url).href;
        const sent = await b.post(totpAction, { csrf: field(totpHtml, 'csrf')!, totp: code });
        if (sent.status !== 303) return { page: sent.status, text: await sent.text() } as const;
        back = await b.follow(new URL(sent.headers.get('location')!, totpAction).href, REDIRECT);
      }
      if (back.res) return { page: back.res.status, text: await back.res.text() } as const;
      return { tokens: await client.authorizationCodeGrant(config, new URL(back.url), { pkceCodeVerifier: verifier }) } as const;
    };
    const audit = async (kind: string) => (await identity.listAuditEvents({ accountId: t.accountId, kind }, bearer(t.masterToken))).events;

    // Invited-only: not a member, and the email is not verified upstream, so no link either.
    const refused = await signIn('Corp');
    expect(refused).toMatchObject({ page: 403, text: expect.stringContaining('not a member of this account') });
    expect((await audit('sso_refused')).map((e) => e.details['connection'])).toEqual([invited.connection!.id]);
    expect((await audit('sso_linked')).length).toBe(0);
    await identity.deleteSsoConnection({ connectionId: invited.connection!.id }, bearer(t.masterToken));

    // Just-in-time provisioning, chosen per connection, with its role.
    const jit = await identity.createSsoConnection({ accountId: t.accountId, name: 'CorpJit', issuer: upIssuer, clientId: upClient.client!.id, clientSecret: upClient.clientSecret, defaultRole: 'viewer', provisioning: 'jit' }, bearer(t.masterToken));
    expect(jit.connection).toMatchObject({ provisioning: 'jit', defaultRole: 'viewer' });
    const first = await signIn('CorpJit');
    if (!('tokens' in first)) throw new Error(`no tokens: ${JSON.stringify(first)}`);
    const userId = first.tokens!.claims()!.sub;
    const info = await client.fetchUserInfo(config, first.tokens!.access_token, userId);
    expect(info).toMatchObject({ sub: expect.stringMatching(/^usr_/), preferred_username: expect.stringContaining(upUser), acc: t.accountId, roles: ['viewer'] });
    // Linked by the upstream subject: the same person again is the same Tollgate user.
    const second = await signIn('CorpJit');
    expect('tokens' in second && second.tokens!.claims()!.sub).toBe(userId);
    expect((await audit('sso_linked')).map((e) => [e.subjectId, e.details['connection']])).toEqual([[userId, jit.connection!.id]]);
    expect((await audit('sso_login')).filter((e) => e.subjectId === userId).map((e) => e.details['second_factor'])).toEqual(['none', 'none']);

    // The Tollgate user enrolls TOTP (their admin does it): the upstream's password-only sign-in
    // is followed by Tollgate's code step; a wrong code is refused, a recovery code passes.
    const enrolled = await identity.enrollTotp({ userId }, bearer(t.masterToken));
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    const confirmed = await identity.confirmTotp({ userId, code: totp.generate() }, bearer(t.masterToken));
    const withCode = await signIn('CorpJit', undefined, [confirmed.recoveryCodes[0]!]);
    expect('tokens' in withCode && withCode.tokens!.claims()!.sub, JSON.stringify(withCode)).toBe(userId);
    // (After the success: a failure starts the (username, address) backoff.)
    const wrong = await signIn('CorpJit', undefined, ['not-a-code']);
    expect(wrong).toMatchObject({ page: 401, text: expect.stringContaining('not valid') });
    expect((await audit('login_failed')).filter((e) => e.subjectId === userId).length).toBe(1);

    // The upstream user enrolls TOTP too and uses it: the upstream's ID token says amr otp, and
    // Tollgate asks for no second code.
    const upEnrolled = await upIdentity.enrollTotp({ userId: upCreated.user!.id }, bearer(corp.masterToken));
    const upTotp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(upEnrolled.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    const upConfirmed = await upIdentity.confirmTotp({ userId: upCreated.user!.id, code: upTotp.generate() }, bearer(corp.masterToken));
    const mfa = await signIn('CorpJit', upConfirmed.recoveryCodes[0]!);
    expect('tokens' in mfa && mfa.tokens!.claims()!.sub).toBe(userId);
    expect((await audit('sso_login')).filter((e) => e.subjectId === userId).map((e) => e.details['second_factor'])).toEqual(['upstream_mfa', 'totp', 'none', 'none']);
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
    // Invited-only (the default): an existing member, linked on first sign-in by the email attribute, case-insensitively.
    const bob = await identity.createUser({ username: `bob-${Date.now().toString(36)}`, password, accountId: t.accountId, role: Role.MEMBER, email: 'Bob@Corp.Example' }, bearer(t.masterToken));
    expect(bob.user!.email).toBe('Bob@Corp.Example');
    const created = await identity.createSsoConnection({ accountId: t.accountId, kind: 'saml', name: 'CorpSAML', issuer: idpEntityId, samlEntryPoint: 'http://localhost:9/sso', samlIdpCertificate: idpCert }, bearer(t.masterToken));
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
    expect(info).toMatchObject({ sub: bob.user!.id, preferred_username: bob.user!.username, acc: t.accountId, roles: ['member'] });
    const linked = (await identity.listAuditEvents({ accountId: t.accountId, kind: 'sso_linked' }, bearer(t.masterToken))).events;
    expect(linked.map((e) => [e.subjectId, e.details['connection']])).toEqual([[bob.user!.id, created.connection!.id]]);
    expect((await identity.listAuditEvents({ accountId: t.accountId, kind: 'sso_login' }, bearer(t.masterToken))).events.map((e) => e.subjectId)).toEqual([bob.user!.id]);

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

  /**
   * A samlify IdP for one account's SAML connection, answering with assertions it writes itself:
   * its own NameID, email attribute and AuthnContextClassRef. `signIn` runs an app's authorization
   * request through it and answers the page Tollgate shows on return, or the app's tokens.
   */
  async function samlAccount(name: string) {
    samlify.setSchemaValidator({ validate: async () => 'skipped: test IdP' });
    const idpCert = readFileSync(new URL('./fixtures/saml-idp.crt', import.meta.url), 'utf8');
    const idpEntityId = `https://idp.${name}.example/saml`;
    const idp = samlify.IdentityProvider({
      entityID: idpEntityId,
      privateKey: readFileSync(new URL('./fixtures/saml-idp.key', import.meta.url), 'utf8'),
      signingCert: idpCert,
      wantAuthnRequestsSigned: false,
      nameIDFormat: ['urn:oasis:names:tc:SAML:2.0:nameid-format:persistent'],
      singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: 'http://localhost:9/sso' }],
    });
    const t = await mesh.createTenant(name);
    const created = await identity.createSsoConnection({ accountId: t.accountId, kind: 'saml', name: 'CorpSAML', issuer: idpEntityId, samlEntryPoint: 'http://localhost:9/sso', samlIdpCertificate: idpCert }, bearer(t.masterToken));
    const sp = samlify.ServiceProvider({ entityID: created.samlSpEntityId, wantAssertionsSigned: true, assertionConsumerService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: created.redirectUri }] });
    const app = await identity.createClient({ accountId: t.accountId, name: 'App', type: OAuthClientType.SPA, redirectUris: [REDIRECT], firstParty: true }, bearer(t.masterToken));
    const config = await client.discovery(new URL(issuer), app.client!.id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const audit = async (kind: string) => (await identity.listAuditEvents({ accountId: t.accountId, kind }, bearer(t.masterToken))).events;

    async function signIn(person: { nameId: string; email: string; authnContext: string }, totpCode?: string) {
      const verifier = client.randomPKCECodeVerifier();
      const b = browser();
      const page = await b.follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href, REDIRECT);
      const link = /<a class="sso" href="([^"]+)">Sign in with CorpSAML<\/a>/.exec(await page.res!.text())?.[1];
      const toIdp = await b.request(new URL(link!.replaceAll('&amp;', '&'), page.url).href);
      const authnRequest = new URL(toIdp.headers.get('location')!);
      const parsed = (await idp.parseLoginRequest(sp, 'redirect', { query: Object.fromEntries(authnRequest.searchParams) })) as unknown as { extract: { request: { id: string } } };
      const relayState = authnRequest.searchParams.get('RelayState')!;
      const now = new Date();
      const later = new Date(now.getTime() + 5 * 60_000).toISOString();
      const values = {
        ID: `_r${Math.random().toString(36).slice(2)}`,
        AssertionID: `_a${Math.random().toString(36).slice(2)}`,
        Destination: created.redirectUri,
        Audience: created.samlSpEntityId,
        SubjectRecipient: created.redirectUri,
        Issuer: idpEntityId,
        IssueInstant: now.toISOString(),
        StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
        ConditionsNotBefore: now.toISOString(),
        ConditionsNotOnOrAfter: later,
        SubjectConfirmationDataNotOnOrAfter: later,
        NameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        NameID: person.nameId,
        InResponseTo: parsed.extract.request.id,
      };
      // Elements, not text (replaceTagsByValue escapes its values): how the IdP authenticated the
      // person (SAML core §2.7.2.2), which Tollgate's TOTP step looks at, and the email attribute.
      const elements = {
        '{AuthnStatement}': `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>${person.authnContext}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`,
        '{AttributeStatement}': `<saml:AttributeStatement><saml:Attribute Name="email" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">${person.email}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>`,
      };
      const response = (await idp.createLoginResponse(sp, parsed as unknown as Parameters<typeof idp.createLoginResponse>[1], 'post', { email: person.email }, {
        relayState,
        customTagReplacement: (template: string) => ({ id: values.ID, context: samlify.SamlLib.replaceTagsByValue(Object.entries(elements).reduce((xml, [tag, element]) => xml.replace(tag, element), template), values) }),
      })) as { context: string };
      const acs = await b.post(created.redirectUri, { SAMLResponse: response.context, RelayState: relayState });
      if (acs.status !== 303) return { page: acs.status, text: await acs.text() } as const;
      let back = await b.follow(new URL(acs.headers.get('location')!, created.redirectUri).href, REDIRECT);
      if (back.res && totpCode) {
        const totpHtml = await back.res.text();
        expect(totpHtml).toContain('Authentication code');
        const totpAction = new URL(formAction(totpHtml)!, back.url).href;
        const sent = await b.post(totpAction, { csrf: field(totpHtml, 'csrf')!, totp: totpCode });
        expect(sent.status).toBe(303);
        back = await b.follow(new URL(sent.headers.get('location')!, totpAction).href, REDIRECT);
      }
      if (back.res) return { page: back.res.status, text: await back.res.text() } as const;
      const tokens = await client.authorizationCodeGrant(config, new URL(back.url), { pkceCodeVerifier: verifier });
      return { tokens } as const;
    }
    return { t, connection: created.connection!, signIn, audit };
  }

  it('SAML: an assertion whose AuthnContextClassRef is multi-factor skips Tollgate\'s TOTP; a password-only one asks for the code', async () => {
    const saml = await samlAccount('saml-mfa');
    const carol = await identity.createUser({ username: `carol-${Date.now().toString(36)}`, password, accountId: saml.t.accountId, role: Role.MEMBER, email: 'carol@corp.example' }, bearer(saml.t.masterToken));
    const userId = carol.user!.id;
    const enrolled = await identity.enrollTotp({ userId }, bearer(saml.t.masterToken));
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret), digits: 6, period: 30, algorithm: 'SHA1' });
    const { recoveryCodes } = await identity.confirmTotp({ userId, code: totp.generate() }, bearer(saml.t.masterToken));
    const person = { nameId: 'carol-7f3a', email: 'carol@corp.example' };

    const mfa = await saml.signIn({ ...person, authnContext: 'https://refeds.org/profile/mfa' });
    if (!('tokens' in mfa) || !mfa.tokens) throw new Error(`no tokens: ${JSON.stringify(mfa)}`);
    expect(mfa.tokens.claims()).toMatchObject({ sub: userId, amr: ['fed', 'mfa'] });

    // Password only at the IdP: Tollgate's own code page comes before any token.
    const passwordOnly = await saml.signIn({ ...person, authnContext: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport' });
    expect(passwordOnly).toMatchObject({ page: 200, text: expect.stringContaining('Authentication code') });
    const withCode = await saml.signIn({ ...person, authnContext: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport' }, recoveryCodes[0]!);
    if (!('tokens' in withCode) || !withCode.tokens) throw new Error(`no tokens: ${JSON.stringify(withCode)}`);
    expect(withCode.tokens.claims()).toMatchObject({ sub: userId, amr: ['fed', 'otp'] });
    expect((await saml.audit('sso_login')).filter((e) => e.subjectId === userId).map((e) => e.details['second_factor'])).toEqual(['totp', 'upstream_mfa']);
  });

  it('SAML: an email matching two members, or a member already linked to another IdP subject, is refused and audited', async () => {
    const saml = await samlAccount('saml-dup');
    const stamp = Date.now().toString(36);
    for (const username of [`erin-a-${stamp}`, `erin-b-${stamp}`]) {
      await identity.createUser({ username, password, accountId: saml.t.accountId, role: Role.MEMBER, email: 'Erin@Corp.Example' }, bearer(saml.t.masterToken));
    }
    const frank = await identity.createUser({ username: `frank-${stamp}`, password, accountId: saml.t.accountId, role: Role.MEMBER, email: 'frank@corp.example' }, bearer(saml.t.masterToken));
    const pwd = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

    const ambiguous = await saml.signIn({ nameId: 'erin-1', email: 'erin@corp.example', authnContext: pwd });
    expect(ambiguous).toMatchObject({ page: 403, text: expect.stringContaining('More than one member') });

    // Frank links on first sign-in by his email; another IdP subject with the same email is someone else.
    const linked = await saml.signIn({ nameId: 'frank-1', email: 'frank@corp.example', authnContext: pwd });
    expect('tokens' in linked && linked.tokens?.claims()!.sub).toBe(frank.user!.id);
    const impostor = await saml.signIn({ nameId: 'frank-2', email: 'frank@corp.example', authnContext: pwd });
    expect(impostor).toMatchObject({ page: 403, text: expect.stringContaining('already linked to another identity') });
    // Frank himself still signs in (linked by subject).
    const again = await saml.signIn({ nameId: 'frank-1', email: 'frank@corp.example', authnContext: pwd });
    expect('tokens' in again && again.tokens?.claims()!.sub).toBe(frank.user!.id);

    const refusals = (await saml.audit('sso_refused')).map((e) => [e.outcome, e.details['connection']]);
    expect(refusals.sort()).toEqual([
      ['denied:EMAIL_AMBIGUOUS', saml.connection.id],
      ['denied:EMAIL_LINKED_ELSEWHERE', saml.connection.id],
    ]);
    expect((await saml.audit('sso_linked')).map((e) => [e.subjectId, e.outcome])).toEqual([[frank.user!.id, 'success:VERIFIED_EMAIL']]);
  });

  it('refuses password login to members of an account that requires SSO (Login, the sign-in page), audited', async () => {
    const t = await mesh.createTenant('sso-required');
    const username = `carol-${Date.now().toString(36)}`;
    await identity.createUser({ username, password, accountId: t.accountId, role: Role.MEMBER }, bearer(t.masterToken));
    expect((await identity.login({ username, password, accountId: t.accountId })).allowed).toBe(true);
    const policy = await identity.setAccountPolicy({ accountId: t.accountId, requireSso: true }, bearer(t.masterToken));
    expect(policy.account).toMatchObject({ requireSso: true, requireTotp: false });
    // A request without require_sso (as every caller made before it existed) leaves SSO as it is.
    expect((await identity.setAccountPolicy({ accountId: t.accountId }, bearer(t.masterToken))).account).toMatchObject({ requireSso: true, requireTotp: false });
    expect(await identity.login({ username, password, accountId: t.accountId })).toMatchObject({ allowed: false, outcome: LoginOutcome.SSO_REQUIRED });
    // The provider's sign-in page too.
    const app = await identity.createClient({ accountId: t.accountId, name: 'App', type: OAuthClientType.SPA, redirectUris: [REDIRECT], firstParty: true }, bearer(t.masterToken));
    const config = await client.discovery(new URL(issuer), app.client!.id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const b = browser();
    const page = await b.follow(client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' }).href, REDIRECT);
    const html = await page.res!.text();
    const posted = await b.post(new URL(formAction(html)!, page.url).href, { csrf: field(html, 'csrf')!, username, password });
    expect(posted.status).toBe(403);
    expect(await posted.text()).toContain('requires single sign-on');
    const refusals = (await identity.listAuditEvents({ accountId: t.accountId, kind: 'login_failed' }, bearer(t.masterToken))).events.filter((e) => e.outcome === 'denied:SSO_REQUIRED');
    expect(refusals.length).toBe(2);
    // A wrong password answers as for anyone (the policy is not an oracle for a guesser).
    expect(await identity.login({ username, password: 'wrong password entirely', accountId: t.accountId })).toMatchObject({ allowed: false, outcome: LoginOutcome.INVALID_CREDENTIALS });
    // Turned off again (each policy changes only when given).
    expect((await identity.setAccountPolicy({ accountId: t.accountId, requireSso: false }, bearer(t.masterToken))).account).toMatchObject({ requireSso: false, requireTotp: false });
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
