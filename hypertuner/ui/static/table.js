// The runs table: status chips and a text filter choose the runs shown; the config columns are
// the keys that vary among those runs, strongest relation to the chosen metric first (Spearman's
// rank correlation for numbers and booleans, the correlation ratio of the metric's ranks for other
// values); the name column stays in view; a sweep's trials are grouped under one folding row
// that gives their counts and the best trial.
"use strict";

const DEFAULT_KEYS = 10; // config columns shown before "N more keys"
const PAGE = 200; // rows drawn at once in a group; more as the table is scrolled to its end
let moreObserver = null;

function searchText(row) {
  const parts = [row.name, row.status, row.error || "", row.sweep ? `sweep=${row.sweep}` : ""];
  for (const [key, value] of Object.entries(row.config || {})) {
    parts.push(`${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  return parts.join(" ").toLowerCase();
}

function filterActive() {
  return state.filter.trim() !== "" || state.statuses.size > 0;
}

// The runs the table shows: those of a pressed status chip (any when none is) that contain every
// word of the filter (in their name, status, error, sweep or key=value text).
function filteredRuns() {
  const words = state.filter.trim().toLowerCase().split(/\s+/).filter(Boolean);
  return state.runs.filter((row) =>
    (!state.statuses.size || state.statuses.has(row.status)) &&
    words.every((word) => row._search.includes(word)));
}

// --- which keys matter ----------------------------------------------------------------------------

function isRunKey(key) {
  return key === "run" || key.startsWith("run.");
}

// Every config key of `rows`, and whether it varies among them (two values, or set in some only).
function configKeys(rows) {
  const seen = new Map();
  let withConfig = 0;
  for (const row of rows) {
    const config = row.config || {};
    let any = false;
    for (const [key, value] of Object.entries(config)) {
      if (isRunKey(key)) continue;
      any = true;
      let entry = seen.get(key);
      if (!entry) seen.set(key, (entry = { values: new Set(), count: 0 }));
      entry.values.add(JSON.stringify(value));
      entry.count += 1;
    }
    if (any) withConfig += 1;
  }
  // One run alone: nothing varies, so all its keys are candidates (its config is what there is to see).
  const alone = rows.length === 1;
  return [...seen].map(([key, entry]) => ({ key, varies: alone || entry.values.size > 1 || entry.count < withConfig }));
}

// Average ranks (1-based), ties sharing their mean rank.
function ranks(values) {
  const order = values.map((v, i) => [v, i]).sort((a, b) => a[0] - b[0]);
  const out = new Array(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j += 1;
    const mean = (i + j) / 2 + 1;
    for (let k = i; k <= j; k += 1) out[order[k][1]] = mean;
    i = j + 1;
  }
  return out;
}

function pearson(x, y) {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i += 1) { mx += x[i]; my += y[i]; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i += 1) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  return sxx && syy ? sxy / Math.sqrt(sxx * syy) : null;
}

// How strongly config key `key` relates to the chosen metric over `rows`: {score, label, title}
// or null (fewer than 3 runs with both, one value only, or a value per run).
function importance(rows, key) {
  const xs = [], ys = [];
  for (const row of rows) {
    const y = metricValue(row);
    const x = own(row.config, key);
    if (y === null || x === undefined) continue;
    xs.push(x);
    ys.push(y);
  }
  if (xs.length < 3) return null;
  const metric = state.metric.tag;
  const ry = ranks(ys);
  if (xs.every((v) => typeof v === "number" || typeof v === "boolean")) {
    const rho = pearson(ranks(xs.map(Number)), ry);
    if (rho === null) return null;
    return {
      score: Math.abs(rho), label: `\u03c1 ${rho.toFixed(2)}`,
      title: `Spearman rank correlation of ${key} with ${metric} over ${xs.length} runs: ${rho.toFixed(3)} ` +
        "(from -1 to 1; far from 0: the key matters more)",
    };
  }
  const groups = new Map();
  xs.forEach((v, i) => {
    const k = JSON.stringify(v);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(ry[i]);
  });
  if (groups.size < 2 || groups.size > xs.length / 2) return null;
  const mean = (ry.length + 1) / 2;
  let total = 0, between = 0;
  for (const r of ry) total += (r - mean) ** 2;
  for (const group of groups.values()) {
    const m = group.reduce((a, b) => a + b, 0) / group.length;
    between += group.length * (m - mean) ** 2;
  }
  if (!total) return null;
  const eta = Math.sqrt(between / total);
  return {
    score: eta, label: `\u03b7 ${eta.toFixed(2)}`,
    title: `Correlation ratio of ${metric}'s ranks across the ${groups.size} values of ${key} over ${xs.length} runs: ` +
      `${eta.toFixed(3)} (from 0 to 1; higher: the key matters more)`,
  };
}

// The config keys of `rows` that vary, ordered by importance (strongest first, then by name).
function rankedKeys(rows, { all = false } = {}) {
  const keys = configKeys(rows).filter((k) => all || k.varies);
  const scored = keys.map(({ key }) => ({ key, importance: importance(rows, key) }));
  scored.sort((a, b) => {
    const sa = a.importance ? a.importance.score : -1, sb = b.importance ? b.importance.score : -1;
    return sb - sa || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  });
  return scored;
}

function tableColumns(rows) {
  const ranked = rankedKeys(rows, { all: state.allKeys });
  const shown = [], hidden = [];
  ranked.forEach((item, index) => {
    const choice = state.keyChoice.get(item.key);
    const show = state.allKeys ? choice !== false : choice === true || (choice === undefined && index < DEFAULT_KEYS);
    (show ? shown : hidden).push(item);
  });
  const tags = metricTags();
  const chosen = state.metric.tag;
  const ordered = chosen && tags.includes(chosen) ? [chosen, ...tags.filter((t) => t !== chosen)] : tags;
  const cols = [
    { key: "status", label: "status", get: (r) => r.status },
    { key: "start_time", label: "start", get: (r) => r.start_time, show: formatTime },
    { key: "duration_s", label: "duration", get: duration, show: formatDuration, num: true },
    ...shown.map(({ key, importance: imp }) => ({
      key: `config:${key}`, label: key, group: "config", importance: imp, get: (r) => own(r.config, key),
    })),
    ...ordered.map((tag) => ({
      key: `metric:${tag}`, label: tag, group: "metric", chosen: tag === chosen, get: (r) => lastValue(r, tag), num: true,
    })),
  ];
  return { cols, ranked, shown, hidden };
}

// --- drawing ----------------------------------------------------------------------------------------

function compareValues(a, b) {
  const an = a === null || a === undefined || a === "", bn = b === null || b === undefined || b === "";
  if (an || bn) return an && bn ? 0 : an ? 1 : -1; // empty cells last, either way
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(formatValue(a)).localeCompare(String(formatValue(b)), undefined, { numeric: true });
}

function sortRows(rows, cols) {
  const col = cols.find((c) => c.key === state.sort.key) || cols[1];
  return [...rows].sort((a, b) => {
    const byValue = state.sort.key === "name" ? a.name.localeCompare(b.name, undefined, { numeric: true })
      : compareValues(col.get(a), col.get(b));
    const empty = col.get(a) === null || col.get(a) === undefined || col.get(b) === null || col.get(b) === undefined;
    return (empty ? byValue : byValue * state.sort.dir) || a.name.localeCompare(b.name, undefined, { numeric: true });
  });
}

function bestOf(rows) {
  let best = null, value = null;
  for (const row of rows) {
    const v = metricValue(row);
    if (v !== null && (value === null || better(v, value))) { best = row; value = v; }
  }
  return best;
}

function headerCell(col) {
  const sorted = state.sort.key === col.key;
  const th = el("th", {
    scope: "col",
    "data-key": col.key,
    className: [col.group ? `group-${col.group}` : "", col.chosen ? "chosen" : ""].join(" ").trim(),
    "aria-sort": sorted ? (state.sort.dir > 0 ? "ascending" : "descending") : "none",
    title: col.group === "metric"
      ? `last value of ${col.label}${col.chosen ? `; the metric ranked by (${state.metric.mode === "max" ? "higher" : "lower"} is better)` : ""}`
      : col.group === "config" ? (col.importance ? col.importance.title : `config key ${col.label} (no relation to ${state.metric.tag || "a metric"} measured)`) : null,
  }, el("span", { className: "label", text: col.label }));
  if (col.group === "config") {
    th.append(el("span", { className: "importance", text: col.importance ? col.importance.label : "\u2014" }));
  }
  th.addEventListener("click", () => {
    state.sort = { key: col.key, dir: sorted ? -state.sort.dir : col.group === "metric" && state.metric.mode === "max" ? -1 : 1 };
    renderRuns();
  });
  return th;
}

function nameCell(row, { best = false, sweepBest = false } = {}) {
  const checked = state.selected.has(row.name);
  const box = el("input", { type: "checkbox", "aria-label": `select ${row.name}`, "data-run": row.name });
  box.checked = checked;
  box.disabled = !row.config || !Object.keys(row.config).length && row.status === "starting";
  box.addEventListener("change", () => {
    if (box.checked) state.selected.add(row.name);
    else state.selected.delete(row.name);
    box.closest("tr").classList.toggle("selected", box.checked);
    updateButtons();
  });
  const edit = el("button", { type: "button", className: "secondary small", text: "Edit", "data-edit": row.name, title: `edit ${row.name}'s config and launch a new run` });
  edit.disabled = row.status === "starting" || (row.status === "failed" && !Object.keys(row.config || {}).length);
  edit.addEventListener("click", () => openEdit(row.name));
  const cell = el("th", { scope: "row", className: "name" }, box, " ",
    row.status === "starting" && !Object.keys(row.config || {}).length ? el("span", { text: row.name }) : runLink(row.name));
  if (best) cell.append(" ", el("span", { className: "badge best", text: "\u2605 best", title: `best ${state.metric.tag} among the runs shown` }));
  if (sweepBest) cell.append(" ", el("span", { className: "badge trial-best", text: "best trial", title: "the sweep's best trial" }));
  cell.append(" ", edit);
  return cell;
}

function runRow(row, cols, styles, marks) {
  const tr = el("tr", { "data-run": row.name, className: state.selected.has(row.name) ? "selected" : "" });
  if (row.sweep) tr.dataset.sweep = row.sweep;
  if (state.fresh.has(row.name)) tr.classList.add("fresh");
  tr.append(nameCell(row, marks));
  cols.forEach((col, i) => {
    const value = col.get(row);
    const number = typeof value === "number";
    const td = el("td", { className: col.num || number ? "num" : "" });
    if (col.key === "status") {
      td.className = `status status-${row.status}`;
      td.append(statusChip(row.status, row.error || null));
    } else {
      td.textContent = col.show ? col.show(value) : formatValue(value, styles[i]);
      if (number && !col.show) td.title = fullNumber(value);
      else if (typeof value === "string" && value.length > 40) td.title = value;
    }
    if (col.chosen) td.classList.add("chosen");
    tr.append(td);
  });
  return tr;
}

// Draw rows[start...] of a group into `body`, PAGE at a time (at least as many as were drawn
// before a refresh); a last row offers the rest, and is clicked by itself when scrolled into view.
function appendRows(body, group, rows, start, table, marks) {
  const drawn = start ? start + PAGE : Math.max(PAGE, state.drawn.get(group) || 0);
  const end = Math.min(rows.length, drawn);
  state.drawn.set(group, end);
  const chunk = document.createDocumentFragment();
  for (let i = start; i < end; i += 1) chunk.append(runRow(rows[i], table.cols, table.styles, marks(rows[i])));
  const old = body.querySelector("tr.more");
  if (old) { if (moreObserver) moreObserver.unobserve(old); old.remove(); }
  body.append(chunk);
  if (end >= rows.length) return;
  const left = rows.length - end;
  const button = el("button", { type: "button", className: "secondary small", "data-more": group,
    text: `Show ${Math.min(PAGE, left)} more (${left} not drawn yet)` });
  const more = el("tr", { className: "more" }, el("td", { colspan: String(table.width) }, button));
  button.addEventListener("click", () => appendRows(body, group, rows, end, table, marks));
  body.append(more);
  if (!moreObserver && "IntersectionObserver" in window) {
    moreObserver = new IntersectionObserver((entries) => {
      for (const entry of entries) if (entry.isIntersecting) entry.target.querySelector("button").click();
    }, { root: $("table-wrap"), rootMargin: "200px" });
  }
  if (moreObserver) moreObserver.observe(more);
}

function sweepOpen(name) {
  if (state.expanded.has(name)) return true;
  return filterActive() && !state.collapsed.has(name);
}

function groupHead(sweep, rows, width) {
  const open = sweepOpen(sweep.name);
  const counts = new Map();
  for (const [run, trial] of Object.entries(sweep.trials)) {
    const row = state.byName.get(run);
    const status = row ? row.status : trial.status;
    counts.set(status, (counts.get(status) || 0) + 1);
  }
  const total = Object.keys(sweep.trials).length;
  const toggle = el("button", {
    type: "button", className: "toggle", "aria-expanded": String(open), "data-sweep": sweep.name,
    title: open ? "fold the trials" : "show the trials",
  }, el("span", { className: "caret", text: open ? "\u25be" : "\u25b8" }), ` sweep ${sweep.name}`);
  toggle.addEventListener("click", () => {
    if (open) { state.expanded.delete(sweep.name); state.collapsed.add(sweep.name); }
    else { state.expanded.add(sweep.name); state.collapsed.delete(sweep.name); }
    renderRuns();
  });
  const summary = el("div", { className: "group-summary" }, toggle,
    el("span", { className: "trial-count", text: `${total}${sweep.n_trials && sweep.n_trials !== total ? ` of ${sweep.n_trials}` : ""} trials` }));
  for (const status of [...counts.keys()].sort()) {
    summary.append(el("span", { className: `chip small status-${status}`, "data-count": status, text: `${counts.get(status)} ${status}` }));
  }
  if (rows.length !== total) summary.append(el("span", { className: "muted", text: `${rows.length} shown` }));
  if (sweep.best) {
    const label = sweep.metric || "value";
    const best = el("span", { className: "sweep-best", "data-best": sweep.best.run }, "best: ", runLink(sweep.best.run),
      ` (${label} ${formatNumber(sweep.best.value, numberStyle([sweep.best.value]))})`);
    best.title = `trial ${sweep.best.index}: ${label} ${fullNumber(sweep.best.value)}, ${sweep.mode === "max" ? "highest" : "lowest"} of the sweep`;
    summary.append(best);
  } else {
    summary.append(el("span", { className: "muted", text: "no finished trial yet" }));
  }
  summary.append(el("a", { href: `#/explore?sweep=${encodeURIComponent(sweep.name)}`, className: "explore-link", "data-explore": sweep.name, text: "explore" }));
  for (const problem of sweep.problems || []) summary.append(el("span", { className: "warning", text: problem }));
  const cell = el("td", { colspan: String(width) }, summary);
  return el("tr", { className: "group-head", "data-group": sweep.name }, cell);
}

function renderRuns() {
  const started = performance.now();
  if (moreObserver) moreObserver.disconnect();
  const table = $("runs-table");
  const rows = filteredRuns();
  const { cols, ranked, shown, hidden } = tableColumns(rows);
  const styles = cols.map((col) => (col.num || col.group ? numberStyle(rows.map(col.get)) : "plain"));

  const head = el("tr", {}, (() => {
    const th = el("th", { scope: "col", className: "name", "data-key": "name", "aria-sort": state.sort.key === "name" ? (state.sort.dir > 0 ? "ascending" : "descending") : "none" }, el("span", { className: "label", text: "name" }));
    th.addEventListener("click", () => { state.sort = { key: "name", dir: state.sort.key === "name" ? -state.sort.dir : 1 }; renderRuns(); });
    return th;
  })());
  for (const col of cols) head.append(headerCell(col));
  table.tHead.replaceChildren(head);

  const best = bestOf(rows);
  const width = cols.length + 1;
  const bodies = [];
  const inSweep = new Map();
  const loose = [];
  for (const row of rows) {
    if (row.sweep && state.sweepByName.has(row.sweep)) {
      if (!inSweep.has(row.sweep)) inSweep.set(row.sweep, []);
      inSweep.get(row.sweep).push(row);
    } else {
      loose.push(row);
    }
  }
  for (const sweep of state.sweeps) {
    const members = inSweep.get(sweep.name);
    if (!members) continue;
    const body = el("tbody", { className: "sweep", "data-sweep": sweep.name });
    body.append(groupHead(sweep, members, width));
    if (sweepOpen(sweep.name)) {
      const bestTrial = sweep.best ? sweep.best.run : null;
      appendRows(body, `sweep:${sweep.name}`, sortRows(members, cols), 0, { cols, styles, width },
        (row) => ({ best: row === best, sweepBest: row.name === bestTrial }));
    }
    bodies.push(body);
  }
  if (loose.length) {
    const body = el("tbody", { className: "runs" });
    if (bodies.length) {
      body.append(el("tr", { className: "group-head plain" }, el("td", { colspan: String(width) },
        el("div", { className: "group-summary", text: `${loose.length} run${loose.length === 1 ? "" : "s"} outside sweeps` }))));
    }
    appendRows(body, "runs", sortRows(loose, cols), 0, { cols, styles, width }, (row) => ({ best: row === best }));
    bodies.push(body);
  }
  for (const body of [...table.tBodies]) body.remove();
  table.append(...bodies);
  state.fresh.clear();

  $("count").textContent = `${rows.length} of ${state.runs.length} runs`;
  const empty = $("empty");
  empty.hidden = rows.length > 0;
  empty.textContent = state.runs.length
    ? "No run matches the filter and the status chips."
    : `No runs in ${state.storage} yet. Start one with a script that calls hypertuner.parse() (python train.py); it appears here while it runs.`;
  renderChips();
  renderKeyChooser(ranked, shown, hidden);
  $("keys-note").textContent = state.metric.tag
    ? `Config columns: the keys that vary among the ${rows.length} runs shown, the strongest relation to ${state.metric.tag} first.`
    : "Config columns: the keys that vary among the runs shown.";
  updateButtons();
  if (!state.drawnOnce) {
    state.drawnOnce = true;
    afterPaint().then(() => performance.mark("ht:table-drawn"));
  }
  return started;
}

function renderChips() {
  const counts = new Map();
  for (const row of state.runs) counts.set(row.status, (counts.get(row.status) || 0) + 1);
  const statuses = [...STATUSES, ...[...counts.keys()].filter((s) => !STATUSES.includes(s)).sort()];
  const box = $("status-chips");
  box.replaceChildren(...statuses.map((status) => {
    const pressed = state.statuses.has(status);
    const chip = el("button", {
      type: "button", className: `chip status-${status}`, "data-status": status, "aria-pressed": String(pressed),
      title: pressed ? `showing ${status} runs; click to stop filtering by it` : `show only ${status} runs (with the other chips pressed)`,
    }, status, el("span", { className: "n", text: String(counts.get(status) || 0) }));
    chip.addEventListener("click", () => {
      if (state.statuses.has(status)) state.statuses.delete(status);
      else state.statuses.add(status);
      renderRuns();
    });
    return chip;
  }));
}

function renderKeyChooser(ranked, shown, hidden) {
  const summary = $("more-keys-summary");
  summary.textContent = hidden.length ? `${hidden.length} more key${hidden.length === 1 ? "" : "s"}` : "choose keys";
  const shownKeys = new Set(shown.map((s) => s.key));
  const list = $("key-chooser");
  list.replaceChildren(...ranked.map(({ key, importance: imp }) => {
    const box = el("input", { type: "checkbox", "data-key": key });
    box.checked = shownKeys.has(key);
    box.addEventListener("change", () => { state.keyChoice.set(key, box.checked); renderRuns(); });
    return el("label", { className: "key-choice", title: imp ? imp.title : "" }, box, el("span", { text: key }),
      el("span", { className: "importance", text: imp ? imp.label : "\u2014" }));
  }));
  if (!ranked.length) list.append(el("p", { className: "muted", text: "No config key varies among the runs shown." }));
}

function updateButtons() {
  for (const name of [...state.selected]) if (!state.byName.has(name)) state.selected.delete(name);
  const button = $("compare-button");
  button.disabled = state.selected.size < 2;
  button.textContent = state.selected.size >= 2 ? `Compare ${state.selected.size} runs` : "Compare selected";
}

function startTable() {
  // ht:filter: from the keystroke (its event's time, so a wait behind other work counts) to the
  // table painted.
  let keyAt = null;
  $("filter").addEventListener("keydown", (e) => { keyAt ??= e.timeStamp; });
  $("filter").addEventListener("keyup", () => { keyAt = null; }); // a key that typed nothing
  $("filter").addEventListener("input", (e) => {
    const started = Math.min(e.timeStamp, keyAt ?? Infinity);
    keyAt = null;
    state.filter = e.target.value;
    renderRuns();
    afterPaint().then(() => performance.measure("ht:filter", { start: started, end: performance.now() }));
  });
  $("all-keys").addEventListener("change", (e) => { state.allKeys = e.target.checked; renderRuns(); });
  $("table-metric").addEventListener("change", (e) => { setMetric(e.target.value); renderRuns(); });
  $("table-mode").addEventListener("change", (e) => { setMetric(state.metric.tag, e.target.value); renderRuns(); });
  $("compare-button").addEventListener("click", () => {
    location.hash = `#/explore?runs=${[...state.selected].map(encodeURIComponent).join(",")}`;
  });
  $("explore-button").addEventListener("click", () => {
    state.exploreShown = filteredRuns().map((r) => r.name);
    location.hash = "#/explore";
  });
}
