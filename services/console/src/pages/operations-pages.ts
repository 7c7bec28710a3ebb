import { html, raw } from 'hono/html';
import QRCode from 'qrcode';
import { layout, problemText } from './layout.ts';
import { passQuery, type PageContext } from './page-context.ts';

const accountFilter = (p: PageContext, action: string, extra: ReturnType<typeof html> | string = '') =>
  html`<form method="get" action="${action}" class="filters"><label>account <input name="account_id" value="${p.c.req.query('account_id') ?? p.me.account_id}"></label> ${extra} <button type="submit">Show</button></form>`;

interface DecisionJson { at: string | null; allowed: boolean; reason: string; action: string; resource: string; subject: string; client_id: string; peer_ip: string; source: string }
export async function decisionsTable(p: PageContext) {
  const res = await p.api<{ decisions: DecisionJson[]; next_cursor: string | null }>('GET', `/decisions${passQuery(p.c, ['account_id', 'denials_only', 'reason', 'source', 'client_id', 'limit', 'cursor'])}`);
  if (!res.ok) return html`<div id="decisions">${problemText(res.problem)}</div>`;
  const filters = ['account_id', 'denials_only', 'reason', 'source', 'client_id', 'action', 'contains', 'limit'];
  const q = passQuery(p.c, filters);
  const cursor = p.c.req.query('cursor');
  const older = res.body.next_cursor ? `/decisions${q}${q ? '&' : '?'}cursor=${encodeURIComponent(res.body.next_cursor)}` : undefined;
  // Narrowing within the window the API gave (newest first): by action, and by text in resource / client / subject.
  const action = p.c.req.query('action') ?? '';
  const contains = (p.c.req.query('contains') ?? '').toLowerCase();
  const shown = res.body.decisions.filter((d) => (!action || d.action === action) && (!contains || [d.resource, d.client_id, d.subject, d.reason].some((v) => v.toLowerCase().includes(contains))));
  // The newest page refreshes itself; an older page (a cursor) stays put.
  return html`<div id="decisions"${cursor ? '' : html` hx-get="/ui/decisions${q}" hx-trigger="every 5s" hx-swap="outerHTML"`}><table><thead><tr><th>at</th><th>result</th><th>reason</th><th>action</th><th>resource</th><th>client</th><th>subject</th><th>source</th></tr></thead><tbody>
${shown.map((d) => html`<tr><td>${d.at}</td><td class="${d.allowed ? 'allow' : 'deny'}">${d.allowed ? 'allow' : 'deny'}</td><td>${d.reason}</td><td>${d.action}</td><td><code>${d.resource}</code></td><td>${d.client_id}</td><td><code>${d.subject}</code></td><td>${d.source}</td></tr>`)}
</tbody></table>${shown.length ? '' : html`<p class="muted">no decisions${res.body.decisions.length ? ' match' : ' yet'}</p>`}
<p>${cursor ? html`<a href="/decisions${q}">newest</a> ` : ''}${older ? html`<a href="${older}" data-testid="older">older →</a>` : ''}</p></div>`;
}
export async function decisionsPage(p: PageContext) {
  const denials = p.c.req.query('denials_only') === 'true';
  const action = p.c.req.query('action') ?? '';
  const filters = html`<label><input type="checkbox" name="denials_only" value="true"${denials ? html` checked` : ''}> denials only</label>
<label>action <select name="action"><option value="">any</option>${['connect', 'publish', 'subscribe', 'read', 'write', 'admin'].map((a) => html`<option${a === action ? html` selected` : ''}>${a}</option>`)}</select></label>
<label>reason <input name="reason" value="${p.c.req.query('reason') ?? ''}" placeholder="acl_no_match"></label>
<label>source <select name="source"><option value="">any</option>${['grpc', 'broker', 'rabbitmq', 'emqx', 'go-auth', 'envoy'].map((x) => html`<option${x === p.c.req.query('source') ? html` selected` : ''}>${x}</option>`)}</select></label>
<label>client <input name="client_id" value="${p.c.req.query('client_id') ?? ''}" placeholder="client id"></label>
<label>containing <input name="contains" value="${p.c.req.query('contains') ?? ''}" placeholder="topic, client, token"></label>`;
  return layout(p.frame('Decisions', '/decisions'), html`${accountFilter(p, '/decisions', filters)}${await decisionsTable(p)}`);
}

