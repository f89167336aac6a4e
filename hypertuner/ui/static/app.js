// The hypertuner page: the core (state, API, formats, routing, refresh) and edit-and-launch.
// table.js draws the runs table, views.js a run's page and the explore view. Plain DOM, no build
// step, no CDN: the charts are plotly.js, served by the page's own server from the installed
// plotly package, and loaded when a chart is first shown or, before, in idle time (warmCharts).
"use strict";

const state = {
  token: "",
  storage: "",
  launch: true,
  charts: { available: false, script: "", install: "" },
  runs: [],
  byName: new Map(), // run name -> row
  sweeps: [], // from /api/runs
  sweepByName: new Map(),
  lastText: "", // the last /api/runs answer: an unchanged one is not drawn again
  sort: { key: "start_time", dir: 1 },
  filter: "",
  statuses: new Set(), // status chips pressed (none: every status)
  metric: { tag: null, mode: "min", chosen: false },
  keyChoice: new Map(), // config key -> true (shown) / false (hidden), as chosen in "N more keys"
  allKeys: false,
  drawn: new Map(), // table group -> how many of its rows are drawn
  collapsed: new Set(), // sweeps whose trials are folded
  expanded: new Set(), // sweeps unfolded by the user
  selected: new Set(),
  fresh: new Set(),
  view: "runs",
  route: { view: "runs" },
  edit: null, // {source, types}
  pending: null, // {source, body}: the launch shown for confirmation
  timer: null,
  drawnOnce: false,
  routed: false, // the first route() has drawn the view asked for
};

const LIVE = new Set(["running", "starting"]);
const STATUSES = ["running", "finished", "failed", "interrupted", "crashed", "pruned"];
const COLORS = ["#2456c9", "#d9480f", "#2b8a3e", "#ae3ec9", "#1098ad", "#e03131", "#5c940d", "#f08c00",
  "#364fc7", "#a61e4d", "#087f5b", "#e67700"];
const $ = (id) => document.getElementById(id);

// --- helpers ----------------------------------------------------------------------------------

// Objects keyed by user data (config keys, metric tags, run names) have no prototype, so a key
// such as "__proto__" or "constructor" is only ever a key: it can neither reach nor shadow
// Object.prototype. Everything the API sends is converted on arrival.
function bare(value) {
  if (Array.isArray(value)) return value.map(bare);
  if (value === null || typeof value !== "object") return value;
  const out = Object.create(null);
  for (const [key, item] of Object.entries(value)) out[key] = bare(item);
  return out;
}

