"""Benchmark of issues 7 and 14: the ``hypertuner ui`` page, on the server and in the browser.

The storage folder: 2,000 finished runs, 100 of them with 5,000-step curves, 500 of them the
trials of one sweep (``sweep.json`` and its journal), the others hand runs with varied configs.

- server: ``GET /api/runs`` (the request the page repeats while runs are live) from a warm
  server, at most 0.5 s, and at most 2x ``hypertuner runs --json`` (a whole process, as a user
  runs it) on the same folder; for context, a run's page, a run's 5,000-step curves and the
  compare request of two such runs;
- browser (headless Chromium through ``playwright``, when both are installed), from the page's
  own ``performance`` entries (``ht:*``, the ones the browser tests record), a click's own event
  time and the Long Tasks API, each case in a fresh page:
  - the page is interactive, table drawn (from navigation start) plus the first filter's response
    (from the keystroke), at most 1.5 s; then, left alone, the page loads plotly.js in idle time
    (``ht:plotly``) and readies the parallel coordinates: the longest main-thread task meanwhile
    is what a keystroke landing in it would wait;
  - the explore view of the 500-trial sweep, from the click on its link to the parallel
    coordinates painted, at most 1 s: clicked ``--explore-after`` seconds (2 by default) after the
    table is drawn, the page left alone meanwhile (plotly loaded, the chart's WebGL contexts
    readied); and clicked as soon as the table is drawn, before anything is (cold: plotly's load
    and the WebGL shader compilation, done in software without a GPU, are waited for);
  - a redraw of that view (another mode), and the page opened at the explore view's address
    (from navigation start, cold).

Every figure is the median of repeated measurements, with their range and count beside it. This
file is self-contained (its timing and table code are its own): run it as
``python benchmarks/bench_ui.py`` (or ``--quick`` for fewer repeats on a busy machine).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypertuner
from hypertuner.errors import HypertunerWarning
from hypertuner.ui.server import UIServer

RUNS = 2000
TRIALS = 500
LONG = 100
STEPS = 5000
EXPLORE_AFTER = 2.0  # seconds on the table before explore is clicked, for the warm figure
MISS_MARK = "MISSED:"  # run_all.py collects the lines that start with it
CHROMIUM = os.environ.get("HYPERTUNER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


# --- the storage folder ---------------------------------------------------------------------------


def _template(root: Path, name: str, steps: int) -> Path:
    config = {"optim": {"lr": 0.1, "momentum": 0.9}, "model": {"layers": 4, "width": 256}}
    with hypertuner.start_run(config, name=name, storage=root, current=False) as run:
        for step in range(steps):
            loss = 1 / (step + 1)
            hypertuner.log(
                {"loss": loss, "acc": 1 - loss, "val_loss": 1.1 * loss}, step=step, run=run
            )
    return run.directory


def _summary(loss: float) -> dict[str, Any]:
    entry = {"last": loss, "min": loss, "max": 2.0, "step": 19, "count": 20}
    acc = {"last": 1 - loss / 3, "min": 0.1, "max": 1 - loss / 3, "step": 19, "count": 20}
    return {"version": 1, "metrics": {"loss": entry, "acc": acc}}


def _copy(
    template: Path, target: Path, config: dict[str, Any], meta: dict[str, Any], loss: float
) -> None:
    shutil.copytree(template, target)
    (target / "config.json").write_text(json.dumps(config, indent=2))
    (target / "meta.json").write_text(json.dumps(meta))
    (target / "summary.json").write_text(json.dumps(_summary(loss)))


def make_storage(root: Path) -> None:
    """The storage folder described above, made by copying real runs and a real sweep."""
    short = _template(root / ".templates", "short", 20)
    long = _template(root / ".templates", "long", STEPS)
    base_meta = json.loads((short / "meta.json").read_text())
    # A real sweep of two trials gives sweep.json and the journal's format; it is then grown.
    config = json.loads((short / "config.json").read_text())
    with warnings.catch_warnings():  # the trials read one key only: that warning is expected
        warnings.simplefilter("ignore", HypertunerWarning)
        hypertuner.sweep(
            lambda args: args.optim.lr, {"optim.lr": [0.1, 0.01]}, name="big",
            storage=root / ".templates", progress=False, config=config,
        )  # fmt: skip
    sweep = root / "big"
    sweep.mkdir(parents=True)
    info = json.loads((root / ".templates" / "big" / "sweep.json").read_text())
    info.update(n_trials=TRIALS, space={"optim.lr": {}, "model.layers": {}, "optim.momentum": {}})
    journal = []
    for i in range(TRIALS):
        lr = 10 ** (-4 + 3 * ((i * 37) % TRIALS) / TRIALS)
        layers = 1 + i % 8
        momentum = (0.0, 0.5, 0.9, 0.99)[i % 4]
        loss = abs(math.log10(lr) + 2.2) / 3 + 0.02 * layers + 0.05 * ((i * 13) % 7) / 7
        config = {
            "optim": {"lr": lr, "momentum": momentum},
            "model": {"layers": layers, "width": 256},
        }
        name = f"big-{i}"
        meta = {
            **base_meta,
            "name": name,
            "start_time": f"2026-01-02T00:{i // 60 % 60:02d}:{i % 60:02d}",
        }
        _copy(short, root / name, config, meta, loss)
        journal.append({"trial": f"t{i:04d}", "index": i, "run": name, "status": "finished",
                        "config": config, "value": loss, "error": None})  # fmt: skip
    info["best"] = None
    (sweep / "sweep.json").write_text(json.dumps(info))
    (sweep / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in journal))
    for i in range(RUNS - TRIALS):
        name = f"run-{i:04d}"
        lr = 0.1 / (1 + i % 7)
        config = {
            "optim": {"lr": lr, "momentum": 0.9, "weight_decay": 1e-4},
            "model": {"layers": 2 + i % 5, "width": 64 * (1 + i % 4), "activation": "relu"},
            "data": {"batch_size": 64, "augment": i % 2 == 0},
            "seed": i,
        }
        meta = {
            **base_meta,
            "name": name,
            "start_time": f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}",
        }
        _copy(long if i < LONG else short, root / name, config, meta, 0.5 + lr + 0.01 * (i % 11))
    shutil.rmtree(root / ".templates")


# --- measuring ------------------------------------------------------------------------------------


def spread(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "low": min(samples),
        "high": max(samples),
        "n": len(samples),
    }


def measure(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return spread(samples)


def _env(storage: Path) -> dict[str, str]:
    # Bytecode caching on, as an installed package has it (some sandboxes turn it off).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["HYPERTUNER_STORAGE"] = str(storage)
    return env


def measure_process(
    argv: list[str], repeat: int, env: dict[str, str], cwd: str
) -> dict[str, float]:
    subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=True)  # warm-up, untimed
    return measure(
        lambda: subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=True), repeat
    )


def get(server: UIServer, path: str) -> bytes:
    """One request on a fresh connection, as a browser's first fetch would make it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request(
        "GET",
        path,
        headers={"Host": f"127.0.0.1:{server.port}", "X-Hypertuner-Token": server.token},
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        msg = f"GET {path} answered {response.status}: {body[:500]!r}"
        raise RuntimeError(msg)
    return body