interface ClientJson { client_id: string; account_id: string; subject: string; peer: string; protocol_version: number; transport: string; connected_at: string | null; subscriptions: number; messages_in: number; messages_out: number }
export async function clientsTable(p: PageContext, notice?: string) {
  const res = await p.api<{ clients: ClientJson[]; next_cursor: string | null }>('GET', `/clients${passQuery(p.c, ['account_id', 'limit', 'cursor'])}`);
  const q = passQuery(p.c, ['account_id', 'limit']);
  const next = res.ok && res.body.next_cursor ? `/clients${q}${q ? '&' : '?'}cursor=${encodeURIComponent(res.body.next_cursor)}` : undefined;
  if (!res.ok) return html`<div id="clients">${problemText(res.problem)}</div>`;
  const kick = p.can('clients.kick');
  return html`<div id="clients">${notice ? html`<p role="status" class="allow">${notice}</p>` : ''}<table><thead><tr><th>client id</th><th>peer</th><th>protocol</th><th>transport</th><th>subject</th><th>since</th><th>subs</th><th>in / out</th><th></th></tr></thead><tbody>
${res.body.clients.map(
  (cl) => html`<tr data-client="${cl.client_id}"><td>${cl.client_id}</td><td>${cl.peer}</td><td>v${cl.protocol_version}</td><td>${cl.transport}</td><td><code>${cl.subject}</code></td><td>${cl.connected_at}</td><td>${cl.subscriptions}</td><td>${cl.messages_in} / ${cl.messages_out}</td>
<td>${kick ? html`<form hx-post="/ui/clients/${encodeURIComponent(cl.client_id)}/kick" hx-target="#clients" hx-swap="outerHTML" hx-confirm="Disconnect ${cl.client_id}?"><input type="hidden" name="account_id" value="${cl.account_id}"><button type="submit">Kick</button></form>` : ''}</td></tr>`,
)}</tbody></table>${res.body.clients.length ? '' : html`<p class="muted">no connected clients</p>`}${next ? html`<p><a href="${next}" data-testid="next">next →</a></p>` : ''}</div>`;
}
export async function clientsPage(p: PageContext) {
  return layout(p.frame('Clients', '/clients'), html`${accountFilter(p, '/clients')}${await clientsTable(p)}`);
}

interface AuditJson { id: string; at: string | null; kind: string; outcome: string; actor_kind: string | null; actor_id: string | null; request_id: string | null; source: string; account_id: string | null; subject_id: string | null; ip: string | null; details: Record<string, string> }
export async function auditPage(p: PageContext) {
  const res = await p.api<{ events: AuditJson[]; next_cursor: string | null }>('GET', `/audit${passQuery(p.c, ['account_id', 'kind', 'cursor'])}`);
  const next = res.ok && res.body.next_cursor ? `/audit${passQuery(p.c, ['account_id', 'kind'])}${passQuery(p.c, ['account_id', 'kind']) ? '&' : '?'}cursor=${encodeURIComponent(res.body.next_cursor)}` : undefined;
  return layout(
    p.frame('Audit log', '/audit'),
    html`${accountFilter(p, '/audit', html`<label>kind <input name="kind" value="${p.c.req.query('kind') ?? ''}" placeholder="token_created"></label>`)}
${res.ok
  ? html`<table id="audit"><thead><tr><th>at</th><th>kind</th><th>outcome</th><th>actor</th><th>subject</th><th>request</th><th>source</th><th>ip</th><th>details</th></tr></thead><tbody>
${res.body.events.map((e) => html`<tr><td>${e.at}</td><td>${e.kind}</td><td>${e.outcome}</td><td><code>${e.actor_id ? `${e.actor_kind ?? ''} ${e.actor_id}` : ''}</code></td><td><code>${e.subject_id ?? ''}</code></td><td><code>${e.request_id ?? ''}</code></td><td>${e.source}</td><td>${e.ip ?? ''}</td><td>${Object.entries(e.details).map(([k, v]) => `${k}=${v}`).join(' ')}</td></tr>`)}
</tbody></table>${next ? html`<p><a href="${next}">older →</a></p>` : ''}`
  : problemText(res.problem)}`,
  );
}

