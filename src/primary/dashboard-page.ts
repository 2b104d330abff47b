/**
 * DASHBOARD_HTML is the whole dashboard page: markup, style and script inline, nothing fetched
 * from elsewhere. It renders the frames of GET /events (the GET /status document), so whatever
 * other features add to /status (health, drained, cache, healthTransitions) shows up when present:
 *
 *   upstreams[name].servers[i]: id, url, weight, backup, and optionally health ("up" | "down" |
 *     "unknown" or a boolean healthy), drained (boolean), inFlight (number), concurrency
 *     ({ limit, latencyMs, minLatencyMs, measuring }: adaptive concurrency, its own section)
 *   metrics[]: per upstream server, from src/primary/metrics-agg.ts
 *   healthTransitions (or health.transitions): [{ time, upstream, server, from, to, reason? }]
 *   cache: { hits, misses } (optional)
 */
export const DASHBOARD_HTML = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fulcrum</title>
<style>
  :root { --bg:#f7f7f5; --card:#fff; --ink:#1d2125; --dim:#6b7280; --line:#e5e7eb; --up:#16a34a; --down:#dc2626; --warn:#d97706; --accent:#2563eb; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
  header { display:flex; gap:16px; align-items:baseline; padding:12px 20px; background:#111827; color:#f9fafb; }
  header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
  header .meta { color:#9ca3af; font-size:13px; }
  #conn { margin-left:auto; font-size:13px; }
  #conn.live::before { content:"\\25CF "; color:#4ade80; }
  #conn.lost::before { content:"\\25CF "; color:#f87171; }
  main { padding:16px 20px; display:grid; gap:16px; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
  h2 { font-size:15px; margin:0 0 8px; }
  h2 .sub { color:var(--dim); font-weight:normal; font-size:13px; margin-left:8px; }
  table { border-collapse:collapse; width:100%; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; vertical-align:middle; }
  th { color:var(--dim); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.3px; }
  td.num { text-align:right; font-variant-numeric:tabular-nums; }
  .state { display:inline-block; min-width:64px; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; text-align:center; color:#fff; }
  .state.up { background:var(--up); } .state.down { background:var(--down); } .state.failing { background:var(--down); }
  .state.drained { background:var(--warn); } .state.idle, .state.unknown { background:#9ca3af; }
  button { font:inherit; font-size:12px; padding:2px 10px; border:1px solid var(--line); border-radius:4px; background:#f3f4f6; cursor:pointer; }
  button:hover { background:#e5e7eb; }
  .err { color:var(--down); font-size:12px; margin-left:6px; }
  .bad { color:var(--down); font-weight:600; }
  svg { display:block; }
  .empty { color:var(--dim); }
  #transitions li { font-variant-numeric:tabular-nums; }
</style>
</head>
<body>
<header><h1>fulcrum</h1><span class="meta" id="meta">connecting…</span><span id="conn">connecting</span></header>
<main>
  <div id="upstreams"></div>
  <section id="concurrency" hidden><h2>Adaptive concurrency<span class="sub">limit per server (all workers together); latency to the response head against its minimum</span></h2><table><thead><tr><th>upstream</th><th>server</th><th>limit</th><th>in flight</th><th>latency</th><th>minimum</th><th></th></tr></thead><tbody id="concurrency-rows"></tbody></table></section>
  <section><h2>Workers</h2><table><thead><tr><th>#</th><th>pid</th><th>uptime</th><th>restarts</th></tr></thead><tbody id="workers"></tbody></table></section>
  <section><h2>Recent health transitions</h2><ul id="transitions"><li class="empty">none yet</li></ul></section>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of kids) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}
const NS = "http://www.w3.org/2000/svg";
function svg(w, h, shapes) {
  const s = document.createElementNS(NS, "svg");
  s.setAttribute("width", w); s.setAttribute("height", h); s.setAttribute("viewBox", "0 0 " + w + " " + h);
  for (const [tag, attrs] of shapes) { const n = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); s.append(n); }
  return s;
}
function sparkline(values) {
  const w = 120, h = 24, max = Math.max(1, ...values);
  const pts = values.map((v, i) => (i * w / Math.max(1, values.length - 1)).toFixed(1) + "," + (h - 1 - v / max * (h - 2)).toFixed(1)).join(" ");
  const s = svg(w, h, [["polyline", { points: pts, fill: "none", stroke: "#2563eb", "stroke-width": "1.5" }]]);
  s.setAttribute("class", "spark"); s.append(title("req/s, last " + values.length + " s (max " + max + ")"));
  return s;
}
function histogram(counts, buckets) {
  const w = 96, h = 24, n = counts.length, max = Math.max(1, ...counts), bw = w / n;
  const shapes = counts.map((c, i) => ["rect", { x: (i * bw + 0.5).toFixed(1), y: (h - c / max * h).toFixed(1), width: (bw - 1).toFixed(1), height: (c / max * h).toFixed(1), fill: i >= 8 ? "#d97706" : "#6b7280" }]);
  const s = svg(w, h, shapes);
  s.setAttribute("class", "hist");
  s.append(title(counts.map((c, i) => (i < buckets.length ? "\\u2264" + fmtSec(buckets[i]) : ">" + fmtSec(buckets[buckets.length - 1])) + ": " + c).join("\\n")));
  return s;
}
function title(t) { const e = document.createElementNS(NS, "title"); e.textContent = t; return e; }
function fmtSec(s) { return s < 1 ? (s * 1000) + "ms" : s + "s"; }
function ms(v) { return v == null || v === 0 ? "–" : v < 10 ? v.toFixed(2) + " ms" : v < 1000 ? v.toFixed(0) + " ms" : (v / 1000).toFixed(2) + " s"; }
function dur(sec) { return sec < 120 ? sec + " s" : sec < 7200 ? Math.floor(sec / 60) + " min" : (sec / 3600).toFixed(1) + " h"; }
function healthOf(sv) {
  if (sv.health === true || sv.health === "up" || sv.health === "healthy" || sv.healthy === true) return "up";
  if (sv.health === false || sv.health === "down" || sv.health === "unhealthy" || sv.healthy === false) return "down";
  return null;
}
// per-server error messages from drain/undrain, kept across renders
const actionErrors = new Map();
async function act(upstream, id, action) {
  const key = upstream + "/" + id;
  actionErrors.delete(key);
  try {
    const r = await fetch("upstreams/" + encodeURIComponent(upstream) + "/servers/" + encodeURIComponent(id) + "/" + action, { method: "POST", headers: token ? { authorization: "Bearer " + token } : {} });
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const j = await r.json(); if (j && j.error) msg = r.status + ": " + j.error; } catch {}
      actionErrors.set(key, action + " failed (" + msg + ")");
    } else {
      actionErrors.set(key, "");
      pendingAction.set(key, action);
    }
  } catch (e) { actionErrors.set(key, action + " failed (" + e.message + ")"); }
  if (last) render(last);
}
const pendingAction = new Map();
let last = null;
function render(st) {
  last = st;
  $("meta").textContent = "v" + st.version + " \\u00b7 uWS " + st.uws + " \\u00b7 up " + dur(st.uptimeSeconds) + " \\u00b7 " + st.listen.host + ":" + st.listen.port;
  const metrics = new Map((st.metrics || []).map((m) => [m.upstream + "\\u0000" + m.server, m]));
  const ups = el("div", {});
  for (const [name, up] of Object.entries(st.upstreams || {})) {
    const body = el("tbody", {});
    let rps = 0, req = 0;
    for (const sv of up.servers) {
      const m = metrics.get(name + "\\u0000" + sv.id) || {};
      const key = name + "/" + sv.id;
      const rl = m.recentLatency || {};
      rps += m.requestsPerSecond || 0;
      const h = healthOf(sv);
      const drained = sv.drained === true || (sv.drained == null && pendingAction.get(key) === "drain");
      let state = h || (m.requestsPerSecond > 0 ? (m.errorRate >= 0.5 ? "failing" : "up") : "idle");
      if (drained) state = "drained";
      const stateTitle = h ? "health check: " + h : "no health checks reported; from recent responses";
      const err = actionErrors.get(key);
      const inFlight = sv.inFlight != null ? sv.inFlight : (m.inFlight || 0);
      body.append(el("tr", { "data-server": sv.id, "data-upstream": name, "data-state": state },
        el("td", {}, el("span", { class: "state " + state, title: stateTitle }, state)),
        el("td", {}, sv.url, sv.backup ? " (backup)" : ""),
        el("td", { class: "num" }, sv.weight),
        el("td", { class: "num" }, inFlight),
        el("td", { class: "num rps" }, (m.requestsPerSecond || 0).toFixed(1)),
        el("td", { class: "num errrate" + (m.errorRate > 0 ? " bad" : "") }, ((m.errorRate || 0) * 100).toFixed(1) + "%"),
        el("td", { class: "num" }, ms(rl.p50Ms)),
        el("td", { class: "num" }, ms(rl.p99Ms)),
        el("td", {}, sparkline(m.sparkline || new Array(60).fill(0))),
        el("td", {}, histogram(m.histogram || new Array((st.buckets || []).length + 1).fill(0), st.buckets || [])),
        el("td", {},
          drained ? el("button", { class: "undrain", onclick: () => act(name, sv.id, "undrain") }, "undrain")
                  : el("button", { class: "drain", onclick: () => act(name, sv.id, "drain") }, "drain"),
          err ? el("span", { class: "err" }, err) : null),
      ));
      req += m.requests || 0;
    }
    ups.append(el("section", { class: "upstream", "data-upstream": name },
      el("h2", {}, name, el("span", { class: "sub" }, up.balance + " \\u00b7 " + rps.toFixed(1) + " req/s \\u00b7 " + req + " requests" + cacheText(st) + sharedText(st))),
      el("table", {}, el("thead", {}, el("tr", {}, ...["state", "server", "weight", "in flight", "req/s", "errors", "p50", "p99", "req/s (60 s)", "latency", ""].map((t) => el("th", {}, t)))), body)));
  }
  $("upstreams").replaceChildren(ups);
  renderConcurrency(st);
  $("workers").replaceChildren(...(st.workers || []).map((w) => el("tr", {},
    el("td", {}, w.index), el("td", {}, w.pid == null ? "restarting" : w.pid),
    el("td", {}, dur(Math.max(0, Math.round((st.now - Date.parse(w.startedAt)) / 1000)))),
    el("td", { class: w.restarts > 0 ? "bad" : "" }, w.restarts))));
  const tr = st.healthTransitions || (st.health && st.health.transitions) || [];
  $("transitions").replaceChildren(...(tr.length ? tr.slice(-20).reverse().map((t) =>
    el("li", {}, new Date(t.time).toLocaleTimeString() + "  " + t.upstream + " / " + t.server + ": " + t.from + " \\u2192 " + t.to + (t.reason ? " (" + t.reason + ")" : ""))) : [el("li", { class: "empty" }, "none yet")]));
}
function cacheText(st) {
  const c = st.cache;
  if (!c || !(c.hits + c.misses > 0)) return "";
  return " \\u00b7 cache hit ratio " + (c.hits / (c.hits + c.misses) * 100).toFixed(1) + "%";
}
function sharedText(st) {
  const s = st.sharedState;
  if (!s) return "";
  return s.connected ? " \\u00b7 shared state: redis" : " \\u00b7 shared state: DEGRADED, redis unreachable (local state)";
}
function connect() {
  const es = new EventSource("events" + (token ? "?token=" + encodeURIComponent(token) : ""));
  es.onopen = () => { $("conn").className = "live"; $("conn").textContent = "live"; };
  es.onmessage = (ev) => { try { render(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
  es.onerror = () => { $("conn").className = "lost"; $("conn").textContent = "reconnecting"; };
}
connect();
</script>
<script>
"use strict";
// Adaptive concurrency (upstreams.<name>.adaptiveConcurrency): its own section, shown when a server has a limit.
function renderConcurrency(st) {
  const rows = [];
  for (const [name, up] of Object.entries(st.upstreams || {})) for (const sv of up.servers) {
    const c = sv.concurrency;
    if (!c) continue;
    rows.push(el("tr", { "data-upstream": name, "data-server": sv.id },
      el("td", {}, name), el("td", {}, sv.url), el("td", { class: "num limit" }, c.limit), el("td", { class: "num" }, sv.inFlight != null ? sv.inFlight : ""),
      el("td", { class: "num" }, ms(c.latencyMs)), el("td", { class: "num" }, ms(c.minLatencyMs)), el("td", {}, c.measuring ? "measuring the minimum" : "")));
  }
  $("concurrency").hidden = rows.length === 0;
  $("concurrency-rows").replaceChildren(...rows);
}
</script>
</body>
</html>
`;
