import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context, Hono } from 'hono';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { AppError, isAppError } from '#libs/errors/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import type { LoginRefusal } from '../domain/password-login.ts';
import { consentPage, errorPage, loginPage, OAUTH_STYLESHEET_PATH, oauthPageCsp, oauthStylesheet } from './interaction-pages.ts';
import { deriveKey, OAUTH_PATH } from './oidc-provider-factory.ts';

/** The password (and TOTP) step of identity's own login: its throttle and audit apply unchanged. */
export type SignIn = (input: { username: string; password: string; totpCode?: string | undefined; peerIp: string | null }) => Promise<
  { ok: true; userId: string } | { ok: false; reason: LoginRefusal | 'ACCOUNT_SUSPENDED' | 'SSO_REQUIRED'; retryAfterMs: number | undefined }
>;

export interface OAuthHttpDeps {
  /** The provider, once identity has started (undefined before). */
  provider: () => Provider | undefined;
  /** Path of the issuer URL ('' when the issuer is an origin): everything is mounted under it. */
  mountPath: string;
  signIn: SignIn;
  clients: { get(id: string): Promise<{ firstParty: boolean; name: string } | undefined> };
  secretKey: Uint8Array;
  logger: Logger;
  /** Whether the signed-in person may approve this client's grants (a bound client: only a person of its account). */
  mayApprove: (clientId: string, userId: string) => Promise<boolean>;
  /** Upstream single sign-on connections offered on the sign-in page for a client's account tree. */
  ssoOptions: (clientId: string) => Promise<{ id: string; name: string }[]>;
}

type Env = { Bindings: HttpBindings };

/**
 * Mounts the provider on identity's Hono app: the interaction pages (login, TOTP, consent) are
 * ours; every other `/oauth/*` request and the discovery document go to oidc-provider's Koa app as
 * a plain Node request handler.
 */
