// A run's page (#/run/<name>) and the explore view (#/explore): parallel coordinates with
// brushing, a key-against-metric scatter and the curves of any metric. Every chart is plotly.js.
"use strict";

const explore = {
  names: [], // the runs explored
  title: "",
  brushed: null, // Set of run names inside every brushed range, or null (no brush)
  dims: [], // the parallel-coordinates axes: {key, values, codes?}
  rows: [],
  curvesFor: "", // the runs and metric the drawn curves belong to
  openedAt: null, // when the view was asked for (performance time), until its chart is drawn
  warming: null, // the idle-time draw that readies the chart's WebGL contexts (warmParcoords)
  warmWidth: null, // the width of that draw, until the first real one
};

// --- charts -------------------------------------------------------------------------------------

// TensorBoard's smoothing: an exponential moving average, debiased at the start.
function smooth(values, weight) {
  if (!weight) return values;
  const out = [];
  let last = 0, count = 0;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) { out.push(null); continue; }
    count += 1;
    last = last * weight + (1 - weight) * v;
    out.push(last / (1 - weight ** count));
  }
  return out;
}

// Plotly traces of some curves: {name: {steps, values}}, smoothed, each run in its colour.
function curveTraces(series, names, tag, weight) {
  const traces = [];
  names.forEach((name, index) => {
    const s = own(series, name);
    if (!s || !s.steps.length) return;
    const color = COLORS[index % COLORS.length];
    const style = numberStyle(s.values);
    const hover = s.values.map((v) => (v === null ? "" : `${formatNumber(v, style)} (${fullNumber(v)})`));
    if (weight) {
      traces.push({ type: "scatter", mode: "lines", x: s.steps, y: s.values, name: plotText(name), legendgroup: name,
        showlegend: false, hoverinfo: "skip", line: { color, width: 1 }, opacity: 0.25 });
    }
    traces.push({
      type: "scatter", mode: s.steps.length === 1 ? "markers" : "lines", x: s.steps, y: smooth(s.values, weight),
      name: plotText(name), legendgroup: name, line: { color, width: 2 }, customdata: hover,
      hovertemplate: `${plotText(name)}<br>step %{x}<br>${plotText(tag)} %{customdata}` +
        (weight ? "<br>smoothed %{y:.4g}" : "") + "<extra></extra>",
    });
  });
  return traces;
}

function curveLayout(tag, logY, title, legend = true) {
  return {
    title: title ? { text: plotText(title), font: { size: 14 } } : undefined,
    margin: { l: 64, r: 16, t: title ? 36 : 12, b: 48 },
    height: 320,
    xaxis: { title: { text: "step" }, zeroline: false },
    yaxis: { title: { text: plotText(tag) }, type: logY ? "log" : "linear", exponentformat: "e" },
    hovermode: "closest",
    showlegend: legend,
    font: { family: "system-ui, sans-serif", size: 12 },
  };
}

async function drawCurves(container, series, names, tag, { weight = 0, logY = false, title = "" } = {}) {
  let Plotly;
  try {
    Plotly = await loadPlotly();
  } catch (err) {
    chartsMissing(container);
    return;
  }
  const traces = curveTraces(series, names, tag, weight);
  if (!traces.length) {
    Plotly.purge(container);
    container.replaceChildren(el("p", { className: "muted", text: `No values of ${tag} in these runs.` }));
    return;
  }
  if (!container.classList.contains("js-plotly-plot")) container.replaceChildren();
  await Plotly.react(container, traces, curveLayout(tag, logY, title, names.length > 1), PLOT_CONFIG);
}

function chartControls() {
  return { weight: Number($("smoothing").value), logY: $("log-y").checked };
}

// --- a run's page -------------------------------------------------------------------------------

const runPage = { name: null, data: null, curves: null };

