import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { EncryptJWT, jwtDecrypt } from 'jose';
import * as oidc from 'openid-client';
import type Provider from 'oidc-provider';
import { isAppError } from '#libs/errors/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { amrAssertsMfa, samlContextAssertsMfa } from '../domain/sso-policy.ts';
import type { Sessions } from '../sessions.ts';
import { errorPage, oauthPageCsp, ssoTotpPage } from './interaction-pages.ts';
import { deriveKey, OAUTH_PATH } from './oidc-provider-factory.ts';
import type { UpstreamSso } from './upstream-sso.ts';

type Env = { Bindings: HttpBindings };

/** A SAML connection's service-provider entity ID and the assertion consumer service (HTTP-POST) URL. */
export function samlUrls(issuer: string, connectionId: string): { spEntityId: string; acs: string } {
  return { spEntityId: `${issuer}${OAUTH_PATH}/sso/saml/${connectionId}`, acs: `${issuer}${OAUTH_PATH}/sso/saml/acs` };
}
const COOKIE = 'tollgate_sso';
const PENDING_SECONDS = 600;
/** From the upstream's answer to the end of Tollgate's TOTP step. */
const FINISH_SECONDS = 300;

interface Pending {
  uid: string;
  conn: string;
  verifier: string;
  state: string;
  nonce: string;
}

/**
 * The upstream leg of single sign-on. Start (from the sign-in page) → the upstream provider →
 * callback (code exchanged with PKCE, state and nonce checked by openid-client) → finish (back in
 * the interaction, which only then is completed). What the browser carries between the legs is an
 * encrypted JWT cookie (JWE `dir` + A256GCM under a key derived from TOLLGATE_SECRET_KEY), bound to
 * the interaction and short-lived.
 */
