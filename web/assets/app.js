// The detector console: plain JavaScript, no build step. Every number comes
// from the REST API under /api/v1 with the user's bearer token (sessionStorage,
// Authorization header; never in a URL).
"use strict";

const TOKEN_KEY = "detector.token";
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  paths: null, // the OpenAPI document's paths, to find optional sections
  charts: [],
};

// ---------- API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, opts = {}) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, {
    method: opts.method || "GET",
    headers,
    body,
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
  });
  let data = null;
  const text = await res.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (res.status === 401) {
    showLogin(state.token ? "That token was not accepted." : "");
    throw new ApiError(401, "unauthorized", "sign in to continue");
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || String(res.status), err.message || res.statusText);
  }
  return data;
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") p.set(k, v);
  }
  const s = p.toString();
  return s ? "?" + s : "";
}

const seriesPath = (s) => "/api/v1/series/" + encodeURIComponent(s);

// ---------- DOM helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fmt(v, digits = 3) {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return Number(v.toPrecision(digits + (a >= 100 ? 2 : 1))).toLocaleString("en-US", { maximumFractionDigits: 3 });
}

function fmtTime(t) {
  if (!t) return "–";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:\d\dZ$/, "Z");
}

function fmtShort(t) {
  if (!t) return "–";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().slice(5, 16).replace("T", " ");
}

function ago(t) {
  const s = (Date.now() - new Date(t).getTime()) / 1000;
  if (!isFinite(s)) return "";
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function badge(st) {
  return h("span", { class: "badge " + st }, st);
}

function scoreBar(score) {
  const pct = Math.max(0, Math.min(1, score || 0)) * 100;
  const bar = h("span", { class: "bar" + (score >= 0.54 ? " hot" : "") });
  bar.style.width = pct.toFixed(0) + "%";
  return h("span", { class: "score", title: "score " + fmt(score) }, h("span", { class: "track" }, bar), fmt(score, 2));
}

// seriesLabel splits `name{a="b",...}` into a name and label chips.
function seriesLabel(s, link = true) {
  const m = /^([^{]*)\{(.*)\}$/.exec(s);
  const parts = [];
  if (!m) parts.push(h("span", { class: "metric" }, s));
  else {
    parts.push(h("span", { class: "metric" }, m[1]));
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let x;
    while ((x = re.exec(m[2]))) parts.push(h("span", { class: "chip" }, h("span", { class: "k" }, x[1]), x[2]));
  }
  if (!link) return h("span", { class: "series" }, parts);
  return h("a", { class: "series", href: "#/series/" + encodeURIComponent(s) }, parts);
}

function errorBox(err) {
  if (err instanceof ApiError && err.status === 401) return h("p", { class: "muted" }, "Sign in to see this page.");
  return h("div", { class: "card error" }, h("strong", {}, "Could not load: "), err.message || String(err));
}

// put replaces el's children, skipping null and false.
function put(el, ...nodes) {
  el.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

function setMain(...nodes) {
  for (const c of state.charts) c.destroy();
  state.charts = [];
  const main = document.getElementById("main");
  put(main, ...nodes);
}

// ---------- login ----------

function showLogin(msg) {
  const box = document.getElementById("login");
  box.hidden = false;
  const e = document.getElementById("login-error");
  e.hidden = !msg;
  e.textContent = msg || "";
  document.getElementById("token").focus();
}

function setupLogin() {
  document.getElementById("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = document.getElementById("token").value.trim();
    if (!t) return;
    state.token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    document.getElementById("token").value = "";
    document.getElementById("login").hidden = true;
    state.paths = null;
    start();
  });
  const out = document.getElementById("logout");
  out.addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = "";
    location.hash = "#/series";
    location.reload();
  });
}

// ---------- optional sections ----------

// Sections that appear when the server's OpenAPI document lists their route.
const OPTIONAL = [
  { page: "changes", title: "Change events", paths: ["/api/v1/events"], key: "events" },
  { page: "webhooks", title: "Webhooks", paths: ["/api/v1/webhooks", "/api/v1/notify/webhooks"], key: "webhooks" },
  { page: "silences", title: "Silences", paths: ["/api/v1/silences", "/api/v1/notify/silences"], key: "silences" },
  { page: "remediation", title: "Remediation", paths: ["/api/v1/remediation/rules", "/api/v1/remediations", "/api/v1/remediation"], key: "rules" },
  { page: "audit", title: "Audit log", paths: ["/api/v1/remediation/audit", "/api/v1/audit"], key: "entries" },
];

