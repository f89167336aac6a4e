"""Running trials: the serial loop, a spawned worker pool, parallel commands, Ray tasks.

Private to :mod:`hypertuner.launch`. Each backend takes the jobs to run and two callbacks from the
sweep: ``dispatch(job)`` when a trial starts and ``record(outcome)`` when it ends, both called in
the sweep's thread, so the journal has a single writer. ``_execute(job)`` runs one trial in the
process it is called in; worker processes, threads and Ray tasks all call it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SearchSpecError

if TYPE_CHECKING:
    import subprocess
    from multiprocessing.connection import Connection

# multiprocessing, subprocess, pickle and queue are imported where they are used: `import
# hypertuner` stays fast for scripts that never sweep.

_STOP_GRACE_S = 10.0


def _value(result: Any, metric: str | None) -> float | None:
    if isinstance(result, Mapping) and metric is not None:
        result = result.get(metric)
    if isinstance(result, bool) or not hasattr(type(result), "__float__"):
        return None
    try:  # a number, a numpy scalar, a one-element tensor
        number = float(result)
    except (TypeError, ValueError, RuntimeError):  # a tensor of several elements
        return None
    return number if math.isfinite(number) else None


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_json_default))
    except (TypeError, ValueError):
        return repr(value)


def _json_default(value: Any) -> Any:
    number = _value(value, None)
    if number is not None:
        return number
    return repr(value)


# ---------------------------------------------------------------------------------------------
# Jobs: what a worker runs for one trial


@dataclasses.dataclass
class _Job:
    index: int
    trial_id: str
    run_name: str
    storage: str
    config: dict[str, Any]
    sweep_name: str
    call: str  # "args", "namespace", "gpu-namespace" or "command"
    fn: Callable[..., Any] | None = None
    command: list[str] | None = None
    log_path: str | None = None
    metric: str | None = None
    gpu: str | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    search: Any = None  # the namespace's search settings (test-tube style)
    backup: str | None = None  # mirror the trial's run to this URL (storage given as a URL)


@dataclasses.dataclass
class _Outcome:
    index: int
    status: str
    result: Any = None
    error: str | None = None
    duration_s: float = 0.0
    load_error: bool = False


def _execute(job: _Job) -> _Outcome:
    """Run one trial here (this process) and report how it ended."""
    if job.call == "command":
        return _execute_command(job)
    return _execute_function(job)


def _execute_function(job: _Job) -> _Outcome:
    from . import scope
    from .run import start_run

    started = time.perf_counter()
    saved_frame, saved_usage = scope._Base.frame, scope._usage
    result: Any = None
    try:
        run = start_run(job.config, name=job.run_name, storage=job.storage, current=False)
        if job.backup:
            from .storage import mirror_run

            mirror_run(run, job.backup)
        try:
            args = scope.install(run)
            with run:
                run.update_meta(sweep=job.sweep_name, trial=job.index, trial_id=job.trial_id)
                if job.call == "args":
                    result = job.fn(args)  # type: ignore[misc]
                else:
                    from .search import _namespace

                    args.to_dict()  # the namespace hands every value over: no unread-key report
                    namespace = _namespace(run.config, job.search)
                    if job.call == "gpu-namespace":
                        result = job.fn(namespace, job.gpu)  # type: ignore[misc]
                    else:
                        result = job.fn(namespace)  # type: ignore[misc]
                if result is None and job.metric:
                    result = _summary_metric(run.directory, job.metric)
                if result is not None:
                    run.meta["result"] = _jsonable(result)  # written by finish() below
        finally:
            scope._Base.frame, scope._usage = saved_frame, saved_usage
    except KeyboardInterrupt:
        return _Outcome(
            job.index,
            "interrupted",
            error="KeyboardInterrupt",
            duration_s=time.perf_counter() - started,
        )
    except Exception as exc:  # a failing trial is recorded; the sweep goes on
        return _Outcome(
            job.index,
            "failed",
            error=_describe_error(exc),
            duration_s=time.perf_counter() - started,
        )
    return _Outcome(job.index, "finished", result=result, duration_s=time.perf_counter() - started)


def _describe_error(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _summary_metric(directory: Path, metric: str) -> float | None:
    """The last value of ``metric`` in a run's ``summary.json`` (written by ``hypertuner.log``)."""
    try:
        data = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = data.get("metrics", data).get(metric) if isinstance(data, dict) else None
    if isinstance(entry, Mapping):
        entry = entry.get("last")
    return _value(entry, None)


def _command_result(directory: Path, metric: str | None) -> Any:
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if isinstance(meta, dict) and meta.get("result") is not None:
        return meta["result"]
    return _summary_metric(directory, metric) if metric else None


