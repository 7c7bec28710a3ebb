import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { Secret, TOTP } from 'otpauth';
import { createRpcClient } from '#libs/rpc/index.ts';
import { silentLogger } from '#libs/telemetry/index.ts';
import { IdentityService } from '#gen/tollgate/identity/v1/identity_pb.js';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { createConsoleApp } from '../src/app.ts';
import { createSessionCodec } from '../src/session/session-codec.ts';

/** Console sign-in, the session cookie, CSRF and the CSP, against the whole mesh in this process. */

let mesh: TestMesh;
let consoleApp: ReturnType<typeof createConsoleApp>;
let base: string;
let tenant: { accountId: string; masterToken: string };
let clock = Date.now();
const PASSWORD = 'correct horse battery staple';
const IDLE_MS = 30 * 60_000;
const ABSOLUTE_MS = 12 * 3_600_000;

let nextAddress = 2;
/**
 * A browser's cookie jar, just enough: one value per name. Each browser connects from its own
 * loopback address, so identity's per-IP login throttle sees separate clients.
 */
class Browser {
  readonly localAddress = `127.0.0.${nextAddress++}`;
  cookies = new Map<string, string>();
  lastSetCookie: string[] = [];
  async request(method: string, path: string, init: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { origin: base, ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await new Promise<{ status: number; headers: Headers; text: string }>((resolve, reject) => {
      const req = httpRequest(`${base}${path}`, { method, headers, localAddress: this.localAddress }, (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(incoming.headers)) for (const one of Array.isArray(v) ? v : [v ?? '']) h.append(k, one);
          resolve({ status: incoming.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
    this.lastSetCookie = res.headers.getSetCookie();
    for (const line of this.lastSetCookie) {
      const [pair] = line.split(';');
      const [name, ...rest] = pair!.split('=');
      const value = rest.join('=');
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), value);
    }
    return { status: res.status, location: res.headers.get('location'), text: res.text, headers: res.headers };
  }
  withCookie(jwe: string): this {
    this.cookies.set('tollgate_session', jwe);
    return this;
  }
  /** The hidden `_csrf` of the page's first form. */
  static csrfOf(page: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(page);
    if (!m) throw new Error('no CSRF field on the page');
    return m[1]!;
  }
  async login(username: string, password: string) {
    const page = await this.request('GET', '/login');
    return this.request('POST', '/login', { form: { _csrf: Browser.csrfOf(page.text), username, password } });
  }
}

async function makeUser(role: string, username = `${role}-${Math.random().toString(36).slice(2, 8)}`) {
  const res = await fetch(`${base}/api/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${tenant.masterToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD, role }) });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { user: { id: string } };
  return { id: body.user.id, username };
}

beforeAll(async () => {
  mesh = await startTestMesh();
  consoleApp = createConsoleApp(
    { host: '127.0.0.1', httpPort: 0, peers: mesh.peers, sessionIdleMs: IDLE_MS, sessionAbsoluteMs: ABSOLUTE_MS },
    { logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey, now: () => clock },
  );
  base = (await consoleApp.start()).httpAddress;
  tenant = await mesh.createTenant('console-session');
});

afterAll(async () => {
  await consoleApp?.stop();
  await mesh?.stop();
});

describe('sign-in and the session cookie', () => {
  it('signs in with a password into an encrypted, HttpOnly, SameSite=Strict cookie that the API accepts', async () => {
    const user = await makeUser('owner');
    const browser = new Browser();
    const res = await browser.login(user.username, PASSWORD);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/');
    const line = browser.lastSetCookie.find((l) => l.startsWith('tollgate_session='))!;
    expect(line).toMatch(/HttpOnly/);
    expect(line).toMatch(/SameSite=Strict/);
    expect(line).not.toMatch(/Secure/); // plain http here; behind TLS see below
    const jwe = browser.cookies.get('tollgate_session')!;
    expect(jwe.split('.')).toHaveLength(5);
    expect(JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'dir', enc: 'A256GCM' });
    expect(jwe).not.toContain(user.username);
    const me = await browser.request('GET', '/api/v1/me');
    expect(me.status).toBe(200);
    expect(JSON.parse(me.text)).toMatchObject({ account_id: tenant.accountId, subject: user.id, kind: 'user', role: 'owner', via: 'session' });
  });

  it('marks the cookie Secure behind TLS', async () => {
    const user = await makeUser('viewer');
    const browser = new Browser();
    const page = await browser.request('GET', '/login', { headers: { 'x-forwarded-proto': 'https' } });
    await browser.request('POST', '/login', { form: { _csrf: Browser.csrfOf(page.text), username: user.username, password: PASSWORD }, headers: { 'x-forwarded-proto': 'https' } });
    expect(browser.lastSetCookie.find((l) => l.startsWith('tollgate_session='))).toMatch(/; Secure/);
  });

  it('refuses a wrong password with the sign-in page again, and sets no session', async () => {
    const user = await makeUser('viewer');
    const browser = new Browser();
    const res = await browser.login(user.username, 'wrong password');
    expect(res.status).toBe(401);
    expect(res.text).toContain('Wrong username or password.');
    expect(browser.cookies.has('tollgate_session')).toBe(false);
  });

  it('asks for the TOTP code when the user has 2FA, then signs in', async () => {
    const user = await makeUser('admin');
    const auth = { headers: { authorization: `Bearer ${tenant.masterToken}` } };
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const enrolled = await identity.enrollTotp({ userId: user.id }, auth);
    const totp = new TOTP({ secret: Secret.fromBase32(enrolled.secret) });
    await identity.confirmTotp({ userId: user.id, code: totp.generate() }, auth);
    identity.close();
    const browser = new Browser();
    const step = await browser.login(user.username, PASSWORD);
    expect(step.status, step.text.slice(0, 2000)).toBe(200);
    expect(step.text).toContain('Two-factor code');
    expect(browser.cookies.has('tollgate_session')).toBe(false);
    // The next step's code: the one used to confirm is spent (identity's replay guard).
    const done = await browser.request('POST', '/login/totp', { form: { _csrf: Browser.csrfOf(step.text), code: totp.generate({ timestamp: Date.now() + 30_000 }) } });
    expect(done.status).toBe(303);
    expect(browser.cookies.has('tollgate_login')).toBe(false);
    expect((await browser.request('GET', '/api/v1/me')).status).toBe(200);
  });

  it('refuses a wrong TOTP code, asking again, and sets no session', async () => {
    const user = await makeUser('admin');
    const auth = { headers: { authorization: `Bearer ${tenant.masterToken}` } };
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const enrolled = await identity.enrollTotp({ userId: user.id }, auth);
    await identity.confirmTotp({ userId: user.id, code: new TOTP({ secret: Secret.fromBase32(enrolled.secret) }).generate() }, auth);
    identity.close();
    const browser = new Browser();
    const step = await browser.login(user.username, PASSWORD);
    const wrong = await browser.request('POST', '/login/totp', { form: { _csrf: Browser.csrfOf(step.text), code: '000000' } });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('That code is not valid.');
    expect(browser.cookies.has('tollgate_session')).toBe(false);
  });

  it('signs in with a master token (flespi style)', async () => {
    const browser = new Browser();
    const page = await browser.request('GET', '/login');
    const res = await browser.request('POST', '/login', { form: { _csrf: Browser.csrfOf(page.text), token: tenant.masterToken } });
    expect(res.status).toBe(303);
    const me = JSON.parse((await browser.request('GET', '/api/v1/me')).text) as { kind: string; account_id: string };
    expect(me).toMatchObject({ kind: 'master', account_id: tenant.accountId });
  });

  it('ends a session after the idle timeout, and after the absolute timeout however active', async () => {
    const user = await makeUser('member');
    const idle = new Browser();
    await idle.login(user.username, PASSWORD);
    clock += IDLE_MS - 60_000;
    const first = await idle.request('GET', '/api/v1/me');
    expect(first.status, first.text).toBe(200); // activity slides the idle window
    clock += IDLE_MS - 60_000;
    expect((await idle.request('GET', '/api/v1/me')).status).toBe(200);
    clock += IDLE_MS + 1;
    expect((await idle.request('GET', '/api/v1/me')).status).toBe(401);

    const busy = new Browser();
    await busy.login(user.username, PASSWORD);
    const started = clock;
    // Active every 20 minutes; identity's access JWT (its own clock) is renewed as needed.
    while (clock - started < ABSOLUTE_MS - 20 * 60_000) {
      clock += 20 * 60_000;
      if (clock - started >= ABSOLUTE_MS) break;
      const res = await busy.request('GET', '/api/v1/me');
      if (res.status !== 200) throw new Error(`refused at +${(clock - started) / 60_000} min: ${res.text}`);
    }
    clock = started + ABSOLUTE_MS + 1;
    expect((await busy.request('GET', '/api/v1/me')).status).toBe(401);
  });

  it('renews the access JWT once for requests fired together near its expiry (no refresh-token reuse)', async () => {
    const user = await makeUser('member');
    const browser = new Browser();
    await browser.login(user.username, PASSWORD);
    const codec = createSessionCodec(mesh.secretKey, { idleMs: IDLE_MS, absoluteMs: ABSOLUTE_MS }, () => clock);
    const before = (await codec.openSession(browser.cookies.get('tollgate_session')))!;
    // The session as it is half a minute before its access JWT expires (active a minute ago).
    clock = before.credExp! - 30_000;
    const cookie = await codec.sealSession({ ...before, started: clock - 60_000, seen: clock - 60_000 });
    // Five requests with the same cookie at once, as a page opening its live charts does.
    const answers = await Promise.all(Array.from({ length: 5 }, () => new Browser().withCookie(cookie).request('GET', '/api/v1/me')));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const renewed = new Set(answers.map((a) => /tollgate_session=([^;]+)/.exec(a.headers.get('set-cookie') ?? '')?.[1]).filter(Boolean).map((jwe) => jwe!));
    const opened = await Promise.all([...renewed].map((jwe) => codec.openSession(jwe)));
    expect(new Set(opened.map((c) => c!.rt)).size).toBe(1); // one renewal, shared
    expect(opened[0]!.rt).not.toBe(before.rt);
    // The renewed session keeps working, renewal after renewal: its refresh family was not revoked as reused.
    let latest = [...renewed][0]!;
    for (let i = 0; i < 3; i++) {
      const b = new Browser().withCookie(latest);
      expect((await b.request('GET', '/api/v1/me')).status).toBe(200);
      latest = b.cookies.get('tollgate_session')!;
    }
  });

  it('redirects a page request without a session to the sign-in page', async () => {
    const res = await new Browser().request('GET', '/tokens');
    expect(res.status).toBe(303);
    expect(res.location).toBe('/login');
  });

  it('logs out: the cookie goes and identity ends the session (its refresh token no longer works)', async () => {
    const user = await makeUser('viewer');
    const browser = new Browser();
    await browser.login(user.username, PASSWORD);
    const codec = createSessionCodec(mesh.secretKey, { idleMs: IDLE_MS, absoluteMs: ABSOLUTE_MS }, () => clock);
    const claims = (await codec.openSession(browser.cookies.get('tollgate_session')))!;
    expect(claims.rt).toEqual(expect.any(String));
    const page = await browser.request('GET', '/');
    const out = await browser.request('POST', '/logout', { form: { _csrf: Browser.csrfOf(page.text) } });
    expect(out.status).toBe(303);
    expect(browser.cookies.has('tollgate_session')).toBe(false);
    const identity = createRpcClient(IdentityService, mesh.address('identity'));
    const refreshed = await identity.refreshSession({ refreshToken: claims.rt! });
    identity.close();
    expect(refreshed.allowed).toBe(false);
  });
});

describe('CSRF and CSP', () => {
  it('refuses a state-changing API call on the session without the CSRF token, and accepts it with the token', async () => {
    const browser = new Browser();
    const login = await browser.request('GET', '/login');
    await browser.request('POST', '/login', { form: { _csrf: Browser.csrfOf(login.text), token: tenant.masterToken } });
    const without = await browser.request('POST', '/api/v1/accounts', { json: { name: 'forged' } });
    expect(without.status).toBe(403);
    expect(JSON.parse(without.text)).toMatchObject({ title: 'PERMISSION_DENIED' });
    expect(without.text).toContain('csrf');
    const wrong = await browser.request('POST', '/api/v1/accounts', { json: { name: 'forged' }, headers: { 'x-csrf-token': 'guess' } });
    expect(wrong.status).toBe(403);
    const page = await browser.request('GET', '/accounts');
    // htmx sends it from hx-headers on <body> (the JSON is entity-escaped in the attribute).
    const token = /hx-headers='\{(?:&quot;|")x-csrf-token(?:&quot;|"):(?:&quot;|")([\w-]+)(?:&quot;|")\}'/.exec(page.text)![1]!;
    const withToken = await browser.request('POST', '/api/v1/accounts', { json: { name: 'made from the console' }, headers: { 'x-csrf-token': token } });
    expect(withToken.status).toBe(201);
    // Reads need no token.
    expect((await browser.request('GET', '/api/v1/accounts')).status).toBe(200);
  });

  it('refuses a cross-site form post by its Origin, even with a valid token', async () => {
    const browser = new Browser();
    const login = await browser.request('GET', '/login');
    await browser.request('POST', '/login', { form: { _csrf: Browser.csrfOf(login.text), token: tenant.masterToken } });
    const page = await browser.request('GET', '/accounts');
    const res = await browser.request('POST', '/ui/accounts', { form: { _csrf: Browser.csrfOf(page.text), name: 'cross-site', parent_id: tenant.accountId }, headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
    expect(res.text).toContain('Origin');
  });

  it('serves a Content-Security-Policy without unsafe-inline, and pages with no inline script or style', async () => {
    const browser = new Browser();
    const login = await browser.request('GET', '/login');
    const csp = login.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    await browser.request('POST', '/login', { form: { _csrf: Browser.csrfOf(login.text), token: tenant.masterToken } });
    for (const path of ['/', '/accounts', '/tokens', '/users', '/limits', '/decisions', '/clients', '/traces', '/audit']) {
      const page = await browser.request('GET', path);
      expect(page.status, path).toBe(200);
      expect(page.text, path).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(page.text, path).not.toMatch(/<style|\sstyle="/);
    }
    for (const asset of ['htmx.js', 'uplot.js', 'uplot.css', 'console.js', 'console.css']) expect((await browser.request('GET', `/assets/${asset}`)).status, asset).toBe(200);
  });
});