function hasGet(path) {
  return !!(state.paths && state.paths[path] && state.paths[path].get);
}

async function loadPaths() {
  if (state.paths) return;
  try {
    const doc = await api("/api/v1/openapi.json");
    state.doc = doc || {};
    state.paths = (doc && doc.paths) || {};
  } catch (e) {
    state.paths = {};
  }
  const nav = document.getElementById("nav");
  nav.querySelectorAll("a.optional").forEach((a) => a.remove());
  for (const sec of OPTIONAL) {
    sec.path = sec.paths.find(hasGet);
    if (sec.path && sec.page !== "changes") {
      nav.append(h("a", { href: "#/x/" + sec.page, "data-page": "x/" + sec.page, class: "optional" }, sec.title));
    }
  }
}

async function optionalPage(name) {
  const sec = OPTIONAL.find((s) => s.page === name && s.path);
  if (!sec) return setMain(h("p", {}, "This server has no such section."));
  const data = await api(sec.path);
  const rows = listOf(data, sec.key);
  setMain(h("h1", {}, sec.title), h("p", { class: "muted" }, "GET " + sec.path), jsonTable(rows));
}

function listOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  if (data) for (const v of Object.values(data)) if (Array.isArray(v)) return v;
  return [];
}

function jsonTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "Nothing here yet.");
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))].slice(0, 10);
  return h(
    "div",
    { class: "card flush" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c.replace(/_/g, " "))))),
      h(
        "tbody",
        {},
        rows.map((r) =>
          h(
            "tr",
            {},
            cols.map((c) => {
              const v = r[c];
              if (c === "series" && typeof v === "string") return h("td", {}, seriesLabel(v));
              if (typeof v === "object" && v !== null) return h("td", { class: "mono" }, JSON.stringify(v));
              if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return h("td", {}, fmtTime(v));
              return h("td", {}, v === undefined ? "" : String(v));
            })
          )
        )
      )
    )
  );
}

// ---------- series explorer ----------

async function explorer(params) {
  const match = params.get("match") || "";
  const sort = params.get("sort") || "state";
  const limit = params.get("limit") || "50";
  const cursor = params.get("cursor") || "";
  const prev = params.getAll("prev");

  const form = h(
    "form",
    { class: "toolbar", id: "explorer-form" },
    h("input", {
      name: "match",
      value: match,
      placeholder: 'label matchers, e.g. {device="tv_sony",title=~"t0.*"}',
      class: "grow mono",
      "aria-label": "label matchers",
    }),
    h(
      "select",
      { name: "sort", "aria-label": "sort" },
      [
        ["state", "anomalous first"],
        ["score", "by score"],
        ["series", "by name"],
      ].map(([v, t]) => h("option", { value: v, selected: v === sort }, t))
    ),
    h(
      "select",
      { name: "limit", "aria-label": "page size" },
      ["25", "50", "100", "250"].map((v) => h("option", { value: v, selected: v === limit }, v + " per page"))
    ),
    h("button", { type: "submit" }, "Search")
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    location.hash = "#/series" + qs({ match: f.get("match"), sort: f.get("sort"), limit: f.get("limit") });
  });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  setMain(h("h1", {}, "Series"), form, body);

  const t0 = performance.now();
  let page;
  try {
    page = await api("/api/v1/series" + qs({ match, sort: sort === "series" ? "" : sort, limit, cursor }));
  } catch (e) {
    put(body, errorBox(e));
    return;
  }
  const ms = performance.now() - t0;
  const rows = page.series.map((s) =>
    h(
      "tr",
      { class: s.state === "anomalous" ? "hot" : "" },
      h("td", {}, seriesLabel(s.series)),
      h("td", {}, badge(s.state)),
      h("td", {}, scoreBar(s.score)),
      h("td", { class: "num" }, fmt(s.last_value)),
      h("td", { class: "num muted" }, fmt(s.expected)),
      h("td", { class: "num muted" }, s.points.toLocaleString("en-US")),
      h("td", { class: "muted" }, s.last_timestamp ? ago(s.last_timestamp) : "–"),
      h("td", {}, s.anomaly_id ? h("a", { href: "#/timeline" + qs({ series: s.series }) }, "#" + s.anomaly_id) : "")
    )
  );
  const base = { match, sort, limit };
  const nav = h(
    "div",
    { class: "pager" },
    h("span", { class: "muted" }, `${page.series.length} series on this page · ${ms.toFixed(0)} ms`),
    h("span", { class: "spacer" }),
    prev.length || cursor
      ? h("a", { class: "button", href: "#/series" + pagerQs(base, prev.slice(0, -1), prev[prev.length - 1] || "") }, "← Previous")
      : null,
    page.next_cursor ? h("a", { class: "button", href: "#/series" + pagerQs(base, [...prev, cursor], page.next_cursor), id: "next" }, "Next →") : null
  );
  put(body, 
    page.series.length
      ? h(
          "div",
          { class: "card flush" },
          h(
            "table",
            { id: "series-table" },
            h(
              "thead",
              {},
              h("tr", {}, ["series", "state", "score", "last value", "expected", "points", "last point", "anomaly"].map((c) => h("th", {}, c)))
            ),
            h("tbody", {}, rows)
          )
        )
      : h("div", { class: "card" }, match ? "No series match these matchers." : "No series yet: push points to POST /api/v1/points, or run `detector demo`."),
    nav
  );
}

