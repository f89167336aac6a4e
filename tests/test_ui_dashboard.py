"""The page as a dashboard, in a real headless Chromium: a 64-trial sweep and a few hand runs.

What a new user does on it: find the best trial, see which keys mattered, open the trial's page
and launch a variation of it; and each view on the way: the runs table (columns of the keys that
vary among the runs shown, ordered by their relation to the metric; the sticky name column; status
chips; the sweep's group), a run's page (provenance, checkpoints, log, curves) and the explore view
(parallel coordinates with brushing, scatter, curves). Every test checks that the page logged no
error and sent no request beyond its own server.

The page's own performance timings (``performance.measure`` entries ``ht:*``) are recorded,
never asserted: set ``HYPERTUNER_UI_TIMINGS=path.json`` to keep them. Set
``HYPERTUNER_UI_SCREENSHOT=docs`` (a folder, or a ``.png`` path in it) to refresh the README's
screenshots of each view.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hypertuner.ui import server as server_module
from hypertuner.ui.server import UIServer

pytestmark = pytest.mark.slow  # a real Chromium, and a sweep of 64 processes

CHROMIUM = os.environ.get("HYPERTUNER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
if not os.path.isfile(CHROMIUM):
    pytest.skip(
        f"Chromium is not installed at {CHROMIUM!r}: the browser tests need Debian's Chromium "
        "(apt-get install -y chromium) or HYPERTUNER_CHROMIUM pointing at a Chromium binary.",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the browser tests drive Chromium with the 'playwright' package: pip install playwright",
)
if server_module._plotly_file() is None:
    pytest.skip(
        "the dashboard's charts need plotly: pip install 'hypertuner[ui]'", allow_module_level=True
    )

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

TRAIN = """\
import math
import hypertuner

args = hypertuner.parse(defaults={
    "optim": {"lr": 0.1, "momentum": 0.9},
    "model": {"layers": 2, "width": 64, "activation": "relu"},
    "epochs": 12, "save": False, "fail": False,
})
rate = args.optim.lr * (1 + args.optim.momentum) / args.model.layers ** 0.5
saver = None
if args.save:
    import torch
    saver = hypertuner.Saver(torch.nn.Linear(2, 1), monitor="loss", keep=2)
loss = 1.5 + args.model.width / 1000
for step in range(args.epochs):
    hypertuner.log({"loss": loss + 0.05, "acc": 1 - loss / 2}, step=step)
    if saver is not None and step % 3 == 2:
        saver.save(step=step, metrics={"loss": loss + (0.5 if step == 8 else 0.0)})
    if args.fail and step == 3:
        raise RuntimeError("diverged at step 3")
    loss *= math.exp(-rate)