export function mountOAuth(http: Hono, deps: OAuthHttpDeps): void {
  const app = http as unknown as Hono<Env>;
  const base = `${deps.mountPath}${OAUTH_PATH}`;
  const csrfKey = deriveKey(deps.secretKey, 'interaction-csrf');
  const csrfFor = (uid: string) => createHmac('sha256', csrfKey).update(uid).digest('base64url');
  const csrfValid = (uid: string, presented: unknown) => {
    if (typeof presented !== 'string') return false;
    const expected = Buffer.from(csrfFor(uid));
    const actual = Buffer.from(presented);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  };
  const html = (c: Context<Env>, body: string, status = 200) =>
    c.html(body, status as 200, { 'content-security-policy': oauthPageCsp, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
  const ready = (c: Context<Env>) => {
    const provider = deps.provider();
    if (!provider) throw new AppError('UNAVAILABLE', 'identity is starting', { reason: 'STARTING' });
    return provider;
  };
  const node = (c: Context<Env>) => ({ req: c.env.incoming as IncomingMessage, res: c.env.outgoing as ServerResponse });

  /** The pending interaction; a missing or expired interaction cookie is the user's problem (400), never a 500. */
  async function details(c: Context<Env>) {
    const { req, res } = node(c);
    try {
      const found = await ready(c).interactionDetails(req, res);
      return found.uid === c.req.param('uid') ? found : undefined;
    } catch (error) {
      if ((error as { name?: string }).name === 'SessionNotFound') return undefined;
      throw error;
    }
  }
  const expired = (c: Context<Env>) => html(c, errorPage('interaction_expired', 'This sign-in page has expired. Start again from the application.'), 400);

  async function finish(c: Context<Env>, result: InteractionResults, merge: boolean) {
    const { req, res } = node(c);
    const to = await ready(c).interactionResult(req, res, result, { mergeWithLastSubmission: merge });
    return c.redirect(to, 303);
  }

  /** A person signed in already (an earlier session) who is not of a bound client's account: access_denied. */
  const refuseStranger = (c: Context<Env>) => finish(c, { error: 'access_denied', error_description: 'only a person of the account that registered this client may approve it' }, true);

  async function clientName(clientId: unknown) {
    const client = typeof clientId === 'string' ? await deps.clients.get(clientId) : undefined;
    return { name: client?.name ?? String(clientId), firstParty: client?.firstParty ?? false };
  }

  app.get(`${deps.mountPath}${OAUTH_STYLESHEET_PATH}`, (c) => c.body(oauthStylesheet, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' }));

  app.get(`${base}/interaction/:uid`, async (c) => {
    const found = await details(c);
    if (!found) return expired(c);
    const uid = found.uid;
    const client = await clientName(found.params['client_id']);
    if (found.prompt.name === 'login') {
      const sso = (await deps.ssoOptions(String(found.params['client_id']))).map((s) => ({ name: s.name, href: `${base}/interaction/${uid}/sso/${s.id}` }));
      return html(c, loginPage({ action: `${base}/interaction/${uid}/login`, csrf: csrfFor(uid), clientName: client.name, askTotp: false, sso, username: typeof found.params['login_hint'] === 'string' ? found.params['login_hint'] : '' }));
    }
    if (found.prompt.name === 'consent') {
      if (!(await deps.mayApprove(String(found.params['client_id']), found.session!.accountId))) return refuseStranger(c);
      if (client.firstParty) return finish(c, { consent: { grantId: await grantFor(ready(c), found) } }, true);
      return html(c, consentPage({ action: `${base}/interaction/${uid}/consent`, csrf: csrfFor(uid), clientName: client.name, scopes: requestedScopes(found) }));
    }
    return html(c, errorPage('unsupported_interaction', `prompt ${found.prompt.name} is not supported`), 400);
  });

  app.post(`${base}/interaction/:uid/login`, async (c) => {
    const form = await c.req.parseBody();
    const found = await details(c);
    if (!found) return expired(c);
    if (!csrfValid(found.uid, form['csrf'])) return html(c, errorPage('invalid_request', 'csrf: the form is not from this sign-in page'), 403);
    if (found.prompt.name !== 'login') return html(c, errorPage('invalid_request', 'this sign-in step is already done'), 400);
    const client = await clientName(found.params['client_id']);
    const username = typeof form['username'] === 'string' ? form['username'].trim() : '';
    const password = typeof form['password'] === 'string' ? form['password'] : '';
    const totpCode = typeof form['totp'] === 'string' && form['totp'] !== '' ? form['totp'].replaceAll(' ', '') : undefined;
    const sso = (await deps.ssoOptions(String(found.params['client_id']))).map((s) => ({ name: s.name, href: `${base}/interaction/${found.uid}/sso/${s.id}` }));
    const again = (error: string, status: number, askTotp = false) =>
      html(c, loginPage({ action: `${base}/interaction/${found.uid}/login`, csrf: csrfFor(found.uid), clientName: client.name, username, error, askTotp, sso }), status);
    if (!username) return again('username: is required', 400);
    if (!password) return again('password: is required', 400, totpCode !== undefined);
    let outcome: Awaited<ReturnType<SignIn>>;
    try {
      outcome = await deps.signIn({ username, password, totpCode, peerIp: node(c).req.socket.remoteAddress ?? null });
    } catch (error) {
      if (isAppError(error) && error.code === 'INVALID_ARGUMENT') return again(error.publicMessage, 400);
      throw error;
    }
    if (outcome.ok && !(await deps.mayApprove(String(found.params['client_id']), outcome.userId))) return again(`${client.name} belongs to another account: sign in as a person of that account.`, 403);
    if (outcome.ok) return finish(c, { login: { accountId: outcome.userId, amr: totpCode ? ['pwd', 'otp'] : ['pwd'] } }, false);
    switch (outcome.reason) {
      case 'TWO_FACTOR_REQUIRED':
        return again('Enter the code from your authenticator app (and your password again).', 401, true);
      case 'TWO_FACTOR_INVALID':
        return again('That authentication code is not valid.', 401, true);
      case 'TWO_FACTOR_ENROLLMENT_REQUIRED':
        return again('Your account requires two-factor authentication: enroll it in the Tollgate console first.', 403);
      case 'LOCKED_OUT':
        return again(`Too many failed attempts. Try again in ${Math.ceil((outcome.retryAfterMs ?? 1_000) / 1000)} s.`, 429);
      case 'ACCOUNT_SUSPENDED':
        return again('This account is suspended.', 403);
      case 'SSO_REQUIRED':
        return again('Your account requires single sign-on: use a "Sign in with" button below.', 403);
      default:
        return again('Wrong username or password.', 401, totpCode !== undefined);
    }
  });

  app.post(`${base}/interaction/:uid/consent`, async (c) => {
    const form = await c.req.parseBody();
    const found = await details(c);
    if (!found) return expired(c);
    if (!csrfValid(found.uid, form['csrf'])) return html(c, errorPage('invalid_request', 'csrf: the form is not from this sign-in page'), 403);
    if (found.prompt.name !== 'consent') return html(c, errorPage('invalid_request', 'there is nothing to consent to'), 400);
    if (form['decision'] !== 'allow') return finish(c, { error: 'access_denied', error_description: 'the user denied access' }, true);
    if (!(await deps.mayApprove(String(found.params['client_id']), found.session!.accountId))) return refuseStranger(c);
    return finish(c, { consent: { grantId: await grantFor(ready(c), found) } }, true);
  });

  // Everything else under /oauth, and discovery, is the library's. Koa composes its middleware on
  // every `callback()`: once per provider (it is rebuilt when the signing key rotates) is enough.
  const callbacks = new WeakMap<Provider, ReturnType<Provider['callback']>>();
  const toProvider = async (c: Context<Env>) => {
    const { req, res } = node(c);
    const provider = ready(c);
    if (deps.mountPath) {
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
      req.url = req.url!.slice(deps.mountPath.length) || '/';
    }
    res.setHeader('content-security-policy', oauthPageCsp);
    res.setHeader('x-content-type-options', 'nosniff');
    let callback = callbacks.get(provider);
    if (!callback) callbacks.set(provider, (callback = provider.callback()));
    await callback(req, res);
    return RESPONSE_ALREADY_SENT;
  };
  app.all(`${base}/*`, toProvider);
  app.get(`${deps.mountPath}/.well-known/openid-configuration`, toProvider);
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The scopes asked for in this interaction, for the consent screen. */
function requestedScopes(found: Details): string[] {
  const d = found.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
  return [...new Set([...(d.missingOIDCScope ?? []), ...Object.values(d.missingResourceScopes ?? {}).flat()])];
}

/** Records what the user (or a first-party client) consented to, on the existing grant if any. */
async function grantFor(provider: Provider, found: Details): Promise<string> {
  const d = found.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  const existing = found.grantId ? await provider.Grant.find(found.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId: found.session!.accountId, clientId: String(found.params['client_id']) });
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  return grant.save();
}