function own(object, key) {
  return object && Object.hasOwn(object, key) ? object[key] : undefined;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

class ApiError extends Error {
  constructor(message, key) {
    super(message);
    this.key = key || null;
  }
}

async function apiText(path, body) {
  const options = { headers: { "X-Hypertuner-Token": state.token }, cache: "no-store" };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try {
    data = bare(JSON.parse(text));
  } catch (err) {
    throw new ApiError(`The server answered ${response.status} without JSON.`);
  }
  if (!response.ok) throw new ApiError(data.error || `The server answered ${response.status}.`, data.key);
  return { text, data };
}

async function api(path, body) {
  return (await apiText(path, body)).data;
}

function show(message, isError = false) {
  const box = $("message");
  box.textContent = message;
  box.className = isError ? "error" : "";
  box.hidden = !message;
}

// --- numbers: one format everywhere -------------------------------------------------------------
// A column (or a chart's hover) picks one style for all its numbers: scientific when any of them is
// below 1e-3 or from 1e6 up, else plain decimals; both with 4 significant digits. Integers show
// whole. The full value is in the element's title (hover).

function numberStyle(values) {
  for (const v of values) {
    if (typeof v !== "number" || !Number.isFinite(v) || Number.isInteger(v)) continue;
    const abs = Math.abs(v);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return "sci";
  }
  return "plain";
}

function formatNumber(value, style = "plain") {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  if (style === "sci") return value.toExponential(3);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return value.toPrecision(4).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

function fullNumber(value) {
  return typeof value === "number" ? String(value) : "";
}

function formatValue(value, style = "plain") {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return formatNumber(value, style);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (isNaN(date)) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function duration(row) {
  if (typeof row.duration_s === "number") return row.duration_s;
  if (LIVE.has(row.status) && row.start_time) {
    const start = Date.parse(row.start_time);
    if (!isNaN(start)) return Math.max(0, (Date.now() - start) / 1000);
  }
  return null;
}

function formatDuration(seconds) {
  if (seconds === null) return "";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

function formatBytes(size) {
  if (typeof size !== "number") return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = size, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit ? `${value.toFixed(1)} ${units[unit]}` : `${size} B`;
}

function lastValue(row, tag) {
  const entry = own(row.metrics, tag);
  const value = entry ? entry.last : null;
  return typeof value === "number" ? value : null;
}

// The value ranked by the chosen metric: its last value.
function metricValue(row) {
  return state.metric.tag ? lastValue(row, state.metric.tag) : null;
}

function better(a, b, mode = state.metric.mode) {
  return mode === "max" ? a > b : a < b;
}

function statusChip(status, title) {
  return el("span", { className: `chip status-${status}`, text: status, title });
}

function runLink(name, text = name) {
  return el("a", { href: `#/run/${encodeURIComponent(name)}`, className: "run-link", "data-link": name, text });
}

// --- metric choice ------------------------------------------------------------------------------

function metricTags() {
  const tags = new Set();
  for (const row of state.runs) for (const tag of Object.keys(row.metrics || {})) tags.add(tag);
  return [...tags].sort();
}

function guessMode(tag) {
  return /acc|f1|auc|score|reward|precision|recall|iou|bleu|map$/i.test(tag) ? "max" : "min";
}

// The metric the table ranks by: the user's choice, else a sweep's, else a loss, else the first.
function chooseMetric() {
  const tags = metricTags();
  if (state.metric.chosen && tags.includes(state.metric.tag)) return;
  const sweep = state.sweeps.find((s) => s.metric && tags.includes(s.metric));
  if (sweep) {
    state.metric = { tag: sweep.metric, mode: sweep.mode, chosen: false };
    return;
  }
  const tag = tags.find((t) => /loss/i.test(t)) || tags[0] || null;
  state.metric = { tag, mode: tag ? guessMode(tag) : "min", chosen: false };
}

function setMetric(tag, mode) {
  state.metric = { tag, mode: mode || (tag === state.metric.tag ? state.metric.mode : guessMode(tag)), chosen: true };
  syncMetricSelects();
}

function syncMetricSelects() {
  const tags = metricTags();
  for (const id of ["table-metric", "metric-select"]) {
    const select = $(id);
    if (!select) continue;
    const options = tags.map((t) => el("option", { value: t, text: t }));
    if (select.options.length !== options.length || [...select.options].some((o, i) => o.value !== tags[i])) {
      select.replaceChildren(...options);
    }
    select.value = state.metric.tag || "";
    select.disabled = !tags.length;
  }
  for (const id of ["table-mode", "explore-mode"]) {
    const select = $(id);
    if (select) select.value = state.metric.mode;
  }
}

// --- plotly, loaded on first use ----------------------------------------------------------------

let plotlyLoading = null;

// ht:plotly measures the load: the download, then the bundle's evaluation, which holds the page's
// main thread (about 0.8 s on two slow cores).
function loadPlotly() {
  if (!state.charts.available) return Promise.reject(new Error("plotly is not installed"));
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve, reject) => {
      const started = performance.now();
      const script = el("script", { src: state.charts.script });
      script.addEventListener("load", () => {
        performance.measure("ht:plotly", { start: started, end: performance.now() });
        resolve(window.Plotly);
      });
      script.addEventListener("error", () => { plotlyLoading = null; reject(new Error("plotly.js did not load")); });
      document.head.append(script);
    });
  }
  return plotlyLoading;
}

// --- charts made ready in idle time -------------------------------------------------------------
// Opening the explore view first costs plotly.js's evaluation (above) and, where the browser draws
// WebGL in software (no GPU: SwiftShader, as in headless Chromium), the compilation of the
// parallel-coordinates shaders in each of the chart's three WebGL contexts, about 0.2 s each, which
// plotly waits for (it reads a pixel back between the gaps it draws) and which is neither shared
// between contexts nor kept across page loads. So, once the first view is drawn and the page has
// had no input for QUIET_MS, it loads plotly, then draws a two-axis chart into the hidden explore
// view's chart area, whose contexts compile their shaders in the background (views.js:
// warmParcoords); opening explore later updates that chart, in the same contexts. The cost: once
// per page, a keystroke or click that lands in plotly's evaluation waits for its end.
const QUIET_MS = 300;
let lastInput = performance.now();
for (const type of ["keydown", "pointerdown", "wheel", "input"]) {
  addEventListener(type, () => { lastInput = performance.now(); }, { capture: true, passive: true });
}

function whenIdle(fn) {
  if (window.requestIdleCallback) requestIdleCallback(fn, { timeout: 5000 });
  else setTimeout(fn, 50);
}

// Run fn in idle time after QUIET_MS without input.
function whenQuiet(fn) {
  const wait = lastInput + QUIET_MS - performance.now();
  if (wait > 0) setTimeout(() => whenQuiet(fn), wait);
  else whenIdle(() => (performance.now() - lastInput < QUIET_MS ? whenQuiet(fn) : fn()));
}

function warmCharts() {
  if (!state.charts.available) return;
  lastInput = Math.max(lastInput, performance.now()); // the quiet time counts from the first view drawn
  whenQuiet(() => loadPlotly().then(() => whenQuiet(warmParcoords), () => {}));
}

// A chart area without plotly says what to install; the rest of the page works on.
function chartsMissing(container) {
  container.replaceChildren(el("p", {
    className: "chart-missing",
    text: `Charts need the plotly package, which is not installed here: ${state.charts.install || "pip install 'hypertuner[ui]'"}` +
      " (then restart 'hypertuner ui'). Everything else on the page works without it.",
  }));
}

// Text given to plotly, which reads a few HTML tags in labels: escaped, so a key or value such as
// "<img onerror=...>" stays text.
function plotText(value, limit = 80) {
  let text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) text = String(value);
  if (text.length > limit) text = text.slice(0, limit - 1) + "\u2026";
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// plotGlPixelRatio 1: the parallel-coordinates lines are WebGL; twice the pixels (plotly's default)
// costs four times the drawing where the browser draws WebGL in software.
const PLOT_CONFIG = { displaylogo: false, responsive: true, plotGlPixelRatio: 1, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

// Marks when an update has been drawn: after the frame it is painted in.
function afterPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

// --- routes: #/ (runs), #/run/<name>, #/explore?sweep=<name> | ?runs=a,b ------------------------

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  if (path.startsWith("run/")) return { view: "run", name: decodeURIComponent(path.slice(4)) };
  if (path === "explore") {
    const runs = (params.get("runs") || "").split(",").filter(Boolean);
    return { view: "explore", sweep: params.get("sweep"), runs };
  }
  return { view: "runs" };
}

// event: the hashchange that asked for the view (none when the page was opened at it).
function route(event) {
  const previous = state.view;
  state.route = parseRoute();
  state.view = state.route.view;
  for (const [view, id] of [["runs", "runs-view"], ["run", "run-view"], ["explore", "explore-view"]]) {
    $(id).hidden = state.view !== view;
  }
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === state.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  state.routed = true;
  if (state.view === "run") openRun(state.route.name);
  else if (state.view === "explore") openExplore(event ? event.timeStamp : 0);
  else {
    document.title = "hypertuner";
    if (previous !== "runs" || !state.drawnOnce) renderRuns();
  }
}

// --- refresh ------------------------------------------------------------------------------------

async function refresh() {
  clearTimeout(state.timer);
  let live = false;
  try {
    const { text, data } = await apiText("/api/runs");
    live = data.runs.some((r) => LIVE.has(r.status));
    const changed = text !== state.lastText;
    state.lastText = text;
    if (changed) {
      state.storage = data.storage;
      state.launch = data.launch;
      state.charts = data.charts;
      state.runs = data.runs;
      state.byName = new Map(data.runs.map((r) => [r.name, r]));
      state.sweeps = data.sweeps;
      state.sweepByName = new Map(data.sweeps.map((s) => [s.name, s]));
      for (const row of data.runs) row._search = searchText(row);
      $("storage").textContent = data.storage + (data.launch ? "" : " (launching turned off)");
      chooseMetric();
      syncMetricSelects();
    }
    $("live").textContent = live ? "runs live: refreshing every 2 s" : "";
    if (changed || live) {
      if (state.view === "runs") renderRuns();
      else if (state.view === "explore" && changed && state.routed) refreshExplore(true); // the first: route() draws it
    }
    if (state.edit) updateEditLog();
  } catch (err) {
    show(err.message, true);
  }
  state.timer = setTimeout(refresh, live ? 2000 : 10000);
}

// --- edit and launch --------------------------------------------------------------------------

const TYPE_LABELS = new Map([
  ["int", "integer"], ["float", "number"], ["bool", "true/false"], ["str", "text"], ["null", "JSON"], ["dict", "JSON object"],
]);

function typeLabel(type) {
  return TYPE_LABELS.get(type) ||
    (type.startsWith("list") ? `JSON ${type.replace("list[", "list of ").replace("]", "")}` : type);
}

function pythonType(value) {
  if (value === null) return "null";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "string") return "str";
  if (Array.isArray(value)) return "list";
  return "dict";
}