print(f"done: loss {loss:.4f}")
"""

BASE = '{\n  "model": {\n    "width": 128\n  },\n  "epochs": 12\n}\n'
SPACE = [
    "optim.lr=choice(0.001,0.003,0.01,0.1)",
    "model.layers=choice(1,2,4,8)",
    "optim.momentum=choice(0.0,0.5,0.9,0.99)",
]
HAND = {
    "hand-ckpt": ["--config", "configs/base.json", "optim.lr=0.05", "save=true"],
    "hand-wide": ["--config=configs/base.json", "model.width=256", "optim.lr=0.02"],
    "hand-fail": ["optim.lr=0.3", "fail=true"],
}


@dataclass
class Board:
    storage: Path
    project: Path
    ui: UIServer
    browser: Any


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HYPERTUNER_")}


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    """A project (a git checkout with uncommitted changes) whose storage holds sweep 'search'
    (64 trials of train.py, 2 at a time) and hand runs: one saving checkpoints, one wide, one
    failed, and a copy of the wide one whose meta.json says 'pruned'."""
    root = tmp_path_factory.mktemp("dashboard")
    project, storage = root / "project", root / "storage"
    (project / "configs").mkdir(parents=True)
    (project / "train.py").write_text(TRAIN)
    (project / "configs" / "base.json").write_text(BASE)
    (project / "NOTES.md").write_text("notes\n")
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "start"], check=True)
    (project / "NOTES.md").write_text("notes, changed\n")  # uncommitted: the runs are 'dirty'
    subprocess.run(
        [sys.executable, "-m", "hypertuner", "sweep", "train.py", *SPACE, "--name=search",
         "--workers=2", "--metric=loss", "--mode=min", "--no-progress", f"--storage={storage}"],
        cwd=project, env=_env(), check=True, capture_output=True, timeout=280,
    )  # fmt: skip
    for name, args in HAND.items():
        subprocess.run(
            [sys.executable, "train.py", *args, f"--name={name}", f"--storage={storage}"],
            cwd=project, env=_env(), check=name != "hand-fail", capture_output=True, timeout=120,
        )  # fmt: skip
    shutil.copytree(storage / "hand-wide", storage / "hand-pruned")
    meta = json.loads((storage / "hand-pruned" / "meta.json").read_text())
    (storage / "hand-pruned" / "meta.json").write_text(json.dumps({**meta, "status": "pruned"}))
    with UIServer(storage, port=0) as ui:
        ui.start()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                yield Board(storage, project, ui, browser)
            finally:
                browser.close()
        for started in ui.launcher.launches.values():
            started.process.wait(timeout=60)


@pytest.fixture
def tab(board: Board) -> Iterator[Any]:
    """A fresh browser tab on the page; at the end: no error logged, no request left the server."""
    context = board.browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    away: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on(
        "request", lambda r: None if r.url.startswith(f"{board.ui.base}/") else away.append(r.url)
    )
    page.goto(board.ui.url)
    page.wait_for_selector("#runs-table tbody tr")
    yield page
    context.close()
    assert not errors, errors
    assert not away, f"requests left the page's server: {away}"


# --- helpers --------------------------------------------------------------------------------------


def runs_file(board: Board, name: str, file: str) -> Any:
    return json.loads((board.storage / name / file).read_text())


def last_loss(board: Board, name: str) -> float:
    return float(runs_file(board, name, "summary.json")["metrics"]["loss"]["last"])


def journal_best(board: Board) -> tuple[str, float]:
    latest: dict[str, dict[str, Any]] = {}
    for line in (board.storage / "search" / "trials.jsonl").read_text().splitlines():
        record = json.loads(line)
        latest.setdefault(record["trial"], {}).update(record)
    scored = [(r["value"], r["run"]) for r in latest.values() if r["status"] == "finished"]
    value, run = min(scored)
    return run, value


def header_keys(tab: Any) -> list[str]:
    keys = tab.locator("#runs-table thead th[data-key^='config:']").evaluate_all(
        "cells => cells.map(c => c.dataset.key.slice(7))"
    )
    return list(keys)


def shown_runs(tab: Any) -> list[str]:
    return list(
        tab.locator("#runs-table tbody tr[data-run]").evaluate_all("r => r.map(x => x.dataset.run)")
    )


def varying(configs: list[dict[str, Any]]) -> set[str]:
    from hypertuner._trees import flatten

    flat = [flatten(c) for c in configs]
    keys = {k for f in flat for k in f}
    return {
        k
        for k in keys
        if len({json.dumps(f.get(k)) for f in flat}) > 1 or any(k not in f for f in flat)
    }


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=False))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def strongest_first(board: Board) -> list[str]:
    """The sweep's keys by the strength of their rank correlation with the loss."""
    trials = [f"search-{i}" for i in range(64)]
    losses = [last_loss(board, n) for n in trials]
    strength = {}
    for key in ("optim.lr", "model.layers", "optim.momentum"):
        section, leaf = key.split(".")
        values = [float(runs_file(board, n, "config.json")[section][leaf]) for n in trials]
        strength[key] = abs(spearman(values, losses))
    return sorted(strength, key=lambda k: -strength[k])


def record(request: pytest.FixtureRequest, tab: Any, prefix: str = "") -> dict[str, float]:
    """The page's own timings (ms), kept as test properties and in $HYPERTUNER_UI_TIMINGS."""
    found = tab.evaluate(
        """() => Object.fromEntries([
            ...performance.getEntriesByType('mark').map(m => [m.name, m.startTime]),
            ...performance.getEntriesByType('measure').map(m => [m.name, m.duration])])"""
    )
    timings = {f"{prefix}{k}": round(v, 1) for k, v in found.items() if k.startswith("ht:")}
    for key, value in timings.items():
        request.node.user_properties.append((key, value))
    target = os.environ.get("HYPERTUNER_UI_TIMINGS")
    if target:
        path = Path(target)
        kept = json.loads(path.read_text()) if path.is_file() else {}
        kept.update(timings)
        path.write_text(json.dumps(kept, indent=2) + "\n")
    return timings