function pagerQs(base, prev, cursor) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(base)) if (v) p.set(k, v);
  for (const c of prev) p.append("prev", c);
  if (cursor) p.set("cursor", cursor);
  const s = p.toString();
  return s ? "?" + s : "";
}

// ---------- series page ----------

function explain(v) {
  if (!v) return "No verdict yet.";
  if (v.state === "learning") return `Still learning: ${v.need_points || "a few"} more points needed before this series is judged.`;
  const where = v.value > v.upper ? `above the upper bound ${fmt(v.upper)}` : v.value < v.lower ? `below the lower bound ${fmt(v.lower)}` : `within the band ${fmt(v.lower)} – ${fmt(v.upper)}`;
  let s = `The last value ${fmt(v.value)} at ${fmtTime(v.timestamp)} is ${where}; expected ${fmt(v.expected)}.`;
  if (v.state === "anomalous") s += ` The ${v.detector || "model"} detector fired (robust z ${fmt(v.z, 2)}, score ${fmt(v.score, 2)}).`;
  else s += ` Score ${fmt(v.score, 2)}: normal.`;
  return s;
}

function kv(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v instanceof Node ? v : String(v))])
  );
}

function periodText(p) {
  if (!p) return "none detected";
  if (p === 86400) return "daily";
  if (p === 604800) return "weekly";
  if (p % 3600 === 0) return p / 3600 + " h";
  return p + " s";
}