function fieldInput(path, key, value, type) {
  const id = `field-${path.join("\u0001").replace(/[^A-Za-z0-9_-]/g, "_")}-${Math.random().toString(36).slice(2, 7)}`;
  const attrs = { id, "data-key": key, "data-path": JSON.stringify(path), "data-type": type };
  let input;
  if (type === "bool") {
    input = el("input", { ...attrs, type: "checkbox" });
    input.checked = value;
  } else {
    input = el("input", { ...attrs, type: "text", spellcheck: "false", autocomplete: "off" });
    if (type === "str") input.value = value;
    else if (type === "float") input.value = Number.isInteger(value) ? value.toFixed(1) : String(value);
    else if (type === "int") input.value = String(value);
    else input.value = JSON.stringify(value);
  }
  input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
  return el("div", { className: "field" }, el("label", { for: id, text: key }),
    el("span", {}, input, el("span", { className: "type", text: typeLabel(type) })));
}

function buildFields(container, config, types, path) {
  for (const [name, value] of Object.entries(config)) {
    const here = [...path, name];
    const key = here.join(".");
    const type = own(types, key) || pythonType(value);
    if (type === "section") {
      const set = el("fieldset", { "data-section": key, "data-path": JSON.stringify(here) }, el("legend", { text: key }));
      buildFields(set, value, types, here);
      container.append(set);
    } else {
      container.append(fieldInput(here, key, value, type));
    }
  }
}

