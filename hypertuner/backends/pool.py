"""The process pool backend: worker processes on this machine, reused across trials.

A trial function runs in worker processes; a script's trials are each their own process
already, so a thread per slot starts them. Each slot may get its own ``CUDA_VISIBLE_DEVICES``
(one entry of ``gpus``) and a number of threads.

Workers start, by default, from a *warm forkserver*: one fresh interpreter (no thread or lock of
the sweep's process, so safe whatever threads the sweep's process runs) that has imported the
heavy modules the sweep's process holds (torch, Lightning, ...) with what torch imports at its
first optimizer (``torch._dynamo``), the trial function's module and the user's script
(:mod:`hypertuner.backends._warm`), and forks each worker from there: a worker starts in
milliseconds instead of paying ``import torch`` and a slow first trial itself. With ``gpus`` the
default is ``"spawn"``: a worker must see its ``CUDA_VISIBLE_DEVICES`` before anything imports the
script, and a forked worker inherits the server's environment.

While a trial runs, its worker sends the values of the sweep's metric to the driver over the
worker's pipe as they are logged, and waits briefly for the pruner's verdict on each (see
:mod:`hypertuner._report`). A worker whose driver is gone (killed) interrupts its trial at once.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._trial import STOP_GRACE_S, Job, Outcome, describe_error, execute, interrupt_commands
from ..errors import SearchSpecError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from . import Driver

_GONE = "the sweep that runs this trial is gone"

__all__ = ["START_METHODS", "ProcessPool"]

START_METHODS = ("spawn", "forkserver", "fork")


class ProcessPool:
    """Run trials in ``workers`` processes on this machine.

    Args:
        workers: trials at once (default: one per ``gpus`` entry, else the number of CPUs).
        start_method: ``"forkserver"`` (the default without ``gpus``: workers forked from a
            clean server process that has imported torch, Lightning, your trial's module and
            your script once), ``"spawn"`` (a fresh interpreter per worker that imports your
            script; the default with ``gpus``), or ``"fork"`` (a copy of this process: for CPU
            trials from a process whose other threads hold no locks; refused with ``gpus``).
            ``make bench`` measures what each costs.
        threads: torch/OpenMP threads in each worker (``None``: leave them as they are).
        gpus: ``CUDA_VISIBLE_DEVICES`` entries, one worker each (``["0", "1,2"]``).

    Raises:
        SearchSpecError: a bad value (the message names the argument).

    Example:
        >>> ProcessPool(workers=2, start_method="fork").workers
        2
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        start_method: str | None = None,
        threads: int | None = 1,
        gpus: Sequence[str] | None = None,
    ) -> None:
        self.gpus = _check_gpus(gpus)
        if self.gpus is not None:
            if workers is not None and workers != len(self.gpus):
                msg = (
                    f"workers={workers} does not match the {len(self.gpus)} gpu_ids entries: "
                    "each entry is one worker. Leave workers out."
                )
                raise SearchSpecError(msg, key="workers", value=workers)
            workers = len(self.gpus)
        if workers is None:
            workers = os.cpu_count() or 1
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            msg = f"workers must be a positive integer (trials run at once), not {workers!r}."
            raise SearchSpecError(msg, key="workers", value=workers)
        if threads is not None and (
            not isinstance(threads, int) or isinstance(threads, bool) or threads < 1
        ):
            msg = f"threads_per_worker must be a positive integer or None, not {threads!r}."
            raise SearchSpecError(msg, key="threads_per_worker", value=threads)
        if start_method is None:
            start_method = "spawn" if self.gpus is not None else "forkserver"
        if start_method not in START_METHODS:
            msg = (
                f"start_method must be one of {', '.join(repr(m) for m in START_METHODS)}, "
                f"not {start_method!r}."
            )
            raise SearchSpecError(msg, key="start_method", value=start_method)
        if start_method == "fork" and self.gpus is not None:
            msg = (
                "start_method='fork' cannot be used with gpus: a forked worker inherits this "
                "process's CUDA state before CUDA_VISIBLE_DEVICES can be set. Use 'spawn'."
            )
            raise SearchSpecError(msg, key="start_method", value=start_method)
        self.name = "process"
        self._workers = workers
        self.start_method = start_method
        self.threads = threads

    @property
    def workers(self) -> int:
        """How many trials run at once."""
        return self._workers

    def __repr__(self) -> str:
        return (
            f"ProcessPool(workers={self.workers}, start_method={self.start_method!r}, "
            f"threads={self.threads}, gpus={self.gpus!r})"
        )

    def environments(self) -> list[dict[str, str]]:
        """The variables each slot's trials start with (threads, ``CUDA_VISIBLE_DEVICES``)."""
        envs = []
        for slot in range(self.workers):
            env: dict[str, str] = {}
            if self.threads:
                env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
            if self.gpus is not None:
                env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot]
            envs.append(env)
        return envs

    def check(self, target: Callable[..., Any] | None) -> None:
        """A trial function must be importable by a worker process (picklable, not defined in an
        interactive session unless the workers fork), and no sweep may start while a spawned
        worker imports the script."""
        if target is None:
            return
        if not callable(target):
            msg = f"The trial function {target!r} is not callable (give a function, or a script)."
            raise SearchSpecError(msg, value=repr(target))
        import multiprocessing
        import pickle

        if getattr(multiprocessing.current_process(), "_inheriting", False):
            msg = (
                "A sweep was started while a worker process was importing your script: put the "
                "call under \"if __name__ == '__main__':\" (worker processes are spawned and "
                "import your script again)."
            )
            raise SearchSpecError(msg)
        inner = getattr(target, "__wrapped__", target)
        name = getattr(inner, "__qualname__", inner)
        interactive = getattr(inner, "__module__", None) == "__main__" and not getattr(
            sys.modules.get("__main__"), "__file__", None
        )
        if interactive and self.start_method != "fork":  # only a forked worker has the function
            msg = (
                f"The trial function {name!r} is defined in an interactive session, which "
                "spawned worker processes cannot import. Put it in a file, or use "
                "backend='serial', 'ray' or start_method='fork'."
            )
            raise SearchSpecError(msg)
        try:
            pickle.dumps(target)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            msg = (
                f"The trial function {name!r} cannot be sent to a worker process ({exc}). "
                "Define it with def at the top level of a module or script (not a lambda or a "
                "nested function), or use backend='serial' or 'ray'."
            )
            raise SearchSpecError(msg) from None

    def run(self, driver: Driver) -> None:
        """Run the driver's trials in worker processes (a script's trials: in thread slots)."""
        _Pool(self, driver).run()