_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def _execute_command(job: _Job) -> _Outcome:
    import subprocess

    started = time.perf_counter()
    assert job.command is not None
    assert job.log_path is not None
    env = dict(os.environ)
    env.update(job.env)
    try:
        with open(job.log_path, "ab") as log:
            process = subprocess.Popen(job.command, stdout=log, stderr=subprocess.STDOUT, env=env)
            with _children_lock:
                _children[job.index] = process
            try:
                code = process.wait()
            except KeyboardInterrupt:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(_STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                return _Outcome(
                    job.index,
                    "interrupted",
                    error="KeyboardInterrupt",
                    duration_s=time.perf_counter() - started,
                )
            finally:
                with _children_lock:
                    _children.pop(job.index, None)
    except OSError as exc:
        return _Outcome(job.index, "failed", error=f"Cannot start {job.command[0]!r}: {exc}.")
    elapsed = time.perf_counter() - started
    directory = Path(job.storage) / job.run_name
    if code == 0:
        return _Outcome(
            job.index, "finished", result=_command_result(directory, job.metric), duration_s=elapsed
        )
    status = "interrupted" if code in (-signal.SIGINT, 130, -signal.SIGTERM, 143) else "failed"
    last = _last_line(job.log_path)
    error = f"exit code {code}" + (f": {last}" if last else "") + f" (log: {job.log_path})"
    return _Outcome(job.index, status, error=error, duration_s=elapsed)


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


# Backends


class _Interrupted(Exception):
    """Raised inside a backend loop after Ctrl-C, once the running trials are stopped."""


Record = Callable[[_Outcome], None]
Dispatch = Callable[[_Job], None]


def _run_serial(jobs: list[_Job], dispatch: Dispatch, record: Record) -> None:
    for job in jobs:
        dispatch(job)
        outcome = _execute(job)
        record(outcome)
        if outcome.status == "interrupted":
            raise KeyboardInterrupt


# The process pool ------------------------------------------------------------------------------

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


def _worker_main(conn: Connection, threads: int | None) -> None:
    """A pool worker: receive jobs, run them, send outcomes back, until told to stop."""
    import pickle

    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        except Exception as exc:  # the job's function cannot be loaded here
            conn.send(("load-error", _describe_error(exc)))
            continue
        if job is None:
            return
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        outcome = _execute(job)
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
    def __init__(
        self, slot: int, env: dict[str, str], threads: int | None, start_method: str = "spawn"
    ) -> None:
        self.slot = slot
        self.env = env
        self.threads = threads
        self.start_method = start_method
        self.job: _Job | None = None
        self.ready = False
        import multiprocessing

        context: Any = multiprocessing.get_context(self.start_method)
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, threads), name=f"hypertuner-worker-{slot}"
        )
        with _environment(env):
            self.process.start()
        child.close()

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


def _worker_envs(workers: int, gpus: list[str] | None, threads: int | None) -> list[dict[str, str]]:
    envs = []
    for slot in range(workers):
        env: dict[str, str] = {}
        if threads:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        if gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpus[slot]
        envs.append(env)
    return envs


def _run_pool(
    jobs: list[_Job],
    dispatch: Dispatch,
    record: Record,
    envs: list[dict[str, str]],
    threads: int | None,
    start_method: str = "spawn",
) -> None:
    from multiprocessing.connection import wait

    pending = collections.deque(jobs)
    workers = [
        _Worker(slot, env, threads, start_method)
        for slot, env in enumerate(envs[: max(1, len(jobs))])
    ]
    try:
        while pending or any(w.job is not None for w in workers):
            for worker in workers:
                if worker.ready and worker.job is None and pending:
                    job = pending.popleft()
                    job.gpu = worker.env.get("CUDA_VISIBLE_DEVICES")
                    worker.job = job
                    dispatch(job)
                    worker.conn.send(job)
            owners: dict[Any, _Worker] = {}
            for w in workers:
                owners[w.conn] = owners[w.process.sentinel] = w
            for ready in wait(list(owners), timeout=1.0):
                worker = owners[ready]
                if worker not in workers:
                    continue  # already replaced in this round
                if worker.conn.poll():
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):  # the worker is gone
                        worker.process.join(5.0)
                        _pool_death(worker, workers, record, threads)
                        continue
                    _pool_message(worker, message, record)
                elif not worker.process.is_alive():
                    _pool_death(worker, workers, record, threads)
    except KeyboardInterrupt:
        _stop_pool(workers, record)
        raise
    finally:
        for worker in workers:
            worker.stop(timeout=_STOP_GRACE_S)


def _pool_message(worker: _Worker, message: tuple[str, Any], record: Record) -> None:
    kind, payload = message
    if kind == "ready":
        worker.ready = True
    elif kind == "load-error":
        job, worker.job = worker.job, None
        target = getattr(job.fn, "__qualname__", repr(job.fn)) if job else "the trial function"
        msg = (
            f"A worker process cannot load {target} ({payload}). Define the function at the top "
            "level of an importable module or of your script (not inside "
            "\"if __name__ == '__main__':\"), or use backend='serial'."
        )
        raise SearchSpecError(msg, value=payload)
    elif kind == "outcome":
        worker.job = None
        record(payload)
        if payload.status == "interrupted":
            raise KeyboardInterrupt


