import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

export type Markup = HtmlEscapedString | Promise<HtmlEscapedString> | string | Promise<HtmlEscapedString | string>;

export interface PageFrame {
  title: string;
  /** Signed-in user or token; absent on the login pages. */
  who?: { name: string; account: string; role: string | null; csrf: string } | undefined;
  active?: string;
}

const nav = [
  ['/', 'Overview'],
  ['/accounts', 'Accounts'],
  ['/tokens', 'Tokens'],
  ['/users', 'Users'],
  ['/limits', 'Limits & usage'],
  ['/decisions', 'Decisions'],
  ['/clients', 'Clients'],
  ['/traces', 'Traces'],
  ['/audit', 'Audit'],
  ['/api/v1/reference', 'API'],
] as const;

/**
 * Every console page: no inline script or style (the CSP forbids both); htmx and the console's
 * own script are served by the app from node_modules and src. htmx sends the CSRF token as a
 * header on every request it makes (hx-headers on body); plain forms carry it as `_csrf`.
 */
export function layout(frame: PageFrame, body: Markup) {
  const who = frame.who;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${frame.title} · Tollgate</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true}'>
<link rel="stylesheet" href="/assets/console.css"><link rel="stylesheet" href="/assets/uplot.css">
<script src="/assets/htmx.js" defer></script><script src="/assets/uplot.js" defer></script><script src="/assets/console.js" defer></script>
</head>
<body${who ? html` hx-headers='${JSON.stringify({ 'x-csrf-token': who.csrf })}'` : ''}>
${who
  ? html`<nav>${nav.map(([href, label]) => html`<a href="${href}"${frame.active === href ? html` aria-current="page"` : ''}>${label}</a>`)}
<span class="who" data-testid="who">${who.name} · ${who.account}${who.role ? ` · ${who.role}` : ''}</span>
<form method="post" action="/logout" class="inline"><input type="hidden" name="_csrf" value="${who.csrf}"><button type="submit">Log out</button></form></nav>`
  : ''}
<main><h1>${frame.title}</h1>
${body}
</main></body></html>`;
}

/** A problem from the API as text next to the control it concerns. */
export function problemText(problem: { detail?: string; field?: string } | undefined) {
  return problem ? html`<p class="error" role="alert">${problem.detail ?? 'refused'}</p>` : html``;
}