async function openRun(name) {
  runPage.name = name;
  document.title = `${name} · hypertuner`;
  $("run-title").textContent = name;
  $("run-body").hidden = true;
  $("run-error").hidden = true;
  try {
    const [data, curves] = await Promise.all([
      api(`/api/runs/${encodeURIComponent(name)}`),
      api(`/api/runs/${encodeURIComponent(name)}/curves`),
    ]);
    if (runPage.name !== name) return; // another run was opened meanwhile
    runPage.data = data;
    runPage.curves = curves;
    renderRun(data);
    $("run-body").hidden = false;
    drawRunCurves();
  } catch (err) {
    $("run-error").textContent = err.message;
    $("run-error").hidden = false;
  }
}

function metaItem(list, label, ...value) {
  list.append(el("dt", { text: label }), el("dd", {}, ...value));
}

function renderRun(data) {
  const meta = data.meta || {};
  const status = meta.status || "unknown";
  $("run-status").replaceChildren(statusChip(status));
  const link = `${location.origin}${location.pathname}#/run/${encodeURIComponent(data.name)}`;
  $("run-link").value = link;
  $("run-launch").disabled = !data.launchable;
  $("run-launch").title = data.launchable ? "review the exact command, then start it" : data.launch_reason || "";
  $("board-run-command").textContent = `hypertuner board --storage ${state.storage}`;
  $("board-run-regex").textContent = `^${data.name.replace(/\./g, "\\.")}$`;

  const list = $("run-meta");
  list.replaceChildren();
  metaItem(list, "status", statusChip(status), meta.error ? el("div", { className: "error-text", text: meta.error }) : null);
  if (data.sweep) {
    const s = data.sweep;
    const value = s.value === null ? "" : ` · ${s.metric || "value"} ${formatNumber(s.value)}`;
    const best = s.best ? el("span", {}, " · best trial ", runLink(s.best.run), s.best.run === data.name ? " (this one)" : "") : null;
    metaItem(list, "sweep", el("a", { href: `#/explore?sweep=${encodeURIComponent(s.name)}`, text: s.name }),
      ` trial ${s.index} of ${s.n_trials}${value}`, best);
  }
  metaItem(list, "command", data.command ? el("code", { className: "command", id: "run-command", text: data.command }) : el("span", { className: "muted", text: "not recorded" }));
  metaItem(list, "folder", el("code", { text: meta.cwd || "" }));
  const git = meta.git && typeof meta.git === "object" ? meta.git : null;
  metaItem(list, "git", git && git.commit
    ? el("span", {}, el("code", { id: "run-commit", text: String(git.commit) }), " ",
      el("span", { className: `badge ${git.dirty ? "dirty" : "clean"}`, id: "run-dirty", text: git.dirty ? "dirty: uncommitted changes" : "clean" }))
    : el("span", { className: "muted", text: "not a git checkout" }));
  metaItem(list, "host", `${meta.host || ""}${meta.pid ? ` (process ${meta.pid})` : ""}${meta.world_size > 1 ? `, ${meta.world_size} processes` : ""}`);
  metaItem(list, "started", formatTime(meta.start_time));
  metaItem(list, "ended", meta.end_time ? `${formatTime(meta.end_time)} (${formatDuration(meta.duration_s ?? null)})` : "");
  const versions = meta.versions && typeof meta.versions === "object" ? Object.entries(meta.versions) : [];
  metaItem(list, "versions", versions.map(([k, v]) => `${k} ${v}`).join(", "));
  if (Array.isArray(meta.unread_keys) && meta.unread_keys.length) {
    metaItem(list, "never read", el("span", { className: "muted", text: meta.unread_keys.join(", ") }));
  }
  renderConfigTree(data);
  renderCheckpoints(data.checkpoints);
  const log = data.log || {};
  $("run-log").hidden = !log.tail;
  $("run-log").textContent = log.tail || "";
  $("run-log-note").textContent = log.problem
    || (log.path ? `The end of ${log.path}${log.truncated ? " (earlier output left out)" : ""}.`
      : "No log: this run was started outside the page, so its output went to the terminal that started it.");
}

