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

/** The caller's account and its subtree, nested; suspend / resume / create subaccount for those allowed. */
export async function accountsTree(p: PageContext, message?: { problem?: { detail: string } | undefined; done?: string }) {
  const tree = await p.api<{ account: AccountJson; descendants: AccountJson[] }>('GET', `/accounts/${p.me.account_id}/tree`);
  if (!tree.ok) return html`<div id="tree">${problemText(tree.problem)}</div>`;
  const children = new Map<string, AccountJson[]>();
  for (const a of tree.body.descendants) children.set(a.parent_id ?? '', [...(children.get(a.parent_id ?? '') ?? []), a]);
  const manage = p.can('accounts.manage');
  const node = (a: AccountJson): ReturnType<typeof html> => {
    const kids = children.get(a.id) ?? [];
    return html`<li data-account="${a.id}"><details open><summary><strong>${a.name}</strong> <code>${a.id}</code>
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
${kids.length ? html`<ul>${kids.map(node)}</ul>` : ''}</details></li>`;
  };
  return html`<div id="tree">${problemText(message?.problem)}${message?.done ? html`<p class="allow" role="status">${message.done}</p>` : ''}<ul class="tree">${node(tree.body.account)}</ul></div>`;
}

export async function accountsPage(p: PageContext) {
  return layout(p.frame('Accounts', '/accounts'), await accountsTree(p));
}