def _check_gpus(gpus: Sequence[str] | None) -> list[str] | None:
    if gpus is None:
        return None
    entries = list(gpus)
    if not entries:
        msg = "gpu_ids is empty: give one entry per GPU set, e.g. gpu_ids=['0', '1']."
        raise SearchSpecError(msg, key="gpu_ids")
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            msg = (
                f"gpu_ids entry {entry!r} is not a CUDA_VISIBLE_DEVICES string such as '0' or "
                "'0,2'."
            )
            raise SearchSpecError(msg, key="gpu_ids", value=entry)
    return entries


# ---------------------------------------------------------------------------------------------
# Worker processes


_spawn_lock = threading.Lock()


@contextlib.contextmanager
def _environment(changes: Mapping[str, str]) -> Iterator[None]:
    """Set ``changes`` in ``os.environ`` while a child starts, so it inherits them at exec."""
    with _spawn_lock:
        saved = {k: os.environ.get(k) for k in changes}
        os.environ.update(changes)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


class _Upstream:
    """A worker's way to the driver while a trial runs: the values over the pipe, the verdict
    back over it."""

    def __init__(self, conn: Connection, job: Job) -> None:
        self.conn = conn
        self.index = job.index
        self.waits = job.waits

    def send(self, step: int, value: float) -> None:
        try:
            self.conn.send(("report", (self.index, step, value, self.waits)))
        except (OSError, EOFError):
            raise KeyboardInterrupt(_GONE) from None

    def verdict(self, wait: float | None = None) -> bool | None:
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if left is not None and not self.conn.poll(left):
                    return None
                kind, payload = self.conn.recv()
            except (OSError, EOFError):
                raise KeyboardInterrupt(_GONE) from None
            if kind == "verdict":
                return bool(payload)


def _orphan_watch() -> None:
    """Interrupt this worker when the sweep's process is gone (killed): the trial's run ends
    ``interrupted`` and releases its folder, so the sweep run again can run it."""
    parent = os.getppid()
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            with contextlib.suppress(OSError):
                os.kill(os.getpid(), signal.SIGINT)
            return


