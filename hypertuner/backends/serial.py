"""The serial backend: one trial after another, in the sweep's own process."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._trial import execute
from ..errors import SearchSpecError

if TYPE_CHECKING:
    from . import Driver

__all__ = ["Serial"]


class _Direct:
    """Upstream in the driver's own thread: a value is recorded and judged as it is sent."""

    def __init__(self, driver: Driver, index: int) -> None:
        self.driver = driver
        self.index = index
        self.stop = False

    def send(self, step: int, value: float) -> None:
        self.stop = self.driver.report(self.index, step, value)

    def verdict(self, wait: float | None = None) -> bool | None:
        return self.stop


class Serial:
    """Run the trials one by one in this process (the default for one worker).

    Any callable works, lambdas and functions of an interactive session included.

    Example:
        >>> Serial().workers
        1
    """

    name = "serial"
    workers = 1

    def check(self, target: Callable[..., Any] | None) -> None:
        """Accept any callable (or a script's trials)."""
        if target is not None and not callable(target):
            msg = f"The trial function {target!r} is not callable (give a function, or a script)."
            raise SearchSpecError(msg, value=repr(target))

    def run(self, driver: Driver) -> None:
        """Run each trial in turn; Ctrl-C records the running one as interrupted and raises."""
        while (job := driver.next_job()) is not None:
            driver.started(job)
            outcome = execute(job, _Direct(driver, job.index))
            driver.finished(outcome)
            if outcome.status == "interrupted":
                raise KeyboardInterrupt

    def __repr__(self) -> str:
        return "Serial()"