interface SpanJson { trace_id: string; span_id: string; parent_span_id: string | null; name: string; service: string; start_ms: number; duration_ms: number; ok: boolean; status_message: string | null; attributes?: Record<string, unknown> }
export async function tracesPage(p: PageContext) {
  const res = await p.api<{ spans: SpanJson[] }>('GET', '/traces?limit=2000');
  if (!res.ok) return layout(p.frame('Traces', '/traces'), problemText(res.problem));
  const traces = new Map<string, SpanJson[]>();
  for (const s of res.body.spans) {
    const list = traces.get(s.trace_id);
    if (list) list.push(s);
    else traces.set(s.trace_id, [s]);
  }
  // Search: a trace id (or its start), and text in any span's name or attributes — the account
  // (`tollgate.account_id`) and MQTT client id (`mqtt.client_id`) a request named, its request id.
  const traceId = (p.c.req.query('trace_id') ?? '').trim().toLowerCase();
  const q = (p.c.req.query('q') ?? '').trim().toLowerCase();
  const hit = (s: SpanJson) => s.name.toLowerCase().includes(q) || Object.values(s.attributes ?? {}).some((v) => String(v).toLowerCase().includes(q));
  const found = [...traces].filter(([id, spans]) => (!traceId || id.startsWith(traceId)) && (!q || spans.some(hit)));
  const rows = found.slice(0, 100).map(([id, spans]) => {
    const ids = new Set(spans.map((s) => s.span_id));
    const root = spans.find((s) => !s.parent_span_id || !ids.has(s.parent_span_id)) ?? spans[0]!;
    const start = Math.min(...spans.map((s) => s.start_ms));
    const end = Math.max(...spans.map((s) => s.start_ms + s.duration_ms));
    return { id, root, count: spans.length, durationMs: end - start, ok: spans.every((s) => s.ok), start };
  });
  return layout(
    p.frame('Traces', '/traces'),
    html`<form method="get" action="/traces" class="filters"><label>trace id <input name="trace_id" value="${traceId}" placeholder="4bf92f35…"></label> <label>client, account or text <input name="q" value="${p.c.req.query('q') ?? ''}" placeholder="sensor-7, acc_…, Authorize"></label> <button type="submit">Search</button></form>
<table id="traces"><thead><tr><th>started</th><th>root span</th><th>spans</th><th>duration</th><th>trace</th></tr></thead><tbody>
${rows.map((t) => html`<tr><td>${new Date(t.start).toISOString()}</td><td class="${t.ok ? '' : 'deny'}">${t.root.name} <span class="muted">(${t.root.service})</span></td><td>${t.count}</td><td>${t.durationMs.toFixed(2)} ms</td><td><a href="/traces/${t.id}"><code>${t.id.slice(0, 16)}…</code></a></td></tr>`)}
</tbody></table>${rows.length ? '' : html`<p class="muted">${traceId || q ? 'no buffered trace matches' : 'no spans buffered yet'}</p>`}`,
  );
}

/** One trace as a waterfall: SVG bars (attributes, not inline style, so the CSP holds). */
export async function tracePage(p: PageContext, traceId: string) {
  const res = await p.api<{ spans: SpanJson[] }>('GET', `/traces?trace_id=${encodeURIComponent(traceId)}&limit=2000`);
  if (!res.ok) return layout(p.frame('Trace', '/traces'), problemText(res.problem));
  const spans = [...res.body.spans].sort((a, b) => a.start_ms - b.start_ms);
  if (!spans.length) return layout(p.frame('Trace', '/traces'), html`<p class="muted">no spans of this trace are buffered</p>`);
  const depth = new Map<string, number>();
  for (const s of spans) depth.set(s.span_id, s.parent_span_id && depth.has(s.parent_span_id) ? depth.get(s.parent_span_id)! + 1 : 0);
  const start = spans[0]!.start_ms;
  const total = Math.max(...spans.map((s) => s.start_ms + s.duration_ms)) - start || 1;
  const width = 1000;
  const label = 380;
  const rowH = 22;
  // Room on the right for the duration text, so it never sits on a bar.
  const scale = (ms: number) => (ms / total) * (width - label - 80);
  const short = (text: string) => (text.length > 52 ? `${text.slice(0, 51)}…` : text);
  return layout(
    p.frame(`Trace ${traceId.slice(0, 16)}…`, '/traces'),
    html`<p>${spans.length} spans over ${total.toFixed(2)} ms</p>
<svg class="waterfall" viewBox="0 0 ${width} ${spans.length * rowH + 4}" width="100%" role="img" aria-label="trace waterfall">
${spans.map((s, i) => {
  const y = i * rowH + 2;
  return html`<g data-span="${s.span_id}"><text x="${4 + (depth.get(s.span_id) ?? 0) * 12}" y="${y + 15}" font-size="12">${short(`${s.name} (${s.service})`)}</text>
<rect x="${label + scale(s.start_ms - start)}" y="${y + 3}" width="${Math.max(1, scale(s.duration_ms))}" height="${rowH - 6}" fill="${s.ok ? '#3b82f6' : '#b3261e'}"><title>${s.name}: ${s.duration_ms.toFixed(3)} ms${s.status_message ? ` — ${s.status_message}` : ''}</title></rect>
<text x="${label + scale(s.start_ms - start + s.duration_ms) + 4}" y="${y + 15}" font-size="11" fill="#6b7280">${s.duration_ms.toFixed(2)} ms</text></g>`;
})}</svg>`,
  );
}

