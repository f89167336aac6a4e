// The hypertuner page: runs table, compare, edit and launch. Plain DOM, no build step, no CDN.
"use strict";

const state = {
  token: "",
  storage: "",
  launch: true,
  runs: [],
  sort: { key: "start_time", dir: 1 },
  filter: "",
  allKeys: false,
  selected: new Set(),
  fresh: new Set(),
  compare: null, // {names, metric}
  edit: null, // {source, types}
  pending: null, // {source, body}: the launch shown for confirmation
  timer: null,
};

const LIVE = new Set(["running", "starting"]);
const COLORS = ["#2456c9", "#d9480f", "#2b8a3e", "#ae3ec9", "#1098ad", "#e03131", "#5c940d", "#f08c00"];
const SVG = "http://www.w3.org/2000/svg";
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

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

class ApiError extends Error {
  constructor(message, key) {
    super(message);
    this.key = key || null;
  }
}

async function api(path, body) {
  const options = { headers: { "X-Hypertuner-Token": state.token }, cache: "no-store" };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try {
    data = bare(await response.json());
  } catch (err) {
    throw new ApiError(`The server answered ${response.status} without JSON.`);
  }
  if (!response.ok) throw new ApiError(data.error || `The server answered ${response.status}.`, data.key);
  return data;
}

function show(message, isError = false) {
  const box = $("message");
  box.textContent = message;
  box.className = isError ? "error" : "";
  box.hidden = !message;
}

function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(3) : String(+value.toPrecision(5));
  }
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

function lastValue(row, tag) {
  const entry = own(row.metrics, tag);
  return entry ? entry.last : null;
}

// --- runs table -------------------------------------------------------------------------------

function columns() {
  const runs = state.runs;
  const keys = new Map();
  for (const row of runs) for (const [key, value] of Object.entries(row.config || {})) {
    if (key === "run" || key.startsWith("run.")) continue;
    if (!keys.has(key)) keys.set(key, new Set());
    keys.get(key).add(JSON.stringify(value));
  }
  let configKeys = [...keys.keys()].sort();
  if (!state.allKeys && runs.length > 1) {
    configKeys = configKeys.filter((k) => keys.get(k).size > 1 ||
      runs.some((row) => row.config && Object.keys(row.config).length && !Object.hasOwn(row.config, k)));
    configKeys = configKeys.slice(0, 12);
  } else if (!state.allKeys) {
    configKeys = configKeys.slice(0, 8);
  }
  const tags = new Set();
  for (const row of runs) for (const tag of Object.keys(row.metrics || {})) tags.add(tag);
  return [
    { key: "name", label: "name", get: (r) => r.name },
    { key: "status", label: "status", get: (r) => r.status },
    { key: "start_time", label: "start", get: (r) => r.start_time, show: formatTime },
    { key: "duration_s", label: "duration", get: duration, show: formatDuration, num: true },
    ...configKeys.map((k) => ({
      key: `config:${k}`, label: k, group: "config", get: (r) => own(r.config, k),
    })),
    ...[...tags].sort().map((t) => ({
      key: `metric:${t}`, label: t, group: "metric", get: (r) => lastValue(r, t), num: true,
    })),
  ];
}

function compareValues(a, b) {
  const an = a === null || a === undefined || a === "", bn = b === null || b === undefined || b === "";
  if (an || bn) return an && bn ? 0 : an ? 1 : -1; // empty cells last, either way
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(formatValue(a)).localeCompare(String(formatValue(b)), undefined, { numeric: true });
}

function visibleRuns(cols) {
  const needle = state.filter.trim().toLowerCase();
  let rows = state.runs;
  if (needle) {
    rows = rows.filter((row) => {
      const text = [row.name, row.status, row.error || "",
        ...cols.slice(4).map((c) => formatValue(c.get(row)))].join(" ").toLowerCase();
      return needle.split(/\s+/).every((word) => text.includes(word));
    });
  }
  const col = cols.find((c) => c.key === state.sort.key) || cols[2];
  const dir = state.sort.dir;
  return [...rows].sort((x, y) => {
    const a = col.get(x), b = col.get(y);
    const empty = (v) => v === null || v === undefined || v === "";
    if (empty(a) || empty(b)) return compareValues(a, b);
    return dir * compareValues(a, b) || x.name.localeCompare(y.name);
  });
}

