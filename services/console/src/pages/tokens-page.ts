import { html } from 'hono/html';
import { layout, problemText } from './layout.ts';
import { passQuery, type PageContext } from './page-context.ts';

interface TokenJson {
  id: string;
  name: string;
  account_id: string;
  kind: string;
  rules: { effect: string; actions: string[]; resources: string[] }[];
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface RuleRow {
  effect: string;
  actions: string;
  resources: string;
}

/** One row of the rules editor; errors are shown at the rule and at the field. */
export function ruleRow(row: RuleRow, index: number, errors: { effect?: string; actions?: string; resources?: string; rule?: string } = {}) {
  return html`<fieldset class="rule" data-rule="${index}"><legend>rule ${index + 1}</legend>
${errors.rule ? html`<p class="field-error" role="alert">${errors.rule}</p>` : ''}
<label>effect <select name="effect"><option value="allow"${row.effect === 'deny' ? '' : html` selected`}>allow</option><option value="deny"${row.effect === 'deny' ? html` selected` : ''}>deny</option></select></label>
${errors.effect ? html`<span class="field-error">${errors.effect}</span>` : ''}
<label>actions <input name="actions" value="${row.actions}" placeholder="publish, subscribe"></label>
${errors.actions ? html`<span class="field-error" data-field="actions">${errors.actions}</span>` : ''}
<label>resources (one per line) <textarea name="resources" rows="2" placeholder="mqtt:plant/7/#">${row.resources}</textarea></label>
${errors.resources ? html`<span class="field-error" data-field="resources">${errors.resources}</span>` : ''}
</fieldset>`;
}

export function createTokenForm(accountId: string, values: { name?: string; kind?: string; rows?: RuleRow[] } = {}, errors: { rows?: Record<number, Parameters<typeof ruleRow>[2]>; form?: string; field?: string } = {}) {
  const rows = values.rows?.length ? values.rows : [{ effect: 'allow', actions: '', resources: '' }];
  return html`<form id="create-token" hx-post="/ui/tokens" hx-target="#create-token" hx-swap="outerHTML">
${errors.form ? html`<p class="error" role="alert">${errors.field ? html`<code>${errors.field}</code>: ` : ''}${errors.form}</p>` : ''}
<input type="hidden" name="account_id" value="${accountId}">
<label>name <input name="name" value="${values.name ?? ''}"></label>
<label>kind <select name="kind">${['acl', 'standard', 'master'].map((k) => html`<option${values.kind === k ? html` selected` : ''}>${k}</option>`)}</select></label>
<div id="rules">${rows.map((r, i) => ruleRow(r, i, errors.rows?.[i]))}</div>
<button type="button" hx-get="/ui/tokens/rule-row" hx-target="#rules" hx-swap="beforeend">Add rule</button>
<button type="submit">Create token</button></form>`;
}

/** The new secret, once, with a copy button; the form is ready for the next token. */
export function secretShownOnce(token: { id: string; secret: string }, accountId: string) {
  return html`<div id="create-token"><div class="card" role="status"><p>Token <code>${token.id}</code> created. Copy its secret now: it is shown <strong>only once</strong>.</p>
<p class="secret" data-testid="secret" id="secret-${token.id}">${token.secret}</p><button type="button" data-copy="secret-${token.id}">Copy</button></div>
${createTokenForm(accountId)}</div>`;
}

export async function tokensTable(p: PageContext, accountId: string, outOfBand = false) {
  const list = await p.api<{ tokens: TokenJson[]; next_cursor: string | null }>('GET', `/tokens${passQuery(p.c, ['include_revoked', 'kind', 'cursor'])}${p.c.req.query('include_revoked') || p.c.req.query('kind') || p.c.req.query('cursor') ? '&' : '?'}account_id=${encodeURIComponent(accountId)}`);
  if (!list.ok) return html`<div id="tokens">${problemText(list.problem)}</div>`;
  const manage = p.can('tokens.manage');
  return html`<div id="tokens"${outOfBand ? html` hx-swap-oob="true"` : ''}><table><thead><tr><th>token</th><th>kind</th><th>rules</th><th>expires</th><th>last used</th><th></th></tr></thead><tbody>
${list.body.tokens.map(
  (t) => html`<tr data-token="${t.id}"><td>${t.name || '(unnamed)'}<br><code>${t.id}</code></td><td>${t.kind}</td>
<td>${t.rules.map((r) => html`<div><span class="${r.effect}">${r.effect}</span> ${r.actions.join(', ')} → ${r.resources.join(' ')}</div>`)}</td>
<td>${t.revoked_at ? html`<span class="deny">revoked</span>` : (t.expires_at ?? 'never')}</td><td>${t.last_used_at ?? '—'}</td>
<td>${manage && !t.revoked_at
  ? html`<button hx-post="/ui/tokens/${t.id}/rotate" hx-target="#token-result" hx-confirm="Rotate ${t.name || t.id}? The old secret stops working at once.">Rotate</button>
<button hx-post="/ui/tokens/${t.id}/revoke" hx-target="#tokens" hx-swap="outerHTML" hx-confirm="Revoke ${t.name || t.id}? Its clients are disconnected.">Revoke</button>`
  : ''}</td></tr>`,
)}</tbody></table>
${list.body.next_cursor ? html`<p><a href="/tokens?account_id=${accountId}&cursor=${encodeURIComponent(list.body.next_cursor)}">next page →</a></p>` : ''}</div>`;
}

export async function tokensPage(p: PageContext) {
  const accountId = p.c.req.query('account_id') || p.me.account_id;
  return layout(
    p.frame('Tokens', '/tokens'),
    html`<form method="get" action="/tokens" class="filters"><label>account <input name="account_id" value="${accountId}"></label>
<label>kind <select name="kind"><option value="">any</option>${['master', 'standard', 'acl'].map((k) => html`<option${p.c.req.query('kind') === k ? html` selected` : ''}>${k}</option>`)}</select></label>
<label><input type="checkbox" name="include_revoked" value="true"${p.c.req.query('include_revoked') === 'true' ? html` checked` : ''}> revoked too</label> <button type="submit">Filter</button></form>
<div id="token-result"></div>
${await tokensTable(p, accountId)}
${p.can('tokens.manage') ? html`<h2>New token</h2>${createTokenForm(accountId)}` : ''}
<h2>Try a decision</h2>
<form hx-post="/ui/decisions/check" hx-target="#check-result"><label>token secret <input name="token" type="password" autocomplete="off" required></label>
<label>action <select name="action">${['publish', 'subscribe', 'connect', 'read', 'write'].map((a) => html`<option>${a}</option>`)}</select></label>
<label>resource <input name="resource" placeholder="mqtt:plant/7/temp"></label> <button type="submit">Try</button></form><div id="check-result"></div>`,
  );
}

/**
 * The rules editor's rows → API rules, skipping empty rows; `rowOf[i]` is the row of API rule i,
 * so an error at `rules[i].resources[0]` is shown on its row.
 */
export function rulesFromForm(effects: string[], actions: string[], resources: string[]) {
  const rows: RuleRow[] = effects.map((effect, i) => ({ effect, actions: actions[i] ?? '', resources: resources[i] ?? '' }));
  const rules: { effect: string; actions: string[]; resources: string[] }[] = [];
  const rowOf: number[] = [];
  rows.forEach((row, i) => {
    const acts = row.actions.split(/[\s,]+/).filter(Boolean);
    const res = row.resources.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
    if (!acts.length && !res.length) return;
    rules.push({ effect: row.effect, actions: acts, resources: res });
    rowOf.push(i);
  });
  return { rows, rules, rowOf };
}
