"""The core examples run as a new user would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hypertuner

pytestmark = pytest.mark.slow  # the examples run as scripts

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_demo_trains_twice_and_says_how_to_compare(storage: Path) -> None:
    pytest.importorskip("torch", reason="the quickstart trains a PyTorch model")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/quickstart/demo.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env={**os.environ, "HYPERTUNER_STORAGE": str(storage)},
    )
    assert done.returncode == 0, done.stderr
    assert "HypertunerWarning" not in done.stderr
    for name in ("quickstart-small", "quickstart-big"):
        meta = json.loads((storage / name / "meta.json").read_text())
        assert meta["status"] == "finished"
    big = json.loads((storage / "quickstart-big" / "config.json").read_text())
    assert big["mlp"] == {"width": 64, "layers": 3, "activation": "relu"}
    assert "Compare them" in done.stdout
    from hypertuner.compare import rank_runs

    ranked = rank_runs("loss", "min", storage=storage)
    assert {row["name"] for row in ranked} == {"quickstart-small", "quickstart-big"}
    record = hypertuner.load("quickstart-big", storage=storage)
    assert record["config"] == big
    best = next(r["score"] for r in ranked if r["name"] == "quickstart-big")
    assert record["metrics"]["loss"] == pytest.approx(best)


def test_plain_example_uses_dataclass_defaults_file_and_overrides(storage: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples/plain/fit_line.py"),
            "--config=line.yaml",
            "fit.steps=150",
            "--name=line",
            f"--storage={storage}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    config = json.loads((storage / "line" / "config.json").read_text())
    assert config["fit"] == {"steps": 150, "lr": 0.3}
    assert config["data"]["points"] == 400
    slope = float(done.stdout.split("slope ")[1].split()[0])
    assert abs(slope - 2.0) < 0.1
