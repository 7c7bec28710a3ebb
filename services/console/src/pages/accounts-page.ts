import { html } from 'hono/html';
import { layout, problemText } from './layout.ts';
import type { PageContext } from './page-context.ts';

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
<span class="links">${(['tokens', 'users', 'limits', 'clients', 'decisions'] as const).map((page) => html`<a href="/${page}?account_id=${a.id}">${page}</a> `)}</span>
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

export async function accountsPage(p: PageContext) {
  return layout(p.frame('Accounts', '/accounts'), await accountsTree(p));
}
