"""One trial of a sweep, run in the process that calls :func:`execute`.

A :class:`Job` says what to run (a function with the trial's config, or a script's command
line); :func:`execute` runs it as an ordinary run, started through :func:`hypertuner.start_run`
like any other, and returns an :class:`Outcome`. The serial loop, pool workers, thread slots and
Ray tasks (:mod:`hypertuner.backends`) all call it, each with its way upstream to the sweep's
driver (an :class:`~hypertuner._report.Upstream`) for the values the trial logs as it runs.

Example:
    >>> import tempfile
    >>> job = Job(0, "t0", "demo-0", tempfile.mkdtemp(), {"x": 3}, "demo", fn=lambda a: a.x * 2)
    >>> outcome = execute(job)
    >>> outcome.status, outcome.result
    ('finished', 6)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import tracking
from ._layout import storage_root
from ._report import ENV, Upstream, Watch, pipe_environment
from .args import Args
from .errors import MetricError, TrialPruned
from .run import start_run

__all__ = ["Job", "Outcome", "execute", "interrupt_commands", "jsonable", "number_of"]

#: Seconds a stopped trial gets to end before it is killed.
STOP_GRACE_S = 10.0


def number_of(result: Any, metric: str | None) -> float | None:
    """The finite number a trial's ``result`` ranks by (``result[metric]`` for a mapping).

    Example:
        >>> number_of({"loss": 0.5}, "loss"), number_of("text", None)
        (0.5, None)
    """
    if isinstance(result, Mapping) and metric is not None:
        result = result.get(metric)
    if isinstance(result, bool) or not hasattr(type(result), "__float__"):
        return None
    try:  # a number, a numpy scalar, a one-element tensor
        number = float(result)
    except (TypeError, ValueError, RuntimeError, OverflowError):  # a tensor of several
        return None  # elements, or an integer past the largest float
    return number if math.isfinite(number) else None


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (numbers from numpy scalars and tensors, else ``repr``).

    Example:
        >>> jsonable({"a": (1, 2), "b": float("nan")})
        "{'a': (1, 2), 'b': nan}"
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=json_default))
    except (TypeError, ValueError):
        return repr(value)


def json_default(value: Any) -> Any:
    """The ``default=`` of ``json.dumps`` for results: a number where one can be had, else
    ``repr``."""
    number = number_of(value, None)
    if number is not None:
        return number
    return repr(value)


@dataclasses.dataclass
class Job:
    """What a worker runs for one trial.

    A function job calls ``fn(args)`` with the trial's config as :class:`hypertuner.Args`; a
    command job runs ``command`` (a script that calls :func:`hypertuner.parse`), its output
    appended to ``log_path``.
    """

    index: int
    trial_id: str
    run_name: str
    storage: str
    config: dict[str, Any]
    sweep_name: str
    fn: Callable[..., Any] | None = None
    command: list[str] | None = None
    log_path: str | None = None
    metric: str | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    backup: str | None = None  # mirror the trial's run to this URL (storage given as a URL)
    gpu: str | None = None  # the CUDA_VISIBLE_DEVICES the trial ran with (for the journal)
    report: str | None = None  # send the values of this metric upstream as they are logged
    waits: bool = False  # ... and hear the pruner's verdict on each
    needs_value: str | None = None  # a trial that ends without a value fails, with this error
    attempt: int = 0  # how many times the trial was started again after its worker was lost


@dataclasses.dataclass
class Outcome:
    """How one trial ended: ``finished`` (with its ``result``, and the ``value`` it ranks by
    when one was found), ``failed``, ``interrupted`` or ``pruned``.

    The ``value`` is the result's number (``result[metric]`` for a mapping), else the last value
    of the metric the trial logged; an outcome without one is ranked by its ``result``.
    """

    index: int
    status: str
    result: Any = None
    error: str | None = None
    duration_s: float = 0.0
    value: float | None = None


def execute(job: Job, upstream: Upstream | None = None) -> Outcome:
    """Run one trial here (in this process) and report how it ended.

    A trial that raises, or a script that exits non-zero, is ``failed``; Ctrl-C makes it
    ``interrupted``; :class:`hypertuner.TrialPruned` (or a run marked pruned) makes it
    ``pruned``. Nothing but ``KeyboardInterrupt`` in a command's wait escapes. With
    ``upstream`` and ``job.report``, the values of that metric go upstream as they are logged.
    """
    if job.command is not None:
        return _execute_command(job, upstream if job.report else None)
    return _execute_function(job, upstream if job.report else None)


def _execute_function(job: Job, upstream: Upstream | None) -> Outcome:
    started = time.perf_counter()
    result: Any = None
    value: float | None = None
    no_value = False  # the trial ended without the value its sweep needs
    try:
        run = start_run(
            job.config,
            name=job.run_name,
            storage=job.storage or None,
            backup=job.backup,
            current=False,
            meta={"sweep": job.sweep_name, "trial": job.index, "trial_id": job.trial_id},
        )
        with run:  # the trial's config is the base scope inside, the sweep's own one after
            if upstream is not None and job.report:
                tracking.watch(run, Watch(job.report, upstream, waits=job.waits))
            result = job.fn(run.view(Args))  # type: ignore[misc]
            value = number_of(result, job.metric)
            if value is None and job.metric:
                # Logged, not returned: this attempt's last value, from memory (summary.json
                # is written at the next flush, and may hold an earlier attempt's).
                value = number_of(tracking.last_value(run, job.metric), None)
                if result is None:
                    result = value
            if result is not None:
                run.meta["result"] = jsonable(result)  # written when the run ends below
            if value is None and job.needs_value:  # the sweep cannot rank it: its run fails too
                no_value = True
                raise MetricError(job.needs_value, key=job.metric)
    except KeyboardInterrupt:
        elapsed = time.perf_counter() - started
        return Outcome(job.index, "interrupted", error="KeyboardInterrupt", duration_s=elapsed)
    except TrialPruned as exc:
        elapsed = time.perf_counter() - started
        return Outcome(job.index, "pruned", error=str(exc), duration_s=elapsed)
    except Exception as exc:  # a failing trial is recorded; the sweep goes on
        elapsed = time.perf_counter() - started
        error = job.needs_value if no_value and job.needs_value else describe_error(exc)
        return Outcome(job.index, "failed", error=error, duration_s=elapsed)
    elapsed = time.perf_counter() - started
    if run.status == "pruned":  # the Lightning callback stopped the trainer: a clean return
        return Outcome(job.index, "pruned", error=run.meta.get("error"), duration_s=elapsed)
    return Outcome(job.index, "finished", result=result, duration_s=elapsed, value=value)


def describe_error(exc: BaseException) -> str:
    """``"Type: message (file.py:line)"``: an error as the journal records it.

    Example:
        >>> describe_error(ValueError("boom"))
        'ValueError: boom'
    """
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def summary_metric(directory: Path, metric: str) -> float | None:
    """The last value of ``metric`` in a run's ``summary.json`` (written by ``hypertuner.log``)."""
    try:
        data = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = data.get("metrics", data).get(metric) if isinstance(data, dict) else None
    if isinstance(entry, Mapping):
        entry = entry.get("last")
    return number_of(entry, None)


