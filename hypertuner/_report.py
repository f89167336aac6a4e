"""A sweep trial's line to its driver: the values of the sweep's metric, sent as they are logged,
and the pruner's verdict, heard at the next :func:`hypertuner.log` call.

:func:`hypertuner.log` calls a run's :class:`Watch` (when the run is a trial of a sweep that
records intermediate values) after it has written the call's metrics. The watch sends the value
of the metric upstream without waiting, and reads the verdict on it at the next call: the round
trip to the driver overlaps a training step, and a trial that should stop is stopped by a
:class:`~hypertuner.TrialPruned` at its next ``log`` call, where the training code stands.

Upstream is whatever the backend provides: a direct call in the driver's process, a worker's
pipe, a Ray actor. A script's trial (its own process) finds its line in the environment
(:data:`ENV`): two file descriptors its parent relays to the driver.

Example:
    >>> class Driver:
    ...     def send(self, step, value): self.value = value
    ...     def verdict(self): return self.value > 1.0
    >>> watch = Watch("loss", Driver(), waits=True)
    >>> watch({"loss": 2.0}, 0)
    >>> watch({"acc": 0.1}, 1)
    Traceback (most recent call last):
    hypertuner.errors.TrialPruned: Trial pruned at step 0: its 'loss' of 2 is not promising.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Protocol

from .errors import TrialPruned

_GONE = "the sweep that runs this trial is gone"

__all__ = ["ENV", "Upstream", "Watch", "from_environment", "pipe_environment"]

#: The variable that hands a script's trial its line: JSON ``{"run", "metric", "send", "hear"}``.
ENV = "HYPERTUNER_TRIAL_REPORT"


class Upstream(Protocol):
    """Where a trial's values go: the sweep's driver, by whatever way the backend has."""

    def send(self, step: int, value: float) -> None:
        """Send one value of the metric (without waiting for the driver)."""

    def verdict(self) -> bool:
        """Wait for the driver's verdict on the last value sent: ``True`` means stop."""


class Watch:
    """Sends the values of ``metric`` upstream and raises :class:`TrialPruned` once told to stop.

    ``waits`` is whether a verdict comes back (the sweep has a pruner); without one, values are
    only sent.
    """

    __slots__ = ("last", "metric", "pending", "stopped", "upstream", "waits")

    def __init__(self, metric: str, upstream: Upstream, *, waits: bool) -> None:
        self.metric = metric
        self.upstream = upstream
        self.waits = waits
        self.pending = False
        self.last: tuple[int, float] | None = None
        self.stopped: tuple[int, float] | None = None

    def __call__(self, metrics: Mapping[str, Any], step: int) -> None:
        if self.pending:
            self.pending = False
            if self.upstream.verdict():
                self.stopped = self.last
        if self.stopped is not None:
            at, value = self.stopped
            raise TrialPruned(step=at, metric=self.metric, value=value)
        if self.metric in metrics:
            value = float(metrics[self.metric])
            self.upstream.send(step, value)
            self.last = (step, value)
            self.pending = self.waits


class _Pipe:
    """The script side of a script trial's line: values out on one descriptor, verdicts in on
    the other (one line each)."""

    def __init__(self, send: int, hear: int | None) -> None:
        self.out = os.fdopen(send, "w", buffering=1, encoding="utf-8")  # line buffered
        self.into = os.fdopen(hear, "r", encoding="utf-8") if hear is not None else None

    def send(self, step: int, value: float) -> None:
        try:
            self.out.write(f"{step} {value!r}\n")
        except (BrokenPipeError, ValueError):
            raise KeyboardInterrupt(_GONE) from None

    def verdict(self) -> bool:
        line = self.into.readline() if self.into is not None else "0\n"
        if not line:  # the parent closed its end: the sweep is gone
            raise KeyboardInterrupt(_GONE)
        return line.strip() == "1"


def pipe_environment(run: str, metric: str, send: int, hear: int | None) -> str:
    """The value of :data:`ENV` for a script trial whose run is ``run``.

    Example:
        >>> json.loads(pipe_environment("s-0", "loss", 5, None))["run"]
        's-0'
    """
    return json.dumps({"run": run, "metric": metric, "send": send, "hear": hear})


def from_environment(run_name: str) -> Watch | None:
    """The watch for run ``run_name`` when this process is that script trial, else ``None``.

    Example:
        >>> from_environment("not-a-trial") is None
        True
    """
    text = os.environ.get(ENV)
    if not text:
        return None
    try:
        spec = json.loads(text)
        if spec["run"] != run_name:
            return None
        send, hear = int(spec["send"]), spec["hear"]
        upstream = _Pipe(send, None if hear is None else int(hear))
    except (ValueError, KeyError, TypeError, OSError):
        return None  # not our line (a copied environment): the trial just is not watched
    os.environ.pop(ENV, None)  # the script's own children are not the trial
    return Watch(str(spec["metric"]), upstream, waits=hear is not None)
