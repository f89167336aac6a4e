"""A real TensorBoard reads the runs: scalars by run name, HParams with configs, final metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hypertuner

pytestmark = [
    pytest.mark.slow,  # a real TensorBoard server per test
    pytest.mark.filterwarnings("ignore:Run .* never read:hypertuner.errors.HypertunerWarning"),
]

TENSORBOARD = Path(sys.executable).with_name("tensorboard")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(url: str, ready: Any, process: subprocess.Popen[bytes], timeout: float = 60) -> Any:
    """Poll ``url`` until ``ready(answer)`` holds; fail with TensorBoard's log if it never does."""
    deadline = time.monotonic() + timeout
    answer = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tensorboard exited with {process.returncode}")
        try:
            answer = get(url)
            if ready(answer):
                return answer
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} never became ready; last answer: {answer!r}")


@pytest.fixture
def two_run_storage(storage: Path) -> Path:
    for name, lr, layers, losses in (
        ("big-lr01", 0.1, 8, [0.9, 0.5, 0.25]),
        ("small-lr1", 1.0, 2, [0.8, 0.7]),
    ):
        with hypertuner.start_run(
            {"lr": lr, "model": {"layers": layers, "act": "relu"}}, name=name
        ):
            for step, loss in enumerate(losses):
                hypertuner.log({"loss": loss, "acc": 1.0 - loss}, step=step)
    return storage


@pytest.fixture
def tensorboard(two_run_storage: Path) -> Iterator[str]:
    if not TENSORBOARD.exists():
        pytest.skip(f"the tensorboard executable is not installed beside {sys.executable}")
    port = free_port()
    process = subprocess.Popen(
        [
            str(TENSORBOARD),
            "--logdir",
            str(two_run_storage),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/data/runs", lambda runs: len(runs) == 2, process)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_tensorboard_lists_both_runs_with_their_scalar_series(tensorboard: str) -> None:
    assert sorted(get(f"{tensorboard}/data/runs")) == ["big-lr01", "small-lr1"]
    tags = get(f"{tensorboard}/data/plugin/scalars/tags")
    assert {run: sorted(t) for run, t in tags.items()} == {
        "big-lr01": ["acc", "loss"],
        "small-lr1": ["acc", "loss"],
    }
    series = get(f"{tensorboard}/data/plugin/scalars/scalars?run=big-lr01&tag=loss")
    assert [(step, pytest.approx(value)) for _, step, value in series] == [
        (0, 0.9),
        (1, 0.5),
        (2, 0.25),
    ]


def test_hparams_plugin_lists_both_runs_with_config_and_final_metrics(tensorboard: str) -> None:
    experiment = get(f"{tensorboard}/data/plugin/hparams/experiment", {"experimentName": ""})
    assert sorted(h["name"] for h in experiment["hparamInfos"]) == [
        "lr",
        "model.act",
        "model.layers",
    ]
    # Exactly the logged metrics: no empty or placeholder column.
    assert sorted(m["name"]["tag"] for m in experiment["metricInfos"]) == ["acc", "loss"]
    request = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [],
        "startIndex": 0,
        "sliceSize": 100,
    }
    groups = get(f"{tensorboard}/data/plugin/hparams/session_groups", request)["sessionGroups"]
    by_name = {g["name"]: g for g in groups}
    assert sorted(by_name) == ["big-lr01", "small-lr1"]
    big, small = by_name["big-lr01"], by_name["small-lr1"]
    assert big["hparams"] == {"lr": 0.1, "model.layers": 8.0, "model.act": "relu"}
    assert small["hparams"]["lr"] == 1.0
    finals = {
        name: {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        for name, group in by_name.items()
    }
    assert finals["big-lr01"] == {"loss": pytest.approx(0.25), "acc": pytest.approx(0.75)}
    assert finals["small-lr1"] == {"loss": pytest.approx(0.7), "acc": pytest.approx(0.3)}
    assert [s["status"] for s in big["sessions"]] == ["STATUS_SUCCESS"]


def test_hypertuner_board_starts_tensorboard_and_prints_its_address(two_run_storage: Path) -> None:
    script = Path(sys.executable).with_name("hypertuner")
    if not TENSORBOARD.exists():
        pytest.skip(f"the tensorboard executable is not installed beside {sys.executable}")
    if not script.exists():
        pytest.skip(f"the hypertuner console script is not installed beside {sys.executable}")
    port = free_port()
    process = subprocess.Popen(
        [str(script), "board", "--port", str(port), "--storage", str(two_run_storage)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        runs = wait_for(f"http://127.0.0.1:{port}/data/runs", lambda r: len(r) == 2, process)  # type: ignore[arg-type]
        assert sorted(runs) == ["big-lr01", "small-lr1"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, errors = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in errors
