// Durable monitor: plain DOM, no library. Outcome words and the subject's label come from the
// server (the app's view: devhost/monitor/appview.py).
// Every value from the server goes in through
// textContent or attributes set one by one, never as HTML.
"use strict";

const API = "/monitor/api";
const COLORS = { completed: "#2e7d32", failed: "#c62828", terminated: "#455a64", running: "#1565c0" };
const PALETTE = ["#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#827717", "#ad1457"];
const STATUSES = ["Pending", "Running", "Completed", "Failed", "Terminated", "Suspended"];
let OUTCOMES = ["completed", "failed", "terminated", "running"];
let SUBJECT = "Subject";
function learn(data) { // every list and overview reply names the app's outcomes and subject
  if (data && Array.isArray(data.outcomes)) OUTCOMES = data.outcomes;
  if (data && typeof data.subjectLabel === "string") SUBJECT = data.subjectLabel;
  return data;
}
function color(k) {
  const i = OUTCOMES.filter(o => !(o in COLORS)).indexOf(k);
  return COLORS[k] || (i >= 0 ? PALETTE[i % PALETTE.length] : "#999");
}
let timer = null;
let state = { status: "", outcome: "", q: "", from: "", to: "", sort: "created", order: "desc", page: 0 };
let rowsPages = [null]; // continuations of the Rows pages seen: [first, second, ...]
// Each navigation gets a number; a reply that arrives after the user moved on is dropped, so an
// old view never comes back over (or under) the new one.
let nav = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the page's CSP
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}
function badge(kind, value) { return el("span", { class: `badge ${kind}-${value}` }, value || ""); }
// One date format everywhere: ISO 8601 in UTC, the zone written out (the CLI's and the API's).
function fmtTime(value) {
  const d = value instanceof Date ? value : new Date(value);
  return value && !isNaN(d) ? `${d.toISOString().slice(0, 19).replace("T", " ")} UTC` : (value ? String(value) : "");
}
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;
function fmtMs(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}
function pretty(v) { return typeof v === "string" ? v : JSON.stringify(v, null, 2); }
function message(text, isError) {
  const box = document.getElementById("message");
  box.textContent = text; box.className = isError ? "error" : ""; box.hidden = !text;
}
async function getJson(path) {
  const resp = await fetch(API + path, { headers: { Accept: "application/json" } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw Object.assign(new Error(body.error || `HTTP ${resp.status}`), { status: resp.status });
  return body;
}
async function postJson(path, body) {
  const resp = await fetch(API + path, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Devhost-Monitor": "1" },
    body: JSON.stringify(body || {}) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data;
}
function view(...children) {
  const main = document.getElementById("view");
  main.replaceChildren(...children.flat().filter(c => c !== null && c !== undefined));
  main.removeAttribute("aria-busy");
}
function loading(what) { // until a view's first reply: never blank, never the previous view
  view(el("p", { id: "loading", class: "loading muted" }, `Loading ${what}…`));
  document.getElementById("footer").textContent = "";
  document.getElementById("view").setAttribute("aria-busy", "true");
}
function failed(text) { view(el("p", { id: "view-error", class: "error" }, text)); }
function schedule(fn, ms) {
  clearTimeout(timer);
  timer = setTimeout(() => { if (document.getElementById("auto-refresh").checked) fn(); else schedule(fn, ms); }, ms);
}
function instanceLink(item) {
  return el("a", { href: `#instance/${encodeURIComponent(item.instanceId)}`, class: "subject-link" },
    item.subject || item.instanceId);
}

// --- overview -------------------------------------------------------------------------
function card(label, n, id) { return el("div", { class: "card", id }, el("div", { class: "n" }, n), el("div", { class: "k" }, label)); }
function niceStep(raw) { // 1, 2 or 5 times a power of ten, at least raw
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map(m => m * p).find(v => v >= raw);
}
function clock(d, seconds) { return d.toISOString().slice(11, seconds ? 19 : 16); }
// Blob versions the trigger started nothing for, with the count per reason under the total.
function skippedCard(s) {
  const c = card("skipped by the blob trigger", s ? s.total : "n/a", "count-skipped");
  if (s && s.total) c.append(el("ul", { class: "reasons" },
    Object.entries(s.byReason).map(([r, n]) => el("li", {}, `${r}: ${n}`))));
  return c;
}
function chart(tp) {
  const series = tp.series || {};
  const keys = Object.keys(series);
  const n = keys.length ? series[keys[0]].length : 0;
  const totals = Array.from({ length: n }, (_, i) => keys.reduce((a, k) => a + series[k][i], 0));
  const peak = Math.max(0, ...totals);
  const step = niceStep(Math.max(1, peak) / 4);
  const top = Math.max(step, Math.ceil(peak / step) * step);
  const [W, H, L, R, T, B] = [960, 240, 52, 16, 10, 44]; // size and margins, in viewBox units
  const pw = W - L - R, ph = H - T - B, bw = pw / Math.max(n, 1);
  const y = v => T + ph - (v / top) * ph;
  const box = svg("svg", { class: "chart", id: "throughput-chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
  const yAxis = svg("g", { class: "y-axis" }), xAxis = svg("g", { class: "x-axis" });
  const text = (g, x, yy, anchor, value, cls) => {
    const t = svg("text", { x, y: yy, "text-anchor": anchor, class: cls || "tick" }); t.textContent = value; g.append(t);
  };
  for (let v = 0; v <= top; v += step) {
    yAxis.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: v ? "grid" : "axis" }));
    text(yAxis, L - 6, y(v) + 4, "end", v);
  }
  const per = tp.bucketSeconds >= 60 ? `${tp.bucketSeconds / 60} min` : `${tp.bucketSeconds} s`;
  const ty = svg("text", { x: 12, y: T + ph / 2, "text-anchor": "middle", class: "axis-title", transform: `rotate(-90 12 ${T + ph / 2})` });
  ty.textContent = `finished / ${per}`; yAxis.append(ty);
  // Time ticks on round clock times (every 10 s, 1 min, 15 min, ...), about seven of them.
  const origin = new Date(tp.start).getTime(), spanMs = Math.max(n, 1) * tp.bucketSeconds * 1000;
  const every = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    .map(v => v * 1000).find(v => v >= spanMs / 7) || 86400000;
  xAxis.append(svg("line", { x1: L, x2: L, y1: T, y2: T + ph, class: "axis" }));
  for (let t = Math.ceil(origin / every) * every; t <= origin + spanMs; t += every) {
    const x = L + ((t - origin) / spanMs) * pw;
    xAxis.append(svg("line", { x1: x, x2: x, y1: T + ph, y2: T + ph + 4, class: "axis" }));
    text(xAxis, x, T + ph + 16, "middle", clock(new Date(t), every < 60000));
  }
  text(xAxis, L + pw / 2, H - 6, "middle", `time (UTC), from ${fmtTime(tp.start)}`, "axis-title");
  box.append(yAxis, xAxis);
  for (let i = 0; i < n; i++) {
    let v0 = 0;
    for (const k of keys) {
      const v = series[k][i];
      if (v <= 0) continue;
      const r = svg("rect", { x: L + i * bw + bw * 0.1, y: y(v0 + v), width: bw * 0.8, height: y(v0) - y(v0 + v), fill: color(k) });
      const t = svg("title", {}); t.textContent = `${k}: ${v}`; r.append(t);
      box.append(r);
      v0 += v;
    }
  }
  const legend = el("div", { class: "legend" }, keys.map(k => el("span", {}, el("i", { style: `background:${color(k)}` }), k)));
  return [box, legend, el("div", { class: "muted" }, `finished instances per ${per} by outcome (peak ${peak})`)];
}
function group(id, title, note, ...cards) {
  return el("div", { class: "card-group", id }, el("h2", {}, title, el("span", { class: "muted" }, ` — ${note}`)),
    el("div", { class: "cards" }, cards));
}
function problem(my, e) { // the first load failing shows the error in place of the view
  if (my !== nav) return;
  if (document.getElementById("loading")) failed(e.message); else message(e.message, true);
}
async function renderOverview() {
  const my = nav;
  let o;
  try { o = learn(await getJson("/overview")); } catch (e) { problem(my, e); return schedule(renderOverview, 5000); }
  if (my !== nav) return;
  document.getElementById("source").textContent = o.source;
  const b = o.backlog;
  const pct = b.total ? Math.round((100 * b.done) / b.total) : 0;
  const eta = b.etaSeconds === null || b.etaSeconds === undefined ? "—" : fmtMs(b.etaSeconds * 1000);
  view(
    group("status-cards", "Runtime status", "what Durable Functions reports for each instance",
      card("instances", o.total, "count-total"),
      STATUSES.filter(s => o.byStatus[s]).map(s => card(s, o.byStatus[s], `count-status-${s}`))),
    group("outcome-cards", "Outcome", "what the app made of it (its view of each instance's result)",
      Object.entries(o.byOutcome).map(([k, v]) => card(k, v, `count-outcome-${k}`))),
    group("trigger-cards", "Trigger", "messages the trigger gave up on, blobs it started nothing for",
      card("poison queue", o.poison === null ? "n/a" : o.poison, "count-poison"),
      skippedCard(o.skipped)),
    el("section", { id: "backlog" }, el("h2", {}, "Current backlog"),
      el("div", { class: "progress" }, el("div", { style: `width:${pct}%` })),
      el("div", {}, `${b.done} / ${b.total} done (${pct}%), ${b.active} in progress · ${b.rate}/s · ETA ${eta}`)),
    el("section", { id: "throughput" }, el("h2", {}, "Throughput"), chart(o.throughput)),
    el("section", { id: "latest-failures" }, el("h2", {}, "Latest failures and rejections"),
      o.latestFailures.length ? el("table", {}, el("thead", {}, el("tr", {}, [SUBJECT, "Outcome", "Reason", "Updated"].map(h => el("th", {}, h)))),
        el("tbody", {}, o.latestFailures.map(f => el("tr", {}, el("td", { class: "subject" }, instanceLink(f)),
          el("td", {}, badge("o", f.outcome)), el("td", { class: "reason" }, f.reason || ""), el("td", {}, fmtTime(f.lastUpdatedTime))))))
        : el("p", { class: "muted" }, "none"),
      el("p", {}, el("button", { id: "restart-all-failed", onclick: restartAllFailed }, "Restart all failed…"))));
  document.getElementById("footer").textContent = `${o.total} instances · computed in ${o.computeMs} ms · updated ${fmtTime(new Date())}`;
  schedule(renderOverview, 5000);
}
async function restartAllFailed() {
  clearTimeout(timer);
  let dry;
  try { dry = await postJson("/restart-failed", { dryRun: true }); } catch (e) { message(e.message, true); return; }
  const dlg = el("dialog", { id: "restart-dialog" },
    el("h2", {}, `Restart ${dry.instances.length} failed instance(s)?`),
    el("ul", {}, dry.instances.map(i => el("li", {}, el("b", {}, i.subject || i.instanceId), " — ", i.reason || ""))),
    el("button", { id: "restart-confirm", disabled: dry.instances.length ? null : true, onclick: async () => {
      dlg.close();
      try {
        const res = await postJson("/restart-failed", { dryRun: false });
        message(`restarted ${res.instances.filter(i => i.ok).length} of ${res.instances.length}`);
      } catch (e) { message(e.message, true); }
      route();
    } }, "Restart them"),
    el("button", { onclick: () => { dlg.close(); route(); } }, "Cancel"));
  document.body.append(dlg); dlg.showModal();
  dlg.addEventListener("close", () => dlg.remove());
}

// --- instances ------------------------------------------------------------------------
function select(id, label, values, current) {
  return el("label", {}, label, el("select", { id, name: id }, el("option", { value: "" }, "any"),
    values.map(v => el("option", { value: v, selected: v === current }, v))));
}
function instancesQuery() {
  const p = new URLSearchParams({ sort: state.sort, order: state.order, page: state.page, size: 50 });
  if (state.status) p.set("status", state.status);
  if (state.outcome) p.set("outcome", state.outcome);
  if (state.q) p.set("q", state.q);
  // The range inputs are read as UTC, like every time on the page.
  if (state.from) p.set("from", String(new Date(`${state.from}Z`).getTime()));
  if (state.to) p.set("to", String(new Date(`${state.to}Z`).getTime()));
  return p.toString();
}
async function renderInstances(keepForm) {
  const my = nav;
  let data;
  try { data = learn(await getJson(`/instances?${instancesQuery()}`)); } catch (e) { problem(my, e); return; }
  if (my !== nav) return;
  const cols = [["subject", SUBJECT], ["status", "Status"], ["outcome", "Outcome"], [null, "Reason"], ["created", "Created"], ["duration", "Duration"]];
  const head = el("tr", {}, cols.map(([key, label]) => el("th", {
    class: key ? `sortable ${state.sort === key ? "sorted-" + state.order : ""}` : "",
    onclick: key ? () => { state.order = state.sort === key && state.order === "desc" ? "asc" : "desc"; state.sort = key; state.page = 0; renderInstances(true); } : null,
  }, label)));
  const body = el("tbody", { id: "instance-rows" }, data.items.map(i => el("tr", { class: "clickable", "data-id": i.instanceId,
    onclick: (ev) => { if (ev.target.tagName !== "A") location.hash = `#instance/${encodeURIComponent(i.instanceId)}`; } },
    el("td", { class: "subject" }, instanceLink(i)), el("td", {}, badge("s", i.runtimeStatus)), el("td", {}, badge("o", i.outcome)),
    el("td", { class: "reason" }, i.reason || ""), el("td", {}, fmtTime(i.createdTime)), el("td", {}, fmtMs(i.durationMs)))));
  const pages = Math.max(1, Math.ceil(data.total / data.size));
  const table = el("section", { id: "instances" }, el("table", {}, el("thead", {}, head), body),
    el("div", { class: "pager" },
      el("button", { id: "prev-page", disabled: state.page <= 0 || null, onclick: () => { state.page--; renderInstances(true); } }, "‹ Prev"),
      el("span", { id: "page-info" }, `page ${data.page + 1} of ${pages} · ${data.total} matching`),
      el("button", { id: "next-page", disabled: state.page + 1 >= pages || null, onclick: () => { state.page++; renderInstances(true); } }, "Next ›")));
  const existing = document.getElementById("filters");
  if (keepForm && existing) {
    document.getElementById("instances").replaceWith(table);
  } else {
    const form = el("form", { class: "filters", id: "filters", onsubmit: (ev) => { ev.preventDefault(); readFilters(); } },
      select("f-status", "Status", STATUSES, state.status), select("f-outcome", "Outcome", OUTCOMES, state.outcome),
      el("label", {}, "Created from (UTC)", el("input", { type: "datetime-local", id: "f-from", value: state.from })),
      el("label", {}, "to (UTC)", el("input", { type: "datetime-local", id: "f-to", value: state.to })),
      el("label", {}, "Name or id contains", el("input", { type: "search", id: "f-q", value: state.q })),
      el("button", { type: "submit", id: "apply-filters" }, "Apply"));
    for (const id of ["f-status", "f-outcome", "f-from", "f-to"]) form.querySelector(`#${id}`).addEventListener("change", readFilters);
    view(form, table);
  }
  document.getElementById("footer").textContent = `updated ${fmtTime(new Date())}`;
  schedule(() => renderInstances(true), 5000);
}
function readFilters() {
  state.status = document.getElementById("f-status").value;
  state.outcome = document.getElementById("f-outcome").value;
  state.from = document.getElementById("f-from").value;
  state.to = document.getElementById("f-to").value;
  state.q = document.getElementById("f-q").value.trim();
  state.page = 0;
  renderInstances(true);
}

// --- instance detail ------------------------------------------------------------------
function timeline(t) {
  const span = Math.max(1, t.spanMs);
  return el("div", { class: "timeline", id: "timeline" }, t.entries.map(e => {
    const left = ((e.startOffset ?? 0) / span) * 100;
    const width = e.durationMs ? (e.durationMs / span) * 100 : 0;
    const cls = e.kind === "timer" ? "timer" : e.kind === "activity" ? (e.ok ? "" : "failed") : e.kind === "exhausted" ? "point failed" : "point";
    // A wait shows its length, an attempt its duration, a point (start, end, an event, where the
    // retries ran out) when it happened.
    const when = e.kind === "timer" ? `wait ${fmtMs(e.durationMs)}` : e.kind === "activity" ? fmtMs(e.durationMs) : `at +${fmtMs(e.startOffset ?? 0)}`;
    const label = e.kind === "activity" ? `${e.label} #${e.attempt}${e.ok ? "" : " failed"}` : e.label;
    const extra = [];
    if (e.reason) extra.push(el("details", {}, el("summary", {}, e.reason.split("\n")[0]), el("pre", {}, e.details ? `${e.reason}\n\n${e.details}` : e.reason)));
    else if (e.result !== undefined && e.result !== null) extra.push(el("details", {}, el("summary", {}, "result"), el("pre", {}, pretty(e.result))));
    return el("div", { class: `row ${e.kind}`, "data-kind": e.kind, "data-ok": e.ok === false ? "false" : "true" },
      el("span", {}, label), el("span", { class: "muted" }, when),
      el("div", { class: "track" }, el("div", { class: `bar ${cls}`, style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%` })),
      ...extra);
  }));
}
async function act(id, action, body, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  try {
    const r = await postJson(`/instances/${encodeURIComponent(id)}/${action}`, body);
    message(`${action}: ${r.ok ? "accepted" : "refused"} (HTTP ${r.httpStatus})`, !r.ok);
  } catch (e) { message(`${action}: ${e.message}`, true); }
  if (action === "purge") location.hash = "#instances"; else renderDetail(id);
}
async function renderDetail(id) {
  const my = nav;
  let d;
  try { d = await getJson(`/instances/${encodeURIComponent(id)}`); } catch (e) {
    if (my !== nav) return;
    if (e.status !== 404 && !document.getElementById("loading")) return message(e.message, true); // a refresh failed
    // An unknown (or purged) instance replaces the view: nothing of the page before stays.
    return view(el("section", { id: "not-found" }, el("h2", {}, e.message), el("p", {}, "Instance ", el("code", {}, id)),
      el("p", {}, el("a", { href: "#instances" }, "‹ all instances"))));
  }
  if (my !== nav) return;
  const name = d.subject || d.instanceId;
  const actions = el("div", { class: "actions" },
    el("button", { id: "act-restart", onclick: () => act(id, "restart", {}, `Restart ${name}?`) }, "Restart"),
    el("button", { id: "act-terminate", class: "danger", onclick: () => { const reason = window.prompt(`Terminate ${name}? Reason:`, "terminated from the monitor"); if (reason !== null) act(id, "terminate", { reason }); } }, "Terminate"),
    el("button", { id: "act-purge", class: "danger", onclick: () => act(id, "purge", {}, `Purge ${name} and its history?`) }, "Purge"),
    el("button", { id: "act-raise", onclick: () => { const ev = window.prompt("Event name:"); if (!ev) return; const raw = window.prompt("Event data (JSON):", "null"); let data = null; try { data = JSON.parse(raw || "null"); } catch { data = raw; } act(id, "raiseEvent", { name: ev, data }, `Raise ${ev} on ${name}?`); } }, "Raise event"));
  const rowsBox = el("div", { id: "detail-rows" });
  view(el("section", { id: "detail" }, el("h2", { id: "detail-subject" }, name),
    el("dl", { class: "kv" },
      el("dt", {}, "Instance"), el("dd", { id: "detail-id" }, d.instanceId), el("dt", {}, "Orchestrator"), el("dd", {}, d.name),
      el("dt", {}, "Status"), el("dd", { id: "detail-status" }, badge("s", d.runtimeStatus)),
      el("dt", {}, "Outcome"), el("dd", { id: "detail-outcome" }, badge("o", d.outcome)),
      el("dt", {}, "Reason"), el("dd", { id: "detail-reason" }, d.reason || ""),
      el("dt", {}, "Created"), el("dd", {}, fmtTime(d.createdTime)), el("dt", {}, "Updated"), el("dd", {}, fmtTime(d.lastUpdatedTime))),
    actions),
    d.failure ? el("section", { id: "failure" }, el("h2", {}, "Failure"), el("pre", {}, d.failure)) : null,
    el("section", {}, el("h2", {}, `History (${fmtMs(d.timeline.spanMs)})`), timeline(d.timeline)),
    el("section", {}, el("h2", {}, "App rows"), rowsBox),
    el("section", {}, el("h2", {}, "Input"), el("pre", { id: "detail-input" }, pretty(d.input)),
      el("h2", {}, "Output"), el("pre", { id: "detail-output" }, pretty(d.output)),
      el("h2", {}, "Custom status"), el("pre", {}, pretty(d.customStatus))));
  if (d.subject) getJson(`/rows?name=${encodeURIComponent(d.subject)}`).then(r => rowsBox.replaceChildren(rowsTable(r.rows, r.subjectColumn)),
    e => rowsBox.replaceChildren(el("p", { class: "muted" }, e.message)));
  if (!["Completed", "Failed", "Terminated"].includes(d.runtimeStatus)) schedule(() => renderDetail(id), 3000);
}

// --- rows -----------------------------------------------------------------------------
function rowsTable(rows, subjectColumn) { // the app view names the column that links to instances
  if (!rows.length) return el("p", { class: "muted" }, "no row");
  const cols = Object.keys(rows[0]);
  return el("table", { class: "rows" }, el("thead", {}, el("tr", {}, cols.map(c => el("th", {}, c)))),
    el("tbody", {}, rows.map(r => el("tr", {}, cols.map(c => el("td", {}, c === subjectColumn
      ? el("a", { href: `#instances?q=${encodeURIComponent(r[c])}` }, r[c])
      : typeof r[c] === "string" && ISO_TIME.test(r[c]) ? fmtTime(r[c]) : r[c]))))));
}
const ROWS_PAGE = 50;
async function renderRows() {
  const my = nav;
  const at = rowsPages.length - 1; // the page shown: rowsPages[at] is its continuation
  const after = rowsPages[at];
  let r;
  try { r = await getJson(`/rows?limit=${ROWS_PAGE}${after ? `&after=${encodeURIComponent(after)}` : ""}`); } catch (e) { problem(my, e); return; }
  if (my !== nav) return;
  const first = at * ROWS_PAGE + (r.rows.length ? 1 : 0), last = at * ROWS_PAGE + r.rows.length;
  const move = (pages) => { nav++; clearTimeout(timer); rowsPages = pages; renderRows(); };
  view(el("div", { class: "cards" }, card("rows", r.total, "rows-total"), Object.entries(r.byFormat).map(([f, n]) => card(f, n, `rows-format-${f}`))),
    el("section", { id: "rows" }, el("h2", {}, "Latest rows, newest first"), rowsTable(r.rows, r.subjectColumn),
      el("div", { class: "pager" },
        el("button", { id: "rows-newer", disabled: at === 0 || null, onclick: () => move(rowsPages.slice(0, -1)) }, "‹ Newer"),
        el("span", { id: "rows-info" }, `rows ${first}–${last} of ${r.total}`),
        el("button", { id: "rows-older", disabled: !r.next || null, onclick: () => move([...rowsPages, r.next]) }, "Older ›"))));
  document.getElementById("footer").textContent = `updated ${fmtTime(new Date())}`;
  schedule(renderRows, 5000);
}

function route() {
  clearTimeout(timer);
  nav++;
  const hash = location.hash || "#overview";
  const [path, query] = hash.slice(1).split("?");
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.getAttribute("href") === `#${path.split("/")[0]}`);
  if (path.startsWith("instance/")) { loading("the instance"); return renderDetail(decodeURIComponent(path.slice(9))); }
  if (path === "instances") {
    if (query) { const p = new URLSearchParams(query); state = { ...state, q: p.get("q") || "", status: p.get("status") || "", outcome: p.get("outcome") || "", page: 0 }; }
    loading("instances");
    return renderInstances(false);
  }
  if (path === "rows") { rowsPages = [null]; loading("rows"); return renderRows(); }
  loading("the overview");
  return renderOverview();
}
window.addEventListener("hashchange", () => { message(""); route(); });
// The token in the URL printed at start has set its cookie: drop it from the address bar and
// the history (as Jupyter does).
if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname + location.hash);
document.addEventListener("DOMContentLoaded", route);