def _read_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _summary_stamp(directory: Path) -> tuple[int, int] | None:
    """Which ``summary.json`` a run's folder holds (each write replaces the file), or ``None``."""
    try:
        stat = os.stat(directory / tracking.SUMMARY_FILE)
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _command_result(
    meta: Mapping[str, Any], directory: Path, metric: str | None, logged: bool
) -> tuple[Any, float | None]:
    """A script trial's result (``meta.json``'s ``result``, else the metric's last value) and
    the value it ranks by; ``logged``: whether this attempt wrote the run's ``summary.json``
    (else the summary is an earlier attempt's, or there is none)."""
    result = meta.get("result")
    value = number_of(result, metric)
    if value is None and metric and logged:
        value = summary_metric(directory, metric)
        if result is None:
            result = value
    return result, value


_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def _execute_command(job: Job, upstream: Upstream | None) -> Outcome:
    started = time.perf_counter()
    assert job.command is not None
    assert job.log_path is not None
    env = dict(os.environ)
    env.update(job.env)
    line: _Line | None = None
    if upstream is not None and job.report:
        line = _Line(job, upstream)
        env[ENV] = line.environment
    directory = storage_root(job.storage or None) / job.run_name
    summary_before = _summary_stamp(directory)
    try:
        with open(job.log_path, "ab") as log:
            process = subprocess.Popen(
                job.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                pass_fds=line.child_fds if line is not None else (),
            )
            with _children_lock:
                _children[job.index] = process
            try:
                if line is not None:
                    line.relay()  # until the script closes its end (it ended)
                code = process.wait()
            except KeyboardInterrupt:
                _stop(process)
                elapsed = time.perf_counter() - started
                return Outcome(
                    job.index, "interrupted", error="KeyboardInterrupt", duration_s=elapsed
                )
            finally:
                with _children_lock:
                    _children.pop(job.index, None)
                if line is not None:
                    line.close()
    except OSError as exc:
        return Outcome(job.index, "failed", error=f"Cannot start {job.command[0]!r}: {exc}.")
    elapsed = time.perf_counter() - started
    meta = _read_meta(directory)
    if meta.get("status") == "pruned":  # TrialPruned, or the Lightning callback's stop
        return Outcome(job.index, "pruned", error=meta.get("error"), duration_s=elapsed)
    if code == 0:
        logged = _summary_stamp(directory) not in (None, summary_before)
        result, value = _command_result(meta, directory, job.metric, logged)
        return Outcome(job.index, "finished", result=result, duration_s=elapsed, value=value)
    status = "interrupted" if code in (-signal.SIGINT, 130, -signal.SIGTERM, 143) else "failed"
    last = _last_line(job.log_path)
    error = f"exit code {code}" + (f": {last}" if last else "") + f" (log: {job.log_path})"
    return Outcome(job.index, status, error=error, duration_s=elapsed)


