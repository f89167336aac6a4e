"""`hypertuner ui` in a real headless Chromium: table, sort, filter, compare, edit and launch.

Needs Debian's Chromium (``apt-get install -y chromium``) and the Python ``playwright`` package;
no browser is downloaded. Set ``HYPERTUNER_UI_SCREENSHOT=docs/ui.png`` to refresh the README's
screenshot of the page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypertuner.ui.server import UIServer

pytestmark = pytest.mark.slow  # a real Chromium per test

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


@pytest.fixture
def page(storage: Path) -> Iterator[tuple[Any, UIServer]]:
    with UIServer(storage, port=0) as ui:
        ui.start()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                tab = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                tab.on("pageerror", lambda exc: errors.append(str(exc)))
                tab.set_default_timeout(15_000)
                yield tab, ui
                assert not errors, errors
            finally:
                browser.close()
        for started in ui.launcher.launches.values():
            started.process.wait(timeout=60)


def names_in_table(tab: Any) -> list[str]:
    return list(
        tab.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
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

    # Compare: the differing keys side by side and both curves on one chart.
    tab.check('input[data-run="baseline"]')
    tab.check('input[data-run="wide"]')
    tab.click("#compare-button")
    tab.wait_for_selector("#chart svg path.line")
    diff = tab.locator("#diff-table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.textContent))"
    )
    assert diff == [["model.width", "64", "256"], ["optim.lr", "0.1", "0.3"]]
    assert tab.locator("#chart svg path.line").count() == 2
    assert tab.input_value("#metric-select") == "loss"
    assert "hypertuner board" in tab.text_content("#board-command")

    # Edit: a wrong type is refused in the form, naming the key, and nothing starts.
    tab.click('button[data-edit="wide"]')
    tab.wait_for_selector('#edit-fields input[data-key="optim.lr"]')
    tab.fill('#edit-fields input[data-key="optim.lr"]', "fast")
    tab.click("#launch-button")
    assert "Key 'optim.lr' must be a number" in tab.text_content("#form-errors")
    assert tab.get_attribute('#edit-fields input[data-key="optim.lr"]', "aria-invalid") == "true"
    assert not (two_runs / ".hypertuner").exists()

    # Launch with an edited value; the new run shows up in the table and finishes.
    tab.fill('#edit-fields input[data-key="optim.lr"]', "0.05")
    tab.fill("#new-name", "wide-slow")
    tab.click("#launch-button")
    tab.wait_for_selector("#message:has-text('Started run wide-slow')")
    tab.wait_for_selector('#runs-table tr[data-run="wide-slow"] td.status-finished', timeout=45_000)
    config = json.loads((two_runs / "wide-slow" / "config.json").read_text())
    assert config["optim"] == {"lr": 0.05, "momentum": 0.9}
    assert config["model"]["width"] == 256
    assert isinstance(config["optim"]["lr"], float)
    assert config["milestones"] == [10, 15]

    # Compare all three and keep a picture of the page for the README.
    tab.check('input[data-run="wide-slow"]')
    tab.click("#compare-button")
    tab.wait_for_selector('#chart svg path.line[data-run="wide-slow"]')
    assert tab.locator("#chart svg path.line").count() == 3
    tab.click('button[data-edit="baseline"]')
    tab.wait_for_selector("#edit-heading:has-text('baseline')")
    tab.evaluate("document.getElementById('message').hidden = true")
    target = os.environ.get("HYPERTUNER_UI_SCREENSHOT")
    shot = Path(target) if target else two_runs.parent / "ui.png"
    if not shot.is_absolute():
        shot = ROOT / shot
    shot.parent.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_page_without_token_says_where_to_find_the_address(page: tuple[Any, UIServer]) -> None:
    tab, ui = page
    tab.goto(f"{ui.base}/")
    tab.wait_for_selector("#message:not([hidden])")
    assert "?token=" in tab.text_content("#message")
    assert tab.locator("#runs-table tbody tr").count() == 0
