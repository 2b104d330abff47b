/**
 * The dashboard's "Explain a request" form: it calls GET /explain (src/primary/explain-api.ts,
 * the same document as `fulcrum explain --live --json`) with the admin token as a bearer header
 * and shows the outcome and the nine steps as the terminal does: one line per decision, the routes
 * and servers compared below it with the chosen one marked, the upstream head as it would be sent.
 * Every value is written as text (textContent), never as markup: a header value is the user's.
 * Inlined into DASHBOARD_HTML (dashboard-page.ts); its script runs after the page's, whose `el`,
 * `$` and `token` it uses.
 */
export const EXPLAIN_STYLE = /* css */ `
  #explain form { display:grid; grid-template-columns:max-content 1fr; gap:6px 10px; align-items:start; max-width:900px; }
  #explain label { color:var(--dim); font-size:12px; padding-top:4px; }
  #explain input, #explain textarea { font:12px ui-monospace,SFMono-Regular,Menlo,monospace; padding:3px 6px; border:1px solid var(--line); border-radius:4px; width:100%; }
  #explain textarea { height:48px; }
  #explain .row { display:flex; gap:8px; } #explain .row input[name=method] { width:90px; }
  #explain-out { margin-top:10px; }
  #explain-out .outcome { font-weight:600; margin:4px 0 8px; }
  #explain-out table td { white-space:normal; vertical-align:top; }
  #explain-out tr.unreached td { color:var(--dim); }
  #explain-out tr.decides td.name { color:var(--down); font-weight:600; }
  #explain-out .line { font:12px ui-monospace,SFMono-Regular,Menlo,monospace; white-space:pre; color:var(--dim); }
  #explain-out .line.mark { color:var(--ink); font-weight:600; }
  #explain-out pre { margin:4px 0 0; font-size:12px; background:#f3f4f6; padding:6px 8px; border-radius:4px; }
  #explain-out .note { color:var(--dim); font-size:12px; }
`;

export const EXPLAIN_SECTION = /* html */ `<section id="explain"><h2>Explain a request<span class="sub">what fulcrum would do with it now, and why (GET /explain; nothing changes)</span></h2>
<form id="explain-form">
  <label for="explain-url">request</label><div class="row"><input name="method" value="GET" aria-label="method"><input id="explain-url" name="url" placeholder="http://shop.example.com/api/users" required></div>
  <label for="explain-headers">headers</label><textarea id="explain-headers" name="headers" placeholder="Cookie: fulcrum_sid=...&#10;Accept-Encoding: gzip, br"></textarea>
  <label for="explain-client">client</label><div class="row"><input id="explain-client" name="client" placeholder="127.0.0.1"><button type="submit">explain</button></div>
</form>
<div id="explain-out"></div></section>`;

export const EXPLAIN_SCRIPT = /* js */ `
"use strict";
// The explain form: GET /explain with the token as a bearer header, the answer shown step by step.
$("explain-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const q = new URLSearchParams({ method: String(f.get("method") || "GET").trim(), url: String(f.get("url")).trim() });
  for (const h of String(f.get("headers") || "").split("\\n")) if (h.trim()) q.append("header", h.trim());
  if (String(f.get("client") || "").trim()) q.set("client", String(f.get("client")).trim());
  const out = $("explain-out");
  out.dataset.state = "asking";
  try {
    const r = await fetch("explain?" + q, { headers: token ? { authorization: "Bearer " + token } : {} });
    const body = await r.json();
    if (!r.ok) throw new Error(r.status + ": " + (body && body.error ? body.error : r.statusText));
    out.replaceChildren(...renderExplanation(body));
    out.dataset.state = "done";
  } catch (e) {
    out.replaceChildren(el("div", { class: "err" }, "explain failed (" + e.message + ")"));
    out.dataset.state = "error";
  }
});
function outcomeText(o) {
  const route = o.route ? " (route \\u201c" + o.route.name + "\\u201d, upstream " + o.route.upstream + ")" : "";
  switch (o.action) {
    case "forward": return "forwarded to " + o.server + route;
    case "queue": return "waits in the queue of upstream " + o.upstream + ": " + o.reason;
    case "cache": return "answered from the cache: " + o.reason + route;
    case "redirect": return o.status + " redirect: " + o.reason;
    case "close": return "connection closed without an answer: " + o.reason;
    default: return o.status + " from fulcrum: " + o.reason + route;
  }
}
function renderExplanation(e) {
  const rows = e.steps.map((s) => {
    const lines = s.name === "head" && s.head != null
      ? [el("pre", {}, s.head.replace(/\\r\\n/g, "\\n"))]
      : s.lines.map((l) => el("div", { class: "line" + (l.mark ? " mark" : "") }, (l.mark ? "> " : "  ") + l.text));
    const tag = !s.reached ? "(not reached) " : s.decides ? "(decides) " : "";
    return el("tr", { class: !s.reached ? "unreached" : s.decides ? "decides" : "", "data-step": s.name },
      el("td", { class: "num" }, s.step), el("td", { class: "name" }, s.name), el("td", {}, el("div", { class: "summary" }, tag + s.summary), ...lines));
  });
  return [
    el("div", { class: "outcome", "data-action": e.outcome.action }, "\\u21d2 " + outcomeText(e.outcome)),
    el("table", {}, el("tbody", {}, ...rows)),
    ...e.notes.map((n) => el("div", { class: "note" }, "note: " + n)),
  ];
}
`;
