import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import { deleteCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { SESSION_COOKIE, type ConsoleSessions } from '../session/console-sessions.ts';
import { accountChildren, accountSummary, accountsPage, accountsTree } from './accounts-page.ts';
import { problemText, type Markup } from './layout.ts';
import { createPageContext, type Me, type PageContext } from './page-context.ts';
import { auditPage, clientsPage, clientsTable, decisionsPage, decisionsTable, limitForm, limitsPage, myTotpConfirm, myTotpEnrol, overviewPage, parentBounds, tracePage, tracesPage, usersPage, usersTable } from './operations-pages.ts';
import { DecisionRateTracker, type DecisionStatsSample } from './decision-rates.ts';
import { createTokenForm, ruleRow, rulesFromForm, secretShownOnce, tokensPage, tokensTable } from './tokens-page.ts';

export interface ConsolePagesOptions {
  /** How often the live usage and broker-rate streams send a sample. */
  usageStreamIntervalMs: number;
  statsStreamIntervalMs: number;
}

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);
const one = (v: unknown): string => (Array.isArray(v) ? String(v[0] ?? '') : v === undefined ? '' : String(v as string));

/**
 * The web console: server-rendered pages over the REST API (called in-process with the session's
 * credential) and htmx actions under `/ui`, each checked for the session's CSRF token.
 */