def screenshot(tab: Any, name: str) -> None:
    """Refresh docs/<name> when HYPERTUNER_UI_SCREENSHOT names the folder (or a .png in it)."""
    target = os.environ.get("HYPERTUNER_UI_SCREENSHOT")
    if not target:
        return
    folder = Path(target)
    if folder.suffix == ".png":
        folder = folder.parent
    if not folder.is_absolute():
        folder = ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    tab.evaluate("document.getElementById('message').hidden = true")
    tab.screenshot(path=str(folder / name), full_page=True)


# --- the runs table -------------------------------------------------------------------------------


def test_columns_are_the_keys_that_vary_among_the_runs_shown_strongest_first(
    board: Board, tab: Any
) -> None:
    tab.fill("#filter", "hand")
    hands = shown_runs(tab)
    assert sorted(hands) == ["hand-ckpt", "hand-fail", "hand-pruned", "hand-wide"]
    expected = varying([runs_file(board, n, "config.json") for n in hands])
    assert set(header_keys(tab)) == expected  # model.layers does not vary among them: no column
    assert "model.layers" not in expected

    tab.fill("#filter", "sweep=search")
    tab.wait_for_function("document.querySelectorAll('#runs-table tr[data-run]').length === 64")
    assert header_keys(tab) == strongest_first(board)
    assert header_keys(tab)[0] == "optim.lr"  # the key that mattered most
    shown = tab.text_content('#runs-table th[data-key="config:optim.lr"] .importance')
    assert shown.startswith("\u03c1 ")

    # "N more keys": a visible chooser; hiding a column lists it there, choosing brings it back.
    assert tab.text_content("#more-keys-summary") == "choose keys"
    tab.click("#more-keys-summary")
    tab.uncheck('#key-chooser input[data-key="model.layers"]')
    assert "model.layers" not in header_keys(tab)
    assert tab.text_content("#more-keys-summary") == "1 more key"
    tab.check('#key-chooser input[data-key="model.layers"]')
    assert "model.layers" in header_keys(tab)


def test_numbers_share_one_format_with_the_full_value_on_hover(board: Board, tab: Any) -> None:
    tab.click('button.toggle[data-sweep="search"]')
    for column in ("metric:loss", "config:optim.lr"):
        index = tab.evaluate(
            f"""[...document.querySelectorAll('#runs-table thead th')]
                .findIndex(c => c.dataset.key === {json.dumps(column)})"""
        )
        cells = tab.locator(f"#runs-table tr[data-run] > :nth-child({index + 1})").evaluate_all(
            "cells => cells.map(c => [c.dataset ? c.textContent : '', c.title])"
        )
        cells = [(text, full) for text, full in cells if text]
        assert len(cells) >= 64
        assert len({"e" in text for text, _ in cells}) == 1  # one notation in a column
        for text, full in cells:
            assert math.isclose(float(text), float(full or text), rel_tol=1e-3)
            assert len(text.replace("-", "").replace(".", "").lstrip("0")) <= 8
    full = tab.get_attribute('#runs-table tr[data-run="search-0"] td.chosen', "title")
    assert float(full) == last_loss(board, "search-0")  # the full value, on hover


def test_name_column_stays_in_view_while_scrolling_and_after_edit(board: Board, tab: Any) -> None:
    tab.set_viewport_size({"width": 760, "height": 800})
    tab.check("#all-keys")  # every config key: a table much wider than the window
    wrap = "document.getElementById('table-wrap')"
    assert tab.evaluate(f"{wrap}.scrollWidth > {wrap}.clientWidth + 200")
    tab.evaluate(f"{wrap}.scrollLeft = {wrap}.scrollWidth")
    tab.click('button[data-edit="hand-wide"]')
    tab.wait_for_selector("#edit-heading:has-text('hand-wide')")
    tab.evaluate("document.getElementById('edit').scrollIntoView()")
    tab.evaluate(f"{wrap}.scrollIntoView()")
    assert tab.evaluate(f"{wrap}.scrollLeft") > 100  # still scrolled sideways
    inside = tab.evaluate(
        f"""() => {{
            const cell = document.querySelector('#runs-table tr[data-run="hand-wide"] th.name');
            const box = cell.getBoundingClientRect(), frame = {wrap}.getBoundingClientRect();
            const link = cell.querySelector('a.run-link').getBoundingClientRect();
            const top = document.elementFromPoint(link.left + 3, link.top + link.height / 2);
            return [Math.abs(box.left - frame.left) <= 2, cell.contains(top)];
        }}"""
    )
    assert inside == [True, True]