function renderConfigTree(data) {
  const keys = (data.provenance && data.provenance.keys) || Object.create(null);
  const build = (node, path) => {
    const list = el("ul", { className: "tree" });
    for (const [name, value] of Object.entries(node)) {
      const dotted = [...path, name].join(".");
      if (!path.length && name === "run") continue;
      if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
        list.append(el("li", { "data-section": dotted }, el("details", { open: true }, el("summary", { text: name }), build(value, [...path, name]))));
      } else {
        const origin = own(keys, dotted);
        const style = typeof value === "number" ? numberStyle([value]) : "plain";
        const shown = el("span", { className: "value", text: formatValue(value, style), title: typeof value === "number" ? fullNumber(value) : null });
        const item = el("li", { "data-key": dotted }, el("span", { className: "key", text: name }), shown);
        if (origin) {
          item.append(el("span", { className: `origin kind-${origin.kind.replace(/ /g, "-")}`, text: origin.origin }));
          if (origin.changed) item.append(el("span", { className: "warning", text: " (that layer now gives another value)" }));
        }
        list.append(item);
      }
    }
    return list;
  };
  $("run-config").replaceChildren(build(data.config || {}, []));
  const notes = (data.provenance && data.provenance.notes) || [];
  $("run-notes").replaceChildren(...notes.map((n) => el("li", { text: n })));
  $("run-notes").hidden = !notes.length;
}

function renderCheckpoints(info) {
  const table = $("run-checkpoints");
  const entries = (info && info.checkpoints) || [];
  const monitor = info && info.monitor;
  const names = monitor ? [monitor] : [...new Set(entries.flatMap((e) => Object.keys(e.metrics)))].sort();
  table.tHead.replaceChildren(el("tr", {}, ...["file", "step", "epoch", "size", ...names, "saved", ""].map((t) => el("th", { scope: "col", text: t }))));
  const styles = names.map((n) => numberStyle(entries.map((e) => own(e.metrics, n))));
  table.tBodies[0].replaceChildren(...entries.map((entry) => {
    const row = el("tr", { "data-file": entry.file, className: entry.best ? "best" : "" },
      el("td", { text: entry.file }), el("td", { className: "num", text: entry.step ?? "" }),
      el("td", { className: "num", text: entry.epoch ?? "" }),
      el("td", { className: "num", text: formatBytes(entry.size), title: entry.size === null ? null : `${entry.size} bytes` }),
      ...names.map((n, i) => {
        const v = own(entry.metrics, n);
        return el("td", { className: "num", text: v === undefined ? "" : formatValue(v, styles[i]), title: typeof v === "number" ? fullNumber(v) : null });
      }),
      el("td", { text: entry.time ? formatTime(new Date(entry.time * 1000).toISOString()) : "" }),
      el("td", {}, entry.best ? el("span", { className: "badge best", text: "\u2605 best (model.pt)" }) : null,
        entry.present ? null : el("span", { className: "warning", text: " file missing" })));
    return row;
  }));
  const model = info && info.model;
  const notes = [];
  if (!entries.length) notes.push("No checkpoints saved: hypertuner.Saver(model).save(step=...) keeps them here.");
  if (model) {
    notes.push(`model.pt: ${formatBytes(model.size)}${model.step !== null ? `, step ${model.step}` : ""}` +
      `${model.source ? `, from ${model.source}` : ""}${monitor ? ` (the best by ${monitor}, ${info.mode === "max" ? "highest" : "lowest"})` : " (the latest)"}.`);
  }
  if (info && info.problem) notes.push(info.problem);
  $("run-checkpoints-note").textContent = notes.join(" ");
  table.hidden = !entries.length;
}

async function drawRunCurves() {
  const box = $("run-curves");
  const curves = (runPage.curves && runPage.curves.curves) || Object.create(null);
  const tags = Object.keys(curves);
  const warnings = (runPage.curves && runPage.curves.warnings) || [];
  $("run-curves-note").textContent = warnings.join(" ") || (tags.length ? "" : "No metrics logged yet: hypertuner.log({...}, step=...) writes them.");
  if (!state.charts.available) {
    chartsMissing(box);
    return;
  }
  const { weight, logY } = runChartControls();
  const existing = new Map([...box.children].filter((c) => c.dataset.tag).map((c) => [c.dataset.tag, c]));
  const charts = tags.map((tag) => existing.get(tag) || el("div", { className: "chart", "data-tag": tag }));
  box.replaceChildren(...charts);
  for (const [i, tag] of tags.entries()) {
    const series = Object.create(null);
    series[runPage.name] = curves[tag];
    await drawCurves(charts[i], series, [runPage.name], tag, { weight, logY, title: tag });
  }
}

