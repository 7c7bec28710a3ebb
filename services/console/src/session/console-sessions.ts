import { timingSafeEqual } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { AppError, permissionDenied } from '#libs/errors/index.ts';
import type { Logger } from '#libs/telemetry/index.ts';
import { LoginOutcome } from '#gen/tollgate/identity/v1/identity_pb.js';
import { Protocol } from '#gen/tollgate/authz/v1/authz_pb.js';
import type { ConsolePeers } from '../console-peers.ts';
import { loginPage, totpPage } from '../pages/login-page.ts';
import type { SessionClaims, SessionCodec } from './session-codec.ts';

export const SESSION_COOKIE = 'tollgate_session';
const PENDING_COOKIE = 'tollgate_login';
const LOGIN_CSRF_COOKIE = 'tollgate_login_csrf';
const PENDING_TTL_MS = 5 * 60_000;
/** Re-seal the cookie (sliding the idle timeout) at most this often. */
const SLIDE_EVERY_MS = 60_000;
/** Renew the access JWT this long before it expires. */
const RENEW_BEFORE_MS = 60_000;

const outcomeText: Partial<Record<LoginOutcome, string>> = {
  [LoginOutcome.INVALID_CREDENTIALS]: 'Wrong username or password.',
  [LoginOutcome.TOTP_INVALID]: 'That code is not valid.',
  [LoginOutcome.LOCKED_OUT]: 'Too many attempts: try again later.',
  [LoginOutcome.ACCOUNT_SUSPENDED]: 'This account is suspended.',
  [LoginOutcome.TOTP_ENROLLMENT_REQUIRED]: 'This account requires two-factor authentication: enroll TOTP first (tollgate CLI).',
  [LoginOutcome.SSO_REQUIRED]: 'This account requires single sign-on: sign in through its identity provider.',
};

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Console sign-in and the session cookie. Password logins go through identity's Login RPC (TOTP as
 * a second step), token logins through authz's Authenticate; the session holds the resulting
 * credential sealed in an encrypted cookie (HttpOnly, SameSite=Strict, Secure behind TLS), with
 * idle and absolute timeouts. Logout ends the identity session (Logout RPC), not just the cookie.
 */
