"""Running sweeps: :func:`sweep`, from a plan to trials run by a backend and recorded.

Every trial is an ordinary run named ``<sweep>-<index>`` in the storage folder, so every tool
that compares runs works on a sweep. The sweep's own folder sits beside its trials and is not a
run (it has no ``config.json``)::

    storage/
      <sweep>/                 the sweep (not a run)
        sweep.json             space, strategy, seed, base config, target, status, counts, best
        trials.jsonl           the journal: one JSON line per trial event, the last line of a
                               trial index wins: {"trial": id, "index", "run", "status",
                               "config", "result", "value", "error", "time", "duration_s"}
        study.jsonl            a model-based strategy or a pruner: the Optuna study, one line per
                               ask, intermediate value and tell (Optuna's journal format)
        logs/<index>.log       the output of each trial of a script (command form)
        .lock                  held while a process runs the sweep
      <sweep>-0/ <sweep>-1/ …  the trials: ordinary runs (config.json, meta.json, metrics, model)

A trial id is a hash of the trial's config; trials are known by index, since a model-based
strategy may draw the same config at two indices. Running the same sweep again resumes it:
finished (and pruned) trials are skipped (their recorded results are returned), failed and
interrupted ones run again in their own run folders, and random search replays the same seeded
draws. A sweep with a study (:mod:`hypertuner._study`) rebuilds it from ``study.jsonl``: the
sampler sees every earlier result, and each trial is asked with a sampler seeded by the sweep's
seed and the trial's index, so on one worker an interrupted sweep run again asks what an
uninterrupted one would have. With several workers a draw sees the trials that have ended by
then, which depends on timing (as with Optuna's ``n_jobs``): a resumed parallel sweep goes on
from every result it has, but its later draws may differ.

The work splits in three: :func:`_plan` checks everything and decides what to run before
anything is written; a backend (:mod:`hypertuner.backends`) runs the trials; the
:class:`_Sweep` hands out trials to the backend and records how each ends.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import random
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import _files
from ._deps import require
from ._formats import parse_value
from ._layout import check_run_name, storage_root
from ._study import Earlier, Study, require_optuna
from ._sweeprecord import (
    SWEEP_FILE,
    Journal,
    Progress,
    SweepResults,
    Trial,
    best_of,
    lock_sweep,
    read_sweep_file,
    trial_id,
)
from ._trees import merge, unflatten
from ._trial import Job, Outcome, jsonable, number_of
from .backends import Backend, backend_for
from .errors import SearchSpecError, TrialPruned
from .search import (
    MODEL_BASED,
    Dimension,
    check_model_space,
    check_space,
    describe,
    generate,
    pruner_name,
    strategy_name,
)
from .storage import check_url

__all__ = ["SweepResults", "Trial", "sweep"]


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
    metric: str | None = None,
    mode: str = "min",
    pruner: str | Any = None,
    script_args: Sequence[str] = (),
    progress: bool | None = None,
    backend: str | Backend | None = None,
    workers: int | None = None,
    gpus: Sequence[str] | None = None,
    threads_per_worker: int | None = 1,
    start_method: str | None = None,
    ray_address: str | None = None,
    ray_options: Mapping[str, Any] | None = None,
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
        strategy: ``"grid"``, ``"random"``, or a model-based one that draws each trial from
            the results so far: ``"tpe"``, ``"gp"`` or ``"cmaes"`` (Optuna's samplers;
            ``pip install 'hypertuner[search]'``, and torch for ``"gp"``).
        n_trials: how many trials (random and model-based search need it; grid search
            truncates to it).
        seed: the seed of random search and of the model-based samplers; ``None`` draws one and
            records it, so a resumed sweep replays the same draws.
        config: the base config each trial's values are merged into (function form).
        name: the sweep's name; by default the target's name and a hash of the sweep's
            definition, so running the same sweep again finds it.
        storage: the storage folder (default ``$HYPERTUNER_STORAGE`` or ``./storage``), or an
            fsspec URL (``s3://bucket/runs``): trials then run in the local storage folder of
            the machine that runs them and are mirrored to ``<URL>/<trial>/`` (``run.backup``),
            which is how a Ray cluster without a shared folder collects its runs.
        metric: the key of the trial's result (a dict) or logged metric to rank trials by (a
            trial whose result is no number and holds none is ranked by the last value of it
            that it logged); with a model-based strategy or a pruner, the values of it that a
            trial logs with :func:`hypertuner.log` go to the sweep as they are logged, and a
            trial that finishes without a value of it is recorded failed (it runs again when
            the sweep does).
        mode: ``"min"`` or ``"max"``: which value is best.
        pruner: stop hopeless trials early: ``"asha"`` (successive halving), ``"hyperband"`` or
            ``"median"`` (Optuna's pruners; an Optuna pruner object works too). It needs
            ``metric``. A trial to stop gets :class:`hypertuner.TrialPruned` from the
            :func:`hypertuner.log` call that sent the judged value (the Lightning callback
            stops the trainer instead) and its run ends ``pruned``.
        script_args: fixed arguments for the script (``--config=cfg.json``, ``key=value``).
        progress: ``None`` for a bar on a terminal (with tqdm) or plain lines otherwise,
            ``True`` to always report, ``False`` for silence.
        backend: how trials run: a :mod:`hypertuner.backends` object
            (``ProcessPool(workers=2)``, ``Ray(address=...)``, ``Serial()``, or your own), or
            its name ``"serial"``, ``"process"`` or ``"ray"`` (default: serial for one worker,
            else process). The keywords below are shorthands for a named backend.
        workers: trials at once (default 1, or one per ``gpus`` entry).
        gpus: ``CUDA_VISIBLE_DEVICES`` entries, one worker each (``["0", "1,2"]``).
        threads_per_worker: torch/OpenMP threads in each worker (``None``: leave as is).
        start_method: how the process backend starts its workers (see
            :class:`hypertuner.backends.ProcessPool`; default ``"forkserver"``, warmed with the
            modules your trials import; ``"spawn"`` with ``gpus``).
        ray_address: the Ray cluster to use (default ``$RAY_ADDRESS``, else a local instance).
        ray_options: Ray task options for each trial, e.g. ``{"num_gpus": 1}``.

    Returns:
        The trials in index order, with ``name``, ``directory`` and ``best``.

    Raises:
        SearchSpecError: an empty space, a bad dimension, an unknown strategy, pruner or
            backend, ``workers < 1``, random or model-based search without ``n_trials``, a
            pruner without ``metric``, a space the strategy cannot model, or a sweep name that
            exists with another definition; raised before anything is written and naming the
            parameter.
        RunInUseError: another process runs the same sweep.
        MissingDependencyError: ``backend="ray"`` without Ray, or a model-based strategy or a
            pruner without Optuna (``pip install 'hypertuner[search]'``).

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
    chosen = backend_for(
        backend,
        workers=workers,
        gpus=gpus,
        threads=threads_per_worker,
        start_method=start_method,
        ray_address=ray_address,
        ray_options=ray_options,
    )
    plan = _plan(
        target,
        space,
        strategy=strategy,
        n_trials=n_trials,
        seed=seed,
        config=config,
        name=name,
        storage=storage,
        backend=chosen,
        metric=metric,
        mode=mode,
        pruner=pruner,
        script_args=script_args,
        threads=threads_per_worker,
        progress=progress,
    )
    return _run(plan)


# ---------------------------------------------------------------------------------------------
# Planning: everything checked and decided before anything is written


@dataclasses.dataclass
class _Plan:
    target: Any  # the trial function, or the script's path
    space: dict[str, Dimension]
    strategy: str
    n_trials: int | None
    seed: int | None
    config: dict[str, Any]
    name: str | None
    storage: Path
    backend: Backend
    metric: str | None
    mode: str
    progress: bool | None
    command: list[str] | None = None  # a script's trials: the command line before overrides
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> '' or '+'
    threads: int | None = None  # a script's trials: OMP/MKL threads
    backup: str | None = None  # storage given as a URL: trials are mirrored there
    pruner: Any = None  # an Optuna pruner
    pruner_text: str | None = None  # its name (or description), for sweep.json and the fingerprint

    @property
    def studied(self) -> bool:
        """Whether the sweep keeps an Optuna study (a model-based strategy or a pruner)."""
        return self.strategy in MODEL_BASED or self.pruner is not None


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
    backend: Backend,
    metric: str | None,
    mode: str,
    pruner: Any,
    script_args: Sequence[str],
    threads: int | None,
    progress: bool | None,
) -> _Plan:
    kind = strategy_name(strategy)
    dims = check_space(space)
    if mode not in ("min", "max"):
        msg = f"mode must be 'min' or 'max', not {mode!r}."
        raise SearchSpecError(msg, key="mode", value=mode)
    valid = isinstance(n_trials, int) and not isinstance(n_trials, bool) and n_trials >= 1
    if kind in MODEL_BASED:
        if not valid:
            msg = (
                f"Strategy {kind!r} needs a trial count: pass n_trials (--trials on the command "
                f"line), not {n_trials!r}."
            )
            raise SearchSpecError(msg, key="n_trials", value=n_trials)
        check_model_space(kind, dims)
    else:
        # Check n_trials and grid-vs-continuous now, before anything is written (one trial).
        generate(dims, kind, 1 if valid or (kind == "grid" and n_trials is None) else n_trials, 0)
    optuna_pruner, pruner_text = _check_pruner(pruner, metric)
    if kind in MODEL_BASED or optuna_pruner is not None:
        feature = f"strategy={kind!r}" if kind in MODEL_BASED else f"pruner={pruner_text!r}"
        require_optuna(feature)
        if kind == "gp":
            require("scipy", "search", "strategy='gp'")
            require("torch", "torch", "strategy='gp'")
    if name is not None:
        check_run_name(name)
    backup: str | None = None
    if isinstance(storage, str) and "://" in storage:
        backup, storage = check_url(storage), None
    plan = _Plan(
        target, dims, kind, n_trials, seed, dict(config or {}), name, storage_root(storage),
        backend, metric, mode, progress, backup=backup, pruner=optuna_pruner,
        pruner_text=pruner_text,
    )  # fmt: skip
    if callable(target):
        backend.check(target)
        return plan
    script = Path(os.fspath(target))
    if not script.is_file():
        msg = f"Script {str(target)!r} not found (looked in {os.getcwd()!r})."
        raise SearchSpecError(msg, path=str(target))
    backend.check(None)
    plan.command = [sys.executable, str(script.resolve()), *[str(a) for a in script_args]]
    plan.threads = threads
    for key in list(dims):
        if key.startswith("+"):  # a key the script's config files do not declare
            dims[key[1:]] = dims.pop(key)
            plan.overrides[key[1:]] = "+"
        else:
            plan.overrides[key] = ""
    return plan


def _check_pruner(pruner: Any, metric: str | None) -> tuple[Any, str | None]:
    """The Optuna pruner ``pruner`` names (or is), and its description; ``(None, None)`` for
    none. Raises when it is unknown or has no metric to watch."""
    if pruner is None:
        return None, None
    if isinstance(pruner, str):
        name = pruner_name(pruner)
    elif callable(getattr(pruner, "prune", None)):
        name = _describe_object(pruner)
    else:
        msg = (
            f"pruner={pruner!r} is not a pruner: use 'asha', 'hyperband' or 'median', or an "
            "Optuna pruner object."
        )
        raise SearchSpecError(msg, key="pruner", value=repr(pruner))
    if not metric:
        msg = (
            f"pruner={name!r} needs metric: the name of the value your trials log with "
            "hypertuner.log at each step (for example metric='val_loss', --metric val_loss)."
        )
        raise SearchSpecError(msg, key="metric", value=metric)
    if not isinstance(pruner, str):
        return pruner, name
    pruners = require_optuna(f"pruner={name!r}").pruners
    made = {
        "asha": pruners.SuccessiveHalvingPruner,
        "hyperband": pruners.HyperbandPruner,
        "median": pruners.MedianPruner,
    }[name]()
    return made, name


def _describe_object(value: Any) -> str:
    """``Class(attr=value, ...)`` from an object's plain attributes: stable across runs."""
    fields = {
        k.lstrip("_"): v
        for k, v in sorted(vars(value).items())
        if isinstance(v, (bool, int, float, str, type(None)))
    }
    inner = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return f"{type(value).__name__}({inner})"