def test_status_chips_filter_the_runs(board: Board, tab: Any) -> None:
    chips = tab.locator("#status-chips button[data-status]").evaluate_all(
        "b => b.map(x => x.dataset.status)"
    )
    assert chips[:6] == ["running", "finished", "failed", "interrupted", "crashed", "pruned"]
    tab.click('#status-chips button[data-status="failed"]')
    assert shown_runs(tab) == ["hand-fail"]
    assert "diverged at step 3" in tab.get_attribute('tr[data-run="hand-fail"] .chip', "title")
    tab.click('#status-chips button[data-status="pruned"]')
    assert sorted(shown_runs(tab)) == ["hand-fail", "hand-pruned"]
    assert tab.get_attribute('#status-chips button[data-status="pruned"]', "aria-pressed") == "true"
    tab.click('#status-chips button[data-status="failed"]')
    tab.click('#status-chips button[data-status="pruned"]')
    assert len(shown_runs(tab)) == 4  # the sweep's trials are folded again


def test_sweep_is_one_folding_group_with_its_counts_and_best_trial(board: Board, tab: Any) -> None:
    best, value = journal_best(board)
    head = tab.locator('#runs-table tr.group-head[data-group="search"]')
    assert "64 trials" in head.text_content()
    assert head.locator('.chip[data-count="finished"]').text_content() == "64 finished"
    assert head.locator(".sweep-best").get_attribute("data-best") == best
    assert repr(value) in head.locator(".sweep-best").get_attribute("title")
    assert not tab.locator('tr[data-run][data-sweep="search"]').count()  # folded

    tab.click('button.toggle[data-sweep="search"]')
    assert tab.get_attribute('button.toggle[data-sweep="search"]', "aria-expanded") == "true"
    assert tab.locator('tr[data-run][data-sweep="search"]').count() == 64
    assert tab.locator(f'tr[data-run="{best}"] .badge.trial-best').count() == 1
    assert tab.locator(".badge.trial-best").count() == 1
    tab.click('#runs-table th[data-key="metric:loss"]')  # best first
    assert shown_runs(tab)[0] == best
    screenshot(tab, "ui.png")
    tab.click('button.toggle[data-sweep="search"]')
    assert not tab.locator('tr[data-run][data-sweep="search"]').count()


# --- a run's page ---------------------------------------------------------------------------------


def test_run_page_shows_provenance_meta_checkpoints_curves_and_log(board: Board, tab: Any) -> None:
    tab.click('a.run-link[data-link="hand-ckpt"]')
    tab.wait_for_selector("#run-body:not([hidden])")
    assert tab.url.endswith("#/run/hand-ckpt")  # its own address

    def origin(key: str) -> str:
        return tab.text_content(f'#run-config li[data-key="{key}"] .origin')

    assert origin("optim.lr") == "command line 'optim.lr=0.05'"
    assert origin("model.width") == "configs/base.json:3"
    assert origin("model.layers") == "defaults"
    assert tab.text_content('#run-config li[data-key="model.width"] .value') == "128"

    meta = runs_file(board, "hand-ckpt", "meta.json")
    assert tab.text_content("#run-command") == shlex.join([meta["executable"], *meta["argv"]])
    assert tab.text_content("#run-commit") == meta["git"]["commit"]
    assert meta["git"]["dirty"]
    assert "dirty" in tab.text_content("#run-dirty")
    assert "python " + meta["versions"]["python"] in tab.text_content("#run-meta")

    ledger = runs_file(board, "hand-ckpt", "saves.json")
    rows = tab.locator("#run-checkpoints tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.file, r.children[1].textContent, r.className])"
    )
    assert [r[0] for r in rows] == [e["file"] for e in ledger["checkpoints"]]
    assert [r[1] for r in rows] == [str(e["step"]) for e in ledger["checkpoints"]]
    assert [r[0] for r in rows if r[2] == "best"] == [ledger["model"]["source"]]
    assert "the best by loss" in tab.text_content("#run-checkpoints-note")

    tab.wait_for_function(
        "[...document.querySelectorAll('#run-curves .chart')].every(c => c.data && c.data.length)"
    )
    tags = tab.locator("#run-curves .chart").evaluate_all("c => c.map(x => x.dataset.tag)")
    assert tags == ["acc", "loss"]
    assert tab.text_content('#run-curves .chart[data-tag="loss"] .xtitle') == "step"
    assert "started outside the page" in tab.text_content("#run-log-note")
    tab.click("#run-board")
    assert tab.text_content("#board-run-regex") == "^hand-ckpt$"
    screenshot(tab, "ui-run.png")

    # A sweep's trial: its searched keys came from the sweep's command line, its log is the
    # sweep's log of that trial.
    tab.goto(f"{board.ui.base}/#/run/search-5")
    tab.wait_for_selector("#run-body:not([hidden])")
    tab.wait_for_selector("#run-meta a[href='#/explore?sweep=search']")
    assert origin("model.layers").startswith("command line 'model.layers=")
    assert "done: loss" in tab.text_content("#run-log")