interface UserJson { id: string; username: string; totp_enabled: boolean; memberships: { account_id: string; role: string }[] }
export async function usersTable(p: PageContext, accountId: string, problem?: { detail: string }) {
  const res = await p.api<{ users: UserJson[] }>('GET', `/users?account_id=${encodeURIComponent(accountId)}`);
  if (!res.ok) return html`<div id="users">${problemText(res.problem)}</div>`;
  const manage = p.can('users.manage');
  const roles = ['owner', 'admin', 'member', 'viewer'];
  return html`<div id="users">${problemText(problem)}<table><thead><tr><th>user</th><th>2FA</th><th>role here</th><th></th></tr></thead><tbody>
${res.body.users.map((u) => {
  const role = u.memberships.find((m) => m.account_id === accountId)?.role ?? '';
  return html`<tr data-user="${u.id}"><td>${u.username}<br><code>${u.id}</code></td><td>${u.totp_enabled ? 'on' : 'off'}${manage && u.totp_enabled
    ? html` <form hx-post="/ui/users/${u.id}/totp/reset" hx-target="#users" hx-swap="outerHTML" class="inline" hx-confirm="Reset the two-factor sign-in of ${u.username}? They sign in with the password alone until they enrol again."><input type="hidden" name="account_id" value="${accountId}"><button type="submit">Reset 2FA</button></form>`
    : ''}</td>
<td>${manage
    ? html`<form hx-post="/ui/users/${u.id}/role" hx-target="#users" hx-swap="outerHTML" class="inline"><input type="hidden" name="account_id" value="${accountId}"><select name="role" aria-label="role of ${u.username}">${roles.map((r) => html`<option${r === role ? html` selected` : ''}>${r}</option>`)}</select> <button type="submit">Set</button></form>`
    : role}</td>
<td>${manage ? html`<form hx-post="/ui/users/${u.id}/remove" hx-target="#users" hx-swap="outerHTML" hx-confirm="Remove ${u.username} from this account?"><input type="hidden" name="account_id" value="${accountId}"><button type="submit">Remove</button></form>` : ''}</td></tr>`;
})}</tbody></table></div>`;
}
/**
 * The signed-in user's own two-factor sign-in: enrol with a QR code of the otpauth URI (drawn on
 * the server as SVG, so no script and no third party sees the secret), confirm with a code, and
 * keep the recovery codes shown once. Shown to password sessions (a token has no TOTP).
 */
export async function myTotp(p: PageContext) {
  if (p.session.via !== 'password') return '';
  const me = await p.api<{ user: UserJson }>('GET', `/users/${encodeURIComponent(p.me.subject)}`);
  if (!me.ok) return '';
  return html`<h2>Your two-factor sign-in</h2><div id="my-totp">${me.body.user.totp_enabled
    ? html`<p class="allow">On: sign-in asks for a code from your authenticator app.</p>`
    : html`<p class="muted">Off.</p><button hx-post="/ui/me/totp" hx-target="#my-totp" hx-swap="innerHTML">Set up two-factor sign-in</button>`}</div>`;
}

