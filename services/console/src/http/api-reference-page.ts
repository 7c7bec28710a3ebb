import { html } from 'hono/html';

interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; schema?: { type?: string | string[] } }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
}
interface Document {
  info: { title: string; description?: string };
  paths?: Record<string, Record<string, Operation>>;
}

/**
 * The API reference, rendered on the server from the OpenAPI document itself (no CDN, no
 * script): each operation with its parameters and answers; the JSON document is one link away.
 */
export function apiReferencePage(doc: Document) {
  const operations = Object.entries(doc.paths ?? {}).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));
  const byTag = new Map<string, typeof operations>();
  for (const o of operations) {
    const tag = o.op.tags?.[0] ?? 'other';
    byTag.set(tag, [...(byTag.get(tag) ?? []), o]);
  }
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${doc.info.title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/console.css"></head>
<body class="reference"><h1>${doc.info.title}</h1>
<p>${doc.info.description ?? ''}</p>
<p>Base path <code>/api/v1</code>. Machine-readable: <a href="/api/v1/openapi.json">openapi.json</a> (OpenAPI 3.1).
Authenticate with <code>Authorization: Bearer &lt;token or access JWT&gt;</code>, or the console session cookie plus the <code>x-csrf-token</code> header on state-changing requests. Errors are <code>application/problem+json</code> with the <code>field</code> at fault.</p>
${[...byTag].map(
  ([tag, ops]) => html`<h2>${tag}</h2>
${ops.map(
  ({ path, method, op }) => html`<section class="op" id="${method.toLowerCase()}-${path}"><h3><span class="method ${method.toLowerCase()}">${method}</span> <code>/api/v1${path}</code></h3>
<p>${op.summary ?? ''}</p>
${op.parameters?.length ? html`<table><thead><tr><th>parameter</th><th>in</th><th>required</th></tr></thead><tbody>${op.parameters.map((p) => html`<tr><td><code>${p.name}</code></td><td>${p.in}</td><td>${p.required ? 'yes' : 'no'}</td></tr>`)}</tbody></table>` : ''}
${op.requestBody ? html`<p class="muted">JSON body — see <code>${path}</code> in openapi.json for its schema.</p>` : ''}
<p class="muted">answers: ${Object.entries(op.responses ?? {}).map(([code, r]) => `${code} ${r.description ?? ''}`).join(' · ')}</p></section>`,
)}`,
)}
</body></html>`;
}