async function seriesPage(name) {
  setMain(h("p", { class: "muted" }, "Loading…"));
  let detail, hist, anomalies;
  try {
    [detail, hist, anomalies] = await Promise.all([
      api(seriesPath(name)),
      api(seriesPath(name) + "/history").catch((e) => ({ points: [], error: e })),
      api("/api/v1/anomalies" + qs({ series: name, limit: 50 })).catch(() => ({ anomalies: [] })),
    ]);
  } catch (e) {
    setMain(h("h1", {}, "Series"), seriesLabel(name, false), errorBox(e));
    return;
  }
  const v = (detail.recent_verdicts || [])[0];
  const b = detail.baseline || {};
  const comps = b.components || {};
  const chartBox = h("div", { class: "chart", id: "chart" });
  const spans = [["6h", 6], ["1d", 24], ["3d", 72], ["all", 0]];
  let span = 24;
  const draw = () => {
    for (const c of state.charts) c.destroy();
    state.charts = [];
    chartBox.replaceChildren();
    const last = hist.points.length ? new Date(hist.points[hist.points.length - 1].timestamp).getTime() : 0;
    const pts = span ? hist.points.filter((p) => last - new Date(p.timestamp).getTime() <= span * 3600e3) : hist.points;
    drawSeriesChart(chartBox, pts, anomalies.anomalies || []);
    rangeBar.querySelectorAll("button").forEach((b) => b.classList.toggle("active", Number(b.dataset.h) === span));
  };
  const rangeBar = h(
    "div",
    { class: "range-bar" },
    spans.map(([t, hrs]) => h("button", { type: "button", "data-h": String(hrs), onclick: () => { span = hrs; draw(); } }, t))
  );
  const legend = h(
    "div",
    { class: "legend" },
    h("span", { class: "sw value" }, "value"),
    h("span", { class: "sw expected" }, "expected"),
    h("span", { class: "sw band" }, "band (lower – upper)"),
    h("span", { class: "sw anomalous" }, "anomalous point"),
    h("span", { class: "sw range" }, "anomaly on the timeline")
  );
  const anomList = (anomalies.anomalies || []).map((a) => anomalyRow(a, false));
  setMain(
    h("p", { class: "crumb" }, h("a", { href: "#/series" }, "Series"), " / "),
    h("h1", { class: "series-title" }, seriesLabel(name, false), " ", badge(detail.state)),
    h("div", { class: "card verdict " + (v ? v.state : "") }, h("p", { class: "explain", id: "explain" }, explain(v))),
    h(
      "div",
      { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Recent history"), rangeBar, legend),
      hist.points.length
        ? chartBox
        : h(
            "p",
            { class: "muted" },
            hist.error ? "History is not available: " + hist.error.message : "No points recorded yet for this series: it is recorded from now on, come back in a few points."
          )
    ),
    h(
      "div",
      { class: "grid2" },
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Baseline"),
        kv([
          ["model", detail.model],
          ["level", fmt(b.level)],
          ["scale", fmt(b.scale)],
          ["expected now", fmt(b.expected)],
          ["band now", fmt(b.lower) + " – " + fmt(b.upper)],
          ["period", periodText(b.period_seconds)],
          ["points learned", (detail.points || 0).toLocaleString("en-US")],
          ["last point", fmtTime(detail.last_timestamp) + " (" + fmt(detail.last_value) + ")"],
          ...Object.entries(comps).map(([k, x]) => [k.replace(/_/g, " "), fmt(x)]),
        ])
      ),
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Anomalies of this series"),
        anomList.length
          ? h("table", { class: "compact" }, h("tbody", {}, anomList.map((r) => r.row)))
          : h("p", { class: "muted" }, "None on the timeline.")
      )
    )
  );
  if (hist.points.length) draw();
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// rangesPlugin shades the anomalies' time ranges behind the series.
function rangesPlugin(ranges) {
  return {
    hooks: {
      drawClear: (u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.fillStyle = cssVar("--range");
        for (const [a, b] of ranges) {
          const x0 = u.valToPos(a, "x", true);
          const x1 = u.valToPos(b, "x", true);
          const left = Math.max(u.bbox.left, Math.min(x0, x1));
          const right = Math.min(u.bbox.left + u.bbox.width, Math.max(x0, x1, x0 + 3));
          if (right > left) ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
        }
        ctx.restore();
      },
    },
  };
}

function chartWidth(el) {
  return Math.max(320, el.clientWidth || el.parentElement.clientWidth - 32);
}