function renderRuns() {
  const cols = columns();
  const table = $("runs-table");
  const head = el("tr", {}, el("th", { scope: "col", "aria-label": "select" }));
  for (const col of cols) {
    const sorted = state.sort.key === col.key;
    const th = el("th", {
      scope: "col",
      "data-key": col.key,
      className: col.group ? `group-${col.group}` : "",
      "aria-sort": sorted ? (state.sort.dir > 0 ? "ascending" : "descending") : "none",
      title: col.group === "metric" ? `last value of ${col.label}` : col.group === "config" ? `config key ${col.label}` : null,
      text: col.label,
    });
    th.addEventListener("click", () => {
      state.sort = { key: col.key, dir: sorted ? -state.sort.dir : 1 };
      renderRuns();
    });
    head.append(th);
  }
  head.append(el("th", { scope: "col" }));
  table.tHead.replaceChildren(head);

  const rows = visibleRuns(cols);
  const body = document.createDocumentFragment();
  for (const row of rows) {
    const checked = state.selected.has(row.name);
    const box = el("input", { type: "checkbox", "aria-label": `select ${row.name}`, "data-run": row.name });
    box.checked = checked;
    box.disabled = !row.config || !Object.keys(row.config).length && row.status === "starting";
    box.addEventListener("change", () => {
      if (box.checked) state.selected.add(row.name);
      else state.selected.delete(row.name);
      tr.classList.toggle("selected", box.checked);
      updateButtons();
    });
    const tr = el("tr", { "data-run": row.name, className: checked ? "selected" : "" }, el("td", {}, box));
    if (state.fresh.has(row.name)) tr.classList.add("fresh");
    for (const col of cols) {
      const value = col.get(row);
      const td = el("td", { className: col.num || typeof value === "number" ? "num" : "" });
      td.textContent = col.show ? col.show(value) : formatValue(value);
      if (col.key === "status") {
        td.className = `status status-${row.status}`;
        if (row.error) td.title = row.error;
      }
      tr.append(td);
    }
    const edit = el("button", { type: "button", className: "secondary", text: "Edit", "data-edit": row.name });
    edit.disabled = row.status === "starting" || (row.status === "failed" && !Object.keys(row.config || {}).length);
    edit.addEventListener("click", () => openEdit(row.name));
    tr.append(el("td", {}, edit));
    body.append(tr);
  }
  table.tBodies[0].replaceChildren(body);
  state.fresh.clear();
  $("count").textContent = `${rows.length} of ${state.runs.length} runs`;
  const empty = $("empty");
  empty.hidden = state.runs.length > 0;
  empty.textContent = `No runs in ${state.storage} yet. Start one with a script that calls ` +
    "hypertuner.parse() (python train.py); it appears here while it runs.";
  updateButtons();
}

function updateButtons() {
  for (const name of [...state.selected]) if (!state.runs.some((r) => r.name === name)) state.selected.delete(name);
  const button = $("compare-button");
  button.disabled = state.selected.size < 2;
  button.textContent = state.selected.size >= 2 ? `Compare ${state.selected.size} runs` : "Compare selected";
}

async function refresh() {
  clearTimeout(state.timer);
  let live = false;
  try {
    const data = await api("/api/runs");
    state.storage = data.storage;
    state.launch = data.launch;
    state.runs = data.runs;
    $("storage").textContent = data.storage + (data.launch ? "" : " (launching turned off)");
    live = data.runs.some((r) => LIVE.has(r.status));
    $("live").textContent = live ? "runs live: refreshing every 2 s" : "";
    renderRuns();
    if (state.edit) updateEditLog();
  } catch (err) {
    show(err.message, true);
  }
  state.timer = setTimeout(refresh, live ? 2000 : 10000);
}

// --- compare ----------------------------------------------------------------------------------

async function openCompare(metric) {
  const names = state.compare ? state.compare.names : [];
  let query = names.map((n) => `run=${encodeURIComponent(n)}`).join("&");
  if (metric) query += `&metric=${encodeURIComponent(metric)}`;
  try {
    const data = await api(`/api/compare?${query}`);
    state.compare = { names: data.runs, metric: data.metric };
    renderCompare(data);
    $("compare").hidden = false;
    $("compare").scrollIntoView({ block: "nearest" });
  } catch (err) {
    show(err.message, true);
  }
}

function renderCompare(data) {
  const table = $("diff-table");
  table.tHead.replaceChildren(el("tr", {}, el("th", { text: "key" }), ...data.runs.map((n) => el("th", { text: n }))));
  const body = document.createDocumentFragment();
  for (const [key, values] of data.diff) {
    body.append(el("tr", { "data-key": key }, el("th", { scope: "row", text: key }),
      ...values.map((v) => el("td", { text: v === null ? "—" : formatValue(v) }))));
  }
  table.tBodies[0].replaceChildren(body);
  $("diff-empty").hidden = data.diff.length > 0;

  const select = $("metric-select");
  select.replaceChildren(...data.metrics.map((m) => el("option", { value: m, text: m })));
  if (data.metric) select.value = data.metric;
  select.disabled = !data.metrics.length;
  $("chart-title").textContent = data.metric ? `${data.metric} by step` : "No metrics logged";
  drawChart($("chart"), data.runs, data.series);
  const warn = $("compare-warnings");
  warn.hidden = !data.warnings.length;
  warn.textContent = data.warnings.join("\n");
  $("board-command").textContent = data.board.command;
  $("board-regex").textContent = data.board.regex;
}