# What the browser figures read: the page's own `performance` entries (names "ht:*"), the
# click's own event time, and the main thread's long tasks (the Long Tasks API).
ENTRY = (
    "(name) => { const e = performance.getEntriesByName(name); "
    "return e.length ? e[e.length - 1] : null; }"
)
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
}).observe({ type: "longtask", buffered: true });
"""
EXPLORE_LINK = 'a.explore-link[data-explore="big"]'


def _entry(tab: Any, name: str) -> dict[str, float]:
    tab.wait_for_function(f"performance.getEntriesByName({name!r}).length > 0")
    found: dict[str, float] = tab.evaluate(ENTRY, name)
    return found


def _open_explore(tab: Any, drawn: float, after: float) -> dict[str, float]:
    """Click the sweep's explore link ``after`` seconds after the table was drawn (page time
    ``drawn``, ms); seconds from the click's own time to the chart painted.

    A plain mouse click at the link's place, as a user's: the click's time is when it happened,
    even if the page is busy then (a locator's click would first wait for the page to answer).
    """
    box = tab.locator(EXPLORE_LINK).bounding_box()
    tab.evaluate(
        "() => document.addEventListener('click', (e) => { window.__clickAt = e.timeStamp; },"
        " { capture: true, once: true })"
    )
    now = tab.evaluate("performance.now()")
    time.sleep(max(0.0, (drawn + after * 1000 - now) / 1000))
    tab.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    drawn_at = _entry(tab, "ht:explore")
    end = drawn_at["startTime"] + drawn_at["duration"]
    return {
        "wait": (end - tab.evaluate("window.__clickAt")) / 1000,
        "draw": _entry(tab, "ht:parcoords")["duration"] / 1000,
    }


def browser_figures(
    server: UIServer, repeat: int, after: float
) -> dict[str, dict[str, float]] | str:
    """The page's own timings in headless Chromium, or why they could not be taken.

    Each repeat opens four fresh pages (a browser context each: no cache, nothing warmed):
    - the table: drawn, then a filter typed at once; then, left alone, the page loads plotly and
      readies the parallel coordinates in idle time: that load, and the longest main-thread task
      after the table (what a keystroke landing in it would wait);
    - explore clicked as soon as the table is drawn (nothing loaded or warmed yet), then redrawn;
    - explore clicked ``after`` seconds after the table is drawn, the page left alone meanwhile;
    - the page opened at the explore view's address (from navigation start).
    """
    if not os.path.isfile(CHROMIUM):
        return f"no Chromium at {CHROMIUM!r} (apt-get install -y chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "the 'playwright' package is not installed"
    keys = ["table", "filter", "interactive", "plotly", "longest", "cold", "cold_draw", "warm",
            "warm_draw", "redraw", "direct"]  # fmt: skip
    found: dict[str, list[float]] = {key: [] for key in keys}
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)

        def page() -> Any:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_init_script(LONG_TASKS)
            tab = context.new_page()
            tab.set_default_timeout(60_000)
            return tab

        try:
            for _ in range(repeat):
                tab = page()
                tab.goto(server.url)
                drawn = _entry(tab, "ht:table-drawn")["startTime"]
                tab.fill("#filter", "run-01")
                response = _entry(tab, "ht:filter")["duration"] / 1000
                found["table"].append(drawn / 1000)
                found["filter"].append(response)
                found["interactive"].append(drawn / 1000 + response)
                loaded = _entry(tab, "ht:plotly")
                found["plotly"].append(loaded["duration"] / 1000)
                tab.wait_for_timeout(1000)  # the warm-up after it
                tasks = tab.evaluate("window.__longTasks")
                found["longest"].append(max([d for t, d in tasks if t >= drawn] or [0]) / 1000)
                tab.context.close()

                tab = page()
                tab.goto(server.url)
                cold = _open_explore(tab, _entry(tab, "ht:table-drawn")["startTime"], 0)
                found["cold"].append(cold["wait"])
                found["cold_draw"].append(cold["draw"])
                tab.select_option("#explore-mode", "max")  # redraws the same view
                tab.wait_for_function("performance.getEntriesByName('ht:parcoords').length === 2")
                found["redraw"].append(_entry(tab, "ht:parcoords")["duration"] / 1000)
                tab.context.close()

                tab = page()
                tab.goto(server.url)
                warm = _open_explore(tab, _entry(tab, "ht:table-drawn")["startTime"], after)
                found["warm"].append(warm["wait"])
                found["warm_draw"].append(warm["draw"])
                tab.context.close()

                tab = page()
                tab.goto(f"{server.url}#/explore?sweep=big")
                direct = _entry(tab, "ht:explore")
                found["direct"].append((direct["startTime"] + direct["duration"]) / 1000)
                tab.context.close()
        finally:
            browser.close()
    return {key: spread(values) for key, values in found.items()}


# --- the table ------------------------------------------------------------------------------------


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def shown(figure: dict[str, float] | None) -> str:
    if figure is None:
        return "-"
    low, high = fmt(figure["low"]), fmt(figure["high"])
    return f"{fmt(figure['median'])} [{low}..{high}, n={figure['n']:.0f}]"


def print_table(
    title: str, rows: list[tuple[str, dict[str, float] | None, dict[str, float] | None, str]]
) -> int:
    """Print ``figure | hypertuner | reference | ratio | target | ok``; return the misses."""
    lines = [("figure", "hypertuner (median [range, n])", "reference", "ratio", "target", "ok")]
    misses = []
    for figure, ours, reference, target in rows:
        ratio = ours["median"] / reference["median"] if ours and reference else None
        ok = "-"
        if target.startswith("<=") and ours is not None:
            bound = target[2:].strip()
            if bound.endswith("x"):
                ok = "yes" if ratio is not None and ratio <= float(bound[:-1]) else "NO"
            else:
                value, unit = bound.split()
                ok = (
                    "yes" if ours["median"] <= float(value) * {"s": 1.0, "ms": 1e-3}[unit] else "NO"
                )
        if ok == "NO":
            misses.append(f"{figure}: {shown(ours)}, target {target}")
        lines.append(
            (
                figure,
                shown(ours),
                shown(reference),
                f"{ratio:.2f}x" if ratio else "-",
                target or "-",
                ok,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(6)]
    print(title)
    for line in lines:
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    for miss in misses:
        print(f"{MISS_MARK} {miss}")
    return len(misses)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a busy machine")
    parser.add_argument("--repeat", type=int, default=None, help="override the repeat count")
    parser.add_argument(
        "--explore-after",
        type=float,
        default=EXPLORE_AFTER,
        metavar="SECONDS",
        help=f"how long the page is left alone on the table before explore is clicked "
        f"(default {EXPLORE_AFTER:g})",
    )
    options = parser.parse_args()
    repeat = options.repeat or (5 if options.quick else 11)
    pages = max(3, repeat // 2)
    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    try:
        storage = work / "storage"
        made = time.perf_counter()
        make_storage(storage)
        print(f"storage: {RUNS} runs ({TRIALS} in sweep 'big', {LONG} with {STEPS}-step curves), "
              f"made in {time.perf_counter() - made:.0f} s")  # fmt: skip
        cli = [sys.executable, "-m", "hypertuner", "runs", "--json"]
        reference = measure_process(cli, max(3, repeat // 2), _env(storage), str(work))
        with UIServer(storage, port=0) as server:
            server.start()
            data = json.loads(get(server, "/api/runs"))  # warm start
            assert len(data["runs"]) == RUNS, len(data["runs"])
            assert len(data["sweeps"][0]["trials"]) == TRIALS
            served = measure(lambda: get(server, "/api/runs"), repeat)
            page = measure(lambda: get(server, "/api/runs/run-0000"), repeat)
            curves = measure(lambda: get(server, "/api/runs/run-0000/curves"), repeat)
            compared = measure(
                lambda: get(server, "/api/compare?run=run-0000&run=run-0001&metric=loss"), repeat
            )
            browser = browser_figures(server, pages, options.explore_after)
        rows = [
            (f"GET /api/runs, {RUNS} runs (warm)", served, None, "<= 0.5 s"),
            ("GET /api/runs vs `hypertuner runs --json`", served, reference, "<= 2x"),
            ("GET /api/runs/<run> (a run's page)", page, None, ""),
            (f"GET /api/runs/<run>/curves, 3 x {STEPS} steps", curves, None, ""),
            (f"GET /api/compare, 2 runs x {STEPS} steps", compared, None, ""),
        ]
        if isinstance(browser, str):
            print(f"browser figures skipped: {browser}")
        else:
            after = f"{options.explore_after:g} s"
            explore = f"explore {TRIALS} trials"
            browser_rows = [
                (f"page interactive, {RUNS} runs: table drawn + filter", "interactive", "<= 1.5 s"),
                ("  of which: table drawn (from navigation start)", "table", ""),
                ("  of which: first filter's response (from the keystroke)", "filter", ""),
                ("  then in idle time: plotly.js loaded (ht:plotly)", "plotly", ""),
                ("  then: longest main-thread task (a keystroke may wait)", "longest", ""),
                (f"{explore}, clicked {after} after the table: click to drawn", "warm", "<= 1 s"),
                ("  of which: the parallel-coordinates draw", "warm_draw", ""),
                (f"{explore}, clicked as the table is drawn: click to drawn", "cold", "<= 1 s"),
                ("  of which: the parallel-coordinates draw", "cold_draw", ""),
                (f"{explore}, redrawn (another mode)", "redraw", ""),
                (f"{explore}, page opened at its address: navigation to drawn", "direct", ""),
            ]
            rows += [(label, browser[key], None, target) for label, key, target in browser_rows]
        print_table(f"bench_ui: hypertuner ui ({os.cpu_count()} CPUs)", rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