# --- explore --------------------------------------------------------------------------------------


def test_parallel_coordinates_brushing_filters_the_runs(
    board: Board, tab: Any, request: pytest.FixtureRequest
) -> None:
    tab.click('a.explore-link[data-explore="search"]')
    tab.wait_for_selector("#parcoords .parcoords")
    tab.wait_for_function("performance.getEntriesByName('ht:parcoords').length === 1")
    labels = tab.evaluate(
        "document.getElementById('parcoords').data[0].dimensions.map(d => d.label)"
    )
    keys = strongest_first(board)
    assert labels == [f"{k} (log)" if k == "optim.lr" else k for k in keys] + ["loss"]
    assert "64 runs" in tab.text_content("#brush-count")

    # Drag along the metric's axis, over its lower part.
    top, bottom, x = tab.evaluate(
        """() => {
            const axes = document.querySelectorAll('#parcoords .axis-brush rect.background');
            const box = axes[axes.length - 1].getBoundingClientRect();
            return [box.top, box.bottom, box.left + box.width / 2];
        }"""
    )
    tab.mouse.move(x, bottom - 2)
    tab.mouse.down()
    tab.mouse.move(x, (top + bottom) / 2, steps=8)
    tab.mouse.up()
    tab.wait_for_selector("#brush-count:has-text('inside the brushed ranges')")
    low, high = tab.evaluate(
        "document.getElementById('parcoords').data[0].dimensions[3].constraintrange"
    )
    inside = sorted(
        n for n in (f"search-{i}" for i in range(64)) if low <= last_loss(board, n) <= high
    )
    assert 0 < len(inside) < 64
    assert tab.text_content("#brush-count").startswith(f"{len(inside)} of 64 runs inside")
    listed = tab.locator("#brushed-runs li").evaluate_all("l => l.map(x => x.dataset.run)")
    assert set(listed) <= set(inside)
    assert len(listed) == min(10, len(inside))
    points = tab.evaluate("document.getElementById('scatter').data[1].text")
    assert sorted(points) == inside  # the scatter shows the brushed runs apart
    tab.wait_for_function(
        "document.getElementById('chart').data && "
        f"document.getElementById('chart').data.every(t => {json.dumps(inside)}.includes(t.name))"
    )
    screenshot(tab, "ui-explore.png")
    record(request, tab, "sweep64:")

    # Scatter of any key against the metric, on a log axis for a key over decades.
    tab.select_option("#scatter-key", "optim.lr")
    tab.check("#scatter-logx")
    tab.wait_for_function("document.getElementById('scatter')._fullLayout.xaxis.type === 'log'")
    assert tab.text_content("#scatter .xtitle") == "optim.lr"


# --- the whole loop -------------------------------------------------------------------------------