function drawSeriesChart(el, points, anomalies) {
  const xs = points.map((p) => new Date(p.timestamp).getTime() / 1000);
  const learning = (p) => p.state === "learning";
  const val = points.map((p) => p.value);
  const exp = points.map((p) => (learning(p) ? null : p.expected));
  const lo = points.map((p) => (learning(p) ? null : p.lower));
  const up = points.map((p) => (learning(p) ? null : p.upper));
  const an = points.map((p) => (p.state === "anomalous" ? p.value : null));
  const t0 = xs[0], t1 = xs[xs.length - 1];
  const ranges = anomalies
    .filter((a) => a.kind !== "peer_outlier" || true)
    .map((a) => [new Date(a.started_at).getTime() / 1000, a.ended_at ? new Date(a.ended_at).getTime() / 1000 : t1])
    .filter(([a, b]) => b >= t0 && a <= t1);
  // Keep the y range on the values and the band near them: a wide band
  // while the model is unsure should not flatten the line.
  const vmin = Math.min(...val), vmax = Math.max(...val);
  const span = Math.max(vmax - vmin, Math.abs(vmax) * 0.05, 1e-9);
  const opts = {
    width: chartWidth(el),
    height: 320,
    cursor: { points: { size: 6 } },
    legend: { show: true, live: true },
    scales: {
      x: { time: true },
      y: { range: (u, mn, mx) => [Math.max(mn, vmin - span * 0.6), Math.min(mx, vmax + span * 0.6)] },
    },
    axes: [
      { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid") }, ticks: { stroke: cssVar("--grid") } },
      { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid") }, ticks: { stroke: cssVar("--grid") }, size: 60 },
    ],
    series: [
      { value: (u, v) => (v == null ? "–" : fmtTime(v * 1000)) },
      { label: "value", stroke: cssVar("--value"), width: 1.6, value: (u, v) => fmt(v) },
      { label: "expected", stroke: cssVar("--expected"), width: 1.2, dash: [6, 4], value: (u, v) => fmt(v) },
      { label: "lower", stroke: cssVar("--bandline"), width: 0.8, value: (u, v) => fmt(v) },
      { label: "upper", stroke: cssVar("--bandline"), width: 0.8, value: (u, v) => fmt(v) },
      {
        label: "anomalous",
        stroke: cssVar("--hot"),
        width: 0,
        paths: () => null,
        points: { show: true, size: 7, fill: cssVar("--hot"), stroke: cssVar("--hot") },
        value: (u, v) => (v == null ? "" : fmt(v)),
      },
    ],
    bands: [{ series: [4, 3], fill: cssVar("--band") }],
    plugins: [rangesPlugin(ranges)],
  };
  const u = new uPlot(opts, [xs, val, exp, lo, up, an], el);
  el.dataset.points = String(xs.length);
  el.dataset.anomalous = String(an.filter((x) => x != null).length);
  el.dataset.ranges = String(ranges.length);
  state.charts.push(u);
}

// ---------- timeline ----------

// feedbackSpec finds a feedback route for anomalies in the OpenAPI document
// (POST /api/v1/anomalies/{id}/feedback or similar) and the enumerated field
// of its body; null when the server takes no feedback.
function feedbackSpec() {
  if (state.feedback !== undefined) return state.feedback;
  state.feedback = null;
  const paths = state.paths || {};
  const path = Object.keys(paths).find((p) => /^\/api\/v1\/anomalies\/\{[^}]+\}\/feedback$/.test(p) && paths[p].post);
  if (!path) return null;
  let schema = (((paths[path].post.requestBody || {}).content || {})["application/json"] || {}).schema || {};
  const resolve = (x) => {
    if (x && x.$ref) {
      const name = x.$ref.split("/").pop();
      return ((state.doc || {}).components || {}).schemas?.[name] || {};
    }
    return x || {};
  };
  schema = resolve(schema);
  for (const [field, prop] of Object.entries(schema.properties || {})) {
    const p = resolve(prop);
    if (Array.isArray(p.enum) && p.enum.length <= 4) {
      state.feedback = { path, field, values: p.enum };
      break;
    }
  }
  return state.feedback;
}

function feedbackButtons(a) {
  const fb = feedbackSpec();
  if (!fb) return null;
  const box = h("span", { class: "feedback" });
  for (const v of fb.values) {
    box.append(
      h(
        "button",
        {
          type: "button",
          class: "small-button",
          title: "tell the service: " + v,
          onclick: async (ev) => {
            ev.preventDefault();
            try {
              await api(fb.path.replace(/\{[^}]+\}/, encodeURIComponent(a.id)), { method: "POST", body: { [fb.field]: v } });
              box.replaceChildren(h("span", { class: "muted small" }, "sent: " + v));
            } catch (e) {
              box.replaceChildren(h("span", { class: "error small" }, e.message));
            }
          },
        },
        String(v).replace(/_/g, " ")
      )
    );
  }
  return h("td", {}, box);
}

function anomalyRow(a, showSeries = true) {
  const open = !a.ended_at;
  const row = h(
    "tr",
    { class: open ? "hot" : "" },
    h("td", { class: "mono muted" }, "#" + a.id),
    h("td", {}, h("span", { class: "kind " + a.kind }, a.kind === "peer_outlier" ? "peer outlier" : a.detector || "point")),
    showSeries ? h("td", {}, seriesLabel(a.series)) : null,
    h("td", { class: "nowrap", title: fmtTime(a.started_at) }, fmtShort(a.started_at), " ", h("span", { class: "muted small" }, ago(a.started_at))),
    h("td", { class: "nowrap" }, open ? badge("open") : fmtShort(a.ended_at)),
    h("td", {}, scoreBar(a.peak_score)),
    h("td", { class: "num" }, a.kind === "peer_outlier" ? "" : `${fmt(a.peak_value)} vs ${fmt(a.peak_expected)}`),
    h("td", { class: "num muted" }, a.points),
    feedbackButtons(a)
  );
  return { row, at: new Date(a.started_at).getTime() };
}

