"""The plain-PyTorch hook: attach() saves at a cadence, at the end, on SIGTERM, and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import hypertuner  # noqa: E402
from hypertuner.integrations.torch import attach  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _setup(seed: int = 0) -> tuple[Any, Any]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def _train(model: Any, optimizer: Any, steps: int) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.ones(4, 3)).pow(2).mean().backward()
        optimizer.step()


def _checkpoints(run: hypertuner.Run) -> list[str]:
    folder = run.directory / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_attach_saves_every_n_steps_and_once_more_at_run_end(storage: Path) -> None:
    run = hypertuner.start_run({}, name="hook", storage=storage)
    model, optimizer = _setup()
    hook = attach(optimizer, model, every_n_steps=3)
    _train(model, optimizer, 7)
    assert _checkpoints(run) == ["step-00000003.pt", "step-00000006.pt"]
    run.finish()
    assert hook.step == 7
    assert _checkpoints(run) == ["step-00000003.pt", "step-00000006.pt", "step-00000007.pt"]
    record = hypertuner.load(run.directory / "model.pt")
    assert record["step"] == 7
    assert record["optimizer"] is not None


def test_attach_saves_every_n_seconds(storage: Path) -> None:
    run = hypertuner.start_run({}, name="timed", storage=storage)
    model, optimizer = _setup()
    attach(optimizer, model, every_n_seconds=1e-9)
    _train(model, optimizer, 2)
    assert _checkpoints(run) == ["step-00000001.pt", "step-00000002.pt"]


def test_removed_hook_saves_nothing_more(storage: Path) -> None:
    run = hypertuner.start_run({}, name="removed", storage=storage)
    model, optimizer = _setup()
    hook = attach(optimizer, model, every_n_steps=1)
    _train(model, optimizer, 1)
    hook.remove()
    _train(model, optimizer, 2)
    run.finish()
    assert _checkpoints(run) == ["step-00000001.pt"]


def test_attach_uses_the_given_saver_and_its_monitor(storage: Path) -> None:
    run = hypertuner.start_run({}, name="given", storage=storage)
    model, optimizer = _setup()
    saver = hypertuner.Saver(model, keep=1)
    hook = attach(optimizer, saver=saver, every_n_steps=2)
    _train(model, optimizer, 4)
    assert hook.saver is saver
    assert saver.optimizer is optimizer
    assert _checkpoints(run) == ["step-00000004.pt"]


def test_recalled_run_resumes_weights_optimizer_and_step(storage: Path) -> None:
    run = hypertuner.start_run({"lr": 0.1}, name="resume", storage=storage)
    model, optimizer = _setup(1)
    attach(optimizer, model, every_n_steps=5)
    _train(model, optimizer, 5)
    run.finish()
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    run = hypertuner.start_run({"lr": 0.1}, name="resume", storage=storage)
    model, optimizer = _setup(2)
    hook = attach(optimizer, model, every_n_steps=5)
    assert hook.step == 5
    assert hook.record is not None
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    _train(model, optimizer, 5)
    assert "step-00000010.pt" in _checkpoints(run)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(
            lambda m, o: attach("sgd", m), r"torch\.optim\.Optimizer, not str", id="optimizer"
        ),
        pytest.param(lambda m, o: attach(o), "needs the model", id="no-model"),
        pytest.param(
            lambda m, o: attach(o, m, every_n_steps=0), "every_n_steps must be", id="steps-0"
        ),
        pytest.param(
            lambda m, o: attach(o, m, every_n_steps=2.5), "whole number", id="steps-float"
        ),
        pytest.param(
            lambda m, o: attach(o, m, every_n_seconds=-1), "every_n_seconds", id="seconds-neg"
        ),
        pytest.param(lambda m, o: attach(o, "net"), r"torch\.nn\.Module", id="model-str"),
    ],
)
def test_bad_input_is_refused_with_type_error(storage: Path, call: Any, match: str) -> None:
    run = hypertuner.start_run({}, name="bad", storage=storage)
    model, optimizer = _setup()
    with pytest.raises(TypeError, match=match):
        call(model, optimizer)
    run.finish()
    assert not (run.directory / "model.pt").exists()


_SIGTERM_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch
    import hypertuner
    from hypertuner.integrations.torch import attach

    hypertuner.parse(["--name=term", "--storage=" + sys.argv[1]])
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    hook = attach(optimizer, model, every_n_steps=1000)
    while True:
        optimizer.zero_grad()
        model(torch.ones(2, 3)).sum().backward()
        optimizer.step()
        if hook.step == 3:
            print("training", flush=True)
        time.sleep(0.01)
    """
)


@pytest.mark.slow
def test_sigterm_saves_last_checkpoint_and_marks_run_interrupted(storage: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _SIGTERM_SCRIPT, str(storage)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "training"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    meta = json.loads((storage / "term" / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    record = hypertuner.load(storage / "term" / "model.pt")
    assert record["step"] >= 3


@pytest.mark.slow
def test_pytorch_example_trains_saves_and_resumes(storage: Path) -> None:
    command = [
        sys.executable,
        str(ROOT / "examples/pytorch/train.py"),
        "train.steps=120",
        "--name=example",
        f"--storage={storage}",
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert sorted(p.name for p in (storage / "example/checkpoints").iterdir()) == [
        "step-00000050.pt",
        "step-00000100.pt",
        "step-00000120.pt",
    ]
    assert hypertuner.load("example", storage=storage)["config"]["train"]["steps"] == 120
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert "resumed at step 120" in again.stdout
    assert os.path.isfile(storage / "example" / "model.pt")
