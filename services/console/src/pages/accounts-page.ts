import { html } from 'hono/html';
import { layout, problemText } from './layout.ts';
import type { ApiAnswer, PageContext } from './page-context.ts';

interface AccountJson {
  id: string;
  name: string;
  parent_id: string | null;
  depth: number;
  state: 'active' | 'suspended';
  suspended: boolean;
}

type Tree = { account: AccountJson; descendants: AccountJson[] };

/**
 * One account of the tree with its controls. Its children are drawn when `kids` is given; else,
 * when it has any, they are fetched when the node is opened (`/ui/accounts/{id}/children`), so a
 * tree of a thousand accounts costs one level per page view, not the whole tree in HTML.
 */
function accountNode(p: PageContext, a: AccountJson, below: number, kids: AccountJson[] | undefined, countOf: (id: string) => number): ReturnType<typeof html> {
  const manage = p.can('accounts.manage');
  const lazy = kids === undefined && below > 0;
  return html`<li data-account="${a.id}"><details${lazy ? html` hx-get="/ui/accounts/${a.id}/children" hx-trigger="toggle once" hx-target="find .children" hx-swap="innerHTML"` : html` open`}><summary><strong>${a.name}</strong> <code>${a.id}</code>${below ? html` <span class="muted">${below} below</span>` : ''}
<span class="links"><a href="/accounts?account_id=${a.id}">summary</a> ${(['tokens', 'users', 'limits', 'clients', 'decisions'] as const).map((page) => html`<a href="/${page}?account_id=${a.id}">${page}</a> `)}</span>
${a.suspended ? html`<span class="deny">suspended${a.state === 'active' ? ' (by an ancestor)' : ''}</span>` : html`<span class="allow">active</span>`}
${manage && a.id !== p.me.account_id
  ? a.state === 'suspended'
    ? html`<button hx-post="/ui/accounts/${a.id}/resume" hx-target="#tree" hx-swap="outerHTML" hx-confirm="Resume ${a.name}? Its tokens and users work again.">Resume</button>`
    : html`<button hx-post="/ui/accounts/${a.id}/suspend" hx-target="#tree" hx-swap="outerHTML" hx-confirm="Suspend ${a.name} and everything under it? Its clients are disconnected.">Suspend</button>`
  : ''}
</summary>
${manage && a.depth < 8
  ? html`<form hx-post="/ui/accounts" hx-target="#tree" hx-swap="outerHTML" class="inline"><input type="hidden" name="parent_id" value="${a.id}"><input name="name" placeholder="new subaccount name" required aria-label="subaccount name under ${a.name}"> <button type="submit">Create subaccount</button></form>`
  : ''}
<ul class="children">${kids ? kids.map((k) => accountNode(p, k, countOf(k.id), undefined, countOf)) : ''}</ul></details></li>`;
}

/** Descendant counts per account, from one subtree listing. */
function counter(tree: Tree): { children: Map<string, AccountJson[]>; countOf: (id: string) => number } {
  const children = new Map<string, AccountJson[]>();
  for (const a of tree.descendants) children.set(a.parent_id ?? '', [...(children.get(a.parent_id ?? '') ?? []), a]);
  const counts = new Map<string, number>();
  const countOf = (id: string): number => {
    let n = counts.get(id);
    if (n === undefined) {
      n = (children.get(id) ?? []).reduce((sum, k) => sum + 1 + countOf(k.id), 0);
      counts.set(id, n);
    }
    return n;
  };
  return { children, countOf };
}

/** The caller's account and its direct subaccounts; deeper levels open on demand. */
export async function accountsTree(p: PageContext, message?: { problem?: { detail: string } | undefined; done?: string }) {
  const tree = await p.api<Tree>('GET', `/accounts/${p.me.account_id}/tree`);
  if (!tree.ok) return html`<div id="tree">${problemText(tree.problem)}</div>`;
  const { children, countOf } = counter(tree.body);
  const root = tree.body.account;
  return html`<div id="tree">${problemText(message?.problem)}${message?.done ? html`<p class="allow" role="status">${message.done}</p>` : ''}<ul class="tree">${accountNode(p, root, countOf(root.id), children.get(root.id) ?? [], countOf)}</ul></div>`;
}

