"""Differential tests: one snippet, run under an original library and under hypertuner.

A snippet is a small program written for the original library, with that library's own import
line (``from hyperparameter import auto_param, param_scope``). :func:`run_original` runs it with
``.venv-compat/bin/python``, where ``make compat-env`` installs the pinned originals;
:func:`run_hypertuner` runs it with this interpreter after changing only that import line to
``from hypertuner import ...``. Each run reports one result with ``emit(value)`` (a prelude both
runs share, so the programs differ in the import line alone), and :func:`assert_same` compares
the two results with types kept strict: ``1``, ``1.0`` and ``True`` are three different results
here, although Python calls them equal.

Each run happens in a fresh process and folder of its own; hypertuner's runs write to a
``storage`` folder under the test's ``tmp_path`` (``HYPERTUNER_STORAGE``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPAT_PYTHON = REPO / ".venv-compat" / "bin" / "python"
_MARK = "@@compat-result@@ "

# Shared by both runs, before the snippet's own first line.
_PRELUDE = f"""\
import json as _json


def emit(value):
    print({_MARK!r} + _json.dumps(value, sort_keys=True), flush=True)


"""

# Variables of the test process that would change what a snippet does.
_DROPPED_ENV = ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "HYPERPARAMETER_BACKEND")


@dataclass(frozen=True)
class Library:
    """An original library: how pip names it, the pinned version, and its import name."""

    distribution: str
    version: str
    module: str

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}"


HYPERPARAMETER = Library("hyperparameter", "0.5.12", "hyperparameter")
TEST_TUBE = Library("test-tube", "0.7.5", "test_tube")
# Rayhane-mamah's hparams is not on PyPI (PyPI's "hparams" is another project), so it is never
# run here: its tests compare hypertuner with values recorded from it (test_hparams_compat.py).
HPARAMS = Library("hparams", "549100f (Rayhane-mamah, GitHub only)", "hparams")


@functools.cache
def _original_problem(library: Library) -> str | None:
    """Why the original cannot run here, or None when ``.venv-compat`` has the pinned version."""
    if not COMPAT_PYTHON.exists():
        return (
            f"{library} is compared in .venv-compat, which is missing: run 'make compat-env' "
            "(make test builds it)."
        )
    probe = (
        f"import importlib.metadata, {library.module}; "
        f"print(importlib.metadata.version({library.distribution!r}))"
    )
    proc = subprocess.run(
        [str(COMPAT_PYTHON), "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env=_environment({}),
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        return f"{library} does not import in .venv-compat ({last}): run 'make compat-env'."
    found = proc.stdout.strip()
    if found != library.version:
        return (
            f".venv-compat has {library.distribution} {found}, not {library.version}: "
            "run 'make compat-env'."
        )
    return None


def require_original(library: Library) -> None:
    """Skip the test, saying why, when the original library is not installed in .venv-compat."""
    problem = _original_problem(library)
    if problem is not None:
        pytest.skip(problem)


def to_hypertuner(source: str, library: Library) -> str:
    """The snippet with the library's one import line changed to ``from hypertuner import``."""
    pattern = re.compile(rf"^(\s*)from {re.escape(library.module)} import ", re.MULTILINE)
    changed, count = pattern.subn(r"\1from hypertuner import ", source)
    if count != 1:
        msg = f"A snippet needs exactly one 'from {library.module} import ...' line, not {count}."
        raise ValueError(msg)
    return changed


@dataclass(frozen=True)
class Outcome:
    """What one run of a snippet did."""

    returncode: int
    stdout: str
    stderr: str
    results: tuple[Any, ...]

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and len(self.results) == 1

    def describe(self) -> str:
        lines = [line for line in self.stdout.splitlines() if not line.startswith(_MARK)]
        return (
            f"exit code {self.returncode}, {len(self.results)} emitted result(s)\n"
            f"--- stdout (tail) ---\n{_tail(lines)}\n"
            f"--- stderr (tail) ---\n{_tail(self.stderr.splitlines())}"
        )


