"""Ways to run a sweep's trials: :class:`Serial`, :class:`ProcessPool` and :class:`Ray`.

A backend is any object with a ``workers`` count, a ``check(target)`` method and a
``run(driver)`` method (the :class:`Backend` protocol). ``run`` asks the driver (the sweep) for
the next trial with ``driver.next_job()`` whenever it has a free slot, tells it
``driver.started(job)`` and ``driver.finished(outcome)`` from the thread that called ``run``
(so the journal has a single writer), and returns when ``next_job()`` has nothing more and no
trial is running. A job with ``job.report`` set (a sweep with a model-based strategy or a
pruner) also sends the values of that metric as the trial logs them: the backend passes each to
``driver.report(index, step, value)``, from the same thread, and when ``job.waits`` sends the
answer (stop or not) back to the trial, which waits briefly for it (:mod:`hypertuner._report`). A
backend that passes no upstream to :func:`hypertuner._trial.execute` still runs every sweep,
only without early stopping. A new way to run trials, a cluster scheduler say, is one more
class in one more file: pass an instance as ``sweep(..., backend=...)``.

Example:
    >>> import tempfile, hypertuner
    >>> from hypertuner.backends import Serial
    >>> results = hypertuner.sweep(lambda args: args.x, {"x": [1, 2]}, backend=Serial(),
    ...                            storage=tempfile.mkdtemp(), progress=False)
    >>> [t.value for t in results]
    [1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .._trial import Job, Outcome
from ..errors import SearchSpecError, did_you_mean, suggest
from .pool import START_METHODS, ProcessPool
from .ray import Ray
from .serial import Serial

__all__ = [
    "NAMES",
    "START_METHODS",
    "Backend",
    "Driver",
    "ProcessPool",
    "Ray",
    "Serial",
    "backend_for",
]

#: The backends a string names: ``sweep(..., backend="process")``.
NAMES = ("serial", "process", "ray")


class Driver(Protocol):
    """What a backend talks to: the sweep that hands out trials and records how they end."""

    def next_job(self) -> Job | None:
        """The next trial to start, or ``None`` when there is none (left)."""

    def started(self, job: Job) -> None:
        """Record that ``job`` started (called before it runs)."""

    def finished(self, outcome: Outcome) -> None:
        """Record how a trial ended."""

    def report(self, index: int, step: int, value: float) -> bool:
        """A running trial logged ``value`` of the sweep's metric at ``step``; return whether
        the trial should stop (the pruner's verdict)."""

    def note(self, text: str) -> None:
        """Tell the user something (on the progress output)."""


class Backend(Protocol):
    """How a sweep runs its trials (see the module docstring)."""

    @property
    def workers(self) -> int:
        """How many trials run at once."""

    def check(self, target: Callable[..., Any] | None) -> None:
        """Raise :class:`~hypertuner.errors.SearchSpecError` when ``target`` (a trial function,
        or ``None`` for a script's trials) cannot run here; called before anything is written."""

    def run(self, driver: Driver) -> None:
        """Run the driver's trials until it has none left; on Ctrl-C, stop the running ones,
        record them as interrupted and raise ``KeyboardInterrupt``."""


def backend_for(
    backend: str | Backend | None,
    *,
    workers: int | None = None,
    gpus: Sequence[str] | None = None,
    threads: int | None = 1,
    start_method: str | None = None,
    ray_address: str | None = None,
    ray_options: Mapping[str, Any] | None = None,
) -> Backend:
    """The backend object for ``sweep()``'s ``backend=`` and its shorthand keywords.

    ``None`` picks :class:`Serial` for one worker and :class:`ProcessPool` for more (or for
    ``gpus``); a string names one of :data:`NAMES`; an object is used as it is (then the
    shorthand keywords must be left out: give them to the object).

    Raises:
        SearchSpecError: an unknown name, shorthand keywords beside a backend object, or a bad
            value (the message names the keyword).

    Example:
        >>> backend_for(None, workers=2)
        ProcessPool(workers=2, start_method='forkserver', threads=1, gpus=None)
        >>> backend_for("serial")
        Serial()
    """
    given = {
        "workers": workers,
        "gpus": gpus,
        "start_method": start_method,
        "ray_address": ray_address,
        "ray_options": ray_options,
    }
    if backend is not None and not isinstance(backend, str):
        extra = sorted(k for k, v in given.items() if v is not None)
        if extra:
            msg = (
                f"backend={backend!r} is an object: give {', '.join(extra)} to it "
                f"(for example ProcessPool(workers=2)), not to sweep()."
            )
            raise SearchSpecError(msg, key=extra[0], value=given[extra[0]])
        for method in ("run", "check"):
            if not callable(getattr(backend, method, None)):
                msg = f"backend={backend!r} has no {method}() method: see hypertuner.backends."
                raise SearchSpecError(msg, key="backend", value=repr(backend))
        return backend
    if workers is not None and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
    ):
        msg = f"workers must be a positive integer (trials run at once), not {workers!r}."
        raise SearchSpecError(msg, key="workers", value=workers)
    name = backend
    if name is None:
        name = "process" if (workers or 1) > 1 or gpus is not None else "serial"
    if name not in NAMES:
        close = suggest(str(name), NAMES)
        msg = (
            f"Unknown backend {name!r}: use one of {', '.join(map(repr, NAMES))}."
            f"{did_you_mean(close)}"
        )
        raise SearchSpecError(msg, key="backend", value=name, suggestions=close)
    if name == "serial":
        if (workers or 1) > 1:
            msg = (
                f"backend='serial' runs one trial at a time; workers={workers} needs "
                "backend='process' or 'ray'."
            )
            raise SearchSpecError(msg, key="workers", value=workers)
        if gpus is not None:
            msg = "gpu_ids needs backend='process' (one worker process per entry)."
            raise SearchSpecError(msg, key="backend", value=backend)
        return Serial()
    if name == "ray":
        return Ray(workers=workers or 1, address=ray_address, options=ray_options)
    return ProcessPool(workers=workers, gpus=gpus, threads=threads, start_method=start_method)