def test_new_user_finds_the_best_trial_sees_what_mattered_and_launches_a_variation(
    board: Board, tab: Any
) -> None:
    """The issue's 'done when', in the page alone."""
    best, _ = journal_best(board)
    # Find the best trial: the sweep's row names it.
    tab.click(f'#runs-table tr.group-head .sweep-best a[data-link="{best}"]')
    tab.wait_for_selector("#run-body:not([hidden])")
    assert tab.text_content("#run-title") == best
    assert "(this one)" in tab.text_content("#run-meta")
    # Which keys mattered: the sweep's explore view puts the strongest first.
    tab.click("#run-meta a[href='#/explore?sweep=search']")
    tab.wait_for_selector("#scatter-key option", state="attached")
    assert tab.input_value("#scatter-key") == "optim.lr"
    tab.go_back()
    tab.wait_for_selector(f"#run-title:has-text('{best}')")
    tab.wait_for_selector("#run-body:not([hidden])")

    # Launch a variation: the page shows the exact command first.
    tab.click("#run-launch")
    tab.wait_for_selector("#confirm:not([hidden])")
    name = tab.input_value("#new-name")
    assert name == f"{best}-v2"  # the sweep's own names <sweep>-<n> stay the sweep's
    config = runs_file(board, best, "config.json")
    lr = config["optim"]["lr"] * 2
    tab.fill('#edit-fields input[data-key="optim.lr"]', str(lr))
    assert tab.is_hidden("#confirm")  # an edit after showing: asked again
    tab.click("#launch-button")
    tab.wait_for_selector("#confirm:not([hidden])")
    shown = tab.text_content("#confirm-command")
    edited = {**config, "optim": {**config["optim"], "lr": lr}}
    plan = board.ui.launcher.plan(best, edited, name)
    assert shown == shlex.join(plan.command)
    assert tab.text_content("#confirm-cwd") == plan.cwd == str(board.project)
    tab.click("#confirm-launch")
    tab.wait_for_selector(f"#message:has-text('Started run {name}')")
    assert board.ui.launcher.launches[name].command == plan.command  # what the server runs
    tab.click('nav a[data-view="runs"]')
    tab.wait_for_selector(f'#runs-table tr[data-run="{name}"] td.status-finished', timeout=60_000)
    assert not tab.locator(f'tr[data-run="{name}"][data-sweep]').count()  # not one of the trials

    tab.click(f'a.run-link[data-link="{name}"]')
    tab.wait_for_selector("#run-body:not([hidden])")
    assert "done: loss" in tab.text_content("#run-log")
    saved = board.storage / ".hypertuner" / "configs" / f"{name}.json"
    assert tab.text_content('#run-config li[data-key="optim.lr"] .origin') == f"{saved}:3"
    assert json.loads(saved.read_text())["optim"]["lr"] == lr


# --- hostile values and a page without plotly -----------------------------------------------------


def test_markup_in_keys_and_values_stays_text_in_every_view(board: Board, tab: Any) -> None:
    hostile = board.storage / "hand-xss"
    if not hostile.exists():
        shutil.copytree(board.storage / "hand-wide", hostile)
        config = runs_file(board, "hand-xss", "config.json")
        config["<img src=x onerror=window.__xss=1>"] = "<script>window.__xss=2</script>"
        config["model"]["activation"] = "<b onmouseover=window.__xss=3>relu</b>"
        (hostile / "config.json").write_text(json.dumps(config))
    tab.reload()
    tab.fill("#filter", "hand")
    tab.wait_for_selector('#runs-table tr[data-run="hand-xss"]')
    assert "config:<img src=x onerror=window.__xss=1>" in tab.locator(
        "#runs-table th[data-key]"
    ).evaluate_all("c => c.map(x => x.dataset.key)")
    tab.goto(f"{board.ui.base}/#/run/hand-xss")
    tab.wait_for_selector("#run-body:not([hidden])")
    tab.goto(f"{board.ui.base}/#/explore?runs=hand-xss,hand-wide,hand-ckpt,hand-pruned")
    tab.wait_for_selector("#parcoords .parcoords")
    tab.select_option("#scatter-key", "<img src=x onerror=window.__xss=1>")
    tab.wait_for_selector("#scatter .xtitle")
    assert "<img" in tab.text_content("#scatter .xtitle")
    assert tab.evaluate(
        "window.__xss === undefined && !document.querySelector('img, script:not([src])')"
    )


def test_page_without_plotly_works_and_says_what_to_install(
    board: Board, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "_plotly_file", lambda: None)
    with UIServer(board.storage, port=0) as ui:
        ui.start()
        context = board.browser.new_context()
        page = context.new_page()
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        page.goto(f"{ui.url}#/explore?sweep=search")
        page.wait_for_selector("#parcoords .chart-missing")
        assert "pip install 'hypertuner[ui]'" in page.text_content("#parcoords")
        assert "pip install 'hypertuner[ui]'" in page.text_content("#scatter")
        page.goto(f"{ui.base}/#/run/hand-ckpt")
        page.wait_for_selector("#run-curves .chart-missing")
        assert page.locator("#run-checkpoints tbody tr").count() >= 1  # the rest works
        page.click('nav a[data-view="runs"]')
        page.wait_for_selector('#runs-table tr.group-head[data-group="search"]')
        context.close()
    assert not [u for u in asked if "plotly" in u]
