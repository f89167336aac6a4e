"""The model of a sweep that learns or stops trials early: an Optuna study in the sweep's folder.

A sweep with a model-based strategy (``"tpe"``, ``"gp"``, ``"cmaes"``: Optuna's samplers) or a
pruner (``"asha"``, ``"hyperband"``, ``"median"``: Optuna's pruners) keeps one Optuna study. Its
storage is Optuna's journal storage on :class:`StudyLog`, the file ``study.jsonl`` beside
``trials.jsonl``: every ask, every intermediate value and every tell is one JSON line, written
through as it happens, so running the sweep again replays the file and continues where it
stopped, without a database. The file is in Optuna's own journal format (one operation per
line), so ``optuna.storages.journal.JournalFileBackend`` reads it too (Optuna's dashboard, say).

The driver of the sweep (:mod:`hypertuner.launch`) is the only writer: it asks in
``next_job``, records intermediate values and asks the pruner when a trial reports one, and
tells when a trial ends. Each ask uses a sampler seeded from the sweep's seed and the trial's
index, so a resumed sweep asks what an uninterrupted one would have asked from the same
results.

Optuna is imported only here and only when such a sweep runs (``pip install 'hypertuner[search]'``).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from hypertuner.search import uniform
    >>> study = Study(Path(tempfile.mkdtemp()), {"x": uniform(-1.0, 1.0)}, "tpe", 0, None, "min")
    >>> values = study.ask(0)
    >>> -1.0 <= values["x"] <= 1.0
    True
    >>> study.report(0, 1, 0.5), study.tell(0, "finished", values["x"] ** 2), study.close()
    (False, None, None)
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import _files
from ._deps import require
from ._sweeprecord import AppendFile, untrusted
from .errors import SearchSpecError
from .search import MODEL_BASED, Dimension

__all__ = ["STUDY_LOG", "Earlier", "Study", "StudyLog", "require_optuna"]

STUDY_LOG = "study.jsonl"
_STUDY_NAME = "sweep"
_INDEX = "hypertuner:index"  # user attribute: the trial's index in the sweep (its run <sweep>-i)
_PRUNED = "hypertuner:pruned_at"  # system attribute: the step at which the pruner said stop


def require_optuna(feature: str) -> Any:
    """Import Optuna, or raise :class:`~hypertuner.errors.MissingDependencyError` naming the
    ``search`` extra.

    Example:
        >>> require_optuna("strategy='tpe'").__name__
        'optuna'
    """
    return require("optuna", "search", feature)


class StudyLog:
    """Optuna's journal backend on one file, for a single writer (the sweep holds its lock).

    Lines are written through at once (a crash of the sweep loses nothing already told) and
    fsynced in the background within ``SYNC_EVERY_S``, at most once per ``SYNC_EVERY_S``, and at
    the end (:class:`~hypertuner._sweeprecord.AppendFile`). A line torn by a crash is dropped
    when the file is read back.
    """

    SYNC_EVERY_S = 0.5

    def __init__(self, path: Path) -> None:
        self.path = path
        self.logs: list[dict[str, Any]] = []
        handle: io.BufferedIOBase
        try:
            handle = os.fdopen(_files.open_regular(path), "rb")
        except FileNotFoundError:
            handle = io.BytesIO()
        except OSError as exc:  # a link or a FIFO in the sweep's folder: never waited on
            raise untrusted(path, exc, "Study file") from None
        with handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # torn by a crash: what follows cannot be trusted
                try:
                    log = json.loads(line)
                except (ValueError, RecursionError):
                    break
                if not isinstance(log, dict):
                    break  # no operation of Optuna's: nothing after it can be trusted either
                self.logs.append(log)
        self._file = AppendFile(path, self.SYNC_EVERY_S)

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        """The operations from number ``log_number_from`` on (Optuna's backend interface)."""
        return self.logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append operations, one JSON line each (Optuna's backend interface)."""
        if not self._file.opened:
            self._truncate_torn_tail()
        self._file.write("".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs))
        self.logs.extend(logs)

    def close(self) -> None:
        self._file.close()

    def _truncate_torn_tail(self) -> None:
        """Cut a partial last line (a crash mid-write) so new lines start on a line of their own."""
        size = sum(len(json.dumps(log, separators=(",", ":"))) + 1 for log in self.logs)
        with contextlib.suppress(FileNotFoundError):
            if os.path.getsize(self.path) != size:
                os.truncate(self.path, size)


# ---------------------------------------------------------------------------------------------
# The space as Optuna distributions


class _Codec:
    """One dimension as an Optuna distribution, and its values to and from Optuna's."""

    def __init__(self, optuna: Any, dimension: Dimension) -> None:
        spec = dimension.to_json()
        kind = spec["type"]
        self.options: list[Any] | None = None
        self.by_index = False
        distributions = optuna.distributions
        if kind == "choice":
            options = dimension.values()
            self.options = options
            plain = all(o is None or isinstance(o, (bool, int, float, str)) for o in options)
            # Optuna records plain values (readable in the study file); anything else, or values
            # that compare equal (1 and True), goes by its position in the list.
            distinct = all(
                not (a == b) or (type(a) is type(b) and a is b)  # noqa: SIM201 - numpy-safe
                for i, a in enumerate(options)
                for b in options[i + 1 :]
            )
            self.by_index = not (plain and distinct)
            choices = tuple(range(len(options))) if self.by_index else tuple(options)
            self.distribution = distributions.CategoricalDistribution(choices)
        elif kind in ("uniform", "loguniform"):
            self.distribution = distributions.FloatDistribution(
                float(spec["low"]), float(spec["high"]), log=kind == "loguniform"
            )
        elif kind == "irange":
            values = dimension.values()
            step = abs(int(spec["step"]))
            self.distribution = distributions.IntDistribution(min(values), max(values), step=step)
        else:  # pragma: no cover - check_space admits only these
            msg = f"Unknown dimension type {kind!r}."
            raise TypeError(msg)
        self.kind = kind

    def decode(self, value: Any) -> Any:
        if self.options is not None:
            return self.options[value] if self.by_index else value
        return int(value) if self.kind == "irange" else float(value)

    def encode(self, value: Any) -> Any:
        if self.options is not None and self.by_index:
            for i, option in enumerate(self.options):
                if option is value:
                    return i
            return self.options.index(value)
        return value


# ---------------------------------------------------------------------------------------------
# The study


class Earlier:
    """What the study file says of one trial index: ``status`` (``finished``, ``pruned``,
    ``failed`` or ``running``), its ``values`` and, finished, its ``value``; pruned by the
    pruner, the ``step`` it was stopped at and the value it was judged by there (``value``)."""

    __slots__ = ("status", "step", "value", "values")

    def __init__(
        self, status: str, values: dict[str, Any], value: float | None, step: int | None = None
    ) -> None:
        self.status = status
        self.values = values
        self.value = value
        self.step = step


class _Quiet:
    """Optuna logs every tell at INFO on stderr, and the sweep's own progress says it already:
    while a study is open, Optuna's verbosity is at least WARNING. Set once for the study's life,
    not around each call: each change of a logger's level clears the cache of every logger (torch
    and Lightning register hundreds), a tenth of a millisecond a time."""

    def __init__(self, optuna: Any) -> None:
        self.logging = optuna.logging
        self.before = self.logging.get_verbosity()
        self.changed = self.before < self.logging.WARNING
        if self.changed:
            self.logging.set_verbosity(self.logging.WARNING)

    def end(self) -> None:
        """Put back the verbosity from before (unless someone changed it meanwhile)."""
        if self.changed and self.logging.get_verbosity() == self.logging.WARNING:
            self.logging.set_verbosity(self.before)
        self.changed = False


class Study:
    """The Optuna study of one sweep, rebuilt from ``directory/study.jsonl`` when it exists.

    Args:
        directory: the sweep's folder.
        space: the checked space (dotted keys to dimensions).
        strategy: ``"tpe"``, ``"gp"``, ``"cmaes"``, or ``"grid"``/``"random"`` (trials then come
            with their values, and the study serves the pruner).
        seed: the sweep's seed.
        pruner: an Optuna pruner, or ``None``.
        mode: ``"min"`` or ``"max"``.
    """

    def __init__(
        self,
        directory: Path,
        space: Mapping[str, Dimension],
        strategy: str,
        seed: int | None,
        pruner: Any,
        mode: str,
    ) -> None:
        optuna = require_optuna(f"strategy={strategy!r}")
        self.optuna = optuna
        self.strategy = strategy
        self.seed = 0 if seed is None else int(seed)
        self.codecs = {key: _Codec(optuna, dim) for key, dim in space.items()}
        self.distributions = {key: c.distribution for key, c in self.codecs.items()}
        self.log = StudyLog(directory / STUDY_LOG)
        direction = "minimize" if mode == "min" else "maximize"
        self._quiet = _Quiet(optuna)
        try:  # replays the file's operations
            self.storage = optuna.storages.JournalStorage(self.log)
            self.study = optuna.create_study(
                storage=self.storage,
                study_name=_STUDY_NAME,
                direction=direction,
                pruner=pruner if pruner is not None else optuna.pruners.NopPruner(),
                sampler=optuna.samplers.RandomSampler(seed=self.seed),
                load_if_exists=True,
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as exc:
            self._quiet.end()  # replaying the file met an operation Optuna never wrote
            msg = (
                f"Study file {str(self.log.path)!r} holds an operation this code never writes "
                f"({type(exc).__name__}: {str(exc)[:100]}): delete the sweep's folder to start "
                "over."
            )
            raise SearchSpecError(msg, value=str(self.log.path)) from None
        except BaseException:
            self._quiet.end()
            raise
        self.pruner = pruner
        self.live: dict[int, Any] = {}  # index -> optuna.Trial of a trial being run
        self.stopped: dict[int, int] = {}  # index -> step at which the pruner said stop
        self._spaces: dict[str, Any] = {}  # the samplers' search-space caches (_keep_search_space)
        self.ask_seconds = 0.0  # time spent in Optuna's ask, report and tell (for the bench)

    # Reading back ------------------------------------------------------------------------------

    def earlier(self) -> dict[int, Earlier]:
        """Each trial index the study file knows, as its latest Optuna trial left it.

        A trial still ``running`` there was cut short (Ctrl-C, a crash): it runs again under the
        same Optuna trial, unless the pruner had already stopped it (then it is told pruned now,
        and the sweep's journal must say so too: see ``_Sweep._skip_finished``).
        """
        state = self.optuna.trial.TrialState
        latest: dict[int, Any] = {}
        for frozen in self.study.get_trials(deepcopy=False):
            index = frozen.user_attrs.get(_INDEX)
            if not isinstance(index, int):
                if frozen.state == state.RUNNING:  # cut short between ask and its index
                    self.study.tell(frozen.number, state=state.FAIL)
                continue
            latest[index] = frozen
        out: dict[int, Earlier] = {}
        for index, frozen in sorted(latest.items()):
            values = {
                k: self.codecs[k].decode(v) for k, v in frozen.params.items() if k in self.codecs
            }
            step = frozen.system_attrs.get(_PRUNED)
            judged = frozen.intermediate_values.get(step) if isinstance(step, int) else None
            if frozen.state == state.RUNNING and _PRUNED in frozen.system_attrs:
                self.study.tell(frozen.number, state=state.PRUNED)
                out[index] = Earlier("pruned", values, judged, step)
            elif frozen.state == state.RUNNING:
                self.live[index] = self.optuna.trial.Trial(self.study, frozen._trial_id)
                out[index] = Earlier("running", values, None)
            elif frozen.state == state.COMPLETE:
                out[index] = Earlier("finished", values, frozen.value)
            elif frozen.state == state.PRUNED:
                out[index] = Earlier("pruned", values, judged, step)
            else:
                out[index] = Earlier("failed", values, None)
        return out

    # The driver's calls ------------------------------------------------------------------------

    def ask(self, index: int, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Start the Optuna trial of ``index`` and return its values (flat dotted keys).

        With ``values`` (grid and random search, or a failed trial run again) the trial takes
        them as they are; otherwise the strategy's sampler, seeded for this index, draws them.
        A trial left running by an earlier session keeps its values.
        """
        started = time.perf_counter()
        live = self.live.get(index)
        if live is not None:  # cut short earlier: the same Optuna trial, the same values
            params = self.storage.get_trial(live._trial_id).params
            self.ask_seconds += time.perf_counter() - started
            return {k: self.codecs[k].decode(v) for k, v in params.items()}
        if values is None:
            self.study.sampler = self._sampler(index)
            trial = self.study.ask(self.distributions)
            trial.set_user_attr(_INDEX, index)
            params = trial.params
        else:
            params = {k: self.codecs[k].encode(values[k]) for k in self.codecs}
            frozen = self.optuna.trial.create_trial(
                state=self.optuna.trial.TrialState.RUNNING,
                params=params,
                distributions=self.distributions,
                user_attrs={_INDEX: index},
            )
            study_id = self.storage.get_study_id_from_name(_STUDY_NAME)
            trial_id = self.storage.create_new_trial(study_id, template_trial=frozen)
            trial = self.optuna.trial.Trial(self.study, trial_id)
        self.live[index] = trial
        self.ask_seconds += time.perf_counter() - started
        return {k: self.codecs[k].decode(v) for k, v in params.items()}

    def report(self, index: int, step: int, value: float) -> bool:
        """Record an intermediate value of trial ``index``; return whether it should stop."""
        if index in self.stopped:
            return True
        trial = self.live.get(index)
        if trial is None or step < 0:
            return False
        started = time.perf_counter()
        trial_id = trial._trial_id
        if step not in self.storage.get_trial(trial_id).intermediate_values:
            self.storage.set_trial_intermediate_value(trial_id, step, float(value))
        stop = False
        if self.pruner is not None:
            # What Trial.should_prune does (a shallow copy: pruners only read), on the stored
            # trial (the Trial object caches its own copy, which values recorded straight in the
            # storage do not reach).
            frozen = copy.copy(self.storage.get_trial(trial_id))
            stop = bool(self.pruner.prune(self.study, frozen))
            if stop:
                self.storage.set_trial_system_attr(trial_id, _PRUNED, step)
                self.stopped[index] = step
        self.ask_seconds += time.perf_counter() - started
        return stop

    def tell(self, index: int, status: str, value: float | None) -> None:
        """Tell how trial ``index`` ended; an ``interrupted`` one stays open and runs again."""
        trial = self.live.get(index)
        if trial is None or status == "interrupted":
            return
        started = time.perf_counter()
        del self.live[index]
        self.stopped.pop(index, None)
        state = self.optuna.trial.TrialState
        if status == "finished" and value is not None:
            self.study.tell(trial, value)
        elif status == "pruned":
            self.study.tell(trial, state=state.PRUNED)
        else:  # failed, or finished without a value to rank it by
            self.study.tell(trial, state=state.FAIL)
        self.ask_seconds += time.perf_counter() - started

    def close(self) -> None:
        """Write what is left of the study file; Optuna's verbosity back as it was."""
        try:
            self.log.close()
        finally:
            self._quiet.end()

    # ------------------------------------------------------------------------------------------

    def _sampler(self, index: int) -> Any:
        seed = random.Random(self.seed * 1_000_003 + index).randrange(2**31)
        samplers = self.optuna.samplers
        make: dict[str, Callable[[], Any]] = {
            "tpe": lambda: samplers.TPESampler(seed=seed),
            "gp": lambda: samplers.GPSampler(seed=seed),
            # CMA-ES models numbers; a choice is drawn by TPE beside it (Optuna's fallback).
            "cmaes": lambda: samplers.CmaEsSampler(
                seed=seed,
                independent_sampler=samplers.TPESampler(seed=seed),
                warn_independent_sampling=False,
            ),
        }
        sampler = make.get(self.strategy, lambda: samplers.RandomSampler(seed=seed))()
        self._keep_search_space(sampler)
        return sampler

    def _keep_search_space(self, sampler: Any) -> None:
        """Give a new sampler the search space its predecessor worked out.

        A sampler caches the study's intersection search space and extends it by the trials
        added since its last ask; a new sampler per trial (for the seed per index) would start
        from nothing and rescan every trial so far, the largest part of an ask after a hundred
        trials. The cache is a function of the study's trials only, so sharing it changes no
        draw. Where an Optuna version keeps it elsewhere, a sampler simply works it out again.
        """
        intersection = self.optuna.search_space.IntersectionSearchSpace
        for owner in (sampler, getattr(sampler, "_independent_sampler", None)):
            for attribute in ("_search_space", "_intersection_search_space"):
                cache = getattr(owner, attribute, None)
                if type(cache) is intersection:
                    key = f"{type(owner).__qualname__}.{attribute}"
                    setattr(owner, attribute, self._spaces.setdefault(key, cache))


def model_based(strategy: str) -> bool:
    """Whether ``strategy`` draws trials from a model of the results so far.

    Example:
        >>> model_based("tpe"), model_based("grid")
        (True, False)
    """
    return strategy in MODEL_BASED
