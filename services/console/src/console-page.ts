/**
 * The operator page: service health for anyone; with a master token of a root account (kept in
 * this tab's sessionStorage only), recent denials, connected MQTT clients and recent traces.
 * Plain HTML and fetch, no build step; every value is inserted as text, never as HTML.
 */
export function consolePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:64rem;color:#1d2330;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{padding:.3rem .5rem;border-bottom:1px solid #e3e6ee;text-align:left;vertical-align:top}
.SERVING,.allow{color:#17794a;font-weight:600}.UNREACHABLE,.NOT_SERVING,.deny{color:#b3261e;font-weight:600}
input{width:28rem;font:inherit;padding:.3rem}button{font:inherit;padding:.3rem .8rem}.muted{color:#6b7280}
</style></head>
<body><h1>Tollgate</h1>
<h2>Services</h2>
<table><thead><tr><th>service</th><th>address</th><th>gRPC health</th></tr></thead><tbody id="services"><tr><td colspan="3">loading…</td></tr></tbody></table>
<h2>Operator</h2>
<p><input id="token" type="password" placeholder="master token of a root account" autocomplete="off"> <button id="load">Load</button> <span id="status" class="muted"></span></p>
<h2>Recent denials</h2>
<table><thead><tr><th>at</th><th>reason</th><th>action</th><th>resource</th><th>client</th><th>source</th></tr></thead><tbody id="decisions"></tbody></table>
<h2>Connected MQTT clients</h2>
<table><thead><tr><th>client id</th><th>peer</th><th>protocol</th><th>transport</th><th>subject</th><th>since</th></tr></thead><tbody id="clients"></tbody></table>
<h2>Recent traces</h2>
<table><thead><tr><th>span</th><th>service</th><th>duration</th><th>trace</th></tr></thead><tbody id="traces"></tbody></table>
<script>
const rows = (id, items, cells) => {
  const body = document.getElementById(id);
  body.replaceChildren(...items.map((item) => {
    const tr = document.createElement('tr');
    for (const [text, cls] of cells(item)) { const td = document.createElement('td'); td.textContent = text ?? ''; if (cls) td.className = cls; tr.append(td); }
    return tr;
  }));
  if (!items.length) { const tr = document.createElement('tr'); const td = document.createElement('td'); td.colSpan = 6; td.className = 'muted'; td.textContent = 'none'; tr.append(td); body.replaceChildren(tr); }
};
fetch('/api/v1/services').then((r) => r.json()).then(({ services }) =>
  rows('services', services, (s) => [[s.name], [s.address ?? '—'], [s.status, s.status]]));
const tokenInput = document.getElementById('token');
tokenInput.value = sessionStorage.getItem('tollgate-token') ?? '';
async function load() {
  const token = tokenInput.value.trim();
  sessionStorage.setItem('tollgate-token', token);
  const get = async (path) => {
    const r = await fetch(path, { headers: { authorization: 'Bearer ' + token } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.detail ?? r.statusText);
    return body;
  };
  const status = document.getElementById('status');
  try {
    const [d, c, t] = await Promise.all([get('/api/v1/decisions?denials_only=true&limit=50'), get('/api/v1/clients').catch(() => ({ clients: [] })), get('/api/v1/traces?limit=50')]);
    rows('decisions', d.decisions, (x) => [[x.at], [x.reason, 'deny'], [x.action], [x.resource], [x.client_id], [x.source]]);
    rows('clients', c.clients, (x) => [[x.client_id], [x.peer], ['v' + x.protocol_version], [x.transport], [x.subject], [x.connected_at]]);
    rows('traces', t.spans, (x) => [[x.name], [x.service], [x.duration_ms.toFixed(2) + ' ms'], [x.trace_id.slice(0, 12) + '…']]);
    status.textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (error) { status.textContent = error.message; }
}
document.getElementById('load').addEventListener('click', load);
if (tokenInput.value) load();
</script></body></html>`;
}
