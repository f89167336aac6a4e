"""Shared fixtures: every test runs in its own folder with its own storage and no run left over."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from hypertuner import run as run_module
from hypertuner import scope as scope_module
from hypertuner.errors import HypertunerWarning

_LAUNCHER_ENV = (
    "RANK",
    "LOCAL_RANK",
    "NODE_RANK",
    "GROUP_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_JOB_ID",
    "HYPERTUNER_RUN_NAME",
    "HYPERTUNER_RUN_PID",
    "HYPERTUNER_STORAGE",
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in tmp_path, with no launcher variables and no run or scope left from another test."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in _LAUNCHER_ENV:
        monkeypatch.delenv(name, raising=False)
    yield
    current = run_module._process_run
    if current is not None and current.status == "running":
        with warnings.catch_warnings():  # no unread-keys warning from a test's leftover run
            warnings.simplefilter("ignore", HypertunerWarning)
            current.finish()
    run_module._process_run = None
    scope_module.install_base({})  # no base scope left from another test
    os.environ.pop("HYPERTUNER_RUN_NAME", None)
    os.environ.pop("HYPERTUNER_RUN_PID", None)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """The storage folder the tests' runs land in (``./storage`` of the test's folder)."""
    return Path.cwd() / "storage"


def write(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` (creating folders) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


#: Fixtures that start a process: a test using one is ``slow`` (``make quick`` skips it).
SLOW_FIXTURES = {"script_run"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a fixture of :data:`SLOW_FIXTURES`."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
