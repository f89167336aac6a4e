"""`hypertuner ui` in a real headless Chromium: table, sort, filter, compare, edit and launch.

Needs Debian's Chromium (``apt-get install -y chromium``) and the Python ``playwright`` package;
no browser is downloaded. Every test here also checks that the page logged no error and sent no
request beyond its own server (it works offline). The dashboard views (sweeps, a run's page,
explore) are tested in ``test_ui_dashboard.py``, which also refreshes the README's screenshots.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypertuner.ui.server import UIServer

pytestmark = pytest.mark.slow  # a real Chromium per test

PLOTLY = importlib.util.find_spec("plotly") is not None
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

SCRIPT = """\
import math
import hypertuner

args = hypertuner.parse(defaults={
    "optim": {"lr": 0.1, "momentum": 0.9},
    "model": {"layers": 2, "width": 64, "activation": "relu"},
    "epochs": 20, "batch_size": 32, "augment": True, "milestones": [10, 15],
})
assert args.model.activation == "relu" and args.augment and args.batch_size == 32
rate = args.optim.lr * (1 + args.optim.momentum) / args.model.layers ** 0.5
loss = 1.5
for step in range(args.epochs):
    hypertuner.log({"loss": loss + 0.05, "acc": 1 - loss / 2}, step=step)
    loss *= math.exp(-rate * (0.5 if step >= args.milestones[0] else 1))
"""

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def two_runs(storage: Path, tmp_path: Path) -> Path:
    """Two runs of a small training script, started as a user would start them."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    for extra in (["--name=baseline"], ["--name=wide", "model.width=256", "optim.lr=0.3"]):
        subprocess.run(
            [sys.executable, str(script), *extra, f"--storage={storage}"],
            check=True,
            capture_output=True,
            timeout=60,
            cwd=tmp_path,
        )
    return storage


def watch(tab: Any, base: str) -> tuple[list[str], list[str]]:
    """Collect the page's errors (uncaught or logged) and every request that leaves ``base``."""
    errors: list[str] = []
    away: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("request", lambda r: None if r.url.startswith(f"{base}/") else away.append(r.url))
    return errors, away


@pytest.fixture
def page(storage: Path) -> Iterator[tuple[Any, UIServer]]:
    with UIServer(storage, port=0) as ui:
        ui.start()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                tab = browser.new_page(viewport={"width": 1280, "height": 900})
                errors, away = watch(tab, ui.base)
                tab.set_default_timeout(15_000)
                yield tab, ui
                assert not errors, errors
                assert not away, f"requests left the page's server: {away}"
            finally:
                browser.close()
        for started in ui.launcher.launches.values():
            started.process.wait(timeout=60)


def names_in_table(tab: Any) -> list[str]:
    return list(
        tab.locator("#runs-table tbody tr[data-run]").evaluate_all(
            "rows => rows.map(r => r.dataset.run)"
        )
    )