def _pool_death(
    worker: _Worker, workers: list[_Worker], record: Record, threads: int | None
) -> None:
    code = worker.process.exitcode
    if not worker.ready:
        msg = (
            f"A worker process exited with code {code} while starting (importing your script). "
            "If your script starts the sweep at its top level, put that call under "
            "\"if __name__ == '__main__':\" (worker processes are spawned: they import your "
            "script again); its error is printed above."
        )
        raise SearchSpecError(msg, value=code)
    job = worker.job
    worker.conn.close()
    replacement = _Worker(worker.slot, worker.env, threads, worker.start_method)
    workers[workers.index(worker)] = replacement
    if job is not None:
        reason = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        record(_Outcome(job.index, "failed", error=f"The worker process died ({reason})."))


def _stop_pool(workers: list[_Worker], record: Record) -> None:
    """After Ctrl-C: interrupt the running trials and record how they ended."""
    busy = [w for w in workers if w.job is not None and w.process.is_alive()]
    for worker in busy:
        with contextlib.suppress(OSError):
            os.kill(worker.process.pid, signal.SIGINT)
    deadline = time.monotonic() + _STOP_GRACE_S
    while busy and time.monotonic() < deadline:
        for worker in list(busy):
            if worker.conn.poll(0.05):
                with contextlib.suppress(EOFError, OSError):
                    kind, payload = worker.conn.recv()
                    if kind == "outcome":
                        record(payload)
                        busy.remove(worker)
                        worker.job = None
            elif not worker.process.is_alive():
                busy.remove(worker)
    for worker in workers:
        if worker.job is not None:
            record(_Outcome(worker.job.index, "interrupted", error="KeyboardInterrupt"))
            worker.job = None


# Commands in parallel (each trial is already its own process) ----------------------------------


def _run_commands(
    jobs: list[_Job], dispatch: Dispatch, record: Record, envs: list[dict[str, str]]
) -> None:
    import queue

    pending: queue.Queue[_Job | None] = queue.Queue()
    for job in jobs:
        pending.put(job)
    done: queue.Queue[tuple[_Job, _Outcome] | BaseException] = queue.Queue()
    stop = threading.Event()

    def slot(env: dict[str, str]) -> None:
        while not stop.is_set():
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            if job is None:
                return
            job.env = {**job.env, **env}
            job.gpu = env.get("CUDA_VISIBLE_DEVICES")
            done.put((job, _Outcome(job.index, "running")))
            try:
                outcome = _execute(job)
            except Exception as exc:  # never lose a trial to a bug in a slot thread
                outcome = _Outcome(job.index, "failed", error=_describe_error(exc))
            done.put((job, outcome))

    threads = [threading.Thread(target=slot, args=(env,), daemon=True) for env in envs]
    for thread in threads:
        thread.start()
    running: set[int] = set()
    try:
        while any(t.is_alive() for t in threads) or not done.empty():
            try:
                item = done.get(timeout=0.2)
            except queue.Empty:
                continue
            job, outcome = item  # type: ignore[misc]
            if outcome.status == "running":
                running.add(job.index)
                dispatch(job)
            else:
                running.discard(job.index)
                record(outcome)
    except KeyboardInterrupt:
        stop.set()
        with _children_lock:
            children = list(_children.values())
        for child in children:
            with contextlib.suppress(OSError):
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + _STOP_GRACE_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with _children_lock:
            for child in _children.values():
                with contextlib.suppress(OSError):
                    child.kill()
        while not done.empty():
            job, outcome = done.get()  # type: ignore[misc]
            if outcome.status != "running":
                running.discard(job.index)
                record(outcome)
        for index in sorted(running):
            record(_Outcome(index, "interrupted", error="KeyboardInterrupt"))
        raise


# Ray -------------------------------------------------------------------------------------------


def _run_ray(
    jobs: list[_Job],
    dispatch: Dispatch,
    record: Record,
    workers: int,
    address: str | None,
    options: Mapping[str, Any] | None,
    note: Callable[[str], None],
) -> None:
    from ._deps import require

    ray = require("ray", "ray", "The Ray backend")
    started = False
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=True)
        started = True
        note(f"Ray: {'connected to ' + address if address else 'started a local instance'}.")
    task_options = {"num_cpus": 1, "max_retries": 0}
    task_options.update(options or {})
    remote = ray.remote(_execute).options(**task_options)
    pending = collections.deque(jobs)
    in_flight: dict[Any, _Job] = {}
    try:
        while pending or in_flight:
            while pending and len(in_flight) < workers:
                job = pending.popleft()
                dispatch(job)
                in_flight[remote.remote(job)] = job
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref in done:
                job = in_flight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # a task Ray could not run (worker crash, lost node)
                    outcome = _Outcome(
                        job.index, "failed", error=f"Ray: {type(exc).__name__}: {exc}"[:2000]
                    )
                record(outcome)
    except KeyboardInterrupt:
        for ref in in_flight:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
        for ref, job in in_flight.items():
            try:
                outcome = ray.get(ref, timeout=_STOP_GRACE_S)
            except Exception:
                outcome = _Outcome(job.index, "interrupted", error="KeyboardInterrupt")
            record(outcome)
        raise
    finally:
        if started:
            ray.shutdown()