def _worker_main(conn: Connection, threads: int | None, env: Mapping[str, str]) -> None:
    """A pool worker: receive jobs, run them, send outcomes back, until told to stop."""
    import pickle

    os.environ.update(env)  # a forked worker has the server's environment, not its slot's
    threading.Thread(target=_orphan_watch, name="hypertuner-orphan", daemon=True).start()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        except Exception as exc:  # the job's function cannot be loaded here
            conn.send(("load-error", describe_error(exc)))
            continue
        if job is None:
            return
        if isinstance(job, tuple):
            continue  # a verdict on the last value of a trial that ended before reading it
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        try:
            outcome = execute(job, _Upstream(conn, job))
        except KeyboardInterrupt:  # the driver went away in the middle of a report
            return
        try:
            conn.send(("outcome", outcome))
        except (pickle.PicklingError, TypeError, AttributeError):
            outcome.result = repr(outcome.result)
            conn.send(("outcome", outcome))
        except (BrokenPipeError, KeyboardInterrupt):
            return
        if outcome.status == "interrupted":
            return


class _Worker:
    def __init__(self, slot: int, env: dict[str, str], pool: ProcessPool) -> None:
        import multiprocessing

        self.slot = slot
        self.env = env
        self.pool = pool
        self.job: Job | None = None
        self.ready = False
        context: Any = multiprocessing.get_context(pool.start_method)
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main,
            args=(child, pool.threads, env),
            name=f"hypertuner-worker-{slot}",
        )
        with _environment(env):
            self.process.start()
        child.close()

    def give(self, job: Job, driver: Driver) -> None:
        job.gpu = self.env.get("CUDA_VISIBLE_DEVICES")
        self.job = job
        driver.started(job)
        self.conn.send(job)

    def stop(self, timeout: float) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():  # pragma: no cover - a trial that ignores SIGTERM
            self.process.kill()
            self.process.join()
        self.conn.close()