function runChartControls() {
  return { weight: Number($("run-smoothing").value), logY: $("run-log-y").checked };
}

// --- explore ------------------------------------------------------------------------------------

function exploreRows() {
  const r = state.route;
  if (r.sweep) {
    const sweep = state.sweepByName.get(r.sweep);
    explore.title = `sweep ${r.sweep}`;
    return sweep ? Object.keys(sweep.trials).map((n) => state.byName.get(n)).filter(Boolean) : [];
  }
  if (r.runs && r.runs.length) {
    explore.title = `${r.runs.length} selected runs`;
    return r.runs.map((n) => state.byName.get(n)).filter(Boolean);
  }
  const names = state.exploreShown;
  explore.title = names ? `${names.length} runs shown in the table` : `all ${state.runs.length} runs`;
  return names ? names.map((n) => state.byName.get(n)).filter(Boolean) : state.runs;
}

function openExplore(openedAt = performance.now()) {
  explore.brushed = null;
  explore.curvesFor = "";
  explore.openedAt = openedAt;
  refreshExplore();
}

// Empty a chart area, letting plotly go of a chart drawn there (and of its WebGL contexts).
function clearChart(box) {
  if (window.Plotly && box.classList.contains("js-plotly-plot")) {
    Plotly.purge(box);
    box.classList.remove("js-plotly-plot");
    delete box.dataset.listening; // purge removed the listeners
  }
  if (box.id === "parcoords") explore.warmWidth = null; // its readied chart went with it
  box.replaceChildren();
}

function refreshExplore(live = false) {
  const rows = exploreRows();
  explore.rows = rows;
  explore.names = rows.map((r) => r.name);
  document.title = `explore ${explore.title} · hypertuner`;
  $("explore-title").textContent = `Explore ${explore.title}`;
  syncMetricSelects();
  const missing = state.route.sweep && !state.sweepByName.has(state.route.sweep);
  $("explore-note").textContent = missing ? `No sweep ${state.route.sweep} in this storage folder.`
    : rows.length < 2 ? "Explore needs at least two runs: select them in the table, or open a sweep." : "";
  const keys = rankedKeys(rows);
  const select = $("scatter-key");
  const previous = select.value;
  select.replaceChildren(...keys.map(({ key, importance: imp }) => el("option", { value: key, text: imp ? `${key} (${imp.label})` : key })));
  if (keys.some((k) => k.key === previous)) select.value = previous;
  renderDiff(rows);
  if (rows.length < 2) {
    explore.openedAt = null;
    for (const id of ["parcoords", "scatter", "chart"]) clearChart($(id));
    return;
  }
  if (!state.charts.available) {
    for (const id of ["parcoords", "scatter", "chart"]) chartsMissing($(id));
    return;
  }
  drawParcoords(keys, live).then(() => { drawScatter(); drawExploreCurves(); });
}

function renderDiff(rows) {
  const box = $("diff-box");
  const shownRows = rows.slice(0, 12);
  box.hidden = rows.length < 2 || rows.length > 12;
  if (box.hidden) return;
  const keys = configKeys(shownRows).filter((k) => k.varies).map((k) => k.key).sort();
  const table = $("diff-table");
  table.tHead.replaceChildren(el("tr", {}, el("th", { text: "key" }), ...shownRows.map((r) => el("th", {}, runLink(r.name)))));
  table.tBodies[0].replaceChildren(...keys.map((key) => {
    const values = shownRows.map((r) => own(r.config, key));
    const style = numberStyle(values);
    return el("tr", { "data-key": key }, el("th", { scope: "row", text: key }),
      ...values.map((v) => el("td", { text: v === undefined ? "\u2014" : formatValue(v, style), title: typeof v === "number" ? fullNumber(v) : null })));
  }));
  $("diff-empty").hidden = keys.length > 0;
  $("board-command").textContent = `hypertuner board --storage ${state.storage}`;
  $("board-regex").textContent = "^(" + shownRows.map((r) => r.name.replace(/\./g, "\\.")).join("|") + ")$";
}