def _fingerprint(plan: _Plan) -> str:
    definition = {
        "strategy": plan.strategy,
        "seed": plan.seed if plan.strategy in ("random", *MODEL_BASED) else None,
        "space": describe(plan.space),
        "config": plan.config,
        "target": _target_text(plan.target) if plan.command is None else plan.command[1:],
    }
    if plan.pruner is not None:  # absent otherwise: sweeps from before pruners keep their name
        definition.update(pruner=plan.pruner_text, metric=plan.metric, mode=plan.mode)
    elif plan.strategy in MODEL_BASED:
        definition.update(metric=plan.metric, mode=plan.mode)
    text = json.dumps(definition, sort_keys=True, default=repr)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _target_text(target: Any) -> str:
    if callable(target):
        inner = getattr(target, "__wrapped__", target)
        qualname = getattr(inner, "__qualname__", repr(inner))
        return f"{getattr(inner, '__module__', '?')}:{qualname}"
    return str(target)


def _default_stem(target: Any) -> str:
    if callable(target):
        stem = getattr(getattr(target, "__wrapped__", target), "__name__", "sweep")
        if stem == "<lambda>":
            stem = "sweep"
    else:
        stem = Path(str(target)).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-") or "sweep"


def _trial_config(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    config = json.loads(json.dumps(base, default=repr)) if base else {}
    return merge(config, unflatten(values))


def _format_override(key: str, value: Any, prefix: str) -> str:
    if isinstance(value, str):
        text = value if parse_value(value) == value and value else f"'{value}'"
    else:
        text = json.dumps(value)
    return f"{prefix}{key}={text}"


# ---------------------------------------------------------------------------------------------
# Running: the sweep's folder, its lock and journal, and the backend


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
    fd = lock_sweep(directory, name)
    journal = Journal(directory)
    study: Study | None = None
    try:
        saved = read_sweep_file(directory)
        if saved and saved.get("fingerprint") != fingerprint:
            msg = (
                f"Sweep {name!r} exists in {str(plan.storage)!r} with another definition "
                "(space, strategy, seed, pruner, base config or target). Give this sweep another "
                "name, or delete the old sweep's folder."
            )
            raise SearchSpecError(msg, name=name)
        seed = plan.seed
        if plan.strategy in ("random", *MODEL_BASED) and seed is None:
            seed = saved.get("seed") if saved else None
            if seed is not None and (
                isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63
            ):
                msg = (
                    f"Sweep file {str(directory / SWEEP_FILE)!r} records the seed {seed!r}, "
                    "which this code never writes: delete the sweep's folder to start over, or "
                    "give seed= to this sweep."
                )
                raise SearchSpecError(msg, name=name, value=repr(seed)[:100])
            if seed is None:
                seed = random.SystemRandom().randrange(2**31)
        points: list[dict[str, Any]] = []
        if plan.strategy not in MODEL_BASED:
            points = generate(plan.space, plan.strategy, plan.n_trials, seed)
        if plan.studied:
            study = Study(directory, plan.space, plan.strategy, seed, plan.pruner, plan.mode)
        total = len(points) if plan.strategy not in MODEL_BASED else int(plan.n_trials or 0)
        state = _Sweep(plan, name, directory, journal, fingerprint, seed, points, total, saved)
        state.study = study
        return state.run()
    finally:
        if study is not None:
            study.close()
        journal.close()
        os.close(fd)


class _Sweep:
    """One session of a sweep: hands trials to the backend (the :class:`~hypertuner.backends.
    Driver` it talks to), hears the values trials report, and records how each ends, in the
    journal, the study and ``sweep.json``."""

    def __init__(
        self,
        plan: _Plan,
        name: str,
        directory: Path,
        journal: Journal,
        fingerprint: str,
        seed: int | None,
        points: list[dict[str, Any]],
        total: int,
        saved: Mapping[str, Any],
    ) -> None:
        self.plan = plan
        self.name = name
        self.directory = directory
        self.journal = journal
        self.fingerprint = fingerprint
        self.seed = seed
        self.points = points
        self.total = total
        self.created = saved.get("created")
        self.trials: dict[int, Trial] = {}
        self.jobs: dict[int, Job] = {}
        self.study: Study | None = None
        self._earlier: dict[int, Earlier] = {}
        self._next = 0
        self._previous = journal.read()
        self.progress: Progress | None = None

    def run(self) -> SweepResults:
        """Run what is left of the sweep on the plan's backend; return every trial."""
        if self.plan.command is not None:
            (self.directory / "logs").mkdir(exist_ok=True)
        resumed = self._skip_finished()
        self.progress = Progress(self.name, self.total, resumed, self.plan.mode, self.plan.progress)
        self._write_sweep_file("running")
        if resumed:
            ended = "finished or pruned" if self.study is not None else "finished"
            self.note(
                f"sweep {self.name}: resuming, {resumed} of {self.total} trials already {ended}."
            )
        try:
            self.plan.backend.run(self)
        except KeyboardInterrupt:
            self._end("interrupted")
            raise
        except BaseException:
            self._end("failed")
            raise
        self._end("finished")
        ordered = [self.trials[i] for i in sorted(self.trials)]
        return SweepResults(ordered, self.name, self.directory, self.plan.mode)

    def _skip_finished(self) -> int:
        """Take the trials that ended in an earlier session (finished, or pruned: their run is
        complete as far as the sweep is concerned) as they were recorded."""
        done = {"finished", "pruned"} if self.study is not None else {"finished"}
        if self.study is not None:
            self._earlier = self.study.earlier()
            known = {
                index: earlier.values
                for index, earlier in self._earlier.items()
                if earlier.status in done
            }
        else:
            known = dict(enumerate(self.points))
        for index, values in known.items():
            if index >= self.total:
                continue
            config = _trial_config(self.plan.config, values)
            identity = trial_id(config)
            # By index: a config may come up at several indices, each its own run. The id
            # check keeps a line of other values (an index asked again) from counting.
            earlier = self._previous.get(index, {})
            if earlier.get("trial") != identity:
                earlier = {}
            stopped = self._earlier.get(index)
            if (
                stopped is not None
                and stopped.status == "pruned"
                and earlier.get("status") not in done
            ):
                earlier = self._record_pruned(index, identity, earlier, stopped)
            if earlier.get("status") not in done:
                continue
            run_name = earlier.get("run", f"{self.name}-{index}")
            value = earlier.get("value")
            if stopped is not None and stopped.status == "finished":
                value = stopped.value  # the study's own record is the one the sampler saw
            self.trials[index] = Trial(
                index,
                identity,
                run_name,
                config,
                str(earlier["status"]),
                result=earlier.get("result"),
                value=value,
                error=earlier.get("error"),
                directory=self.plan.storage / run_name,
                resumed=True,
            )
        return len(self.trials)

    def _record_pruned(
        self, index: int, identity: str, earlier: Mapping[str, Any], stopped: Earlier
    ) -> dict[str, Any]:
        """The journal line of a trial the pruner stopped, whose end the journal missed (the
        sweep's process died between the verdict and the trial's end): the study has it pruned,
        so the journal says so too, and the trial is not run again."""
        error = TrialPruned(step=stopped.step, metric=self.plan.metric, value=stopped.value)
        record = {
            "trial": identity,
            "index": index,
            "run": earlier.get("run", f"{self.name}-{index}"),
            "status": "pruned",
            "result": None,
            "value": None,
            "error": str(error),
        }
        self.journal.append(record)
        return record

    # The Driver protocol -------------------------------------------------------------------

    def next_job(self) -> Job | None:
        """The next trial that has not ended in an earlier session, or ``None``."""
        while self._next < self.total:
            index = self._next
            self._next += 1
            if index not in self.trials:
                job = self._job(index, self._values(index))
                self.jobs[index] = job
                return job
        return None

    def started(self, job: Job) -> None:
        """A trial started: a "running" line in the journal."""
        record = {
            "trial": job.trial_id,
            "index": job.index,
            "run": job.run_name,
            "status": "running",
            "config": job.config,
            "gpu": job.gpu,
        }
        if job.attempt:
            record["attempt"] = job.attempt
        self.journal.append(record)

    def report(self, index: int, step: int, value: float) -> bool:
        """A running trial logged ``value`` of the metric at ``step``: record it in the study and
        return whether the pruner says the trial should stop."""
        if self.study is None:
            return False
        return self.study.report(index, step, value)

    def finished(self, outcome: Outcome) -> None:
        """A trial ended: its journal line, its tell, its place in the results and the progress."""
        job = self.jobs[outcome.index]
        status, error, value = outcome.status, outcome.error, None
        if status == "finished":
            value = outcome.value
            if value is None:  # an outcome of a backend that does not set it
                value = number_of(outcome.result, self.plan.metric)
            if value is None and self.study is not None:
                # The study can learn nothing from it: a failed trial, which runs again.
                status, error = "failed", self._no_value_error()
        trial = Trial(
            job.index,
            job.trial_id,
            job.run_name,
            job.config,
            status,
            result=outcome.result,
            value=value,
            error=error,
            directory=self.plan.storage / job.run_name,
        )
        self.trials[job.index] = trial
        self.journal.append(
            {
                "trial": job.trial_id,
                "index": job.index,
                "run": job.run_name,
                "status": status,
                "result": jsonable(outcome.result),
                "value": value,
                "error": error,
                "duration_s": round(outcome.duration_s, 3),
            }
        )
        if self.study is not None:
            self.study.tell(job.index, status, value)
        if self.progress is not None:
            self.progress.update(trial)

    def note(self, text: str) -> None:
        """Tell the user something on the progress output."""
        if self.progress is not None:
            self.progress.note(text)

    # ------------------------------------------------------------------------------------------

    def _no_value_error(self) -> str:
        """Why a trial that finished without a value to rank it by counts as failed."""
        metric = self.plan.metric
        if metric:
            how = "log it with hypertuner.log"
            if self.plan.command is None:
                how = f"return it, return a dict holding it, or {how}"
            return f"Trial finished without a value of {metric!r}: {how}."
        how = "log one with hypertuner.log and name it with --metric"
        if self.plan.command is None:
            how = "return a number, or log one with hypertuner.log and name it with metric="
        return f"Trial finished without a value to rank it by: {how}."

    def _values(self, index: int) -> dict[str, Any]:
        """The trial's values: from the points (grid, random), or asked of the study."""
        if self.study is None:
            return self.points[index]
        earlier = self._earlier.get(index)
        if earlier is not None and earlier.status == "failed":
            return self.study.ask(index, earlier.values)  # a failed trial runs again as it was
        if self.plan.strategy in MODEL_BASED:
            return self.study.ask(index)  # a trial cut short keeps its values
        return self.study.ask(index, self.points[index])

    def _job(self, index: int, values: Mapping[str, Any]) -> Job:
        plan = self.plan
        config = _trial_config(plan.config, values)
        run_name = f"{self.name}-{index}"
        # Storage given as a URL: each trial runs in the local storage of the machine that runs
        # it (its HYPERTUNER_STORAGE, or ./storage) and is mirrored to the URL.
        storage = "" if plan.backup else str(plan.storage)
        job = Job(
            index, trial_id(config), run_name, storage, config, self.name,
            metric=plan.metric, backup=plan.backup,
        )  # fmt: skip
        if self.study is not None and plan.metric:
            job.report = plan.metric
            job.waits = plan.pruner is not None
        if self.study is not None:
            job.needs_value = self._no_value_error()
        if plan.command is None:
            job.fn = plan.target
            return job
        tokens = [_format_override(k, v, plan.overrides.get(k, "")) for k, v in values.items()]
        if plan.backup:
            tokens.append(f"run.backup={plan.backup}")
        job.command = [*plan.command, *tokens, f"--name={run_name}"]
        if storage:
            job.command.append(f"--storage={storage}")
        job.log_path = str(self.directory / "logs" / f"{index}.log")
        if plan.threads:
            job.env = {"OMP_NUM_THREADS": str(plan.threads), "MKL_NUM_THREADS": str(plan.threads)}
        return job

    def _end(self, status: str) -> None:
        if self.progress is not None:
            self.progress.close()
        self._write_sweep_file(status)

    def _write_sweep_file(self, status: str) -> None:
        plan = self.plan
        best = best_of(list(self.trials.values()), plan.mode)
        _files.write_json(
            self.directory / SWEEP_FILE,
            {
                "kind": "hypertuner-sweep",
                "version": 1,
                "name": self.name,
                "status": status,
                "strategy": plan.strategy,
                "pruner": plan.pruner_text,
                "seed": self.seed,
                "n_trials": self.total,
                "space": describe(plan.space),
                "config": plan.config,
                "target": _target_text(plan.target),
                "command": plan.command,
                "backend": getattr(plan.backend, "name", type(plan.backend).__name__),
                "workers": plan.backend.workers,
                "gpus": getattr(plan.backend, "gpus", None),
                "metric": plan.metric,
                "mode": plan.mode,
                "fingerprint": self.fingerprint,
                "created": self.created or _files.now(),
                "updated": _files.now(),
                "counts": dict(collections.Counter(t.status for t in self.trials.values())),
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