def test_page_lists_sorts_compares_edits_and_launches_a_run(
    page: tuple[Any, UIServer], two_runs: Path
) -> None:
    tab, ui = page
    tab.goto(ui.url)
    tab.wait_for_selector('#runs-table tbody tr[data-run="wide"]')
    assert sorted(names_in_table(tab)) == ["baseline", "wide"]
    assert "?token=" not in tab.url  # the token is kept out of the address bar

    # Sort by a hyperparameter, both ways; filter by text.
    header = tab.locator('#runs-table th[data-key="config:model.width"]')
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert names_in_table(tab) == ["baseline", "wide"]
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert names_in_table(tab) == ["wide", "baseline"]
    tab.fill("#filter", "256")
    assert names_in_table(tab) == ["wide"]
    tab.fill("#filter", "")

    # Compare: the differing keys side by side and both curves on one chart, with axis titles,
    # values on hover, smoothing and a log scale.
    tab.check('input[data-run="baseline"]')
    tab.check('input[data-run="wide"]')
    tab.click("#compare-button")
    tab.wait_for_selector("#diff-table tbody tr")
    diff = tab.locator("#diff-table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.textContent))"
    )
    assert diff == [["model.width", "64", "256"], ["optim.lr", "0.1", "0.3"]]
    assert tab.input_value("#metric-select") == "loss"
    assert "hypertuner board" in tab.text_content("#board-command")
    if PLOTLY:
        chart = "document.getElementById('chart')"
        tab.wait_for_function(f"{chart}.data && {chart}.data.length === 2")
        assert tab.evaluate(f"{chart}.data.map(t => t.name).sort()") == ["baseline", "wide"]
        assert tab.text_content("#chart .xtitle") == "step"
        assert tab.text_content("#chart .ytitle") == "loss"
        hover_on_curve(tab, "chart", 0, 5)
        text = tab.text_content("#chart .hoverlayer")
        assert "step 5" in text
        assert "loss" in text
        tab.locator("#smoothing").fill("0.9")
        tab.wait_for_function(f"{chart}.data.length === 4")  # each run: raw (faint) and smoothed
        raw, smoothed = tab.evaluate(f"[{chart}.data[0].y, {chart}.data[1].y]")
        assert raw[0] == smoothed[0]
        assert raw[-1] != smoothed[-1]
        tab.check("#log-y")
        tab.wait_for_function(f"{chart}._fullLayout.yaxis.type === 'log'")
    else:
        assert "pip install 'hypertuner[ui]'" in tab.text_content("#chart")

    # Edit: a wrong type is refused in the form, naming the key, and nothing starts.
    tab.click('nav a[data-view="runs"]')
    tab.click('button[data-edit="wide"]')
    tab.wait_for_selector('#edit-fields input[data-key="optim.lr"]')
    tab.fill('#edit-fields input[data-key="optim.lr"]', "fast")
    tab.click("#launch-button")
    assert "Key 'optim.lr' must be a number" in tab.text_content("#form-errors")
    assert tab.get_attribute('#edit-fields input[data-key="optim.lr"]', "aria-invalid") == "true"
    assert not (two_runs / ".hypertuner").exists()

    # Launch with an edited value: the page shows the exact command and starts it when asked;
    # the new run shows up in the table and finishes.
    tab.fill('#edit-fields input[data-key="optim.lr"]', "0.05")
    tab.fill("#new-name", "wide-slow")
    tab.click("#launch-button")
    tab.wait_for_selector("#confirm:not([hidden])")
    shown = tab.text_content("#confirm-command")
    assert shown.startswith(f"{sys.executable} {two_runs.parent.parent / 'train.py'} ")
    assert shown.endswith(" --name=wide-slow --storage=" + str(two_runs))
    assert tab.text_content("#confirm-cwd") == str(two_runs.parent.parent)
    assert not (two_runs / "wide-slow").exists()  # nothing started before the confirmation
    tab.click("#confirm-launch")
    tab.wait_for_selector("#message:has-text('Started run wide-slow')")
    assert shown == shlex.join(ui.launcher.launches["wide-slow"].command)
    tab.wait_for_selector('#runs-table tr[data-run="wide-slow"] td.status-finished', timeout=45_000)
    config = json.loads((two_runs / "wide-slow" / "config.json").read_text())
    assert config["optim"] == {"lr": 0.05, "momentum": 0.9}
    assert config["model"]["width"] == 256
    assert isinstance(config["optim"]["lr"], float)
    assert config["milestones"] == [10, 15]

    # Compare all three.
    tab.check('input[data-run="baseline"]')
    tab.check('input[data-run="wide-slow"]')
    tab.click("#compare-button")
    tab.wait_for_selector('#diff-table thead a[data-link="wide-slow"]')
    if PLOTLY:
        tab.wait_for_function("document.getElementById('chart').data.length >= 3")


def hover_on_curve(tab: Any, chart: str, trace: int, index: int) -> None:
    """Move the mouse onto point ``index`` of curve ``trace`` of plotly chart ``chart``."""
    x, y = tab.evaluate(
        """([id, trace, index]) => {
            const gd = document.getElementById(id), xa = gd._fullLayout.xaxis;
            const ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
            const t = gd.data[trace];
            return [box.left + xa._offset + xa.l2p(t.x[index]),
                    box.top + ya._offset + ya.l2p(ya.type === "log" ? Math.log10(t.y[index])
                                                                   : t.y[index])];
        }""",
        [chart, trace, index],
    )
    tab.mouse.move(x, y)
    tab.wait_for_selector(f"#{chart} .hoverlayer .hovertext")


def test_page_without_token_says_where_to_find_the_address(page: tuple[Any, UIServer]) -> None:
    tab, ui = page
    tab.goto(f"{ui.base}/")
    tab.wait_for_selector("#message:not([hidden])")
    assert "?token=" in tab.text_content("#message")
    assert tab.locator("#runs-table tbody tr").count() == 0


def test_config_key_named_proto_renders_without_polluting_object_prototype(
    page: tuple[Any, UIServer], storage: Path
) -> None:
    """Keys such as __proto__ and constructor stay keys: the table, the form and a saved config
    show them, and Object.prototype is untouched."""
    import hypertuner

    hypertuner.start_run({"lr": 0.1}, name="hostile", storage=storage).finish()
    hostile = {"lr": 0.1, "__proto__": {"polluted": "yes"}, "constructor": 3}
    (storage / "hostile" / "config.json").write_text(json.dumps(hostile))
    tab, ui = page
    console: list[str] = []
    tab.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    tab.goto(ui.url)
    tab.wait_for_selector('#runs-table tbody tr[data-run="hostile"]')
    headers = tab.locator("#runs-table th[data-key]").evaluate_all(
        "cells => cells.map(c => c.dataset.key)"
    )
    assert {"config:__proto__.polluted", "config:constructor"} <= set(headers)

    tab.click('button[data-edit="hostile"]')
    tab.wait_for_selector('#edit-fields input[data-key="__proto__.polluted"]')
    tab.fill('#edit-fields input[data-key="__proto__.polluted"]', "still a key")
    tab.fill("#new-name", "hostile-saved")
    tab.click("#save-button")
    tab.wait_for_selector("#message:has-text('Saved the config')")
    saved = json.loads((storage / ".hypertuner" / "configs" / "hostile-saved.json").read_text())
    assert saved == {**hostile, "__proto__": {"polluted": "still a key"}}
    assert tab.evaluate(
        "() => Object.prototype.polluted === undefined && ({}).polluted === undefined"
        " && typeof ({}).constructor === 'function'"
    )
    assert console == []