function readValue(input) {
  const type = input.dataset.type, key = input.dataset.key, text = input.value;
  if (type === "bool") return input.checked;
  if (type === "str") return text;
  const fail = (what) => { throw new ApiError(`Key '${key}' must be ${what}, not '${text}'.`, key); };
  if (type === "int" || type === "float") {
    const number = text.trim() === "" ? NaN : Number(text);
    if (!Number.isFinite(number)) fail(type === "int" ? "an integer" : "a number");
    if (type === "int" && !Number.isInteger(number)) fail("an integer");
    return number;
  }
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    fail(type.startsWith("list") ? "a JSON list such as [1, 2]" : type === "dict" ? "a JSON object" : "JSON (a number, \"text\", true, null, [...] or {...})");
  }
  if (type.startsWith("list")) {
    if (!Array.isArray(parsed)) fail("a JSON list such as [1, 2]");
    const element = type.slice(5, -1);
    parsed.forEach((item, i) => {
      const ok = element === "int" ? Number.isInteger(item) : element === "float" ? typeof item === "number"
        : element === "str" ? typeof item === "string" : element === "bool" ? typeof item === "boolean" : true;
      if (!ok) throw new ApiError(`Key '${key}[${i}]' must be ${typeLabel(element)}, not ${JSON.stringify(item)}.`, key);
    });
  } else if (type === "dict" && (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))) {
    fail("a JSON object");
  }
  return parsed;
}

