"""Running sweeps: :func:`sweep`, its journal and progress, resuming, and the trials as runs.

Every trial is an ordinary run named ``<sweep>-<index>`` in the storage folder, so every tool
that compares runs works on a sweep. The sweep's own folder sits beside its trials and is not a
run (it has no ``config.json``)::

    storage/
      <sweep>/                 the sweep (not a run)
        sweep.json             space, strategy, seed, base config, target, status, counts, best
        trials.jsonl           the journal: one JSON line per trial event, the last line of a
                               trial id wins: {"trial": id, "index", "run", "status", "config",
                               "result", "value", "error", "time", "duration_s"}
        logs/<index>.log       the output of each trial of a script (command form)
        .lock                  held while a process runs the sweep
      <sweep>-0/ <sweep>-1/ …  the trials: ordinary runs (config.json, meta.json, metrics, model)

A trial id is a hash of the trial's config. Running the same sweep again resumes it: finished
trials are skipped (their recorded results are returned), failed and interrupted ones run again
in their own run folders, and random search replays the same seeded draws.

Backends: ``"serial"`` (in this process), ``"process"`` (a pool of spawned worker processes,
reused across trials, one per trial slot; the default when ``workers > 1`` or ``gpus`` is given)
and ``"ray"`` (each trial a Ray task; ``pip install 'hypertuner[ray]'``).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as _dt
import hashlib
import importlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import _files
from ._backends import (
    _Job,
    _json_default,
    _jsonable,
    _Outcome,
    _run_commands,
    _run_pool,
    _run_ray,
    _run_serial,
    _value,
    _worker_envs,
)
from .errors import RunInUseError, SearchSpecError, suggest
from .search import Dimension, check_space, describe, generate, strategy_name

if TYPE_CHECKING:
    from .search import HyperOptNamespace

__all__ = ["BACKENDS", "SweepResults", "Trial", "sweep"]

BACKENDS = ("serial", "process", "ray")
START_METHODS = ("spawn", "forkserver", "fork")
JOURNAL = "trials.jsonl"
SWEEP_FILE = "sweep.json"


# ---------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass
class Trial:
    """One trial of a sweep, as recorded in its journal.

    Attributes:
        index: the trial's position in the strategy's order (its run is ``<sweep>-<index>``).
        id: a hash of the trial's config.
        name: the trial's run name.
        config: the trial's config (the base config with the trial's values).
        status: ``finished``, ``failed`` or ``interrupted``.
        result: what the trial function returned (or the script's recorded result).
        value: the number ranked by ``metric``/``mode``, or ``None``.
        error: why the trial failed, or ``None``.
        directory: the trial's run folder.
        resumed: ``True`` when the trial finished in an earlier session and was skipped.
    """

    index: int
    id: str
    name: str
    config: dict[str, Any]
    status: str
    result: Any = None
    value: float | None = None
    error: str | None = None
    directory: Path = Path()
    resumed: bool = False


class SweepResults(list[Trial]):
    """The trials of a sweep in index order, with the sweep's ``name``, ``directory`` and ``best``.

    Example:
        >>> import tempfile, hypertuner
        >>> results = hypertuner.sweep(lambda args: args.x ** 2, {"x": [3, -1, 2]},
        ...                            storage=tempfile.mkdtemp(), progress=False)
        >>> [t.value for t in results], results.best.config
        ([9.0, 1.0, 4.0], {'x': -1})
    """

    def __init__(self, trials: list[Trial], name: str, directory: Path, mode: str) -> None:
        super().__init__(trials)
        self.name = name
        self.directory = directory
        self.mode = mode

    @property
    def best(self) -> Trial | None:
        """The finished trial with the lowest (``mode="min"``) or highest value, or ``None``."""
        return _best(list(self), self.mode)


def _best(trials: Sequence[Trial], mode: str) -> Trial | None:
    scored = [t for t in trials if t.status == "finished" and t.value is not None]
    if not scored:
        return None
    pick = min if mode == "min" else max
    return pick(scored, key=lambda t: t.value)  # type: ignore[arg-type, return-value]


# ---------------------------------------------------------------------------------------------
# The journal and the sweep folder


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="milliseconds")


def trial_id(config: Mapping[str, Any]) -> str:
    """The id of a trial: a hash of its config (key order does not matter).

    Example:
        >>> trial_id({"a": 1, "b": 2}) == trial_id({"b": 2, "a": 1})
        True
    """
    text = json.dumps(config, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class _Journal:
    """``trials.jsonl``: one JSON line per trial event.

    Lines are written through at once (a crash of the sweep loses nothing) and fsynced at most
    every ``SYNC_EVERY_S`` and at the end (an OS crash loses at most that much: those trials run
    again on resume).
    """

    SYNC_EVERY_S = 0.5

    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL
        self._handle: Any = None
        self._synced = 0.0
        self._dirty = False

    def read(self) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return latest
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash: the trial runs again
            if isinstance(record, dict) and isinstance(record.get("trial"), str):
                merged = dict(latest.get(record["trial"], {}))
                merged.update(record)
                latest[record["trial"]] = merged
        return latest

    def append(self, record: Mapping[str, Any], *, durable: bool = True) -> None:
        """Append one line; a ``durable`` one (a trial's end) is fsynced soon.

        A "running" line need not be durable: lost in a crash, its trial simply runs again.
        """
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        line = json.dumps(dict(record, time=_now()), default=_json_default, allow_nan=False)
        self._handle.write(line + "\n")
        self._handle.flush()
        if durable:
            self._dirty = True
            if time.monotonic() - self._synced >= self.SYNC_EVERY_S:
                self.sync()

    def sync(self) -> None:
        """fsync what was written so far."""
        if self._handle is not None and self._dirty:
            os.fsync(self._handle.fileno())
            self._dirty = False
        self._synced = time.monotonic()

    def close(self) -> None:
        if self._handle is not None:
            self.sync()
            self._handle.close()
            self._handle = None


def _lock(directory: Path, name: str) -> int:
    fd = _files.lock_folder(directory)
    if fd is None:
        msg = (
            f"Sweep {name!r} is being run by another process. Wait for it to end, or give this "
            "sweep another name."
        )
        raise RunInUseError(msg, name=name)
    return fd


# ---------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """A tqdm bar on a terminal (when tqdm is installed), else one plain line per trial."""

    def __init__(
        self,
        name: str,
        total: int,
        done: int,
        mode: str,
        enabled: bool | None,
        stream: TextIO | None = None,
    ) -> None:
        self.name = name
        self.total = total
        self.done = done
        self.mode = mode
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self.ran = 0
        self.best: Trial | None = None
        self.bar: Any = None
        self.enabled = enabled is not False
        if self.enabled and _isatty(self.stream):
            try:
                tqdm: Any = importlib.import_module("tqdm").tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(
                    total=total,
                    initial=done,
                    desc=f"sweep {name}",
                    file=self.stream,
                    unit="trial",
                    dynamic_ncols=True,
                )

    def update(self, trial: Trial) -> None:
        self.done += 1
        self.ran += 1
        if trial.status == "finished" and trial.value is not None:
            best = self.best.value if self.best is not None else None
            if best is None or (trial.value < best if self.mode == "min" else trial.value > best):
                self.best = trial
        if not self.enabled:
            return
        shown = f"{self.best.value:.6g} (trial {self.best.index})" if self.best else "-"
        if self.bar is not None:
            self.bar.set_postfix_str(f"best {shown}", refresh=False)
            self.bar.update(1)
            return
        elapsed = time.monotonic() - self.started
        remaining = self.total - self.done
        eta = _fmt_duration(elapsed / self.ran * remaining) if self.ran and remaining else "0s"
        what = trial.status
        if trial.value is not None:
            what += f", value {trial.value:.6g}"
        if trial.error:
            what += f": {trial.error}"
        print(
            f"sweep {self.name}: {self.done}/{self.total} trial {trial.index} {what} | "
            f"best {shown} | eta {eta}",
            file=self.stream,
            flush=True,
        )

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _fmt_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# sweep()


def _check_options(
    backend: str | None, workers: int | None, gpus: Sequence[str] | None, mode: str
) -> tuple[str, int, list[str] | None]:
    if workers is not None and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
    ):
        msg = f"workers must be a positive integer (trials run at once), not {workers!r}."
        raise SearchSpecError(msg, key="workers", value=workers)
    gpu_list: list[str] | None = None
    if gpus is not None:
        gpu_list = list(gpus)
        if not gpu_list:
            msg = "gpu_ids is empty: give one entry per GPU set, e.g. gpu_ids=['0', '1']."
            raise SearchSpecError(msg, key="gpu_ids")
        for entry in gpu_list:
            if not isinstance(entry, str) or not entry.strip():
                msg = (
                    f"gpu_ids entry {entry!r} is not a CUDA_VISIBLE_DEVICES string "
                    "such as '0' or '0,2'."
                )
                raise SearchSpecError(msg, key="gpu_ids", value=entry)
        if workers is not None and workers != len(gpu_list):
            msg = (
                f"workers={workers} does not match the {len(gpu_list)} gpu_ids entries: each entry "
                "is one worker. Leave workers out."
            )
            raise SearchSpecError(msg, key="workers", value=workers)
        workers = len(gpu_list)
    count = workers or 1
    if backend is None:
        chosen = "process" if count > 1 or gpu_list is not None else "serial"
    elif backend in BACKENDS:
        chosen = backend
    else:
        close = suggest(str(backend), BACKENDS)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = f"Unknown backend {backend!r}: use one of {', '.join(map(repr, BACKENDS))}.{hint}"
        raise SearchSpecError(msg, key="backend", value=backend, suggestions=close)
    if chosen == "serial" and count > 1:
        msg = (
            f"backend='serial' runs one trial at a time; workers={count} needs "
            "backend='process' or 'ray'."
        )
        raise SearchSpecError(msg, key="workers", value=count)
    if chosen == "serial" and gpu_list is not None:
        msg = "gpu_ids needs backend='process' (one worker process per entry)."
        raise SearchSpecError(msg, key="backend", value=backend)
    if mode not in ("min", "max"):
        msg = f"mode must be 'min' or 'max', not {mode!r}."
        raise SearchSpecError(msg, key="mode", value=mode)
    return chosen, count, gpu_list


def _check_function(fn: Any, backend: str, start_method: str = "spawn") -> None:
    if not callable(fn):
        msg = f"The trial function {fn!r} is not callable (give a function, or a script path)."
        raise SearchSpecError(msg, value=repr(fn))
    if backend != "process":
        return
    import multiprocessing
    import pickle

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        msg = (
            "A sweep was started while a worker process was importing your script: put the call "
            "under \"if __name__ == '__main__':\" (worker processes are spawned and import your "
            "script again)."
        )
        raise SearchSpecError(msg)
    module = getattr(fn, "__module__", None)
    interactive = module == "__main__" and not getattr(
        sys.modules.get("__main__"), "__file__", None
    )
    if interactive and start_method != "fork":  # a forked worker has the function already
        msg = (
            f"The trial function {getattr(fn, '__qualname__', fn)!r} is defined in an interactive "
            "session, which spawned worker processes cannot import. Put it in a file, or use "
            "backend='serial', 'ray' or start_method='fork'."
        )
        raise SearchSpecError(msg)
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        msg = (
            f"The trial function {getattr(fn, '__qualname__', fn)!r} cannot be sent to a worker "
            f"process ({exc}). Define it with def at the top level of a module or script (not a "
            "lambda or a nested function), or use backend='serial' or 'ray'."
        )
        raise SearchSpecError(msg) from None


def _trial_config(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    from .config import _merge, unflatten

    config = json.loads(json.dumps(base, default=repr)) if base else {}
    return _merge(config, unflatten(values))


def _target_text(target: Any) -> str:
    if callable(target):
        return (
            f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"
        )
    return str(target)


def _default_stem(target: Any) -> str:
    import re

    if callable(target):
        stem = getattr(target, "__name__", "sweep")
        if stem == "<lambda>":
            stem = "sweep"
    else:
        stem = Path(str(target)).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-") or "sweep"


@dataclasses.dataclass
class _Plan:
    """Everything a sweep needs, checked, before anything is written."""

    target: Any
    call: str
    space: dict[str, Dimension]
    strategy: str
    n_trials: int | None
    seed: int | None
    config: dict[str, Any]
    name: str | None
    storage: Path
    backend: str
    workers: int
    gpus: list[str] | None
    metric: str | None
    mode: str
    threads: int | None
    progress: bool | None
    ray_address: str | None
    ray_options: Mapping[str, Any] | None
    command: list[str] | None = None
    backup: str | None = None  # storage given as a URL: trials are mirrored there
    start_method: str = "spawn"
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> '' or '+'
    search: Any = None


def sweep(
    target: Callable[..., Any] | str | os.PathLike[str],
    space: Mapping[str, Any],
    *,
    strategy: str = "grid",
    n_trials: int | None = None,
    seed: int | None = None,
    config: Mapping[str, Any] | None = None,
    name: str | None = None,
    storage: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    backend: str | None = None,
    gpus: Sequence[str] | None = None,
    metric: str | None = None,
    mode: str = "min",
    script_args: Sequence[str] = (),
    threads_per_worker: int | None = 1,
    progress: bool | None = None,
    ray_address: str | None = None,
    ray_options: Mapping[str, Any] | None = None,
    start_method: str = "spawn",
) -> SweepResults:
    """Run one trial per point of ``space``, each an ordinary run named ``<sweep>-<index>``.

    With a function, each trial calls ``target(args)`` inside its own run: ``args`` is the
    trial's config as :class:`hypertuner.Args` (``args.model.layers``), which is also the scope
    base, so ``@auto_param`` functions, ``current_run()``, ``log`` and ``Saver`` in the trial see
    the trial. What the function returns is the trial's result. With a script path, each trial
    runs ``python SCRIPT *script_args key=value ... --name=<sweep>-<index> --storage=...`` (a
    script that calls :func:`hypertuner.parse`); its result is the ``result`` field of its
    ``meta.json``, else the last value of ``metric`` it logged.

    A trial that raises (or exits non-zero) is recorded as failed and the sweep goes on. Ctrl-C
    stops the running trials, records them as interrupted and raises ``KeyboardInterrupt``.
    Running the same sweep again resumes it (see the module's documentation for the layout).

    Args:
        target: the trial function, or the path of a script.
        space: dotted config keys to dimensions (:func:`hypertuner.choice`,
            :func:`hypertuner.uniform`, :func:`hypertuner.loguniform`, :func:`hypertuner.irange`,
            or a plain list for a choice).
        strategy: ``"grid"`` or ``"random"``.
        n_trials: how many trials (random search needs it; grid search truncates to it).
        seed: the random search seed; ``None`` draws one and records it, so a resumed sweep
            replays the same draws.
        config: the base config each trial's values are merged into (function form).
        name: the sweep's name; by default the target's name and a hash of the sweep's
            definition, so running the same sweep again finds it.
        storage: the storage folder (default ``$HYPERTUNER_STORAGE`` or ``./storage``), or an
            fsspec URL (``s3://bucket/runs``): trials then run in the local storage folder of
            the machine that runs them and are mirrored to ``<URL>/<trial>/`` (``run.backup``),
            which is how a Ray cluster without a shared folder collects its runs.
        workers: trials at once (default 1, or one per ``gpus`` entry).
        backend: ``"serial"``, ``"process"`` or ``"ray"`` (default: serial for one worker,
            else process).
        gpus: ``CUDA_VISIBLE_DEVICES`` entries, one worker each (``["0", "1,2"]``).
        metric: the key of the trial's result (a dict) or logged metric to rank trials by.
        mode: ``"min"`` or ``"max"``: which value is best.
        script_args: fixed arguments for the script (``--config=cfg.json``, ``key=value``).
        threads_per_worker: torch/OpenMP threads in each worker process (``None``: leave as is).
        start_method: how the process backend starts its workers: ``"spawn"`` (a fresh
            interpreter that imports your script, the safe default), ``"forkserver"``, or
            ``"fork"`` (a copy of this process: no import or warm-up per worker; ``make bench``
            prints its speed-up over serial beside spawn's, measured on two cores; for CPU
            trials from a process whose other threads hold no locks; refused with ``gpus``).
        progress: ``None`` for a bar on a terminal (with tqdm) or plain lines otherwise,
            ``True`` to always report, ``False`` for silence.
        ray_address: the Ray cluster to use (default ``$RAY_ADDRESS``, else a local instance).
        ray_options: Ray task options for each trial, e.g. ``{"num_gpus": 1}``.

    Returns:
        The trials in index order, with ``name``, ``directory`` and ``best``.

    Raises:
        SearchSpecError: an empty space, a bad dimension, an unknown strategy or backend,
            ``workers < 1``, random search without ``n_trials``, or a sweep name that exists with
            another definition; raised before any trial starts and naming the parameter.
        RunInUseError: another process runs the same sweep.
        MissingDependencyError: ``backend="ray"`` without Ray installed.

    Example:
        >>> import tempfile, hypertuner
        >>> def train(args):
        ...     return (args.lr - 0.01) ** 2 + args.model.layers
        >>> results = hypertuner.sweep(
        ...     train,
        ...     {"lr": hypertuner.loguniform(1e-4, 1e-1), "model.layers": hypertuner.choice(2, 4)},
        ...     strategy="random", n_trials=3, seed=0, storage=tempfile.mkdtemp(), progress=False)
        >>> [t.name[-2:] for t in results], all(t.status == "finished" for t in results)
        (['-0', '-1', '-2'], True)
    """
    plan = _plan(
        target,
        space,
        strategy=strategy,
        n_trials=n_trials,
        seed=seed,
        config=config,
        name=name,
        storage=storage,
        workers=workers,
        backend=backend,
        gpus=gpus,
        metric=metric,
        mode=mode,
        script_args=script_args,
        threads=threads_per_worker,
        progress=progress,
        ray_address=ray_address,
        ray_options=ray_options,
        start_method=start_method,
    )
    return _run(plan)


def _plan(
    target: Any,
    space: Mapping[str, Any],
    *,
    strategy: str,
    n_trials: int | None,
    seed: int | None,
    config: Mapping[str, Any] | None,
    name: str | None,
    storage: str | os.PathLike[str] | None,
    workers: int | None,
    backend: str | None,
    gpus: Sequence[str] | None,
    metric: str | None,
    mode: str,
    script_args: Sequence[str],
    threads: int | None,
    progress: bool | None,
    ray_address: str | None,
    ray_options: Mapping[str, Any] | None,
    call: str | None = None,
    search: Any = None,
    start_method: str = "spawn",
) -> _Plan:
    from .run import check_run_name, storage_root

    kind = strategy_name(strategy)
    dims = check_space(space)
    chosen, count, gpu_list = _check_options(backend, workers, gpus, mode)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        msg = f"threads_per_worker must be a positive integer or None, not {threads!r}."
        raise SearchSpecError(msg, key="threads_per_worker", value=threads)
    if start_method not in START_METHODS:
        msg = (
            f"start_method must be one of {', '.join(repr(m) for m in START_METHODS)}, "
            f"not {start_method!r}."
        )
        raise SearchSpecError(msg, key="start_method", value=start_method)
    if start_method == "fork" and gpus:
        msg = (
            "start_method='fork' cannot be used with gpus: a forked worker inherits this "
            "process's CUDA state before CUDA_VISIBLE_DEVICES can be set. Use 'spawn'."
        )
        raise SearchSpecError(msg, key="start_method", value=start_method)
    # Check n_trials and grid-vs-continuous now, before anything is written (one trial is enough).
    valid = isinstance(n_trials, int) and not isinstance(n_trials, bool) and n_trials >= 1
    generate(dims, kind, 1 if valid or (kind == "grid" and n_trials is None) else n_trials, 0)
    if name is not None:
        check_run_name(name)
    backup: str | None = None
    if isinstance(storage, str) and "://" in storage:
        from .storage import check_url

        backup, storage = check_url(storage), None
    command: list[str] | None = None
    overrides: dict[str, str] = {}
    if callable(target):
        call = call or "args"
        _check_function(target, chosen, start_method)
    else:
        script = Path(os.fspath(target))
        if not script.is_file():
            msg = f"Script {str(target)!r} not found (looked in {os.getcwd()!r})."
            raise SearchSpecError(msg, path=str(target))
        call = "command"
        command = [sys.executable, str(script.resolve()), *[str(a) for a in script_args]]
        for key in list(dims):
            if key.startswith("+"):
                dims[key[1:]] = dims.pop(key)
                overrides[key[1:]] = "+"
            else:
                overrides[key] = ""
    return _Plan(
        target=target,
        call=call,
        space=dims,
        strategy=kind,
        n_trials=n_trials,
        seed=seed,
        config=dict(config or {}),
        name=name,
        storage=storage_root(storage),
        backup=backup,
        start_method=start_method,
        backend=chosen,
        workers=count,
        gpus=gpu_list,
        metric=metric,
        mode=mode,
        threads=threads,
        progress=progress,
        ray_address=ray_address,
        ray_options=ray_options,
        command=command,
        overrides=overrides,
        search=search,
    )


def _fingerprint(plan: _Plan) -> str:
    definition = {
        "strategy": plan.strategy,
        "seed": plan.seed if plan.strategy == "random" else None,
        "space": describe(plan.space),
        "config": plan.config,
        "target": _target_text(plan.target) if plan.command is None else plan.command[1:],
    }
    text = json.dumps(definition, sort_keys=True, default=repr)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _format_override(key: str, value: Any, prefix: str) -> str:
    from .config import parse_value

    if isinstance(value, str):
        text = value if parse_value(value) == value and value else f"'{value}'"
    else:
        text = json.dumps(value)
    return f"{prefix}{key}={text}"


def _run(plan: _Plan) -> SweepResults:
    fingerprint = _fingerprint(plan)
    name = plan.name or f"{_default_stem(plan.target)}-{fingerprint[:8]}"
    directory = plan.storage / name
    if (directory / "config.json").is_file():
        msg = (
            f"{str(directory)!r} is a run, not a sweep: give the sweep another name "
            "(trials are named <sweep>-<index>)."
        )
        raise SearchSpecError(msg, name=name)
    directory.mkdir(parents=True, exist_ok=True)
    fd = _lock(directory, name)
    journal = _Journal(directory)
    try:
        saved = _read_sweep_file(directory)
        if saved and saved.get("fingerprint") != fingerprint:
            msg = (
                f"Sweep {name!r} exists in {str(plan.storage)!r} with another definition "
                "(space, strategy, seed, base config or target). Give this sweep another name, "
                "or delete the old sweep's folder."
            )
            raise SearchSpecError(msg, name=name)
        seed = plan.seed
        if plan.strategy == "random" and seed is None:
            seed = saved.get("seed") if saved else None
            if seed is None:
                seed = random.SystemRandom().randrange(2**31)
        points = generate(plan.space, plan.strategy, plan.n_trials, seed)
        return _execute_plan(plan, name, directory, journal, fingerprint, seed, points, saved)
    finally:
        journal.close()
        os.close(fd)


def _read_sweep_file(directory: Path) -> dict[str, Any]:
    path = directory / SWEEP_FILE
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        msg = (
            f"Sweep file {str(path)!r} is not valid JSON ({exc}); delete the sweep's folder "
            "to start over."
        )
        raise SearchSpecError(msg, path=str(path)) from None
    return value if isinstance(value, dict) else {}


def _execute_plan(
    plan: _Plan,
    name: str,
    directory: Path,
    journal: _Journal,
    fingerprint: str,
    seed: int | None,
    points: list[dict[str, Any]],
    saved: Mapping[str, Any],
) -> SweepResults:
    storage = str(plan.storage)
    previous = journal.read()
    trials: dict[int, Trial] = {}
    jobs: list[_Job] = []
    if plan.call == "command":
        (directory / "logs").mkdir(exist_ok=True)
    for index, values in enumerate(points):
        config = _trial_config(plan.config, values)
        tid = trial_id(config)
        run_name = f"{name}-{index}"
        earlier = previous.get(tid)
        if earlier and earlier.get("status") == "finished":
            trials[index] = Trial(
                index,
                tid,
                earlier.get("run", run_name),
                config,
                "finished",
                result=earlier.get("result"),
                value=earlier.get("value"),
                directory=plan.storage / earlier.get("run", run_name),
                resumed=True,
            )
            continue
        job = _Job(
            index,
            tid,
            run_name,
            storage,
            config,
            name,
            plan.call,
            fn=None,
            metric=plan.metric,
            search=plan.search,
            backup=plan.backup,
        )
        if plan.command is not None:
            tokens = [_format_override(k, v, plan.overrides.get(k, "")) for k, v in values.items()]
            if plan.backup:
                tokens.append(f"run.backup={plan.backup}")
            job.command = [*plan.command, *tokens, f"--name={run_name}", f"--storage={storage}"]
            job.log_path = str(directory / "logs" / f"{index}.log")
            if plan.threads:
                job.env = {
                    "OMP_NUM_THREADS": str(plan.threads),
                    "MKL_NUM_THREADS": str(plan.threads),
                }
        else:
            job.fn = plan.target
        jobs.append(job)
    counts = collections.Counter(t.status for t in trials.values())

    def write_sweep_file(status: str) -> None:
        finished = [t for t in trials.values()]
        best = _best(finished, plan.mode)
        _files.write_json(
            directory / SWEEP_FILE,
            {
                "kind": "hypertuner-sweep",
                "version": 1,
                "name": name,
                "status": status,
                "strategy": plan.strategy,
                "seed": seed,
                "n_trials": len(points),
                "space": describe(plan.space),
                "config": plan.config,
                "target": _target_text(plan.target),
                "command": plan.command,
                "backend": plan.backend,
                "workers": plan.workers,
                "gpus": plan.gpus,
                "metric": plan.metric,
                "mode": plan.mode,
                "fingerprint": fingerprint,
                "created": saved.get("created") or _now(),
                "updated": _now(),
                "counts": dict(collections.Counter(t.status for t in trials.values())),
                "best": None
                if best is None
                else {
                    "index": best.index,
                    "run": best.name,
                    "value": best.value,
                    "config": best.config,
                },
            },
        )

    write_sweep_file("running")
    progress = _Progress(name, len(points), len(trials), plan.mode, plan.progress)
    by_index = {job.index: job for job in jobs}
    if counts.get("finished"):
        progress.note(
            f"sweep {name}: resuming, {counts['finished']} of {len(points)} trials "
            "already finished."
        )

    def dispatch(job: _Job) -> None:
        journal.append(
            {
                "trial": job.trial_id,
                "index": job.index,
                "run": job.run_name,
                "status": "running",
                "config": job.config,
                "gpu": job.gpu,
            },
            durable=False,
        )

    def record(outcome: _Outcome) -> None:
        job = by_index[outcome.index]
        value = _value(outcome.result, plan.metric) if outcome.status == "finished" else None
        trial = Trial(
            job.index,
            job.trial_id,
            job.run_name,
            job.config,
            outcome.status,
            result=outcome.result,
            value=value,
            error=outcome.error,
            directory=plan.storage / job.run_name,
        )
        trials[job.index] = trial
        journal.append(
            {
                "trial": job.trial_id,
                "index": job.index,
                "run": job.run_name,
                "status": outcome.status,
                "result": _jsonable(outcome.result),
                "value": value,
                "error": outcome.error,
                "duration_s": round(outcome.duration_s, 3),
            }
        )
        progress.update(trial)

    try:
        if not jobs:
            pass
        elif plan.backend == "serial":
            _run_serial(jobs, dispatch, record)
        elif plan.backend == "ray":
            _run_ray(
                jobs,
                dispatch,
                record,
                plan.workers,
                plan.ray_address,
                plan.ray_options,
                progress.note,
            )
        elif plan.call == "command":
            _run_commands(jobs, dispatch, record, _worker_envs(plan.workers, plan.gpus, None))
        else:
            _run_pool(
                jobs,
                dispatch,
                record,
                _worker_envs(plan.workers, plan.gpus, plan.threads),
                plan.threads,
                plan.start_method,
            )
    except KeyboardInterrupt:
        progress.close()
        write_sweep_file("interrupted")
        raise
    except BaseException:
        progress.close()
        write_sweep_file("failed")
        raise
    progress.close()
    write_sweep_file("finished")
    ordered = [trials[i] for i in sorted(trials)]
    return SweepResults(ordered, name, directory, plan.mode)


def _parser_sweep(
    namespace: HyperOptNamespace,
    fn: Callable[..., Any],
    *,
    nb_trials: int | None,
    workers: int | None,
    gpu_ids: list[str] | None,
    **options: Any,
) -> SweepResults:
    """The engine behind ``optimize_parallel_cpu``/``optimize_parallel_gpu``."""
    from .search import _search_of

    search = _search_of(namespace)
    allowed = {
        "name",
        "storage",
        "metric",
        "mode",
        "progress",
        "backend",
        "threads_per_worker",
        "ray_address",
        "ray_options",
        "seed",
        "start_method",
    }
    unknown = sorted(set(options) - allowed)
    if unknown:
        close = suggest(unknown[0], sorted(allowed))
        hint = f" Did you mean {close[0]!r}?" if close else ""
        valid = ", ".join(sorted(allowed))
        msg = f"Unknown option {unknown[0]!r} for the parser's sweep: use {valid}.{hint}"
        raise SearchSpecError(msg, key=unknown[0])
    if not search.space:
        msg = (
            "The parser has no tunable argument: add one with opt_list(..., tunable=True) or "
            "opt_range(..., tunable=True)."
        )
        raise SearchSpecError(msg)
    values = namespace._values()
    threads = options.pop("threads_per_worker", 1)
    seed = options.pop("seed", search.seed)
    plan = _plan(
        fn,
        search.space,
        strategy=search.strategy,
        n_trials=nb_trials,
        seed=seed,
        config=values,
        name=options.pop("name", None),
        storage=options.pop("storage", None),
        workers=workers,
        backend=options.pop("backend", None),
        gpus=gpu_ids,
        metric=options.pop("metric", None),
        mode=options.pop("mode", "min"),
        script_args=(),
        threads=threads,
        progress=options.pop("progress", None),
        ray_address=options.pop("ray_address", None),
        ray_options=options.pop("ray_options", None),
        start_method=options.pop("start_method", "spawn"),
        call="gpu-namespace" if gpu_ids is not None else "namespace",
        search=search,
    )
    return _run(plan)