/** Step 1 of enrolment: the QR code and the secret, and the code that proves the app has it. */
export async function myTotpEnrol(p: PageContext) {
  const res = await p.api<{ otpauth_uri: string; secret: string }>('POST', `/users/${encodeURIComponent(p.me.subject)}/totp`);
  if (!res.ok) return problemText(res.problem);
  const svg = await QRCode.toString(res.body.otpauth_uri, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
  return html`<p>Scan this with your authenticator app, or type the secret in.</p>
<figure class="qr" data-testid="totp-qr">${raw(svg)}</figure>
<p>secret <code class="secret" data-testid="totp-secret">${res.body.secret}</code></p>
${myTotpConfirmForm()}`;
}

export function myTotpConfirmForm(error?: string) {
  return html`<form id="totp-confirm" hx-post="/ui/me/totp/confirm" hx-target="#totp-confirm" hx-swap="outerHTML"><label>Code from the app <input name="code" inputmode="numeric" autocomplete="one-time-code" required></label> <button type="submit">Turn on</button>${error ? html` <span class="field-error" data-field="code" role="alert">${error}</span>` : ''}</form>`;
}

export async function myTotpConfirm(p: PageContext, code: string) {
  const res = await p.api<{ recovery_codes: string[] }>('POST', `/users/${encodeURIComponent(p.me.subject)}/totp/confirm`, { code });
  if (!res.ok) return myTotpConfirmForm(res.problem?.detail ?? 'refused');
  return html`<div class="card" role="status"><p class="allow">Two-factor sign-in is on. Keep these recovery codes somewhere safe: they are shown <strong>only once</strong>, and each signs you in once without the app.</p>
<ul data-testid="recovery-codes">${res.body.recovery_codes.map((c) => html`<li><code>${c}</code></li>`)}</ul></div>`;
}

export async function usersPage(p: PageContext) {
  const accountId = p.c.req.query('account_id') || p.me.account_id;
  return layout(
    p.frame('Users and roles', '/users'),
    html`${accountFilter(p, '/users')}${await usersTable(p, accountId)}${await myTotp(p)}
${p.can('users.manage')
  ? html`<h2>New user</h2><form hx-post="/ui/users" hx-target="#new-user-result"><input type="hidden" name="account_id" value="${accountId}">
<label>username <input name="username" required></label> <label>password <input name="password" type="password" autocomplete="new-password" required></label>
<label>role <select name="role">${['viewer', 'member', 'admin', 'owner'].map((r) => html`<option>${r}</option>`)}</select></label> <button type="submit">Create user</button></form><div id="new-user-result"></div>`
  : ''}`,
  );
}

interface LimitJson { metric: string; kind: string; value: number; per: string | null; burst: number; shadow: boolean; source_account_id: string }
const LIMIT_METRICS = ['mqtt.messages.in', 'mqtt.bytes.in', 'mqtt.messages.out', 'mqtt.connects', 'api.requests'];
const limitText = (l: LimitJson) => `${l.value}${l.per ? `/${l.per}` : ''}`;

/** The parent's effective limits: the bound a child's limit may not exceed (none at a root). */
export async function parentBounds(p: PageContext, accountId: string): Promise<{ parentId: string; limits: LimitJson[] } | undefined> {
  const account = await p.api<{ account: { parent_id: string | null } }>('GET', `/accounts/${encodeURIComponent(accountId)}`);
  const parentId = account.ok ? account.body.account.parent_id : null;
  if (!parentId) return undefined;
  const limits = await p.api<{ limits: LimitJson[] }>('GET', `/limits?account_id=${encodeURIComponent(parentId)}`);
  // A caller who may not read the parent's limits (its own account is the subtree root) sees no bound.
  return limits.ok ? { parentId, limits: limits.body.limits.filter((l) => l.value >= 0) } : undefined;
}

/**
 * Set a limit: the parent's bound shown beside the form, and a refusal shown at the field it names
 * (`limits[0].value`: above the parent's; `limits[0]`: another period than the parent's).
 */
export function limitForm(accountId: string, bounds: Awaited<ReturnType<typeof parentBounds>>, values: { metric?: string; kind?: string; value?: string; per?: string } = {}, error?: { field: string; detail: string }) {
  const at = (field: string) => (error && error.field === field ? html`<span class="field-error" data-field="${field}" role="alert">${error.detail}</span>` : '');
  const other = error && !['value', 'metric', 'kind', 'per'].includes(error.field) ? html`<p class="error" role="alert">${error.detail}</p>` : '';
  return html`<form id="limit-form" hx-post="/ui/limits" hx-target="#limit-form" hx-swap="outerHTML"><input type="hidden" name="account_id" value="${accountId}">${other}
<label>metric <input name="metric" list="metrics" value="${values.metric ?? ''}" required></label><datalist id="metrics">${LIMIT_METRICS.map((m) => html`<option>${m}</option>`)}</datalist>${at('metric')}
<label>kind <select name="kind">${['rate', 'volume', 'concurrency', 'count'].map((k) => html`<option${values.kind === k ? html` selected` : ''}>${k}</option>`)}</select></label>${at('kind')}
<label>value <input name="value" inputmode="numeric" value="${values.value ?? ''}" required></label>${at('value')}
<label>per <select name="per"><option value="">—</option>${['second', 'minute', 'day', 'month'].map((k) => html`<option${values.per === k ? html` selected` : ''}>${k}</option>`)}</select></label>${at('per')}
<button type="submit">Set</button>
${bounds
  ? html`<p class="muted" data-testid="parent-bounds">The parent <code>${bounds.parentId}</code> allows ${bounds.limits.length ? bounds.limits.map((l, i) => html`${i ? ', ' : ''}<strong>${l.metric}</strong> ${l.kind} ${limitText(l)}`) : 'any value (it has no limits)'}; a limit here may not be above it (-1 inherits it).</p>`
  : html`<p class="muted">A root account: no parent bound.</p>`}</form>`;
}

export async function limitsPage(p: PageContext) {
  const accountId = p.c.req.query('account_id') || p.me.account_id;
  const res = await p.api<{ limits: LimitJson[] }>('GET', `/limits?account_id=${encodeURIComponent(accountId)}`);
  const manage = p.can('limits.manage');
  const bounds = manage ? await parentBounds(p, accountId) : undefined;
  const parentOf = (l: LimitJson) => bounds?.limits.find((b) => b.metric === l.metric && b.kind === l.kind);
  return layout(
    p.frame('Limits and usage', '/limits'),
    html`${accountFilter(p, '/limits')}
${res.ok
  ? html`<table id="limits"><thead><tr><th>metric</th><th>kind</th><th>value</th><th>burst</th><th>from</th>${bounds ? html`<th>parent's</th>` : ''}</tr></thead><tbody>
${res.body.limits.map((l) => html`<tr><td>${l.metric}</td><td>${l.kind}${l.shadow ? ' (shadow)' : ''}</td><td>${limitText(l)}</td><td>${l.burst || ''}</td><td><code>${l.source_account_id}</code></td>${bounds ? html`<td>${parentOf(l) ? limitText(parentOf(l)!) : '—'}</td>` : ''}</tr>`)}
</tbody></table>`
  : problemText(res.problem)}
${manage ? html`<h2>Set a limit</h2>${limitForm(accountId, bounds)}` : ''}
<h2>Live usage</h2>
${LIMIT_METRICS.map((m) => html`<figure class="chart"><figcaption>${m}</figcaption><div data-usage-stream="/ui/stream/usage?account_id=${encodeURIComponent(accountId)}&amp;metric=${encodeURIComponent(m)}"></div></figure>`)}`,
  );
}

export async function overviewPage(p: PageContext) {
  const accountId = p.c.req.query('account_id') || p.me.account_id;
  const services = await p.api<{ services: { name: string; address: string | null; status: string }[] }>('GET', '/services');
  return layout(
    p.frame('Overview', '/'),
    html`<h2>Services</h2><table id="services"><thead><tr><th>service</th><th>address</th><th>gRPC health</th></tr></thead><tbody>
${(services.body.services ?? []).map((s) => html`<tr><td>${s.name}</td><td>${s.address ?? '—'}</td><td class="${s.status}">${s.status}</td></tr>`)}
</tbody></table>
<h2>Broker, live</h2>
${accountFilter(p, '/')}
<p class="muted">this account's and its subaccounts' MQTT traffic on every broker edge — messages, denials and quota rejections per second, and who is connected now</p>
<div data-stats-stream="/ui/stream/stats?account_id=${encodeURIComponent(accountId)}"></div>
<h2>Decisions, live</h2>
<p class="muted">this account's and its subaccounts' authorization decisions per second, allowed and denied (by the broker edge, the adapters and the API), and how many credential checks authz answered from its token cache — every authz replica added up</p>
<div data-decisions-stream="/ui/stream/decisions?account_id=${encodeURIComponent(accountId)}"></div>`,
  );
}