function changeRow(e) {
  // A change event as POST /api/v1/events takes it: type, labels, desc, at.
  const at = e.at;
  const title = e.desc || e.type || "change";
  const lab = e.labels && typeof e.labels === "object" ? Object.entries(e.labels).map(([k, v]) => h("span", { class: "chip" }, h("span", { class: "k" }, k), String(v))) : [];
  const row = h(
    "tr",
    { class: "change" },
    h("td", { class: "mono muted" }, e.id ? "#" + e.id : ""),
    h("td", {}, h("span", { class: "kind change" }, e.type || "change")),
    h("td", {}, h("strong", {}, title), " ", lab),
    h("td", { class: "nowrap", title: fmtTime(at) }, fmtShort(at), " ", h("span", { class: "muted small" }, ago(at))),
    h("td", { colspan: 4, class: "muted" }, "change event")
  );
  return { row, at: new Date(at).getTime() };
}

async function timeline(params) {
  const st = params.get("state") || "";
  const series = params.get("series") || "";
  const cursor = params.get("cursor") || "";
  const form = h(
    "form",
    { class: "toolbar" },
    h("input", { name: "series", value: series, placeholder: "series (exact), e.g. play_starts{device=\"tv_sony\",...}", class: "grow mono", "aria-label": "series" }),
    h(
      "select",
      { name: "state", "aria-label": "state" },
      [
        ["", "open and resolved"],
        ["open", "open"],
        ["resolved", "resolved"],
      ].map(([v, t]) => h("option", { value: v, selected: v === st }, t))
    ),
    h("button", { type: "submit" }, "Filter")
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    location.hash = "#/timeline" + qs({ series: f.get("series"), state: f.get("state") });
  });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  setMain(h("h1", {}, "Timeline"), form, body);
  let page;
  try {
    page = await api("/api/v1/anomalies" + qs({ state: st, series, cursor, limit: 50 }));
  } catch (e) {
    put(body, errorBox(e));
    return;
  }
  let rows = page.anomalies.map((a) => anomalyRow(a));
  const changes = OPTIONAL.find((s) => s.page === "changes");
  let changeNote = null;
  if (changes && changes.path) {
    try {
      const oldest = page.anomalies.length ? page.anomalies[page.anomalies.length - 1].started_at : "";
      const evs = listOf(await api(changes.path + qs({ since: cursor ? oldest : "", limit: 200 })), "events");
      const lo = oldest && page.next_cursor ? new Date(oldest).getTime() - 3600e3 : -Infinity;
      rows = rows.concat(evs.map(changeRow).filter((r) => r.at >= lo));
    } catch (e) {
      changeNote = h("p", { class: "muted" }, "Change events could not be read: " + e.message);
    }
  }
  rows.sort((a, b) => b.at - a.at);
  put(body, 
    cursor ? null : sharedLabels(page.anomalies),
    rows.length
      ? h(
          "div",
          { class: "card flush" },
          h(
            "table",
            { id: "timeline-table" },
            h("thead", {}, h("tr", {}, ["id", "kind", "series", "started", "ended", "peak score", "peak vs expected", "points", feedbackSpec() ? "feedback" : ""].filter(Boolean).map((c) => h("th", {}, c)))),
            h("tbody", {}, rows.map((r) => r.row))
          )
        )
      : h("div", { class: "card" }, "No anomalies on the timeline" + (st ? " in this state." : " yet.")),
    changeNote,
    h(
      "div",
      { class: "pager" },
      h("span", { class: "muted" }, page.anomalies.length + " anomalies" + (changes && changes.path ? ", with change events beside them" : "")),
      h("span", { class: "spacer" }),
      page.next_cursor ? h("a", { class: "button", href: "#/timeline" + qs({ state: st, series, cursor: page.next_cursor }) }, "Older →") : null
    )
  );
}