/** The direct subaccounts of one account (the htmx answer when its node is opened). */
export async function accountChildren(p: PageContext, accountId: string) {
  const tree = await p.api<Tree>('GET', `/accounts/${encodeURIComponent(accountId)}/tree`);
  if (!tree.ok) return html`<li>${problemText(tree.problem)}</li>`;
  const { children, countOf } = counter(tree.body);
  return html`${(children.get(tree.body.account.id) ?? []).map((k) => accountNode(p, k, countOf(k.id), undefined, countOf))}`;
}

/**
 * Counts a paged list by walking its pages, at most `maxPages` of 1,000 ("more than" past that):
 * one page by default, as a bigger count costs the page its 300 ms budget (the services have no
 * count RPC; a root with 2,000 tokens took ~600 ms to count in full under load).
 */
async function countPages(p: PageContext, path: string, key: string, maxPages = 1): Promise<{ n: number; more: boolean } | undefined> {
  let n = 0;
  let cursor: string | null = null;
  for (let page = 0; page < maxPages; page++) {
    const res: ApiAnswer<Record<string, unknown>> = await p.api('GET', `${path}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (!res.ok) return undefined;
    n += (res.body[key] as unknown[]).length;
    cursor = (res.body.next_cursor as string | null) ?? null;
    if (!cursor) return { n, more: false };
  }
  return { n, more: true };
}

/**
 * One account at a glance: its tokens, users, connected MQTT clients and today's usage (UTC day,
 * own traffic), each asked of its service with the caller's credential — a figure the caller may
 * not read is shown as "—".
 */
export async function accountSummary(p: PageContext, accountId: string, nowMs = Date.now()) {
  const id = encodeURIComponent(accountId);
  const sinceMidnight = Math.max(60, Math.ceil((nowMs - Math.floor(nowMs / 86_400_000) * 86_400_000) / 60_000) * 60);
  const usage = (metric: string) => p.api<{ series: { metric: string; total: number }[] }>('GET', `/usage?account_id=${id}&metric=${metric}&since_seconds=${sinceMidnight}&step_seconds=${sinceMidnight}`);
  const [account, tokens, users, clients, messages, bytes] = await Promise.all([
    p.api<{ account: AccountJson }>('GET', `/accounts/${id}`),
    countPages(p, `/tokens?account_id=${id}`, 'tokens'),
    countPages(p, `/users?account_id=${id}`, 'users'),
    countPages(p, `/clients?account_id=${id}`, 'clients'),
    usage('mqtt.messages.in'),
    usage('mqtt.bytes.in'),
  ]);
  if (!account.ok) return html`<section id="summary">${problemText(account.problem)}</section>`;
  const count = (c: { n: number; more: boolean } | undefined) => (c ? `${c.more ? 'more than ' : ''}${c.n.toLocaleString('en')}` : '—');
  const total = (u: ApiAnswer<{ series: { total: number }[] }>) => (u.ok ? u.body.series.reduce((sum, x) => sum + x.total, 0).toLocaleString('en') : '—');
  return html`<section id="summary" class="card"><h2>${account.body.account.name} <code>${accountId}</code></h2>
<table><tbody>
<tr><th>tokens</th><td data-summary="tokens"><a href="/tokens?account_id=${accountId}">${count(tokens)}</a></td></tr>
<tr><th>users</th><td data-summary="users"><a href="/users?account_id=${accountId}">${count(users)}</a></td></tr>
<tr><th>connected clients</th><td data-summary="clients"><a href="/clients?account_id=${accountId}">${count(clients)}</a></td></tr>
<tr><th>messages in today (UTC)</th><td data-summary="messages">${total(messages)}</td></tr>
<tr><th>bytes in today (UTC)</th><td data-summary="bytes">${total(bytes)}</td></tr>
</tbody></table></section>`;
}

export async function accountsPage(p: PageContext) {
  const accountId = p.c.req.query('account_id') || p.me.account_id;
  // The summary is its own request (counting a thousand tokens is most of a page's budget), so
  // the tree shows at once and the figures follow.
  return layout(
    p.frame('Accounts', '/accounts'),
    html`<section id="summary" hx-get="/ui/accounts/${encodeURIComponent(accountId)}/summary" hx-trigger="load" hx-swap="outerHTML"><p class="muted">counting…</p></section><h2>Tree</h2>${await accountsTree(p)}`,
  );
}
