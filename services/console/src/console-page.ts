/** A small, dependency-free status page: service health, read from /api/v1/services. */
export function consolePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:52rem;color:#1d2330}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{padding:.4rem .6rem;border-bottom:1px solid #e3e6ee;text-align:left}
.SERVING{color:#17794a;font-weight:600}.UNREACHABLE,.NOT_SERVING{color:#b3261e;font-weight:600}
</style></head>
<body><h1>Tollgate</h1><p>Services of this mesh and their gRPC health.</p>
<table><thead><tr><th>service</th><th>address</th><th>health</th></tr></thead><tbody id="services"><tr><td colspan="3">loading…</td></tr></tbody></table>
<script>
fetch('/api/v1/services').then(r => r.json()).then(({ services }) => {
  const rows = services.map(s => '<tr><td>' + s.name + '</td><td>' + (s.address ?? '—') + '</td><td class="' + s.status + '">' + s.status + '</td></tr>');
  document.getElementById('services').innerHTML = rows.join('');
});
</script></body></html>`;
}
