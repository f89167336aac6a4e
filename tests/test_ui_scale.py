"""The page with 2,000 runs (a 500-trial sweep among them) in a real headless Chromium.

It must stay usable: the table draws its first rows and the rest as it is scrolled, the filter
answers, the sweep folds into one row, and the parallel-coordinates view draws all 500 trials,
in the chart the page readied in idle time while the table was shown.
The page's own timings (``performance`` entries ``ht:*``) are recorded, never asserted: set
``HYPERTUNER_UI_TIMINGS=path.json`` to keep them; ``benchmarks/bench_ui.py`` reports the same
entries, as medians of repeated page loads, on the same storage folder (built by its
``make_storage``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypertuner.ui import server as server_module
from hypertuner.ui.server import UIServer

pytestmark = pytest.mark.slow  # a real Chromium, 2,000 runs

CHROMIUM = os.environ.get("HYPERTUNER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
if not os.path.isfile(CHROMIUM):
    pytest.skip(f"Chromium is not installed at {CHROMIUM!r}.", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if server_module._plotly_file() is None:
    pytest.skip("the charts need plotly: pip install 'hypertuner[ui]'", allow_module_level=True)


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ui", ROOT / "benchmarks" / "bench_ui.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def big(tmp_path: Path) -> Iterator[tuple[Any, UIServer]]:
    bench = _bench()
    bench.make_storage(tmp_path / "storage")
    with UIServer(tmp_path / "storage", port=0) as ui:
        ui.start()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                tab = browser.new_page(viewport={"width": 1400, "height": 900})
                tab.set_default_timeout(30_000)
                errors: list[str] = []
                tab.on("pageerror", lambda exc: errors.append(str(exc)))
                tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                yield tab, ui
                assert not errors, errors
            finally:
                browser.close()


def test_two_thousand_runs_stay_usable_and_their_timings_are_recorded(
    big: tuple[Any, UIServer], request: pytest.FixtureRequest
) -> None:
    tab, ui = big
    tab.goto(ui.url)
    tab.wait_for_function("performance.getEntriesByName('ht:table-drawn').length === 1")
    assert tab.text_content("#count") == "2000 of 2000 runs"
    assert "500 trials" in tab.text_content('tr.group-head[data-group="big"]')
    drawn = "document.querySelectorAll('#runs-table tbody.runs tr[data-run]').length"
    assert tab.evaluate(drawn) == 200  # the first rows; the rest as the table is scrolled
    assert tab.text_content('button[data-more="runs"]') == "Show 200 more (1300 not drawn yet)"
    tab.evaluate("document.getElementById('table-wrap').scrollTop = 1e9")
    tab.wait_for_function(f"{drawn} >= 400")

    tab.fill("#filter", "run-01")
    tab.wait_for_function("performance.getEntriesByName('ht:filter').length === 1")
    assert tab.text_content("#count") == "100 of 2000 runs"

    tab.fill("#filter", "")
    tab.click('a.explore-link[data-explore="big"]')
    tab.wait_for_function("performance.getEntriesByName('ht:explore').length === 1")
    lines = tab.evaluate("document.getElementById('parcoords').data[0].dimensions[0].values.length")
    assert lines == 500

    timings = tab.evaluate(
        """() => Object.fromEntries([
            ...performance.getEntriesByType('mark').map(m => [m.name, m.startTime]),
            ...performance.getEntriesByType('measure').map(m => [m.name, m.duration])]
            .filter(([name]) => name.startsWith('ht:')))"""
    )
    timings = {f"2000runs:{k}": round(v, 1) for k, v in timings.items()}
    for key, value in timings.items():
        request.node.user_properties.append((key, value))
    target = os.environ.get("HYPERTUNER_UI_TIMINGS")
    if target:
        path = Path(target)
        kept = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**kept, **timings}, indent=2) + "\n")
    print("page timings (ms):", timings)


def test_the_explore_chart_is_readied_in_idle_time_and_reused(
    big: tuple[Any, UIServer],
) -> None:
    """Left alone on the table, the page loads plotly and draws a two-axis chart into the hidden
    explore view's chart area; opening explore then draws the sweep in the same WebGL canvases,
    at the width the view has."""
    tab, ui = big
    tab.goto(ui.url)
    tab.wait_for_function("performance.getEntriesByName('ht:table-drawn').length === 1")
    tab.wait_for_function("document.querySelectorAll('#parcoords canvas.gl-canvas').length === 3")
    assert tab.is_hidden("#explore-view")
    tab.evaluate(
        "document.querySelectorAll('#parcoords canvas.gl-canvas').forEach(c => c.dataset.warm = 1)"
    )
    tab.click('a.explore-link[data-explore="big"]')
    tab.wait_for_function("performance.getEntriesByName('ht:explore').length === 1")
    chart = tab.evaluate(
        """() => {
            const box = document.getElementById('parcoords');
            const dims = box.data[0].dimensions;
            const canvases = [...box.querySelectorAll('canvas.gl-canvas')];
            return { lines: dims[0].values.length, axes: dims.length,
                     width: box._fullLayout.width, shown: box.clientWidth,
                     canvases: canvases.map(c => c.dataset.warm) };
        }"""
    )
    assert chart["lines"] == 500
    assert chart["axes"] == 4  # optim.lr, model.layers, optim.momentum and the loss
    assert chart["canvases"] == ["1", "1", "1"]  # the same canvases: their contexts were kept
    assert abs(chart["width"] - chart["shown"]) <= 1
    assert "500 runs" in tab.text_content("#brush-count")