// One parallel-coordinates axis per varying key (at most 12, the strongest first) plus the metric.
function parcoordsDims(rows, keys) {
  const dims = [];
  for (const { key } of keys.slice(0, 12)) {
    const values = rows.map((r) => own(r.config, key));
    if (values.every((v) => typeof v === "number" || typeof v === "boolean" || v === undefined)) {
      if (values.some((v) => v === undefined)) continue; // a number axis cannot place a missing value
      const bools = values.every((v) => typeof v === "boolean");
      const numbers = values.map(Number);
      const low = Math.min(...numbers), high = Math.max(...numbers);
      if (!bools && low > 0 && high / low >= 100) {
        // Spread over decades (a learning rate): a log axis, ticks at the values (or decades).
        const distinct = [...new Set(numbers)].sort((a, b) => a - b);
        const ticks = distinct.length <= 8 ? distinct
          : Array.from({ length: Math.floor(Math.log10(high)) - Math.ceil(Math.log10(low)) + 1 }, (_, i) => 10 ** (Math.ceil(Math.log10(low)) + i));
        const style = numberStyle(ticks);
        dims.push({ key, values: numbers.map(Math.log10), tickvals: ticks.map(Math.log10), ticktext: ticks.map((t) => formatNumber(t, style)), log: true });
      } else {
        dims.push({ key, values: numbers, bools });
      }
    } else {
      const labels = [...new Set(values.map((v) => (v === undefined ? "\u2014" : JSON.stringify(v))))].sort();
      const codes = new Map(labels.map((l, i) => [l, i]));
      dims.push({ key, values: values.map((v) => codes.get(v === undefined ? "\u2014" : JSON.stringify(v))), labels });
    }
  }
  dims.push({ key: state.metric.tag, values: rows.map(metricValue), metric: true });
  return dims;
}

async function drawParcoords(keys, keepBrush = false) {
  const box = $("parcoords");
  const all = explore.rows;
  const rows = all.filter((r) => metricValue(r) !== null);
  explore.plotRows = rows;
  const left = all.length - rows.length;
  $("parcoords-note").textContent = (state.metric.tag ? "" : "No metric logged yet. ") +
    (left ? `${left} run${left === 1 ? "" : "s"} without a value of ${state.metric.tag} left out. ` : "");
  if (!rows.length || !state.metric.tag) {
    explore.openedAt = null;
    clearChart(box);
    updateBrushed();
    return;
  }
  const Plotly = await loadPlotly();
  if (explore.warming) await explore.warming;
  const dims = parcoordsDims(rows, keys);
  explore.dims = dims;
  const started = performance.now();
  const trace = {
    type: "parcoords",
    line: {
      color: dims[dims.length - 1].values, colorscale: "Viridis", reversescale: state.metric.mode === "min", showscale: true,
      colorbar: { title: { text: plotText(state.metric.tag) }, thickness: 12 },
    },
    dimensions: dims.map((d) => {
      const dim = { label: plotText(d.key, 32), values: d.values };
      if (d.labels) { dim.tickvals = d.labels.map((_, i) => i); dim.ticktext = d.labels.map((l) => plotText(l, 16)); }
      if (d.bools) { dim.tickvals = [0, 1]; dim.ticktext = ["false", "true"]; dim.range = [0, 1]; }
      if (d.log) { dim.tickvals = d.tickvals; dim.ticktext = d.ticktext; dim.label = plotText(`${d.key} (log)`, 32); }
      return dim;
    }),
    labelangle: -20,
  };
  const layout = parcoordsLayout();
  // The first draw after warmParcoords: plotly keeps the width of the chart's first draw, made
  // while the view was hidden; give the width it has now, once (later draws fit it as usual).
  const warmed = explore.warmWidth !== null && explore.warmWidth !== box.clientWidth;
  if (warmed) layout.width = box.clientWidth;
  explore.warmWidth = null;
  // A live refresh of the same view keeps the ranges brushed on each axis.
  const kept = new Map();
  if (keepBrush && box.data && box.data[0]) {
    for (const dim of box.data[0].dimensions) if (dim.constraintrange) kept.set(dim.label, dim.constraintrange);
  }
  for (const dim of trace.dimensions) if (kept.has(dim.label)) dim.constraintrange = kept.get(dim.label);
  if (!box.classList.contains("js-plotly-plot")) box.replaceChildren();
  await Plotly.react(box, [trace], layout, PLOT_CONFIG);
  if (warmed) delete layout.width; // plotly's own resizing with the window fits it again
  if (!box.dataset.listening) {
    box.dataset.listening = "yes";
    box.on("plotly_restyle", () => { readBrush(); });
  }
  if (kept.size) readBrush();
  else { explore.brushed = null; updateBrushed(); }
  await afterPaint();
  const end = performance.now();
  performance.measure("ht:parcoords", { start: started, end });
  // ht:explore: what the user waited for, from asking for the view (or opening the page at it)
  // to this chart painted, plotly's loading included.
  if (explore.openedAt !== null && state.view === "explore") {
    performance.measure("ht:explore", { start: explore.openedAt, end });
    explore.openedAt = null;
  }
}