def _tail(lines: list[str], count: int = 25) -> str:
    return "\n".join(lines[-count:])


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED_ENV and not key.startswith("HYPERTUNER_")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run(
    python: str | Path,
    source: str,
    folder: Path,
    *,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Outcome:
    """Run ``source`` as ``folder/snippet.py`` with ``python``, in ``folder``.

    ``files`` are written into ``folder`` first (``{"hparams.cfg": text}``). The same folder can
    serve several runs in a row (a second run that recalls the first one's files).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (folder / name).write_text(textwrap.dedent(text))
    script = folder / "snippet.py"
    script.write_text(_PRELUDE + textwrap.dedent(source))
    try:
        proc = subprocess.run(
            [str(python), str(script)],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_environment(env or {}),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
        err = exc.stderr if isinstance(exc.stderr, str) else (exc.stderr or b"").decode()
        return Outcome(-1, out, err + f"\n[timed out after {timeout} s]", ())
    results = tuple(
        json.loads(line[len(_MARK) :])
        for line in proc.stdout.splitlines()
        if line.startswith(_MARK)
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr, results)


def run_original(
    source: str,
    library: Library,
    folder: Path,
    *,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Any:
    """The snippet's result under the original library (skips when it is not installed)."""
    require_original(library)
    outcome = run(COMPAT_PYTHON, source, folder, env=env, files=files, timeout=timeout)
    if not outcome.ok:
        pytest.fail(
            f"The snippet fails under the original {library}: the snippet or .venv-compat is "
            f"wrong, not hypertuner.\n{outcome.describe()}",
            pytrace=False,
        )
    return outcome.results[0]


def run_hypertuner(
    source: str,
    library: Library,
    folder: Path,
    *,
    storage: Path,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    timeout: float = 120,
    expected: Any = None,
) -> Any:
    """The snippet's result with its import line changed to hypertuner (storage in ``storage``).

    ``expected`` (the original's result, when known) is shown if the snippet fails.
    """
    extra = {"HYPERTUNER_STORAGE": str(storage), **(env or {})}
    outcome = run(
        sys.executable,
        to_hypertuner(source, library),
        folder,
        env=extra,
        files=files,
        timeout=timeout,
    )
    if not outcome.ok:
        shown = "" if expected is None else f"\nThe original {library} gives: {expected!r}"
        pytest.fail(
            f"The snippet fails under hypertuner (import line changed only).{shown}\n"
            f"{outcome.describe()}",
            pytrace=False,
        )
    if outcome.stderr.strip():  # shown by pytest when the test fails (a thread's traceback)
        print(f"hypertuner's stderr:\n{_tail(outcome.stderr.splitlines())}", file=sys.stderr)
    return outcome.results[0]


def strict(value: Any) -> Any:
    """``value`` with each leaf paired with its type name, so that ``1 != 1.0 != True``."""
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strict(item) for item in value]
    return (type(value).__name__, value)


def assert_same(
    source: str,
    library: Library,
    tmp_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    original_env: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Any:
    """Run ``source`` under the original and under hypertuner; assert the same result.

    ``original_env`` adds variables for the original's run only (``HYPERPARAMETER_BACKEND``).

    Returns:
        The result both gave.
    """
    original = run_original(
        source,
        library,
        tmp_path / "original",
        env={**(env or {}), **(original_env or {})},
        files=files,
        timeout=timeout,
    )
    ours = run_hypertuner(
        source,
        library,
        tmp_path / "hypertuner",
        storage=tmp_path / "storage",
        env=env,
        files=files,
        timeout=timeout,
        expected=original,
    )
    assert strict(ours) == strict(original), (
        f"hypertuner gives {json.dumps(ours, sort_keys=True)}\n"
        f"{library} gives {json.dumps(original, sort_keys=True)}"
    )
    return original