// sharedLabels sums up what the anomalies of the last three hours have in
// common: the label values most of them carry point to a likely cause.
function sharedLabels(anomalies) {
  const recent = anomalies.filter((a) => Date.now() - new Date(a.started_at).getTime() < 3 * 3600e3);
  if (recent.length < 2) return null;
  const count = new Map();
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const a of recent) {
    const seen = new Set();
    let x;
    while ((x = re.exec(a.series))) {
      const k = x[1] + "=" + x[2];
      if (!seen.has(k)) count.set(k, (count.get(k) || 0) + 1);
      seen.add(k);
    }
  }
  const top = [...count.entries()].filter(([, n]) => n >= 2).sort((a, b) => b[1] - a[1]).slice(0, 6);
  if (!top.length) return null;
  return h(
    "div",
    { class: "card shared", id: "shared" },
    h("h2", {}, `What the ${recent.length} anomalies of the last 3 hours share`),
    h(
      "div",
      { class: "shared-list" },
      top.map(([k, n]) => {
        const [name, ...v] = k.split("=");
        const value = v.join("=");
        const href = "#/series" + qs({ match: `{${name}="${value}"}`, sort: "state" });
        return h(
          "a",
          { class: "shared-item", href },
          h("span", { class: "chip" }, h("span", { class: "k" }, name), value),
          h("span", { class: "num" }, `${n} of ${recent.length}`)
        );
      })
    )
  );
}

// ---------- peer groups ----------

async function peersPage(params) {
  const ruleName = params.get("rule") || "";
  setMain(h("h1", {}, "Peer groups"), h("p", { class: "muted" }, "Loading…"));
  let rules;
  try {
    rules = (await api("/api/v1/peers/rules")).rules || [];
  } catch (e) {
    setMain(h("h1", {}, "Peer groups"), errorBox(e));
    return;
  }
  if (!rules.length) {
    setMain(
      h("h1", {}, "Peer groups"),
      h("div", { class: "card" }, "No peer-group rules. Add one with POST /api/v1/peers/rules, e.g. ", h("code", {}, '{"name":"edge","match":"cpu{cluster=~\\".+\\"}","group_by":["cluster"],"member":"server"}'))
    );
    return;
  }
  const rule = rules.find((r) => r.name === ruleName) || rules[0];
  const tabs = h(
    "div",
    { class: "tabs" },
    rules.map((r) => h("a", { href: "#/peers" + qs({ rule: r.name }), class: r.name === rule.name ? "active" : "" }, r.name))
  );
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  setMain(
    h("h1", {}, "Peer groups"),
    tabs,
    h("p", { class: "muted mono" }, `match ${rule.match} · group by ${(rule.group_by || []).join(", ") || "–"} · member ${rule.member || "series"} · window ${rule.window} × ${rule.step}`),
    body
  );
  let groups;
  try {
    groups = (await api("/api/v1/peers/outliers" + qs({ rule: rule.name }))).groups || [];
  } catch (e) {
    put(body, errorBox(e));
    return;
  }
  if (!groups.length) {
    put(body, h("div", { class: "card" }, "No group judged yet: groups are judged every --peer-interval once they have a window of data."));
    return;
  }
  groups.sort((a, b) => b.outliers - a.outliers || a.group.localeCompare(b.group));
  const cards = groups.map((g) => {
    const chart = h("div", { class: "chart small" });
    const members = [...g.members].sort((a, b) => b.outlier - a.outlier || b.distance - a.distance);
    const card = h(
      "div",
      { class: "card group" + (g.outliers ? " has-outlier" : "") },
      h("div", { class: "card-head" }, h("h2", {}, seriesLabel(g.group, false)), g.outliers ? h("span", { class: "badge anomalous" }, g.outliers + " outlier" + (g.outliers > 1 ? "s" : "")) : h("span", { class: "badge normal" }, "no outlier")),
      g.skipped ? h("p", { class: "muted" }, "Skipped: " + g.skipped) : null,
      chart,
      h(
        "table",
        { class: "compact" },
        h("thead", {}, h("tr", {}, ["member", "", "distance", "reason"].map((c) => h("th", {}, c)))),
        h(
          "tbody",
          {},
          members.map((m) =>
            h(
              "tr",
              { class: m.outlier ? "hot" : "" },
              h("td", {}, m.series ? h("a", { href: "#/series/" + encodeURIComponent(m.series) }, m.member) : m.member),
              h("td", {}, m.outlier ? badge("outlier") : h("span", { class: "muted" }, "cluster " + m.cluster)),
              h("td", { class: "num" }, fmt(m.distance)),
              h("td", { class: m.outlier ? "" : "muted" }, m.reason || "")
            )
          )
        )
      ),
      h("p", { class: "muted small" }, `judged ${fmtTime(g.evaluated_at)} · eps ${fmt(g.eps)} · min_pts ${g.min_pts}`)
    );
    return { card, chart, g, members };
  });
  put(body, ...cards.map((c) => c.card));
  // Draw the groups with outliers first, at most 12 groups.
  for (const c of cards.slice(0, 12)) drawGroup(c.chart, c.members.filter((m) => m.series).slice(0, 24), c.g).catch(() => {});
}