function parcoordsLayout() {
  return { margin: { l: 60, r: 70, t: 64, b: 24 }, height: 380, font: { family: "system-ui, sans-serif", size: 12 } };
}

// In idle time, while the explore view is hidden (app.js: warmCharts): draw a two-axis
// parallel-coordinates chart of two lines into its chart area, at the width it will have, and
// flush its three WebGL contexts, so the software renderer compiles their shaders in the GPU
// process while the page stays free (with two axes plotly does not wait for that; with more it
// would, between the axis gaps). Later, in idle time again, read one pixel back from each
// context, as plotly does between axis gaps: the first read of a context readies its read-back
// path (about 50 ms each in software). The explore view's first draw is then an update of this
// chart, in the same contexts (Plotly.react).
function warmParcoords() {
  const box = $("parcoords");
  if (state.view === "explore" || explore.warming || box.classList.contains("js-plotly-plot") || !webglWorks()) return;
  const shown = [...document.querySelectorAll("main > section")].find((s) => !s.hidden);
  const width = shown ? shown.clientWidth : 0;
  if (!width) return;
  const trace = {
    type: "parcoords",
    line: { color: [0, 1], colorscale: "Viridis", showscale: true },
    dimensions: [{ label: "", values: [0, 1] }, { label: "", values: [1, 0] }],
  };
  explore.warming = Plotly.newPlot(box, [trace], { ...parcoordsLayout(), width }, PLOT_CONFIG)
    .then(() => {
      for (const gl of glContexts(box)) gl.flush();
      explore.warmWidth = width;
      setTimeout(() => whenQuiet(() => {
        if (explore.warmWidth === null || state.view === "explore") return; // drawn for real
        const pixel = new Uint8Array(4);
        for (const gl of glContexts(box)) gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
      }), 500); // the shaders compile meanwhile, so the reads do not wait for them
    })
    .catch(() => clearChart(box)) // the first real draw starts afresh
    .finally(() => { explore.warming = null; });
}

// The WebGL contexts of a parallel-coordinates chart (plotly's regl asks for "webgl").
function glContexts(box) {
  return [...box.querySelectorAll("canvas.gl-canvas")].map((c) => c.getContext("webgl")).filter(Boolean);
}

// Whether this browser gives WebGL (parallel coordinates need it); without it, nothing is warmed.
function webglWorks() {
  const gl = document.createElement("canvas").getContext("webgl");
  if (!gl) return false;
  const lose = gl.getExtension("WEBGL_lose_context");
  if (lose) lose.loseContext();
  return true;
}

// The runs inside every brushed range of the parallel-coordinates axes.
function readBrush() {
  const box = $("parcoords");
  const data = box.data && box.data[0];
  if (!data) return;
  let any = false;
  const keep = new Set(explore.plotRows.map((r) => r.name));
  data.dimensions.forEach((dim, i) => {
    let ranges = dim.constraintrange;
    if (!ranges || !ranges.length) return;
    if (!Array.isArray(ranges[0])) ranges = [ranges];
    any = true;
    const values = explore.dims[i].values;
    explore.plotRows.forEach((row, j) => {
      const v = values[j];
      if (!ranges.some(([lo, hi]) => v >= lo && v <= hi)) keep.delete(row.name);
    });
  });
  explore.brushed = any ? keep : null;
  updateBrushed();
  drawScatter();
  drawExploreCurves();
}

