"""A sweep trial's line to its driver: the values of the sweep's metric, sent as they are logged,
and the pruner's verdict on each.

:func:`hypertuner.log` calls a run's :class:`Watch` (when the run is a trial of a sweep that
records intermediate values) after it has written the call's metrics. The watch sends the value
of the metric upstream and waits up to :data:`PROMPT_S` for the verdict: a trial the pruner
condemns is stopped by a :class:`~hypertuner.TrialPruned` from that same ``log`` call, as
Optuna's ``trial.report`` + ``should_prune`` would, so it never trains another epoch. A verdict
slower than that (the driver busy sampling another trial) is read at the next ``log`` call
instead, so a busy driver never stalls training for longer.

Upstream is whatever the backend provides: a direct call in the driver's process, a worker's
pipe, a Ray actor. A script's trial (its own process) finds its line in the environment
(:data:`ENV`): two file descriptors its parent relays to the driver.

Example:
    >>> class Driver:
    ...     def send(self, step, value): self.value = value
    ...     def verdict(self, wait=None): return self.value > 1.0
    >>> watch = Watch("loss", Driver(), waits=True)
    >>> watch({"loss": 0.5}, 0)
    >>> watch({"loss": 2.0}, 1)
    Traceback (most recent call last):
    hypertuner.errors.TrialPruned: Trial pruned at step 1: its 'loss' of 2 is not promising.
"""

from __future__ import annotations

import json
import os
import select
from collections.abc import Mapping
from typing import Any, Protocol

from .errors import TrialPruned

_GONE = "the sweep that runs this trial is gone"

__all__ = ["ENV", "PROMPT_S", "Upstream", "Watch", "from_environment", "pipe_environment"]

#: The variable that hands a script's trial its line: JSON ``{"run", "metric", "send", "hear"}``.
ENV = "HYPERTUNER_TRIAL_REPORT"

#: How long a ``log`` call waits for the verdict on the value it sent before training goes on
#: (the verdict is then read at the next call). A round trip takes well under a millisecond
#: when the driver is free.
PROMPT_S = 0.05


class Upstream(Protocol):
    """Where a trial's values go: the sweep's driver, by whatever way the backend has."""

    def send(self, step: int, value: float) -> None:
        """Send one value of the metric (without waiting for the driver)."""

    def verdict(self, wait: float | None = None) -> bool | None:
        """The driver's verdict on the last value sent: ``True`` means stop.

        ``wait`` bounds the wait in seconds (``None``: until it comes); ``None`` is returned
        when no verdict came in time, and the same verdict is asked for again later.
        """


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
            self.hear(None)
        if self.stopped is None and self.metric in metrics:
            value = float(metrics[self.metric])
            self.upstream.send(step, value)
            self.last = (step, value)
            self.pending = self.waits
            if self.waits:
                self.hear(PROMPT_S)
        if self.stopped is not None:
            at, value = self.stopped
            raise TrialPruned(step=at, metric=self.metric, value=value)

    def hear(self, wait: float | None) -> None:
        """Read the verdict on the last value sent, waiting at most ``wait`` seconds."""
        stop = self.upstream.verdict(wait)
        if stop is None:
            return  # not yet: asked again at the next call
        self.pending = False
        if stop:
            self.stopped = self.last


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

    def verdict(self, wait: float | None = None) -> bool | None:
        if self.into is None:
            return False
        if wait is not None and not select.select([self.into], [], [], wait)[0]:
            return None  # one verdict is in flight at a time: no line is ever read ahead
        line = self.into.readline()
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