async function drawGroup(el, members, g) {
  const since = g.window_start || "";
  const hists = await Promise.all(members.map((m) => api(seriesPath(m.series) + "/history" + qs({ since })).catch(() => ({ points: [] }))));
  const tsSet = new Set();
  hists.forEach((hh) => hh.points.forEach((p) => tsSet.add(new Date(p.timestamp).getTime() / 1000)));
  const xs = [...tsSet].sort((a, b) => a - b);
  if (xs.length < 2) {
    put(el, h("p", { class: "muted" }, "No recent history recorded for these members yet."));
    return;
  }
  const pos = new Map(xs.map((x, i) => [x, i]));
  const data = [xs];
  const series = [{ value: (u, v) => (v == null ? "–" : fmtTime(v * 1000)) }];
  hists.forEach((hh, i) => {
    const col = new Array(xs.length).fill(null);
    hh.points.forEach((p) => (col[pos.get(new Date(p.timestamp).getTime() / 1000)] = p.value));
    data.push(col);
    const out = members[i].outlier;
    series.push({ label: members[i].member, stroke: out ? cssVar("--hot") : cssVar("--peer"), width: out ? 2.4 : 1, spanGaps: true, value: (u, v) => fmt(v) });
  });
  // Outliers are drawn last, on top.
  const order = [0, ...members.map((m, i) => [m.outlier ? 1 : 0, i + 1]).sort((a, b) => a[0] - b[0]).map((x) => x[1])];
  const u = new uPlot(
    {
      width: chartWidth(el),
      height: 220,
      legend: { show: false },
      scales: { x: { time: true } },
      axes: [
        { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid") }, ticks: { stroke: cssVar("--grid") } },
        { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid") }, ticks: { stroke: cssVar("--grid") }, size: 60 },
      ],
      series: order.map((i) => series[i]),
    },
    order.map((i) => data[i]),
    el
  );
  el.dataset.members = String(members.length);
  state.charts.push(u);
}

// ---------- router ----------

async function route() {
  const hash = location.hash || "#/series";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const page = parts[0] || "series";
  document.querySelectorAll("#nav a").forEach((a) => {
    const p = a.dataset.page;
    a.classList.toggle("active", p === page || p === parts.slice(0, 2).join("/"));
  });
  try {
    if (page === "series" && parts.length > 1) await seriesPage(decodeURIComponent(parts.slice(1).join("/")));
    else if (page === "series") await explorer(params);
    else if (page === "timeline") await timeline(params);
    else if (page === "peers") await peersPage(params);
    else if (page === "x" && parts[1]) await optionalPage(parts[1]);
    else setMain(h("p", {}, "No such page."));
  } catch (e) {
    setMain(errorBox(e));
  }
  // Only the route still shown marks the page ready (a slower earlier
  // route must not).
  if ((location.hash || "#/series") === hash) document.body.dataset.ready = "1";
}

async function status() {
  try {
    const open = await api("/api/v1/anomalies" + qs({ state: "open", limit: 1000 }));
    const n = open.anomalies.length;
    const el = document.getElementById("status");
    put(el, 
      h("a", { href: "#/timeline?state=open", class: n ? "open-count hot" : "open-count" }, (n >= 1000 ? "1000+" : n) + " open anomal" + (n === 1 ? "y" : "ies"))
    );
  } catch (e) {
    /* shown by the page itself */
  }
}

async function start() {
  document.getElementById("logout").hidden = !state.token;
  await loadPaths();
  await route();
  status();
}

window.addEventListener("hashchange", () => {
  document.body.dataset.ready = "";
  route();
});
setupLogin();
start();
setInterval(status, 15000);
