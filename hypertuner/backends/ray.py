"""The Ray backend: each trial a Ray task, on a local instance or a cluster
(``pip install 'hypertuner[ray]'``).

The driver (the sweep's process) keeps the journal and the study; a small actor on the driver's
node, the *broker*, carries the values a running trial logs to the driver and the pruner's
verdicts back (a task waits briefly for the verdict, as :mod:`hypertuner._report` says). A task
lost with its worker or its node (``cluster.remove_node``, a machine gone) is run again
elsewhere, up to ``retries`` times, under the same trial index and run name.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
        retries: how many times a trial whose worker or node was lost runs again elsewhere.

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
        retries: int = 2,
    ) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            msg = f"workers must be a positive integer (trials run at once), not {workers!r}."
            raise SearchSpecError(msg, key="workers", value=workers)
        self.name = "ray"
        self._workers = workers
        self.address = address
        self.options = dict(options or {})
        self.retries = retries

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
                # "local": a new instance even where a test cluster left its address file behind
                ray.init(
                    address="local",
                    num_cpus=self.workers,
                    include_dashboard=False,
                    log_to_driver=True,
                )
            started = True
            where = "connected to " + address if address else "started a local instance"
            driver.note(f"Ray: {where}.")
        try:
            _Session(ray, self, driver).run()
        finally:
            if started:
                ray.shutdown()


class _Broker:
    """The actor between running tasks and the driver: values in, verdicts out (asyncio)."""

    def __init__(self) -> None:
        import asyncio  # in the actor only: the sweep's process (and the CLI) never needs it

        self.reports: list[tuple[int, int, int, float, bool]] = []
        self.arrived = asyncio.Event()
        self.verdicts: dict[tuple[int, int], list[bool]] = {}
        self.changed = asyncio.Event()

    async def report(self, index: int, attempt: int, step: int, value: float, waits: bool) -> None:
        self.reports.append((index, attempt, step, value, waits))
        self.arrived.set()

    async def drain(self, timeout: float) -> list[tuple[int, int, int, float, bool]]:
        """The values sent since the last call; waits up to ``timeout`` for the first one."""
        import asyncio

        if not self.reports:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout)
        self.arrived.clear()
        out, self.reports = self.reports, []
        return out

    async def decide(self, answers: list[tuple[int, int, bool]]) -> None:
        for index, attempt, stop in answers:
            self.verdicts.setdefault((index, attempt), []).append(stop)
        self.changed.set()

    async def verdict(self, index: int, attempt: int, number: int) -> bool:
        """The verdict on the ``number``-th value (from 0) the trial sent."""
        while len(self.verdicts.get((index, attempt), ())) <= number:
            self.changed.clear()
            await self.changed.wait()
        return self.verdicts[(index, attempt)][number]


@dataclasses.dataclass
class _BrokerUpstream:
    """A task's way to the driver: through the broker."""

    broker: Any
    index: int
    attempt: int
    waits: bool
    sent: int = 0
    heard: int = 0
    asked: Any = None  # the broker's answer on the verdict being waited for

    def send(self, step: int, value: float) -> None:
        self.broker.report.remote(self.index, self.attempt, step, value, self.waits)
        self.sent += 1

    def verdict(self, wait: float | None = None) -> bool | None:
        import ray

        if self.asked is None:
            self.asked = self.broker.verdict.remote(self.index, self.attempt, self.heard)
        try:
            stop = ray.get(self.asked, timeout=wait)
        except ray.exceptions.GetTimeoutError:
            return None  # asked again (the same answer) at the next call
        self.asked, self.heard = None, self.heard + 1
        return bool(stop)


def _execute_task(job: Job, broker: Any) -> Outcome:
    """One trial in a Ray task."""
    upstream = _BrokerUpstream(broker, job.index, job.attempt, job.waits)
    return execute(job, upstream if job.report else None)


class _Session:
    """One run of the Ray backend: tasks in flight, the broker, retries."""

    def __init__(self, ray: Any, backend: Ray, driver: Driver) -> None:
        self.ray = ray
        self.backend = backend
        self.driver = driver
        options = {"num_cpus": 1, "max_retries": 0, **backend.options}
        self.remote = ray.remote(_execute_task).options(**options)
        self.broker: Any = None
        self.drain_ref: Any = None
        self.in_flight: dict[Any, Job] = {}

    def _start_broker(self) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = self.ray.get_runtime_context().get_node_id()
        self.broker = (
            self.ray.remote(_Broker)
            .options(
                num_cpus=0,
                max_concurrency=10_000,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False),
            )
            .remote()
        )

    def _submit(self, job: Job) -> None:
        if job.report and self.broker is None:
            self._start_broker()
        self.in_flight[self.remote.remote(job, self.broker)] = job

    def run(self) -> None:
        exhausted = False
        try:
            while True:
                while not exhausted and len(self.in_flight) < self.backend.workers:
                    job = self.driver.next_job()
                    if job is None:
                        exhausted = True
                    else:
                        self.driver.started(job)
                        self._submit(job)
                if not self.in_flight:
                    break
                waiting = list(self.in_flight)
                if self.broker is not None:
                    if self.drain_ref is None:
                        self.drain_ref = self.broker.drain.remote(0.5)
                    waiting.append(self.drain_ref)
                done, _ = self.ray.wait(waiting, num_returns=1, timeout=1.0)
                for ref in done:
                    if ref is self.drain_ref:
                        self.drain_ref = None
                        self._answer(self.ray.get(ref))
                    else:
                        self._ended(ref)
        except KeyboardInterrupt:
            self._interrupt()
            raise

    def _answer(self, reports: list[tuple[int, int, int, float, bool]]) -> None:
        answers = []
        for index, attempt, step, value, waits in reports:
            stop = self.driver.report(index, step, value)
            if waits:
                answers.append((index, attempt, stop))
        if answers:
            self.broker.decide.remote(answers)

    def _ended(self, ref: Any) -> None:
        job = self.in_flight.pop(ref)
        try:
            outcome = self.ray.get(ref)
        except Exception as exc:  # the task's worker or node was lost (trial errors are outcomes)
            error = f"Ray: {type(exc).__name__}: {exc}"[:2000]
            if job.attempt < self.backend.retries:
                job.attempt += 1
                self.driver.note(
                    f"Ray: trial {job.index} was lost ({type(exc).__name__}); running it again "
                    f"(attempt {job.attempt + 1} of {self.backend.retries + 1})."
                )
                self.driver.started(job)
                self._submit(job)
                return
            outcome = Outcome(job.index, "failed", error=error)
        self.driver.finished(outcome)

    def _interrupt(self) -> None:
        for ref in self.in_flight:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)
        for ref, job in self.in_flight.items():
            try:
                outcome = self.ray.get(ref, timeout=STOP_GRACE_S)
            except Exception:
                outcome = Outcome(job.index, "interrupted", error="KeyboardInterrupt")
            self.driver.finished(outcome)