export function consolePages(app: Hono, sessions: ConsoleSessions, options: ConsolePagesOptions): void {
  async function context(c: Context): Promise<PageContext | Response> {
    const session = await sessions.session(c);
    if (!session) return c.redirect('/login', 303);
    const probe = createPageContext(app, c, session, { account_id: '', subject: '', kind: 'acl', role: null });
    const me = await probe.api<Me>('GET', '/me');
    if (me.status === 401) {
      // The credential behind the session was revoked or expired: sign in again.
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      return c.redirect('/login', 303);
    }
    if (!me.ok) throw new Error(`console: /me answered ${me.status}`);
    return createPageContext(app, c, session, me.body);
  }
  const page = (render: (p: PageContext) => Markup) => async (c: Context) => {
    const p = await context(c);
    return p instanceof Response ? p : c.html(await render(p));
  };
  /** A state-changing htmx action: session and CSRF token first, then the API decides. */
  const action = (run: (p: PageContext, form: Record<string, unknown>) => Markup) => async (c: Context) => {
    const session = await sessions.session(c);
    if (session) await sessions.requireCsrf(c, session);
    const p = await context(c);
    if (p instanceof Response) return p;
    const form = (await c.req.parseBody({ all: true })) as Record<string, unknown>;
    return c.html(await run(p, form));
  };

  app.get('/', page(overviewPage));
  app.get('/accounts', page(accountsPage));
  app.get('/tokens', page(tokensPage));
  app.get('/users', page(usersPage));
  app.get('/limits', page(limitsPage));
  app.get('/decisions', page(decisionsPage));
  app.get('/clients', page(clientsPage));
  app.get('/traces', page(tracesPage));
  app.get('/traces/:trace_id', page((p) => tracePage(p, p.c.req.param('trace_id') ?? '')));
  app.get('/audit', page(auditPage));

  app.get('/ui/decisions', page(decisionsTable));
  app.get('/ui/accounts/:id/children', page((p) => accountChildren(p, p.c.req.param('id') ?? '')));
  app.get('/ui/accounts/:id/summary', page((p) => accountSummary(p, p.c.req.param('id') ?? '')));
  app.get('/ui/tokens/rule-row', page(() => ruleRow({ effect: 'allow', actions: '', resources: '' }, 0)));

  app.post('/ui/accounts', action(async (p, f) => {
    const res = await p.api('POST', '/accounts', { name: one(f.name), parent_id: one(f.parent_id) });
    return accountsTree(p, res.ok ? { done: `Created ${one(f.name)}.` } : { problem: res.problem });
  }));
  for (const verb of ['suspend', 'resume'] as const) {
    app.post(`/ui/accounts/:id/${verb}`, action(async (p) => {
      const res = await p.api('POST', `/accounts/${encodeURIComponent(p.c.req.param('id') ?? '')}/${verb}`, {});
      return accountsTree(p, res.ok ? { done: verb === 'suspend' ? 'Suspended.' : 'Resumed.' } : { problem: res.problem });
    }));
  }

  app.post('/ui/tokens', action(async (p, f) => {
    const accountId = one(f.account_id) || p.me.account_id;
    const { rows, rules, rowOf } = rulesFromForm(list(f.effect), list(f.actions), list(f.resources));
    const res = await p.api<{ id: string; secret: string }>('POST', '/tokens', { account_id: accountId, kind: one(f.kind), name: one(f.name), rules });
    // The new token also joins the list (an out-of-band swap of #tokens).
    if (res.ok) return html`${secretShownOnce(res.body, accountId)}${tokensTable(p, accountId, true)}`;
    // Show the problem at its rule and field when it names one (`rules[2].resources[0]`).
    const m = /^rules\[(\d+)\](?:\.(effect|actions|resources))?/.exec(res.problem?.field ?? '');
    const values = { name: one(f.name), kind: one(f.kind), rows };
    if (m) {
      const row = rowOf[Number(m[1])] ?? 0;
      const where = (m[2] ?? 'rule') as 'effect' | 'actions' | 'resources' | 'rule';
      return createTokenForm(accountId, values, { rows: { [row]: { [where]: res.problem!.detail } } });
    }
    return createTokenForm(accountId, values, { form: res.problem?.detail ?? 'refused', ...(res.problem?.field ? { field: res.problem.field } : {}) });
  }));
  app.post('/ui/tokens/:id/rotate', action(async (p) => {
    const res = await p.api<{ id: string; secret: string }>('POST', `/tokens/${encodeURIComponent(p.c.req.param('id') ?? '')}/rotate`, {});
    return res.ok ? html`<div class="card" role="status"><p>New secret for <code>${res.body.id}</code>, shown once:</p><p class="secret" data-testid="secret" id="secret-rotated">${res.body.secret}</p><button type="button" data-copy="secret-rotated">Copy</button></div>` : problemText(res.problem);
  }));
  app.post('/ui/tokens/:id/revoke', action(async (p) => {
    const res = await p.api<{ account_id: string }>('POST', `/tokens/${encodeURIComponent(p.c.req.param('id') ?? '')}/revoke`);
    return res.ok ? tokensTable(p, res.body.account_id) : html`<div id="tokens">${problemText(res.problem)}</div>`;
  }));
  app.post('/ui/decisions/check', action(async (p, f) => {
    const res = await p.api<{ allowed: boolean; reason: string }>('POST', '/decisions/check', { token: one(f.token), action: one(f.action), resource: one(f.resource) });
    return res.ok ? html`<p data-testid="check-result" class="${res.body.allowed ? 'allow' : 'deny'}">${res.body.allowed ? 'ALLOW' : 'DENY'} (${res.body.reason})</p>` : problemText(res.problem);
  }));

  app.post('/ui/users', action(async (p, f) => {
    const res = await p.api<{ user: { id: string } }>('POST', '/users', { username: one(f.username), password: one(f.password), account_id: one(f.account_id), role: one(f.role) });
    return res.ok ? html`<p role="status" class="allow">Created user <code>${res.body.user.id}</code>.</p>` : problemText(res.problem);
  }));
  app.post('/ui/users/:id/role', action(async (p, f) => {
    const accountId = one(f.account_id);
    const res = await p.api('PUT', `/users/${encodeURIComponent(p.c.req.param('id') ?? '')}/memberships/${encodeURIComponent(accountId)}`, { role: one(f.role) });
    return usersTable(p, accountId, res.problem);
  }));
  app.post('/ui/users/:id/remove', action(async (p, f) => {
    const accountId = one(f.account_id);
    const res = await p.api('DELETE', `/users/${encodeURIComponent(p.c.req.param('id') ?? '')}/memberships/${encodeURIComponent(accountId)}`);
    return usersTable(p, accountId, res.problem);
  }));
  app.post('/ui/users/:id/totp/reset', action(async (p, f) => {
    const accountId = one(f.account_id);
    // An admin disables another user's TOTP without a code; identity decides who may.
    const res = await p.api('DELETE', `/users/${encodeURIComponent(p.c.req.param('id') ?? '')}/totp`);
    return usersTable(p, accountId, res.problem);
  }));
  app.post('/ui/me/totp', action((p) => myTotpEnrol(p)));
  app.post('/ui/me/totp/confirm', action((p, f) => myTotpConfirm(p, one(f.code))));
  app.post('/ui/limits', action(async (p, f) => {
    const value = Number(one(f.value));
    const per = one(f.per);
    const accountId = one(f.account_id) || p.me.account_id;
    const res = await p.api('PUT', '/limits', { account_id: accountId, limits: [{ metric: one(f.metric), kind: one(f.kind), value: one(f.value).trim() !== '' && Number.isFinite(value) ? value : one(f.value), ...(per ? { per } : {}) }] });
    const bounds = await parentBounds(p, accountId);
    if (res.ok) return html`${limitForm(accountId, bounds)}<p role="status" class="allow">Set ${one(f.metric)}. Reload to see the effective limits.</p>`;
    // `limits[0].value` → at the value field; `limits[0]` (the period) → at "per"; else above the form.
    const m = /^limits\[0\](?:\.(\w+))?$/.exec(res.problem?.field ?? '');
    const field = m ? (m[1] === undefined ? 'per' : m[1]) : 'form';
    return limitForm(accountId, bounds, { metric: one(f.metric), kind: one(f.kind), value: one(f.value), per }, { field, detail: res.problem?.detail ?? 'refused' });
  }));
  app.post('/ui/clients/:id/kick', action(async (p, f) => {
    const clientId = p.c.req.param('id') ?? '';
    const res = await p.api<{ kicked: boolean }>('POST', `/clients/${encodeURIComponent(clientId)}/kick`, { account_id: one(f.account_id) });
    if (!res.ok) return html`<div id="clients">${problemText(res.problem)}</div>`;
    return clientsTable(p, res.body.kicked ? `Kicked ${clientId}.` : `${clientId} was not connected.`);
  }));

  // Live streams (SSE): the API polled with the session's credential, a sample per interval.
  // `shape`: made once per stream, turns each answer into the sample sent (a stream's own state).
  const stream = (path: (c: Context) => string, intervalMs: number, extra: (p: PageContext) => Promise<unknown>, shape?: () => (body: unknown) => object) => async (c: Context) => {
    const p = await context(c);
    if (p instanceof Response) return p;
    const fixed = await extra(p);
    const toSample = shape?.() ?? ((body: unknown) => body as object);
    return streamSSE(c, async (s) => {
      let aborted = false;
      s.onAbort(() => {
        aborted = true;
      });
      while (!aborted) {
        const res = await p.api('GET', path(c));
        await s.writeSSE({ event: res.ok ? 'sample' : 'problem', data: JSON.stringify(res.ok ? { ...toSample(res.body), extra: fixed } : res.problem) });
        if (!res.ok) break;
        await s.sleep(intervalMs);
      }
    });
  };
  app.get('/ui/stream/usage', stream(
    (c) => `/usage?since_seconds=1800&step_seconds=60&account_id=${encodeURIComponent(c.req.query('account_id') ?? '')}&metric=${encodeURIComponent(c.req.query('metric') ?? '')}`,
    options.usageStreamIntervalMs,
    // The limit to draw with the usage: the effective limit of this metric, per minute.
    async (p) => {
      const limits = await p.api<{ limits: { metric: string; value: number; per: string | null }[] }>('GET', `/limits?account_id=${encodeURIComponent(p.c.req.query('account_id') ?? '')}`);
      const l = limits.ok ? limits.body.limits.find((x) => x.metric === p.c.req.query('metric')) : undefined;
      if (!l || l.value < 0) return { limit_per_minute: null };
      const perMinute = l.per === 'second' ? l.value * 60 : l.per === 'minute' ? l.value : null;
      return { limit_per_minute: perMinute, limit: l };
    },
  ));
  // An account's own figures with its subaccounts' (the edge-wide ones are for service credentials).
  app.get('/ui/stream/stats', stream((c) => `/stats?subtree=true&account_id=${encodeURIComponent(c.req.query('account_id') ?? '')}`, options.statsStreamIntervalMs, async () => null));
  // The account's decisions and token-cache lookups (its subtree's), summed over authz's replicas:
  // each answer is one replica's, so rates are taken per replica (pages/decision-rates.ts).
  app.get('/ui/stream/decisions', stream(
    (c) => `/decisions/stats?subtree=true&account_id=${encodeURIComponent(c.req.query('account_id') ?? '')}`,
    options.statsStreamIntervalMs,
    async () => null,
    () => {
      const tracker = new DecisionRateTracker();
      return (body) => ({ at: new Date().toISOString(), ...tracker.add(body as DecisionStatsSample, Date.now()) });
    },
  ));
}