class _Pool:
    """One run of a :class:`ProcessPool`: the workers, the trials waiting for one, the driver."""

    def __init__(self, pool: ProcessPool, driver: Driver) -> None:
        self.pool = pool
        self.driver = driver
        self.envs = pool.environments()
        self.workers: list[_Worker] = []
        self.waiting: collections.deque[Job] = collections.deque()
        self.exhausted = False

    def run(self) -> None:
        first = self.driver.next_job()
        if first is None:
            return
        if first.command is not None:
            _run_commands(self.driver, self.envs, first)
            return
        if self.pool.start_method == "forkserver":
            _warm_forkserver(first.fn)
        self.waiting.append(first)
        try:
            while self._schedule():
                self._wait()
        except KeyboardInterrupt:
            self._interrupt()
            raise
        finally:
            for worker in self.workers:
                worker.stop(timeout=STOP_GRACE_S)

    def _schedule(self) -> bool:
        """Pull trials for free slots, start workers for them, hand them out; ``False`` when
        every trial has ended."""
        busy = sum(1 for w in self.workers if w.job is not None)
        while not self.exhausted and busy + len(self.waiting) < len(self.envs):
            job = self.driver.next_job()
            if job is None:
                self.exhausted = True
            else:
                self.waiting.append(job)
        idle = sum(1 for w in self.workers if w.job is None)
        while idle < len(self.waiting) and len(self.workers) < len(self.envs):
            slot = len(self.workers)
            self.workers.append(_Worker(slot, self.envs[slot], self.pool))
            idle += 1
        for worker in self.workers:
            if worker.ready and worker.job is None and self.waiting:
                worker.give(self.waiting.popleft(), self.driver)
        return bool(self.waiting) or any(w.job is not None for w in self.workers)

    def _wait(self) -> None:
        from multiprocessing.connection import wait

        owners: dict[Any, _Worker] = {}
        for worker in self.workers:
            owners[worker.conn] = owners[worker.process.sentinel] = worker
        for ready in wait(list(owners), timeout=1.0):
            worker = owners[ready]
            if worker not in self.workers:
                continue  # already replaced in this round
            if worker.conn.poll():
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):  # the worker is gone
                    worker.process.join(5.0)
                    self._death(worker)
                    continue
                self._message(worker, message)
            elif not worker.process.is_alive():
                self._death(worker)

    def _message(self, worker: _Worker, message: tuple[str, Any]) -> None:
        kind, payload = message
        if kind == "ready":
            worker.ready = True
        elif kind == "load-error":
            job, worker.job = worker.job, None
            fn = job.fn if job else None
            inner = getattr(fn, "__wrapped__", fn)
            target = getattr(inner, "__qualname__", repr(inner)) if job else "the trial function"
            msg = (
                f"A worker process cannot load {target} ({payload}). Define the function at the "
                'top level of an importable module or of your script (not inside "if __name__ '
                "== '__main__':\"), or use backend='serial'."
            )
            raise SearchSpecError(msg, value=payload)
        elif kind == "report":
            index, step, value, waits = payload
            stop = self.driver.report(index, step, value)
            if waits:
                with contextlib.suppress(OSError):  # the worker died meanwhile: _death tells
                    worker.conn.send(("verdict", stop))
        elif kind == "outcome":
            worker.job = None
            self.driver.finished(payload)
            if payload.status == "interrupted":
                raise KeyboardInterrupt

    def _death(self, worker: _Worker) -> None:
        code = worker.process.exitcode
        if not worker.ready:
            msg = (
                f"A worker process exited with code {code} while starting (importing your "
                "script). If your script starts the sweep at its top level, put that call under "
                "\"if __name__ == '__main__':\" (worker processes are spawned: they import your "
                "script again); its error is printed above."
            )
            raise SearchSpecError(msg, value=code)
        job = worker.job
        worker.conn.close()
        self.workers[self.workers.index(worker)] = _Worker(worker.slot, worker.env, self.pool)
        if job is not None:
            reason = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            self.driver.finished(
                Outcome(job.index, "failed", error=f"The worker process died ({reason}).")
            )

    def _interrupt(self) -> None:
        """After Ctrl-C: interrupt the running trials and record how they ended."""
        busy = [w for w in self.workers if w.job is not None and w.process.is_alive()]
        for worker in busy:
            with contextlib.suppress(OSError):
                os.kill(worker.process.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        while busy and time.monotonic() < deadline:
            for worker in list(busy):
                if worker.conn.poll(0.05):
                    with contextlib.suppress(EOFError, OSError):
                        kind, payload = worker.conn.recv()
                        if kind == "report" and payload[3]:
                            worker.conn.send(("verdict", False))
                        if kind == "outcome":
                            self.driver.finished(payload)
                            busy.remove(worker)
                            worker.job = None
                elif not worker.process.is_alive():
                    busy.remove(worker)
        for worker in self.workers:
            if worker.job is not None:
                self.driver.finished(
                    Outcome(worker.job.index, "interrupted", error="KeyboardInterrupt")
                )
                worker.job = None


# ---------------------------------------------------------------------------------------------
# The warm forkserver

#: Heavy modules the forkserver imports when the sweep's process has them (a worker then does
#: not pay for them); the trial function's module and the script come on top.
_HEAVY = (
    "numpy",
    "torch",
    "torchvision",
    "lightning",
    "pytorch_lightning",
    "lightning_fabric",
    "torchmetrics",
    "scipy",
    "pandas",
    "sklearn",
    "transformers",
    "tensorboard",
)


#: What a heavy module imports on first use, which the server imports beside it: torch's first
#: optimizer (every trial's) imports torch._dynamo, over a second, in each worker otherwise.
_FIRST_USE = {"torch": ("torch._dynamo",)}

#: What a trial's run imports at its first hypertuner.log (TensorBoard's event and HParams
#: protos; the HParams plugin pulls in TensorBoard's file layer, boto3 included where installed):
#: 0.3 s in each worker otherwise.
_TRIAL_FIRST_USE = (
    "tensorboard.compat.proto.event_pb2",
    "tensorboard.compat.proto.summary_pb2",
    "tensorboard.plugins.hparams.metadata",
    "tensorboard.plugins.hparams.plugin_data_pb2",
)


# The server's preload, named (importing it here would run it: it is the server's warm-up).
_WARM_MODULE, _WARM_ENV = "hypertuner.backends._warm", "HYPERTUNER_WARM"


def _warm_forkserver(fn: Callable[..., Any] | None) -> None:
    """Start ``multiprocessing``'s forkserver (when it does not run yet), warmed with the modules
    the trials need: see :mod:`hypertuner.backends._warm`."""
    import multiprocessing
    from multiprocessing import forkserver, spawn

    modules = ["hypertuner._trial", "hypertuner.backends.pool", *_TRIAL_FIRST_USE]
    for name in _HEAVY:
        if name in sys.modules:
            modules += [name, *_FIRST_USE.get(name, ())]
    inner = getattr(fn, "__wrapped__", fn)
    module = getattr(inner, "__module__", None)
    if isinstance(module, str) and module not in ("__main__", "__mp_main__", "builtins"):
        modules.append(module)
    data = spawn.get_preparation_data("hypertuner-forkserver")
    spec = {"modules": modules, "main": data.get("init_main_from_path"), "path": sys.path}
    multiprocessing.get_context("forkserver").set_forkserver_preload([_WARM_MODULE])
    with _environment({_WARM_ENV: json.dumps(spec, default=str)}):
        forkserver.ensure_running()


# ---------------------------------------------------------------------------------------------
# A script's trials: each is its own process already; a thread per slot starts and waits for it


class _SlotUpstream:
    """A slot thread's way to the driver: values through the results queue, the verdict back
    through the slot's own queue."""

    def __init__(self, done: queue.Queue[tuple[Any, ...]], job: Job) -> None:
        self.done = done
        self.job = job
        self.replies: queue.Queue[bool] = queue.Queue()

    def send(self, step: int, value: float) -> None:
        self.done.put(("report", self.job, (step, value, self.replies)))

    def verdict(self, wait: float | None = None) -> bool | None:
        try:
            return self.replies.get(timeout=wait)
        except queue.Empty:
            return None


def _run_commands(driver: Driver, envs: list[dict[str, str]], first: Job) -> None:
    todo: queue.Queue[Job | None] = queue.Queue()
    done: queue.Queue[tuple[Any, ...]] = queue.Queue()

    def slot(env: dict[str, str]) -> None:
        while (job := todo.get()) is not None:
            job.env = {**job.env, **env}
            job.gpu = env.get("CUDA_VISIBLE_DEVICES")
            done.put(("started", job, None))
            try:
                outcome = execute(job, _SlotUpstream(done, job))
            except Exception as exc:  # never lose a trial to a bug in a slot thread
                outcome = Outcome(job.index, "failed", error=describe_error(exc))
            done.put(("ended", job, outcome))

    threads = [threading.Thread(target=slot, args=(env,), daemon=True) for env in envs]
    for thread in threads:
        thread.start()
    todo.put(first)
    in_flight, running = 1, set()
    exhausted = False
    try:
        while True:
            while not exhausted and in_flight < len(envs):
                job = driver.next_job()
                if job is None:
                    exhausted = True
                else:
                    todo.put(job)
                    in_flight += 1
            if exhausted and in_flight == 0:
                break
            try:
                kind, job, payload = done.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "started":
                running.add(job.index)
                driver.started(job)
            elif kind == "report":
                step, value, replies = payload
                stop = driver.report(job.index, step, value)
                if job.waits:
                    replies.put(stop)
            else:
                running.discard(job.index)
                in_flight -= 1
                driver.finished(payload)
    except KeyboardInterrupt:
        _stop_commands(driver, threads, todo, done, running)
        raise
    finally:
        for _ in threads:
            todo.put(None)


def _stop_commands(
    driver: Driver,
    threads: list[threading.Thread],
    todo: queue.Queue[Job | None],
    done: queue.Queue[tuple[Any, ...]],
    running: set[int],
) -> None:
    with contextlib.suppress(queue.Empty):
        while True:
            todo.get_nowait()  # trials not started yet never start
    for _ in threads:
        todo.put(None)
    interrupt_commands()
    deadline = time.monotonic() + STOP_GRACE_S
    for thread in threads:
        while thread.is_alive() and time.monotonic() < deadline:
            _answer_reports(done, running, driver)
            thread.join(0.05)
    interrupt_commands(kill=True)
    _answer_reports(done, running, driver)
    for index in sorted(running):
        driver.finished(Outcome(index, "interrupted", error="KeyboardInterrupt"))


def _answer_reports(done: queue.Queue[tuple[Any, ...]], running: set[int], driver: Driver) -> None:
    """While stopping: let slots waiting for a verdict go on (to their end), record the ends."""
    while not done.empty():
        kind, job, payload = done.get()
        if kind == "started":
            running.add(job.index)
        elif kind == "report":
            if job.waits:
                payload[2].put(False)
        else:
            running.discard(job.index)
            driver.finished(payload)
