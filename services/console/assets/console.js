// The console's only script (served by the app; the CSP allows no inline script). Copy buttons,
// live charts over server-sent events, drawn with uPlot. Every value is set as text, never as HTML.
'use strict';

document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('[data-copy]') : null;
  if (!button) return;
  const source = document.getElementById(button.getAttribute('data-copy'));
  if (!source) return;
  const text = source.textContent.trim();
  const selected = () => { selectText(source); button.textContent = 'Selected: press Ctrl+C'; };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(() => { button.textContent = 'Copied'; }, selected);
  else selected();
});

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function chart(host, title, seriesNames) {
  const data = [[], ...seriesNames.map(() => [])];
  const colors = ['#2563eb', '#b3261e', '#17794a', '#a16207'];
  const plot = new uPlot(
    {
      title,
      width: Math.min(host.clientWidth || 800, 1000),
      height: 220,
      series: [{}, ...seriesNames.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 2, ...(label === 'limit' ? { dash: [6, 4] } : {}) }))],
      axes: [{}, { size: 60 }],
    },
    data,
    host,
  );
  return plot;
}

function showProblem(host, problem) {
  const p = document.createElement('p');
  p.className = 'error';
  p.textContent = (problem && problem.detail) || 'the stream stopped';
  host.replaceChildren(p);
}

function startUsage(host) {
  let plot;
  const source = new EventSource(host.getAttribute('data-usage-stream'));
  source.addEventListener('sample', (event) => {
    const sample = JSON.parse(event.data);
    const series = sample.series[0] || { points: [] };
    // One point per minute over the window, zero where nothing was used (quota sends only used minutes).
    const byMinute = new Map(series.points.map((p) => [Math.floor(Date.parse(p.at) / 60000), p.amount]));
    const nowMinute = Math.floor(Date.now() / 60000);
    const xs = [], used = [];
    for (let m = nowMinute - 29; m <= nowMinute; m++) { xs.push(m * 60); used.push(byMinute.get(m) || 0); }
    const limit = sample.extra && sample.extra.limit_per_minute;
    const data = limit == null ? [xs, used] : [xs, used, xs.map(() => limit)];
    if (!plot) {
      host.replaceChildren();
      plot = chart(host, 'per minute', limit == null ? ['used'] : ['used', 'limit']);
    }
    plot.setData(data);
    host.setAttribute('data-samples', String(Number(host.getAttribute('data-samples') || 0) + 1));
  });
  source.addEventListener('problem', (event) => { source.close(); showProblem(host, JSON.parse(event.data)); });
}

function startStats(host) {
  let plot;
  let previous;
  const xs = [], inRate = [], outRate = [], deniedRate = [], rejectedRate = [];
  const figures = document.createElement('p');
  figures.className = 'figures';
  host.before(figures);
  const source = new EventSource(host.getAttribute('data-stats-stream'));
  source.addEventListener('sample', (event) => {
    const s = JSON.parse(event.data);
    const t = Date.parse(s.at) / 1000;
    figures.textContent = `connections ${s.connections} · sessions ${s.sessions} · subscriptions ${s.subscriptions} · accounts ${s.accounts}`;
    if (previous && t > previous.t) {
      const dt = t - previous.t;
      xs.push(t);
      inRate.push((s.messages_in - previous.s.messages_in) / dt);
      outRate.push((s.messages_out - previous.s.messages_out) / dt);
      deniedRate.push((s.denied - previous.s.denied) / dt);
      rejectedRate.push((s.quota_rejected - previous.s.quota_rejected) / dt);
      if (xs.length > 120) for (const a of [xs, inRate, outRate, deniedRate, rejectedRate]) a.shift();
      if (!plot) { host.replaceChildren(); plot = chart(host, 'per second', ['msgs in/s', 'denied/s', 'msgs out/s', 'quota rejected/s']); }
      plot.setData([xs, inRate, deniedRate, outRate, rejectedRate]);
    }
    previous = { t, s };
    host.setAttribute('data-connections', String(s.connections));
    host.setAttribute('data-messages-in', String(s.messages_in));
    host.setAttribute('data-samples', String(Number(host.getAttribute('data-samples') || 0) + 1));
  });
  source.addEventListener('problem', (event) => { source.close(); showProblem(host, JSON.parse(event.data)); });
}

// The decision stream's samples are already rates, summed over authz's replicas by the console
// (each replica counts only what it answered; services/console/README.md, "Overview").
function startDecisions(host) {
  let plot;
  const xs = [], allowedRate = [], deniedRate = [];
  const figures = document.createElement('p');
  figures.className = 'decision-figures';
  host.before(figures);
  const source = new EventSource(host.getAttribute('data-decisions-stream'));
  source.addEventListener('sample', (event) => {
    const s = JSON.parse(event.data);
    const ratio = s.cache_hit_ratio == null ? '—' : `${(s.cache_hit_ratio * 100).toFixed(1)}%`;
    const reasons = s.denied_by_reason.slice(0, 3).map((r) => `${r.reason} ${r.count}`).join(', ');
    figures.textContent = `token cache hit ratio ${ratio} · allowed ${s.allowed} · denied ${s.denied}${reasons ? ` (${reasons})` : ''} · authz replicas ${s.replicas} · accounts ${s.accounts}`;
    if (s.allowed_per_second != null) {
      xs.push(Date.parse(s.at) / 1000);
      allowedRate.push(s.allowed_per_second);
      deniedRate.push(s.denied_per_second);
      if (xs.length > 120) for (const a of [xs, allowedRate, deniedRate]) a.shift();
      if (!plot) { host.replaceChildren(); plot = chart(host, 'decisions per second', ['allowed/s', 'denied/s']); }
      plot.setData([xs, allowedRate, deniedRate]);
      host.setAttribute('data-allowed-per-second', String(s.allowed_per_second));
      host.setAttribute('data-denied-per-second', String(s.denied_per_second));
    }
    host.setAttribute('data-allowed', String(s.allowed));
    host.setAttribute('data-denied', String(s.denied));
    host.setAttribute('data-cache-hit-ratio', s.cache_hit_ratio == null ? '' : String(s.cache_hit_ratio));
    host.setAttribute('data-samples', String(Number(host.getAttribute('data-samples') || 0) + 1));
  });
  source.addEventListener('problem', (event) => { source.close(); showProblem(host, JSON.parse(event.data)); });
}

function start(root) {
  root.querySelectorAll('[data-usage-stream]:not([data-started])').forEach((host) => { host.setAttribute('data-started', ''); startUsage(host); });
  root.querySelectorAll('[data-stats-stream]:not([data-started])').forEach((host) => { host.setAttribute('data-started', ''); startStats(host); });
  root.querySelectorAll('[data-decisions-stream]:not([data-started])').forEach((host) => { host.setAttribute('data-started', ''); startDecisions(host); });
}
document.addEventListener('DOMContentLoaded', () => start(document));
document.addEventListener('htmx:load', (event) => start(event.target));