function matchedRows() {
  const rows = explore.plotRows || [];
  return explore.brushed ? rows.filter((r) => explore.brushed.has(r.name)) : rows;
}

function updateBrushed() {
  const rows = [...matchedRows()].sort((a, b) => (better(metricValue(a), metricValue(b)) ? -1 : better(metricValue(b), metricValue(a)) ? 1 : 0));
  const total = (explore.plotRows || []).length;
  $("brush-count").textContent = explore.brushed
    ? `${rows.length} of ${total} runs inside the brushed ranges, best first:`
    : `${total} runs; drag along an axis to keep only the runs inside a range (drag again elsewhere on it to add a range, click the range to remove it). Best first:`;
  const style = numberStyle(rows.map(metricValue));
  $("brushed-runs").replaceChildren(...rows.slice(0, 10).map((row) => el("li", { "data-run": row.name }, runLink(row.name),
    ` ${state.metric.tag} ${formatNumber(metricValue(row), style)}`)));
  $("compare-brushed").disabled = rows.length < 2;
}

async function drawScatter() {
  const box = $("scatter");
  const key = $("scatter-key").value;
  const rows = explore.plotRows || [];
  if (!key || !rows.length) {
    clearChart(box);
    box.append(el("p", { className: "muted", text: key ? "" : "No config key varies among these runs." }));
    return;
  }
  const Plotly = await loadPlotly();
  const matched = new Set(matchedRows().map((r) => r.name));
  const xs = rows.map((r) => own(r.config, key));
  const numeric = xs.every((v) => typeof v === "number");
  const positive = numeric && xs.every((v) => v > 0);
  const logX = $("scatter-logx");
  if (!logX.dataset.touched) logX.checked = positive && Math.max(...xs) / Math.min(...xs) >= 100;
  logX.disabled = !positive;
  const ys = rows.map(metricValue);
  const xStyle = numberStyle(xs), yStyle = numberStyle(ys);
  const best = bestOf(rows);
  const trace = (subset, name, marker) => {
    const picked = rows.map((r, i) => i).filter(subset);
    return {
      type: "scatter", mode: "markers", name, marker,
      x: picked.map((i) => (numeric ? xs[i] : plotText(xs[i] === undefined ? "\u2014" : xs[i], 24))),
      y: picked.map((i) => ys[i]),
      text: picked.map((i) => rows[i].name),
      customdata: picked.map((i) => [
        plotText(typeof xs[i] === "number" ? `${formatNumber(xs[i], xStyle)} (${fullNumber(xs[i])})` : xs[i] === undefined ? "\u2014" : xs[i]),
        `${formatNumber(ys[i], yStyle)} (${fullNumber(ys[i])})`]),
      hovertemplate: `%{text}<br>${plotText(key)} %{customdata[0]}<br>${plotText(state.metric.tag)} %{customdata[1]}<extra></extra>`,
    };
  };
  const traces = [
    trace((i) => !matched.has(rows[i].name), "outside the brushed ranges", { color: "#c5cbd6", size: 7 }),
    trace((i) => matched.has(rows[i].name), explore.brushed ? "inside the brushed ranges" : "runs", { color: "#2456c9", size: 8 }),
  ];
  if (best) traces.push(trace((i) => rows[i] === best, `best ${plotText(state.metric.tag)}`, { color: "#e67700", size: 14, symbol: "star" }));
  const layout = {
    margin: { l: 64, r: 16, t: 12, b: 48 }, height: 340, hovermode: "closest",
    xaxis: { title: { text: plotText(key) }, type: numeric ? (logX.checked && positive ? "log" : "linear") : "category", exponentformat: "e" },
    yaxis: { title: { text: plotText(state.metric.tag) }, exponentformat: "e" },
    legend: { orientation: "h", y: -0.25 }, font: { family: "system-ui, sans-serif", size: 12 },
  };
  if (!box.classList.contains("js-plotly-plot")) box.replaceChildren();
  await Plotly.react(box, traces, layout, PLOT_CONFIG);
  if (!box.dataset.listening) {
    box.dataset.listening = "yes";
    box.on("plotly_click", (event) => {
      const point = event.points && event.points[0];
      if (point && typeof point.text === "string" && state.byName.has(point.text)) location.hash = `#/run/${encodeURIComponent(point.text)}`;
    });
  }
}