export function mountSso(
  http: Hono,
  deps: {
    sso: UpstreamSso;
    provider: () => Provider | undefined;
    mountPath: string;
    issuer: () => string | undefined;
    secretKey: Uint8Array;
    logger: Logger;
    clock: { nowMs(): number };
    /** One-time use of a SAML request id across replicas (false: already answered). */
    claimOnce: (key: string, expiresAtMs: number) => Promise<boolean>;
    /** Tollgate's second factor after an upstream sign-in (undefined before identity started). */
    sessions: () => Pick<Sessions, 'secondFactorAfterUpstream' | 'verifySecondFactor'> | undefined;
  },
): void {
  const app = http as unknown as Hono<Env>;
  const base = `${deps.mountPath}${OAUTH_PATH}`;
  const key = new Uint8Array(deriveKey(deps.secretKey, 'sso-cookie'));
  const html = (c: Context<Env>, body: string, status: number) => c.html(body, status as 400, { 'content-security-policy': oauthPageCsp, 'cache-control': 'no-store' });
  const failed = (c: Context<Env>, why: string) => html(c, errorPage('sso_failed', why), 400);
  const node = (c: Context<Env>) => ({ req: c.env.incoming as IncomingMessage, res: c.env.outgoing as ServerResponse });
  const cookieOptions = { path: base, httpOnly: true, sameSite: 'Lax' as const, secure: deps.issuer()?.startsWith('https:') ?? false };

  const seal = (claims: Record<string, string>, seconds: number) => new EncryptJWT(claims).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).setIssuedAt().setExpirationTime(`${seconds}s`).encrypt(key);
  async function unseal(c: Context<Env>, sealed?: string): Promise<Record<string, unknown> | undefined> {
    const value = sealed ?? getCookie(c, COOKIE);
    if (!value) return undefined;
    try {
      return (await jwtDecrypt(value, key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] })).payload;
    } catch {
      return undefined;
    }
  }

  async function interactionUid(c: Context<Env>): Promise<string | undefined> {
    const provider = deps.provider();
    if (!provider) return undefined;
    const { req, res } = node(c);
    try {
      const found = await provider.interactionDetails(req, res);
      return found.uid === c.req.param('uid') && found.prompt.name === 'login' ? found.uid : undefined;
    } catch {
      return undefined;
    }
  }

  const callbackUrl = () => `${deps.issuer()}${OAUTH_PATH}/sso/callback`;

  app.get(`${base}/interaction/:uid/sso/:connection`, async (c) => {
    const uid = await interactionUid(c);
    if (!uid) return failed(c, 'This sign-in page has expired. Start again from the application.');
    const connection = await deps.sso.find(c.req.param('connection'));
    if (!connection) return failed(c, 'connection: unknown single sign-on connection');
    if (connection.kind === 'saml') {
      // The IdP posts back cross-site, where a SameSite cookie is not sent: the state rides in
      // RelayState, sealed the same way, and names the one request id the response may answer.
      const requestId = `_${randomBytes(20).toString('hex')}`;
      const relay = await seal({ uid, conn: connection.id, rid: requestId }, PENDING_SECONDS);
      const saml = deps.sso.samlFor(connection, samlUrls(deps.issuer()!, connection.id), { id: requestId, createdAtMs: deps.clock.nowMs() });
      return c.redirect(await saml.getAuthorizeUrlAsync(relay, undefined, {}), 303);
    }
    let config: oidc.Configuration;
    try {
      config = await deps.sso.configFor(connection);
    } catch (error) {
      deps.logger.warn({ err: error, connection: connection.id }, 'upstream OIDC discovery failed');
      return failed(c, `${connection.name} cannot be reached right now.`);
    }
    const pending: Pending = { uid, conn: connection.id, verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
    setCookie(c, COOKIE, await seal({ ...pending }, PENDING_SECONDS), { ...cookieOptions, maxAge: PENDING_SECONDS });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callbackUrl(),
      scope: 'openid profile email',
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return c.redirect(url.href, 303);
  });

  app.get(`${base}/sso/callback`, async (c) => {
    const pending = await unseal(c);
    if (!pending || typeof pending['verifier'] !== 'string' || typeof pending['conn'] !== 'string' || typeof pending['uid'] !== 'string') return failed(c, 'This sign-in has expired. Start again from the application.');
    const connection = await deps.sso.find(pending['conn']);
    if (!connection) return failed(c, 'connection: the single sign-on connection was removed');
    let userId: string;
    let upstreamMfa = false;
    try {
      const config = await deps.sso.configFor(connection);
      const current = new URL(callbackUrl());
      current.search = new URL(c.req.url).search;
      const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: pending['verifier'], expectedState: String(pending['state']), expectedNonce: String(pending['nonce']), idTokenExpected: true });
      const claims = tokens.claims();
      if (!claims?.sub) return failed(c, `${connection.name} did not say who you are.`);
      // Many providers put profile claims only in userinfo (OIDC Core §5.4): ask it for a username.
      let profile: Record<string, unknown> = { ...claims };
      if (typeof profile['preferred_username'] !== 'string' && typeof profile['email'] !== 'string') {
        profile = { ...(await oidc.fetchUserInfo(config, tokens.access_token, claims.sub).catch(() => claims)) };
      }
      // Only an email the upstream says it verified links an existing member (OIDC Core §5.1).
      const found = await deps.sso.userFor(connection, { sub: claims.sub, preferred_username: profile['preferred_username'], email: profile['email'], emailTrusted: profile['email_verified'] === true }, node(c).req.socket.remoteAddress ?? null);
      if (!found.ok) return html(c, errorPage('access_denied', found.message), 403);
      userId = found.userId;
      upstreamMfa = amrAssertsMfa(claims.amr);
    } catch (error) {
      if (isAppError(error) && error.code === 'PERMISSION_DENIED') return html(c, errorPage('access_denied', error.publicMessage), 403);
      deps.logger.warn({ err: error, connection: connection.id }, 'upstream OIDC sign-in failed');
      return failed(c, `Signing in with ${connection.name} did not succeed.`);
    }
    setCookie(c, COOKIE, await seal({ uid: pending['uid'], user: userId, conn: connection.id, mfa: upstreamMfa ? '1' : '0', n: randomBytes(16).toString('base64url') }, FINISH_SECONDS), { ...cookieOptions, maxAge: FINISH_SECONDS });
    return c.redirect(`${base}/interaction/${pending['uid']}/sso-finish`, 303);
  });

  app.post(`${base}/sso/saml/acs`, async (c) => {
    const form = await c.req.parseBody();
    const relay = typeof form['RelayState'] === 'string' ? await unseal(c, form['RelayState']) : undefined;
    if (!relay || typeof relay['conn'] !== 'string' || typeof relay['rid'] !== 'string' || typeof relay['uid'] !== 'string') return failed(c, 'This sign-in has expired. Start again from the application.');
    if (typeof form['SAMLResponse'] !== 'string' || form['SAMLResponse'].length > 256 * 1024) return failed(c, 'SAMLResponse: missing or too large');
    const connection = await deps.sso.find(relay['conn']);
    if (!connection || connection.kind !== 'saml') return failed(c, 'connection: the single sign-on connection was removed');
    let userId: string;
    let upstreamMfa = false;
    try {
      const saml = deps.sso.samlFor(connection, samlUrls(deps.issuer()!, connection.id), { id: relay['rid'], createdAtMs: typeof relay['iat'] === 'number' ? relay['iat'] * 1000 : 0 });
      const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: form['SAMLResponse'] });
      if (!profile?.nameID) return failed(c, `${connection.name} did not say who you are.`);
      // A valid response answers its request once: a replayed POST (within the assertion's life) is refused.
      if (!(await deps.claimOnce(relay['rid'], deps.clock.nowMs() + PENDING_SECONDS * 1000))) return failed(c, 'This sign-in response was already used.');
      // The email attribute, else a NameID in the emailAddress format.
      const nameIdEmail = profile.nameIDFormat === 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress' ? profile.nameID : undefined;
      const email = [profile.email, profile.mail, profile['urn:oid:0.9.2342.19200300.100.1.3'], nameIdEmail].find((v) => typeof v === 'string');
      // The email attribute of an assertion signed by the account's own IdP is its word on the
      // person's address: trusted as verified (README "Single sign-on").
      const found = await deps.sso.userFor(connection, { sub: profile.nameID, email, emailTrusted: email !== undefined }, node(c).req.socket.remoteAddress ?? null);
      if (!found.ok) return html(c, errorPage('access_denied', found.message), 403);
      userId = found.userId;
      const assertionXml = profile.getAssertionXml?.() ?? '';
      upstreamMfa = samlContextAssertsMfa([...assertionXml.matchAll(/<(?:[\w-]+:)?AuthnContextClassRef>([^<]+)</g)].map((m) => m[1]!));
    } catch (error) {
      if (isAppError(error) && error.code === 'PERMISSION_DENIED') return html(c, errorPage('access_denied', error.publicMessage), 403);
      deps.logger.warn({ err: error, connection: connection.id }, 'upstream SAML sign-in failed');
      return failed(c, `Signing in with ${connection.name} did not succeed.`);
    }
    setCookie(c, COOKIE, await seal({ uid: relay['uid'], user: userId, conn: connection.id, mfa: upstreamMfa ? '1' : '0', n: randomBytes(16).toString('base64url') }, FINISH_SECONDS), { ...cookieOptions, maxAge: FINISH_SECONDS });
    return c.redirect(`${base}/interaction/${relay['uid']}/sso-finish`, 303);
  });

  /** The upstream leg is done: Tollgate's TOTP step when it applies (domain/sso-policy.ts), then the interaction. */
  async function finishing(c: Context<Env>) {
    const done = await unseal(c);
    const uid = await interactionUid(c);
    if (!uid || !done || done['uid'] !== uid || typeof done['user'] !== 'string' || typeof done['conn'] !== 'string' || typeof done['n'] !== 'string') return undefined;
    const connection = await deps.sso.find(done['conn']);
    const sessions = deps.sessions();
    if (!connection || !sessions) return undefined;
    return { uid, userId: done['user'], connection, sessions, nonce: done['n'], upstreamMfa: done['mfa'] === '1' };
  }
  const expired = (c: Context<Env>) => failed(c, 'This sign-in has expired. Start again from the application.');
  async function complete(c: Context<Env>, f: NonNullable<Awaited<ReturnType<typeof finishing>>>, secondFactor: 'upstream_mfa' | 'totp' | 'none') {
    deleteCookie(c, COOKIE, { path: base });
    await deps.sso.signedIn(f.connection, f.userId, secondFactor, node(c).req.socket.remoteAddress ?? null);
    const { req, res } = node(c);
    const amr = secondFactor === 'totp' ? ['fed', 'otp'] : secondFactor === 'upstream_mfa' ? ['fed', 'mfa'] : ['fed'];
    const to = await deps.provider()!.interactionResult(req, res, { login: { accountId: f.userId, amr } }, { mergeWithLastSubmission: false });
    return c.redirect(to, 303);
  }
  const totpAction = (uid: string) => `${base}/interaction/${uid}/sso-totp`;

  app.get(`${base}/interaction/:uid/sso-finish`, async (c) => {
    const f = await finishing(c);
    if (!f) {
      deleteCookie(c, COOKIE, { path: base });
      return expired(c);
    }
    const step = await f.sessions.secondFactorAfterUpstream({ userId: f.userId, accountId: f.connection.accountId, upstreamMfa: f.upstreamMfa });
    if (step === 'none') return complete(c, f, f.upstreamMfa ? 'upstream_mfa' : 'none');
    if (step === 'enrollment_required') {
      deleteCookie(c, COOKIE, { path: base });
      await deps.sso.refused(f.connection, f.userId, 'TWO_FACTOR_ENROLLMENT_REQUIRED', node(c).req.socket.remoteAddress ?? null);
      return html(c, errorPage('access_denied', 'Your account requires two-factor authentication: enroll it in the Tollgate console first.'), 403);
    }
    return html(c, ssoTotpPage({ action: totpAction(f.uid), csrf: f.nonce, name: f.connection.name }), 200);
  });

  // The sealed cookie (SameSite=Lax, so absent from a cross-site POST) names the user; the form
  // must also echo its nonce.
  app.post(`${base}/interaction/:uid/sso-totp`, async (c) => {
    const form = await c.req.parseBody();
    const f = await finishing(c);
    if (!f) return expired(c);
    if (form['csrf'] !== f.nonce) return html(c, errorPage('invalid_request', 'csrf: the form is not from this sign-in page'), 403);
    const code = typeof form['totp'] === 'string' ? form['totp'].replaceAll(' ', '') : '';
    const again = (error: string, status: number) => html(c, ssoTotpPage({ action: totpAction(f.uid), csrf: f.nonce, name: f.connection.name, error }), status);
    if (!code || code.length > 64) return again('totp: enter the code from your authenticator app', 400);
    const checked = await f.sessions.verifySecondFactor({ userId: f.userId, accountId: f.connection.accountId, code, peerIp: node(c).req.socket.remoteAddress ?? null, connectionId: f.connection.id });
    if (checked.ok) return complete(c, f, 'totp');
    if (checked.reason === 'LOCKED_OUT') return again(`Too many failed attempts. Try again in ${Math.ceil((checked.retryAfterMs ?? 1_000) / 1000)} s.`, 429);
    return again('That authentication code is not valid.', 401);
  });
}