// The child object of `node` under `key`, made (prototype-free) when missing.
function child(node, key) {
  if (!Object.hasOwn(node, key)) node[key] = Object.create(null);
  return node[key];
}

function collectConfig() {
  const config = Object.create(null);
  const errors = [];
  for (const input of $("edit-fields").querySelectorAll("input[data-path]")) {
    try {
      const value = readValue(input);
      const path = JSON.parse(input.dataset.path);
      let node = config;
      for (const part of path.slice(0, -1)) node = child(node, part);
      node[path[path.length - 1]] = value;
    } catch (err) {
      input.setAttribute("aria-invalid", "true");
      errors.push(err.message);
    }
  }
  // Keep empty sections of the saved config.
  for (const set of $("edit-fields").querySelectorAll("fieldset[data-section]")) {
    let node = config;
    for (const part of JSON.parse(set.dataset.path)) node = child(node, part);
  }
  return { config, errors };
}

// A command line as a shell would read it back: each argument quoted when it needs to be.
function shellQuote(arg) {
  return /^[A-Za-z0-9_\/.,:=+@%-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

function showConfirm(source, body) {
  state.pending = { source, body };
  $("confirm-cwd").textContent = body.cwd;
  $("confirm-command").textContent = body.command.map(shellQuote).join(" ");
  $("confirm").hidden = false;
  $("confirm-launch").focus();
}

function hideConfirm() {
  state.pending = null;
  $("confirm").hidden = true;
}

async function confirmLaunch() {
  const pending = state.pending;
  if (!pending) return;
  hideConfirm();
  try {
    const data = await api(`/api/runs/${pending.source}/launch`, pending.body);
    show(`Started run ${data.name} (process ${data.pid}); its status shows in the table and on its page (#/run/${data.name}). Output: ${data.log}`);
    state.fresh.add(data.name);
    $("new-name").value = "";
    await refresh();
  } catch (err) {
    showFormErrors([err.message]);
    markKey(err.key);
    show(err.message, true);
  }
}

function showFormErrors(errors) {
  const list = $("form-errors");
  list.replaceChildren(...errors.map((e) => el("li", { text: e })));
  list.hidden = !errors.length;
}

function markKey(key) {
  if (!key) return;
  const base = key.replace(/\[\d+\]$/, "");
  for (const input of $("edit-fields").querySelectorAll("input[data-key]")) {
    if (input.dataset.key === base) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  }
}

// Open the edit form of run `name` under the current view; with launch, go straight on to the
// confirmation of launching it unchanged (the exact command, to review and start).
async function openEdit(name, { launch = false } = {}) {
  try {
    const data = await api(`/api/runs/${encodeURIComponent(name)}`);
    state.edit = { source: name, launchable: data.launchable };
    const fields = $("edit-fields");
    fields.replaceChildren();
    buildFields(fields, data.config, data.types || {}, []);
    if (!Object.keys(data.config).length) fields.append(el("p", { className: "muted", text: "This run's config is empty." }));
    $("edit-heading").textContent = `Edit ${name}`;
    const script = data.meta.script ? ` — script ${data.meta.script}` : "";
    $("edit-source").textContent = `From run ${name}${script}. Launching runs the same script with the same interpreter and arguments, ` +
      `with these values as --config, the new name and this storage folder. Configs are saved in ${data.configs_folder}.`;
    $("new-name").value = data.suggested_name;
    $("launch-button").disabled = !data.launchable;
    $("launch-reason").hidden = data.launchable;
    $("launch-reason").textContent = data.launch_reason || "";
    $("download-link").hidden = true;
    hideConfirm();
    showFormErrors([]);
    updateEditLog(data.log_tail);
    $("edit").hidden = false;
    $("edit").scrollIntoView({ block: "nearest" });
    if (launch && data.launchable) await submitEdit("launch");
  } catch (err) {
    show(err.message, true);
  }
}

function updateEditLog(text) {
  const log = $("edit-log");
  if (text === undefined) {
    const row = state.edit && state.byName.get(state.edit.source);
    text = row && row.launch && row.launch.log_tail;
  }
  log.hidden = !text;
  log.textContent = text || "";
}

async function submitEdit(action) {
  if (!state.edit) return;
  const { config, errors } = collectConfig();
  showFormErrors(errors);
  if (errors.length) {
    show(`Nothing was ${action === "launch" ? "started" : "saved"}: ${errors[0]}`, true);
    return;
  }
  const name = $("new-name").value.trim();
  const source = encodeURIComponent(state.edit.source);
  try {
    if (action === "launch") {
      // Show the exact command first; the launch request carries it back, and the server starts
      // nothing unless it is still the command it would run.
      const shown = await api(`/api/runs/${source}/command`, { config, name });
      showConfirm(source, { config, name, command: shown.command, cwd: shown.cwd });
    } else {
      const data = await api(`/api/runs/${source}/save`, { config, filename: name || `${state.edit.source}-edited` });
      show(`Saved the config to ${data.path}. Run it with: python <script> --config=${data.path}`);
      const response = await fetch(data.download, { headers: { "X-Hypertuner-Token": state.token } });
      const link = $("download-link");
      if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
      link.href = URL.createObjectURL(await response.blob());
      link.download = data.path.split("/").pop();
      link.textContent = `Download ${link.download}`;
      link.hidden = false;
    }
  } catch (err) {
    showFormErrors([err.message]);
    markKey(err.key);
    show(err.message, true);
  }
}

// --- start ------------------------------------------------------------------------------------

// The token: from the address 'hypertuner ui' printed, then kept for this origin (the server's
// address and port, new each start) so a run's page opened in another tab works too.
function readToken() {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  if (given) {
    try { localStorage.setItem("hypertuner-token", given); } catch (err) { /* storage off: this tab only */ }
    sessionStorage.setItem("hypertuner-token", given);
    history.replaceState(null, "", location.pathname + location.hash); // keep the token out of the address bar
  }
  let kept = "";
  try { kept = localStorage.getItem("hypertuner-token") || ""; } catch (err) { kept = ""; }
  return given || sessionStorage.getItem("hypertuner-token") || kept;
}

async function start() {
  state.token = readToken();
  if (!state.token) {
    show("Open the address that 'hypertuner ui' printed: it ends in ?token=... and lets this page read your runs.", true);
    return;
  }
  startTable();
  startViews();
  $("edit-close").addEventListener("click", () => { $("edit").hidden = true; state.edit = null; hideConfirm(); });
  $("edit-form").addEventListener("submit", (e) => { e.preventDefault(); submitEdit("launch"); });
  $("edit-form").addEventListener("input", hideConfirm); // an edit after showing: ask again
  $("confirm-launch").addEventListener("click", confirmLaunch);
  $("confirm-cancel").addEventListener("click", hideConfirm);
  $("save-button").addEventListener("click", () => submitEdit("save"));
  window.addEventListener("hashchange", route);
  state.view = parseRoute().view; // the first refresh draws the table only when it is shown
  await refresh();
  route();
  warmCharts();
}

document.addEventListener("DOMContentLoaded", start);
