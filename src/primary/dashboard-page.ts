/**
 * DASHBOARD_HTML is the whole dashboard page: markup, style and script inline, nothing fetched
 * from elsewhere. It renders the frames of GET /events (the GET /status document), so whatever
 * other features add to /status (health, drained, cache, healthTransitions) shows up when present:
 *
 *   upstreams[name].servers[i]: id, url, weight, backup, and optionally health ("up" | "down" |
 *     "ejected", "unknown", or a boolean healthy), drained (boolean), inFlight (number), lastCheck
 *     ({ at, ok, detail, durationMs }: the last active health check), concurrency
 *     ({ limit, latencyMs, minLatencyMs, measuring }: adaptive concurrency, its own section)
 *   metrics[]: per upstream server, from src/primary/metrics-agg.ts
 *   healthTransitions (or health.transitions): [{ time, upstream, server, from, to, reason? }]
 *   cache: { hits, misses } (optional)
 *
 * Below them, the form that explains one request (dashboard-explain.ts, GET /explain).
 */
import { EXPLAIN_SCRIPT, EXPLAIN_SECTION, EXPLAIN_STYLE } from './dashboard-explain.js';

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
  #conn::before { content:"\\25CF "; }
  #conn.connecting::before { color:#9ca3af; } #conn.live::before { color:#4ade80; } #conn.lost::before { color:#f87171; }
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
  .state.drained { background:var(--warn); } .state.ejected { background:#7c3aed; } .state.idle, .state.unknown { background:#9ca3af; }
  .state + .state { margin-left:4px; }
  #legend { display:grid; grid-template-columns:max-content 1fr; gap:6px 12px; margin:0; align-items:center; }
  #legend dd { margin:0; color:var(--dim); font-size:13px; }
  .check { font-size:12px; color:var(--dim); } .check.failed { color:var(--down); }
  .latency-chart text { font-size:11px; fill:var(--dim); font-family:inherit; }
  h3 { font-size:13px; margin:12px 0 4px; color:var(--dim); font-weight:600; }
  button { font:inherit; font-size:12px; padding:2px 10px; border:1px solid var(--line); border-radius:4px; background:#f3f4f6; cursor:pointer; }
  button:hover { background:#e5e7eb; }
  .err { color:var(--down); font-size:12px; margin-left:6px; }
  .bad { color:var(--down); font-weight:600; }
  svg { display:block; }
  .empty { color:var(--dim); }
  #transitions li { font-variant-numeric:tabular-nums; }
${EXPLAIN_STYLE}</style>
</head>
<body>
<header><h1>fulcrum</h1><span class="meta" id="meta">connecting…</span><span id="conn" class="connecting" data-state="connecting">connecting…</span></header>
<main>
  <div id="upstreams"></div>
  <section><h2>Server states</h2><dl id="legend"></dl></section>
  <section id="concurrency" hidden><h2>Adaptive concurrency<span class="sub">limit per server (all workers together); latency to the response head against its minimum</span></h2><table><thead><tr><th>upstream</th><th>server</th><th>limit</th><th>in flight</th><th>latency</th><th>minimum</th><th></th></tr></thead><tbody id="concurrency-rows"></tbody></table></section>
  <section><h2>Workers</h2><table><thead><tr><th>#</th><th>pid</th><th>uptime</th><th>restarts</th></tr></thead><tbody id="workers"></tbody></table></section>
  <section><h2>Recent health transitions</h2><ul id="transitions"><li class="empty">none yet</li></ul></section>
  ${EXPLAIN_SECTION}
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
  for (const [tag, attrs] of shapes) { const n = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) { if (k === "_text") n.textContent = v; else n.setAttribute(k, v); } s.append(n); }
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
// every health state GET /status reports (src/primary/upstream-state.ts), and drained; the legend is built from this
const STATES = {
  up: "receives requests: its active health checks pass (or it has none) and passive checks have not ejected it",
  down: "failed its active health check fall times in a row; gets no requests until rise checks pass",
  ejected: "passive health check: passiveHealth.maxFails failed requests within failWindowMs; no requests until the ejection ends (ejectMs, doubling on repeats)",
  drained: "taken out by an operator (drain): in-flight requests finish, no new ones until undrain",
  unknown: "GET /status reports no health for it",
};
function healthOf(sv) {
  if (sv.health === true || sv.health === "up" || sv.health === "healthy" || sv.healthy === true) return "up";
  if (sv.health === false || sv.health === "down" || sv.health === "unhealthy" || sv.healthy === false) return "down";
  if (sv.health === "ejected") return "ejected";
  return "unknown";
}
function badge(state) { return el("span", { class: "state " + state, title: STATES[state] || state }, state); }
function checkLine(c) {
  if (!c) return el("div", { class: "check none" }, "no active health check result");
  return el("div", { class: "check" + (c.ok ? "" : " failed") },
    "last health check " + new Date(c.at).toLocaleTimeString() + ": " + (c.ok ? "passed" : "failed") + " (" + c.detail + ") in " + c.durationMs + " ms");
}
// the latency distribution of an upstream over the last 10 s, with axes and units
function latencyChart(counts, buckets) {
  const W = 800, H = 180, L = 52, R = 12, T = 10, B = 44, n = counts.length, pw = W - L - R, ph = H - T - B, bw = pw / n;
  const max = Math.max(...counts), mag = Math.pow(10, Math.floor(Math.log10(Math.max(1, max)))), top = max <= 0 ? 1 : Math.ceil(max / mag) * mag;
  const y = (v) => (T + ph - v / top * ph).toFixed(1);
  const shapes = [];
  for (const f of [0, 0.5, 1]) {
    const v = top * f;
    shapes.push(["line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: f === 0 ? "#6b7280" : "#e5e7eb" }]);
    shapes.push(["text", { x: L - 6, y: (Number(y(v)) + 4).toFixed(1), "text-anchor": "end", _text: Number.isInteger(v) ? String(v) : v.toFixed(1) }]);
  }
  shapes.push(["line", { x1: L, x2: L, y1: T, y2: T + ph, stroke: "#6b7280" }]);
  counts.forEach((c, i) => {
    const x = L + i * bw;
    if (c > 0) shapes.push(["rect", { class: "bar", x: (x + 1).toFixed(1), y: y(c), width: (bw - 2).toFixed(1), height: (T + ph - Number(y(c))).toFixed(1), fill: i >= 8 ? "#d97706" : "#2563eb" }]);
    const label = i < buckets.length ? fmtSec(buckets[i]) : ">" + fmtSec(buckets[buckets.length - 1]);
    shapes.push(["text", { x: (x + bw / 2).toFixed(1), y: T + ph + 14, "text-anchor": "middle", _text: label }]);
  });
  shapes.push(["text", { x: L + pw / 2, y: H - 6, "text-anchor": "middle", _text: "latency, upper bound of each bucket (ms, s)" }]);
  shapes.push(["text", { x: 12, y: T + ph / 2, "text-anchor": "middle", transform: "rotate(-90 12 " + (T + ph / 2) + ")", _text: "requests (last 10 s)" }]);
  const s = svg(W, H, shapes);
  s.setAttribute("class", "latency-chart");
  return s;
}
// per-server error messages from drain/undrain, kept across renders
const actionErrors = new Map();
async function act(upstream, id, action) {
  const key = upstream + "/" + id;
  actionErrors.delete(key);
  try {
    const r = await fetch("upstreams/" + encodeURIComponent(upstream) + "/servers/" + encodeURIComponent(id) + "/" + action, { method: "POST", headers: Object.assign({ "content-type": "application/json" }, token ? { authorization: "Bearer " + token } : {}) });
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
  $("meta").textContent = "v" + st.version + " \\u00b7 engine " + st.engineBuild + " \\u00b7 up " + dur(st.uptimeSeconds) + " \\u00b7 " + st.listen.host + ":" + st.listen.port;
  const metrics = new Map((st.metrics || []).map((m) => [m.upstream + "\\u0000" + m.server, m]));
  const ups = el("div", {});
  for (const [name, up] of Object.entries(st.upstreams || {})) {
    const body = el("tbody", {});
    let rps = 0, req = 0;
    const hist = new Array((st.buckets || []).length + 1).fill(0);
    for (const sv of up.servers) {
      const m = metrics.get(name + "\\u0000" + sv.id) || {};
      const key = name + "/" + sv.id;
      const rl = m.recentLatency || {};
      rps += m.requestsPerSecond || 0;
      const h = healthOf(sv);
      const drained = sv.drained === true || (sv.drained == null && pendingAction.get(key) === "drain");
      const state = drained ? "drained" : h;
      const err = actionErrors.get(key);
      const inFlight = sv.inFlight != null ? sv.inFlight : (m.inFlight || 0);
      body.append(el("tr", { "data-server": sv.id, "data-upstream": name, "data-state": state, "data-health": h },
        el("td", {}, badge(h), drained ? badge("drained") : null),
        el("td", {}, sv.url, sv.backup ? " (backup)" : "", checkLine(sv.lastCheck)),
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
      (m.histogram || []).forEach((c, i) => { hist[i] = (hist[i] || 0) + c; });
    }
    ups.append(el("section", { class: "upstream", "data-upstream": name },
      el("h2", {}, name, el("span", { class: "sub" }, up.balance + " \\u00b7 " + rps.toFixed(1) + " req/s \\u00b7 " + req + " requests" + cacheText(st) + sharedText(st))),
      el("table", {}, el("thead", {}, el("tr", {}, ...["state", "server", "weight", "in flight", "req/s", "errors", "p50", "p99", "req/s (60 s)", "latency", ""].map((t) => el("th", {}, t)))), body),
      el("h3", {}, "Latency, last 10 s"), latencyChart(hist, st.buckets || [])));
  }
  $("upstreams").replaceChildren(ups);
  renderConcurrency(st);
  $("workers").replaceChildren(...(st.workers || []).map((w) => el("tr", {},
    el("td", {}, w.index), el("td", {}, w.pid == null ? "restarting" : w.pid),
    el("td", {}, dur(Math.max(0, Math.round((st.now - Date.parse(w.startedAt)) / 1000)))),
    el("td", { class: w.restarts > 0 ? "bad" : "" }, w.restarts))));
  const tr = st.healthTransitions || (st.health && st.health.transitions) || [];
  // every transition the primary keeps (its last 50), newest first
  $("transitions").replaceChildren(...(tr.length ? tr.slice().reverse().map((t) =>
    el("li", { "data-server": t.server, "data-from": t.from, "data-to": t.to }, new Date(t.time).toLocaleTimeString() + "  " + t.upstream + " / " + t.server + ": ", badge(t.from), " \\u2192 ", badge(t.to), t.reason ? " (" + t.reason + ")" : "")) : [el("li", { class: "empty" }, "none yet")]));
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
// the dot: connecting (no frame yet), live (frames arriving), lost (stream failed or silent for 5 s)
let lastFrame = 0;
function setConn(state, text) { const c = $("conn"); c.className = state; c.dataset.state = state; c.textContent = text; c.title = "event stream: " + text; }
function connect() {
  const es = new EventSource("events" + (token ? "?token=" + encodeURIComponent(token) : ""));
  es.onmessage = (ev) => { lastFrame = Date.now(); setConn("live", "live"); try { render(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
  es.onerror = () => setConn("lost", es.readyState === EventSource.CLOSED ? "lost (closed)" : "lost, reconnecting\\u2026");
}
setInterval(() => { if (lastFrame && $("conn").className === "live" && Date.now() - lastFrame > 5000) setConn("lost", "lost, no update for 5 s"); }, 1000);
$("legend").replaceChildren(...Object.entries(STATES).flatMap(([state, meaning]) => [el("dt", {}, badge(state)), el("dd", {}, meaning)]));
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
<script>${EXPLAIN_SCRIPT}</script>
</body>
</html>
`;
