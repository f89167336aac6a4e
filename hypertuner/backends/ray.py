"""The Ray backend: each trial a Ray task, on a local instance or a cluster
(``pip install 'hypertuner[ray]'``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._deps import require
from .._trial import STOP_GRACE_S, Job, Outcome, execute
from ..errors import SearchSpecError

if TYPE_CHECKING:
    from . import Driver

__all__ = ["Ray"]


class Ray:
    """Run each trial as a Ray task, ``workers`` at a time.

    Args:
        workers: trials at once (a local instance is started with that many CPUs).
        address: the cluster to join (default ``$RAY_ADDRESS``, else a local instance); ignored
            when Ray is initialised already.
        options: Ray task options for each trial, e.g. ``{"num_gpus": 1}``.

    Example:
        >>> Ray(workers=2, options={"num_cpus": 1}).workers
        2
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        address: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            msg = f"workers must be a positive integer (trials run at once), not {workers!r}."
            raise SearchSpecError(msg, key="workers", value=workers)
        self.name = "ray"
        self._workers = workers
        self.address = address
        self.options = dict(options or {})

    @property
    def workers(self) -> int:
        """How many trials run at once."""
        return self._workers

    def __repr__(self) -> str:
        return f"Ray(workers={self.workers}, address={self.address!r}, options={self.options!r})"

    def check(self, target: Callable[..., Any] | None) -> None:
        """Ray ships functions with cloudpickle: any callable works; Ray must be installed."""
        if target is not None and not callable(target):
            msg = f"The trial function {target!r} is not callable (give a function, or a script)."
            raise SearchSpecError(msg, value=repr(target))
        require("ray", "ray", "The Ray backend")

    def run(self, driver: Driver) -> None:
        """Submit trials as Ray tasks, ``workers`` in flight, until the driver has none left."""
        ray = require("ray", "ray", "The Ray backend")
        started = False
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            if address:
                ray.init(address=address, log_to_driver=True)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=True)
            started = True
            where = "connected to " + address if address else "started a local instance"
            driver.note(f"Ray: {where}.")
        options = {"num_cpus": 1, "max_retries": 0, **self.options}
        remote = ray.remote(execute).options(**options)
        in_flight: dict[Any, Job] = {}
        exhausted = False
        try:
            while True:
                while not exhausted and len(in_flight) < self.workers:
                    job = driver.next_job()
                    if job is None:
                        exhausted = True
                    else:
                        driver.started(job)
                        in_flight[remote.remote(job)] = job
                if not in_flight:
                    break
                done, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
                for ref in done:
                    job = in_flight.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # a task Ray could not run (worker crash, lost node)
                        error = f"Ray: {type(exc).__name__}: {exc}"[:2000]
                        outcome = Outcome(job.index, "failed", error=error)
                    driver.finished(outcome)
        except KeyboardInterrupt:
            for ref in in_flight:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            for ref, job in in_flight.items():
                try:
                    outcome = ray.get(ref, timeout=STOP_GRACE_S)
                except Exception:
                    outcome = Outcome(job.index, "interrupted", error="KeyboardInterrupt")
                driver.finished(outcome)
            raise
        finally:
            if started:
                ray.shutdown()