export function createConsoleSessions(deps: { peers: ConsolePeers; codec: SessionCodec; now: () => number; logger: Logger; peerAddress(c: Context): string }) {
  const { peers, codec, now } = deps;
  const opened = new WeakMap<Request, Promise<SessionClaims | undefined>>();
  /**
   * Renewals by refresh token, shared: identity rotates refresh tokens and treats a second use as
   * theft (the whole family is revoked), so the requests a page fires at once near expiry — and
   * those still carrying the old cookie for a moment after — must renew once, not each.
   */
  const renewals = new Map<string, { atMs: number; result: Promise<Pick<SessionClaims, 'cred' | 'rt' | 'credExp'> | undefined> }>();
  const RENEWAL_SHARED_MS = 2 * 60_000;

  function renew(refreshToken: string): Promise<Pick<SessionClaims, 'cred' | 'rt' | 'credExp'> | undefined> {
    const t = now();
    for (const [key, entry] of renewals) if (t - entry.atMs > RENEWAL_SHARED_MS) renewals.delete(key);
    const shared = renewals.get(refreshToken);
    if (shared) return shared.result;
    const result = peers.identity.refreshSession({ refreshToken }).then((res) =>
      res.allowed && res.session ? { cred: res.session.accessToken, rt: res.session.refreshToken, credExp: res.session.accessExpiresAt ? timestampMs(res.session.accessExpiresAt) : undefined } : undefined,
    );
    renewals.set(refreshToken, { atMs: t, result });
    return result;
  }

  const isSecure = (c: Context) => new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
  const cookieOptions = (c: Context, maxAgeMs: number) => ({ httpOnly: true, sameSite: 'Strict' as const, secure: isSecure(c), path: '/', maxAge: Math.max(1, Math.floor(maxAgeMs / 1000)) });

  async function writeSession(c: Context, claims: SessionClaims): Promise<void> {
    setCookie(c, SESSION_COOKIE, await codec.sealSession(claims), cookieOptions(c, claims.started + codec.timeouts.absoluteMs - now()));
  }

  /** The live session of this request, renewed (idle slide, fresh access JWT) when due. */
  async function load(c: Context): Promise<SessionClaims | undefined> {
    const claims = await codec.openSession(getCookie(c, SESSION_COOKIE));
    if (!claims) return undefined;
    const t = now();
    let changed = false;
    if (claims.rt && claims.credExp !== undefined && claims.credExp - t < RENEW_BEFORE_MS) {
      const renewed = await renew(claims.rt);
      if (!renewed) return undefined;
      Object.assign(claims, renewed);
      changed = true;
    }
    if (t - claims.seen > SLIDE_EVERY_MS) {
      claims.seen = t;
      changed = true;
    }
    if (changed) await writeSession(c, claims);
    return claims;
  }

  function session(c: Context): Promise<SessionClaims | undefined> {
    let p = opened.get(c.req.raw);
    if (!p) opened.set(c.req.raw, (p = load(c)));
    return p;
  }

  /** A state-changing request must carry the session's CSRF token (header `x-csrf-token` or form field `_csrf`). */
  async function requireCsrf(c: Context, claims: SessionClaims): Promise<void> {
    if (/^(GET|HEAD|OPTIONS)$/.test(c.req.method)) return;
    let given = c.req.header('x-csrf-token');
    if (!given && /^(application\/x-www-form-urlencoded|multipart\/form-data)/.test(c.req.header('content-type') ?? '')) {
      // `all: true` as every handler here parses: Hono keeps the first parse for the request.
      const form = await c.req.parseBody({ all: true });
      given = typeof form._csrf === 'string' ? form._csrf : undefined;
    }
    if (!given || !sameSecret(given, claims.csrf)) throw permissionDenied('csrf: a state-changing request needs the session\'s CSRF token', 'CSRF_TOKEN_INVALID');
  }

  function loginCsrf(c: Context): string {
    const token = codec.newCsrfToken();
    setCookie(c, LOGIN_CSRF_COOKIE, token, cookieOptions(c, PENDING_TTL_MS));
    return token;
  }

  function checkLoginCsrf(c: Context, given: unknown): void {
    const expected = getCookie(c, LOGIN_CSRF_COOKIE);
    if (!expected || typeof given !== 'string' || !sameSecret(given, expected)) throw permissionDenied('csrf: reload the sign-in page and try again', 'CSRF_TOKEN_INVALID');
  }

  async function startSession(c: Context, claims: Omit<SessionClaims, 'csrf' | 'started' | 'seen'>): Promise<Response> {
    const t = now();
    await writeSession(c, { ...claims, csrf: codec.newCsrfToken(), started: t, seen: t });
    deleteCookie(c, PENDING_COOKIE, { path: '/' });
    deleteCookie(c, LOGIN_CSRF_COOKIE, { path: '/' });
    return c.redirect('/', 303);
  }

  async function passwordLogin(c: Context, username: string, password: string, accountId: string, totpCode: string): Promise<Response> {
    const res = await peers.loginIdentity.login({ username, password, accountId, totpCode, peerIp: deps.peerAddress(c) });
    if (res.allowed && res.session) {
      const s = res.session;
      return startSession(c, { cred: s.accessToken, rt: s.refreshToken, credExp: s.accessExpiresAt ? timestampMs(s.accessExpiresAt) : undefined, via: 'password', name: username });
    }
    if (res.outcome === LoginOutcome.TOTP_REQUIRED || (totpCode && res.outcome === LoginOutcome.TOTP_INVALID)) {
      const csrf = codec.newCsrfToken();
      setCookie(c, PENDING_COOKIE, await codec.sealPending({ username, password, accountId, csrf, exp: now() + PENDING_TTL_MS }), cookieOptions(c, PENDING_TTL_MS));
      return c.html(totpPage(csrf, totpCode ? outcomeText[LoginOutcome.TOTP_INVALID] : undefined), totpCode ? 401 : 200);
    }
    return c.html(loginPage(loginCsrf(c), outcomeText[res.outcome] ?? 'Sign-in refused.'), 401);
  }

  function routes(app: Hono): void {
    app.get('/login', async (c) => ((await session(c)) ? c.redirect('/', 303) : c.html(loginPage(loginCsrf(c)))));
    app.post('/login', async (c) => {
      const form = await c.req.parseBody({ all: true });
      checkLoginCsrf(c, form._csrf);
      const text = (name: string, max: number) => (typeof form[name] === 'string' ? (form[name] as string).slice(0, max) : '');
      const token = text('token', 4096).trim();
      if (token) {
        const who = await peers.authz.authenticate({ bearer: token, protocol: Protocol.HTTP, peerIp: deps.peerAddress(c) });
        if (!who.allowed || !who.principal) return c.html(loginPage(loginCsrf(c), `The token was refused (${who.reason}).`), 401);
        return startSession(c, { cred: token, via: 'token', name: who.principal.subject });
      }
      const username = text('username', 256);
      const password = text('password', 1024);
      if (!username || !password) return c.html(loginPage(loginCsrf(c), 'Enter a username and a password, or a token.'), 400);
      return passwordLogin(c, username, password, text('account_id', 128).trim(), '');
    });
    app.post('/login/totp', async (c) => {
      const pending = await codec.openPending(getCookie(c, PENDING_COOKIE));
      if (!pending) return c.html(loginPage(loginCsrf(c), 'The sign-in took too long: start again.'), 401);
      const form = await c.req.parseBody({ all: true });
      if (typeof form._csrf !== 'string' || !sameSecret(form._csrf, pending.csrf)) throw permissionDenied('csrf: start the sign-in again', 'CSRF_TOKEN_INVALID');
      const code = typeof form.code === 'string' ? form.code.trim().slice(0, 64) : '';
      return passwordLogin(c, pending.username, pending.password, pending.accountId, code);
    });
    app.post('/logout', async (c) => {
      const claims = await session(c);
      if (claims) {
        await requireCsrf(c, claims);
        if (claims.rt) {
          // A shared renewal must not hand this session's new tokens to an old copy of its cookie.
          for (const [key, entry] of renewals) if (key === claims.rt || (await entry.result.catch(() => undefined))?.rt === claims.rt) renewals.delete(key);
          await peers.identity.logout({ refreshToken: claims.rt }).catch((error: unknown) => {
            // The cookie goes regardless; identity's session then ends at its own expiry.
            deps.logger.warn({ err: error instanceof AppError ? error.code : 'error' }, 'identity logout failed');
          });
        }
      }
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      return c.redirect('/login', 303);
    });
  }

  return { session, requireCsrf, routes };
}

export type ConsoleSessions = ReturnType<typeof createConsoleSessions>;