class _Line:
    """A script trial's line to the driver: the script writes ``step value`` lines on one pipe;
    this relays each upstream and, when the sweep has a pruner, writes the verdict back."""

    def __init__(self, job: Job, upstream: Upstream) -> None:
        self.upstream = upstream
        self.waits = job.waits
        self.values_read, self.values_write = os.pipe()
        self.verdict_read, self.verdict_write = os.pipe() if job.waits else (-1, -1)
        hear = self.verdict_read if job.waits else None
        assert job.report is not None
        self.environment = pipe_environment(job.run_name, job.report, self.values_write, hear)
        self.child_fds = tuple(fd for fd in (self.values_write, self.verdict_read) if fd >= 0)

    def relay(self) -> None:
        for fd in self.child_fds:  # the child has its copies now
            os.close(fd)
        self.child_fds = ()
        with os.fdopen(self.values_read, "r", encoding="utf-8", closefd=False) as values:
            for text in values:
                try:
                    step_text, value_text = text.split()
                    step, value = int(step_text), float(value_text)
                except ValueError:
                    continue
                self.upstream.send(step, value)
                if self.waits:
                    stop = self.upstream.verdict()
                    with contextlib.suppress(OSError):  # the script ended meanwhile
                        os.write(self.verdict_write, b"1\n" if stop else b"0\n")

    def close(self) -> None:
        for fd in (*self.child_fds, self.values_read, self.verdict_write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.child_fds = ()
        self.values_read = self.verdict_write = -1


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def interrupt_commands(*, kill: bool = False) -> None:
    """Send SIGINT (or, with ``kill``, SIGKILL) to every trial command running in this process."""
    with _children_lock:
        children = list(_children.values())
    for child in children:
        with contextlib.suppress(OSError):  # it ended meanwhile
            child.send_signal(signal.SIGKILL if kill else signal.SIGINT)


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4096))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    # The error is usually the last line; skip the warnings printed at exit (and their source line).
    for line in reversed(lines):
        if line.strip() and not line.startswith((" ", "\t")) and "Warning: " not in line:
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else ""