function niceTicks(min, max, count = 5, integer = false) {
  if (min === max) { min -= Math.abs(min) * 0.1 || 1; max += Math.abs(max) * 0.1 || 1; }
  const raw = (max - min) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  if (integer) step = Math.max(1, Math.round(step));
  const ticks = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return { min: Math.min(min, ticks[0]), max: Math.max(max, ticks[ticks.length - 1]), ticks };
}

function drawChart(container, names, series) {
  const width = 760, height = 340, left = 64, right = 16, top = 14, bottom = 58;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "metric curves" });
  let xs = [], ys = [];
  for (const name of names) {
    const s = own(series, name) || { steps: [], values: [] };
    s.steps.forEach((step, i) => { if (s.values[i] !== null) { xs.push(step); ys.push(s.values[i]); } });
  }
  if (!xs.length) {
    const text = svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" });
    text.textContent = "No values of this metric in the selected runs.";
    root.append(text);
    container.replaceChildren(root);
    return;
  }
  const xt = niceTicks(Math.min(...xs), Math.max(...xs), 6, true);
  const yt = niceTicks(Math.min(...ys), Math.max(...ys));
  const px = (x) => left + ((x - xt.min) / (xt.max - xt.min || 1)) * (width - left - right);
  const py = (y) => top + (1 - (y - yt.min) / (yt.max - yt.min || 1)) * (height - top - bottom);
  for (const t of yt.ticks) {
    root.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: py(t), y2: py(t) }));
    const label = svg("text", { x: left - 6, y: py(t) + 4, "text-anchor": "end" });
    label.textContent = formatValue(t);
    root.append(label);
  }
  for (const t of xt.ticks) {
    const label = svg("text", { x: px(t), y: height - bottom + 16, "text-anchor": "middle" });
    label.textContent = formatValue(t);
    root.append(label);
  }
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }));
  root.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }));
  const legend = svg("g", { class: "legend" });
  let lx = left;
  names.forEach((name, index) => {
    const color = COLORS[index % COLORS.length];
    const s = own(series, name) || { steps: [], values: [] };
    let d = "", pen = "M";
    s.steps.forEach((step, i) => {
      const v = s.values[i];
      if (v === null) { pen = "M"; return; }
      d += `${pen}${px(step).toFixed(1)},${py(v).toFixed(1)}`;
      pen = "L";
    });
    const path = svg("path", { class: "line", d: d || "M0,0", stroke: color, "data-run": name });
    const title = svg("title");
    title.textContent = `${name}: ${s.steps.length} points`;
    path.append(title);
    root.append(path);
    if (s.steps.length === 1) {
      root.append(svg("circle", { cx: px(s.steps[0]), cy: py(s.values[0] ?? 0), r: 3, fill: color }));
    }
    const y = height - 18;
    legend.append(svg("rect", { x: lx, y: y - 9, width: 14, height: 4, fill: color }));
    const text = svg("text", { x: lx + 19, y: y - 4 });
    text.textContent = name;
    legend.append(text);
    lx += 32 + name.length * 7;
  });
  root.append(legend);
  container.replaceChildren(root);
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
    show(`Started run ${data.name} (process ${data.pid}); its status shows in the table. Output: ${data.log}`);
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

async function openEdit(name) {
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
  } catch (err) {
    show(err.message, true);
  }
}

function updateEditLog(text) {
  const log = $("edit-log");
  if (text === undefined) {
    const row = state.edit && state.runs.find((r) => r.name === state.edit.source);
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

function start() {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  if (given) {
    sessionStorage.setItem("hypertuner-token", given);
    history.replaceState(null, "", location.pathname); // keep the token out of the address bar
  }
  state.token = given || sessionStorage.getItem("hypertuner-token") || "";
  if (!state.token) {
    show("Open the address that 'hypertuner ui' printed: it ends in ?token=... and lets this page read your runs.", true);
    return;
  }
  $("filter").addEventListener("input", (e) => { state.filter = e.target.value; renderRuns(); });
  $("all-keys").addEventListener("change", (e) => { state.allKeys = e.target.checked; renderRuns(); });
  $("compare-button").addEventListener("click", () => {
    const metric = state.compare ? state.compare.metric : null;
    state.compare = { names: [...state.selected], metric };
    openCompare(metric);
  });
  $("metric-select").addEventListener("change", (e) => openCompare(e.target.value));
  $("compare-close").addEventListener("click", () => { $("compare").hidden = true; state.compare = null; });
  $("edit-close").addEventListener("click", () => { $("edit").hidden = true; state.edit = null; hideConfirm(); });
  $("edit-form").addEventListener("submit", (e) => { e.preventDefault(); submitEdit("launch"); });
  $("edit-form").addEventListener("input", hideConfirm); // an edit after showing: ask again
  $("confirm-launch").addEventListener("click", confirmLaunch);
  $("confirm-cancel").addEventListener("click", hideConfirm);
  $("save-button").addEventListener("click", () => submitEdit("save"));
  refresh();
}

document.addEventListener("DOMContentLoaded", start);