// The curves of the best (at most 12) runs inside the brushed ranges.
async function drawExploreCurves() {
  const box = $("chart");
  const tag = $("curves-metric").value || state.metric.tag;
  const names = [...matchedRows()].sort((a, b) => (better(metricValue(a), metricValue(b)) ? -1 : 1)).slice(0, 12).map((r) => r.name);
  const tags = metricTags();
  const select = $("curves-metric");
  if (select.options.length !== tags.length) select.replaceChildren(...tags.map((t) => el("option", { value: t, text: t })));
  select.value = tag || "";
  $("chart-title").textContent = tag ? `${tag} by step` : "No metrics logged";
  const total = matchedRows().length;
  $("curves-note").textContent = total > names.length ? `The ${names.length} best of ${total} runs.` : "";
  if (!tag || !names.length) {
    clearChart(box);
    return;
  }
  const key = `${tag}\u0000${names.join(",")}`;
  if (key !== explore.curvesFor) {
    explore.curvesFor = key;
    explore.curvesLoading = fetchCurves(names, tag);
  }
  let data;
  try {
    data = await explore.curvesLoading;
  } catch (err) {
    explore.curvesFor = "";
    show(err.message, true);
    return;
  }
  if (key !== explore.curvesFor) return; // a newer brush asked for other curves meanwhile
  const warn = $("compare-warnings");
  warn.hidden = !data.warnings.length;
  warn.textContent = data.warnings.join("\n");
  await drawCurves(box, data.series, names, tag, chartControls());
}

// The curves of `tag` of runs `names`: {series: {name: {steps, values}}, warnings}.
async function fetchCurves(names, tag) {
  if (names.length >= 2) {
    const query = names.map((n) => `run=${encodeURIComponent(n)}`).join("&");
    const data = await api(`/api/compare?${query}&metric=${encodeURIComponent(tag)}`);
    return { series: data.series, warnings: data.warnings };
  }
  const data = await api(`/api/runs/${encodeURIComponent(names[0])}/curves?tag=${encodeURIComponent(tag)}`);
  const series = Object.create(null);
  series[names[0]] = own(data.curves, tag) || { steps: [], values: [] };
  return { series, warnings: data.warnings };
}

function startViews() {
  $("run-edit").addEventListener("click", () => runPage.name && openEdit(runPage.name));
  $("run-launch").addEventListener("click", () => runPage.name && openEdit(runPage.name, { launch: true }));
  $("run-board").addEventListener("click", () => { $("run-board-box").hidden = !$("run-board-box").hidden; });
  for (const id of ["run-smoothing", "run-log-y"]) $(id).addEventListener("input", drawRunCurves);
  $("metric-select").addEventListener("change", (e) => { setMetric(e.target.value); explore.curvesFor = ""; $("curves-metric").value = e.target.value; refreshExplore(); });
  $("explore-mode").addEventListener("change", (e) => { setMetric(state.metric.tag, e.target.value); refreshExplore(); });
  $("scatter-key").addEventListener("change", drawScatter);
  $("scatter-logx").addEventListener("change", (e) => { e.target.dataset.touched = "yes"; drawScatter(); });
  $("curves-metric").addEventListener("change", drawExploreCurves);
  for (const id of ["smoothing", "log-y"]) $(id).addEventListener("input", drawExploreCurves);
  $("compare-brushed").addEventListener("click", () => {
    const names = [...matchedRows()].map((r) => r.name);
    location.hash = `#/explore?runs=${names.map(encodeURIComponent).join(",")}`;
  });
}
