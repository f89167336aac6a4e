"""The Ray backend, on a local Ray instance (ray.init(num_cpus=2)) started by the sweep itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hypertuner._layout import list_runs
from hypertuner._sweeprecord import JOURNAL, SWEEP_FILE

pytestmark = pytest.mark.slow  # a real Ray instance

pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]


def test_trials_run_as_ray_tasks_and_land_in_the_storage_as_ordinary_runs(tmp_path: Path) -> None:
    """The native example on Ray: a __main__ function, an @auto_param model, hypertuner.log,
    and storage given as a URL that every trial is mirrored to."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HYPERTUNER_STORAGE")}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "search" / "native_sweep.py"),
            "--backend",
            "ray",
            "--trials",
            "4",
            "--workers",
            "2",
            "--steps",
            "3",
            "--name",
            "on-ray",
            "--storage",
            f"file://{tmp_path / 'bucket'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ray: started a local instance." in done.stderr
    assert "4/4 trials finished" in done.stdout
    storage = tmp_path / "storage"
    assert list_runs(storage) == ["on-ray-0", "on-ray-1", "on-ray-2", "on-ray-3"]
    # storage given as a URL: each Ray task mirrored its run there (no shared folder needed)
    assert list_runs(tmp_path / "bucket") == list_runs(storage)
    for index in range(4):
        meta = json.loads((storage / f"on-ray-{index}" / "meta.json").read_text())
        assert meta["status"] == "finished"
        assert meta["sweep"] == "on-ray"
        summary = json.loads((storage / f"on-ray-{index}" / "summary.json").read_text())
        assert summary["metrics"]["loss"]["last"] == pytest.approx(meta["result"])
    sweep = json.loads((storage / "on-ray" / SWEEP_FILE).read_text())
    assert (sweep["backend"], sweep["status"], sweep["counts"]) == (
        "ray",
        "finished",
        {"finished": 4},
    )
    lines = (storage / "on-ray" / JOURNAL).read_text().splitlines()
    assert len(lines) == 8
