"""test-tube compatibility: ``HyperOptArgumentParser`` and the namespace it parses.

Code written for test-tube keeps working with one changed import: ``opt_list``, ``opt_range``,
``json_config``, ``trials``, ``generate_trials``, ``optimize_parallel_cpu`` and
``optimize_parallel_gpu``. The trials are the search spaces of :mod:`hypertuner.search`, and the
``optimize_parallel_*`` methods run them as a sweep (:func:`hypertuner.sweep`) of ordinary runs.

Example:
    >>> parser = HyperOptArgumentParser(strategy="grid_search")
    >>> _ = parser.opt_list("--layers", default=2, type=int, tunable=True, options=[2, 4])
    >>> [t.layers for t in parser.parse_args([]).trials(2)]
    [2, 4]
"""

from __future__ import annotations

import argparse
import ast
import copy
import functools
import math
import os
import random
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ._formats import load_file
from .args import Args
from .backends import ProcessPool
from .errors import (
    ConfigError,
    HypertunerWarning,
    SearchArgumentError,
    SearchSpecError,
    suggest,
)
from .launch import SweepResults, sweep
from .search import (
    MODEL_BASED,
    Choice,
    Dimension,
    generate,
    irange,
    loguniform,
    strategy_name,
    uniform,
)

__all__ = ["HyperOptArgumentParser", "HyperOptNamespace"]


class _OptArg:
    """A tunable argument: its dest, the values it takes, and how it was declared; an
    ``opt_range`` also keeps its range, which the model-based strategies search as a range."""

    __slots__ = ("dest", "dimension", "flag", "tunable", "values")

    def __init__(
        self,
        dest: str,
        flag: str,
        values: list[Any],
        tunable: bool,
        dimension: Dimension | None = None,
    ) -> None:
        self.dest = dest
        self.flag = flag
        self.values = values
        self.tunable = tunable
        self.dimension = dimension


class _Search:
    """What a parsed namespace needs to generate trials (picklable)."""

    def __init__(self, strategy: str, space: dict[str, Dimension], seed: int | None) -> None:
        self.strategy = strategy
        self.space = space
        self.seed = seed


class HyperOptNamespace(argparse.Namespace):
    """The namespace :meth:`HyperOptArgumentParser.parse_args` returns.

    Its attributes are the parsed values (tunable arguments keep their defaults); its methods
    generate trials from the parser's tunable arguments and run them as a sweep of ordinary
    runs. ``vars(namespace)`` holds only the values.

    Example:
        >>> parser = HyperOptArgumentParser(strategy="grid_search")
        >>> _ = parser.opt_list("--layers", default=2, type=int, tunable=True, options=[2, 4])
        >>> hparams = parser.parse_args([])
        >>> hparams.layers, [t.layers for t in hparams.trials(2)], vars(hparams)
        (2, [2, 4], {'layers': 2})
    """

    __slots__ = ("_search",)

    def _values(self) -> dict[str, Any]:
        return dict(vars(self))

    def _trial_dicts(self, nb_trials: int | None) -> list[dict[str, Any]]:
        search = _search_of(self)
        base = self._values()
        if not search.space:
            # test-tube's product of no options is one trial: the plain values, whatever n is.
            return [dict(base)]
        if search.strategy == "random" and nb_trials is None:
            msg = (
                "Random search needs a trial count: call trials(n) or generate_trials(n) with "
                "an int (test-tube raises a TypeError here too)."
            )
            raise SearchArgumentError(msg, key="nb_trials")
        out = []
        for values in generate(search.space, search.strategy, nb_trials, search.seed):
            trial = copy.deepcopy(base)
            trial.update(values)
            out.append(trial)
        return out

    def generate_trials(self, nb_trials: int | None = None) -> list[HyperOptNamespace]:
        """Return the trials as namespaces with the tunable values substituted.

        With no tunable argument there is one trial, the parsed values (as in test-tube).

        Raises:
            SearchArgumentError: random search without ``nb_trials`` (also a ``TypeError``).

        Example:
            >>> parser = HyperOptArgumentParser(strategy="random_search", seed=0)
            >>> _ = parser.opt_list("--act", default="relu", tunable=True, options=["relu", "tanh"])
            >>> sorted(t.act for t in parser.parse_args([]).generate_trials(5))
            ['relu', 'tanh']
        """
        search = _search_of(self)
        return [_namespace(trial, search) for trial in self._trial_dicts(nb_trials)]

    def trials(self, nb_trials: int | None = None) -> Iterator[HyperOptNamespace]:
        """Yield the trials one by one (see :meth:`generate_trials`).

        Example:
            >>> parser = HyperOptArgumentParser()
            >>> _ = parser.opt_list("--bs", default=8, type=int, tunable=True, options=[16, 32])
            >>> [t.bs for t in parser.parse_args([]).trials(2)]
            [16, 32]
        """
        yield from self.generate_trials(nb_trials)

    def optimize_parallel_cpu(
        self,
        train_function: Callable[..., Any],
        nb_trials: int | None = None,
        nb_workers: int = 4,
        **options: Any,
    ) -> list[list[Any]]:
        """Run ``train_function(trial_params)`` for each trial in ``nb_workers`` processes.

        Each trial is an ordinary run named ``<sweep>-<index>`` (see :func:`hypertuner.sweep`,
        whose keyword ``options`` such as ``name``, ``storage``, ``metric`` and ``progress`` are
        accepted here too). Worker processes are reused across trials. They are spawned, unless
        the call comes from a script's top level outside ``if __name__ == "__main__":`` (or from
        an interactive session): test-tube's workers forked there, so on Linux these fork too
        and the script is not run again in them. With nothing tunable there is one trial.

        Returns:
            ``[trial_params, result]`` per trial, in trial order; a failed trial's result is
            ``None`` (its error is in the sweep's journal and the run's ``meta.json``).

        Example:
            >>> import tempfile
            >>> parser = HyperOptArgumentParser(strategy="grid_search")
            >>> _ = parser.opt_list("--x", default=1, type=int, tunable=True, options=[1, 2])
            >>> out = parser.parse_args([]).optimize_parallel_cpu(
            ...     vars, nb_trials=2, nb_workers=1, storage=tempfile.mkdtemp(), progress=False)
            >>> [params.x for params, result in out], out[0][1]
            ([1, 2], {'x': 1})
        """
        results = _parser_sweep(
            self, train_function, nb_trials=nb_trials, workers=nb_workers, gpu_ids=None, **options
        )
        return _pairs(results, _search_of(self))

    def optimize_parallel_gpu(
        self,
        train_function: Callable[..., Any],
        gpu_ids: Sequence[str],
        max_nb_trials: int | None = None,
        **options: Any,
    ) -> list[list[Any]]:
        """Run ``train_function(trial_params, gpu_ids_entry)``, one process per ``gpu_ids`` entry.

        Each entry of ``gpu_ids`` (a string such as ``"1"`` or ``"0, 2"``) belongs to one worker
        process, spawned with ``CUDA_VISIBLE_DEVICES`` set to it before anything imports torch, so
        no entry is ever used by two running trials. Keyword ``options`` as for
        :meth:`optimize_parallel_cpu`.

        Returns:
            ``[trial_params, result]`` per trial, in trial order (``None`` for a failed trial).

        Raises:
            SearchSpecError: ``gpu_ids`` is empty or holds a non-string.
            SearchArgumentError: a keyword of ``optimize_parallel_cpu`` (``nb_trials``,
                ``nb_workers``), as in test-tube's README line; the message gives the right one.

        Example:
            >>> parser = HyperOptArgumentParser()
            >>> _ = parser.opt_list("--x", default=1, type=int, tunable=True, options=[1, 2])
            >>> try:
            ...     parser.parse_args([]).optimize_parallel_gpu(print, gpu_ids=[])
            ... except SearchSpecError as err:
            ...     print(err)
            gpu_ids is empty: give one entry per GPU set, e.g. gpu_ids=['0', '1'].
        """
        _refuse_cpu_keywords(options, gpu_ids, max_nb_trials)
        results = _parser_sweep(
            self,
            train_function,
            nb_trials=max_nb_trials,
            workers=None,
            gpu_ids=list(gpu_ids),
            **options,
        )
        return _pairs(results, _search_of(self))


def _refuse_cpu_keywords(
    options: Mapping[str, Any], gpu_ids: Sequence[str], max_nb_trials: int | None
) -> None:
    """test-tube's README calls ``optimize_parallel_gpu(..., nb_trials=192, nb_workers=4)``,
    which test-tube itself refuses: say what the right call is."""
    wrong = [key for key in ("nb_trials", "nb_workers") if key in options]
    if not wrong:
        return
    parts = []
    if "nb_trials" in options:
        count = options["nb_trials"]
        if max_nb_trials is None:
            parts.append(f"give the trial count as max_nb_trials={count!r}")
        else:
            parts.append(f"give the trial count once, as max_nb_trials (not nb_trials={count!r})")
    if "nb_workers" in options:
        entries = len(list(gpu_ids))
        parts.append(
            f"leave out nb_workers={options['nb_workers']!r}: there is one worker per gpu_ids "
            f"entry ({entries} here)"
        )
    msg = (
        f"optimize_parallel_gpu() takes no {' or '.join(wrong)} keyword (those are "
        f"optimize_parallel_cpu's): {'; '.join(parts)}."
    )
    raise SearchArgumentError(
        msg, key=wrong[0], value=options[wrong[0]], suggestions=["max_nb_trials"]
    )


def _search_of(namespace: HyperOptNamespace) -> _Search:
    try:
        search: _Search = namespace._search
    except AttributeError:
        return _Search("grid", {}, None)
    return search


def _namespace(values: Mapping[str, Any], search: _Search) -> HyperOptNamespace:
    namespace = HyperOptNamespace(**values)
    namespace._search = search
    return namespace


def _pairs(results: SweepResults, search: _Search) -> list[list[Any]]:
    return [[_namespace(trial.config, search), trial.result] for trial in results]


def _range_dimension(
    kind: Any, low: float, high: float, log_base: float | None
) -> Dimension | None:
    """The range an ``opt_range`` spans, for the model-based strategies; ``None`` where its
    values are not plain numbers of the range (integers on a log scale, a custom type)."""
    if kind is int and log_base is None:
        return irange(math.ceil(low), math.floor(high) + 1)
    if kind in (None, float):
        return uniform(low, high) if log_base is None else loguniform(low, high, log_base)
    return None


class HyperOptArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with test-tube's hyperparameter search, on hypertuner's runs.

    Args:
        strategy: ``"grid_search"`` (the product of the tunable values), ``"random_search"``,
            or one of hypertuner's model-based strategies, ``"tpe"``, ``"gp"`` or ``"cmaes"``
            (with ``metric=`` given to ``optimize_parallel_*``): they search an ``opt_range``
            over its whole range (``irange`` for ``type=int``, ``uniform`` or ``loguniform``
            otherwise) rather than over its ``nb_samples`` drawn values.
        seed: seeds ``opt_range``'s draws and random search, so trials are reproducible and a
            sweep can resume; ``None`` (test-tube's behaviour) draws differently each time.
        **kwargs: passed to ``argparse.ArgumentParser``.

    Raises:
        SearchSpecError: an unknown strategy (also a ``ValueError``).

    Example:
        >>> parser = HyperOptArgumentParser(strategy="grid_search")
        >>> parser.add_argument("--learning_rate", default=0.002, type=float)  # doctest: +ELLIPSIS
        _StoreAction(...)
        >>> _ = parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
        >>> hparams = parser.parse_args([])
        >>> hparams.nb_layers, [t.nb_layers for t in hparams.trials(3)]
        (2, [2, 4, 8])
    """

    def __init__(
        self, strategy: str = "grid_search", *args: Any, seed: int | None = None, **kwargs: Any
    ) -> None:
        if strategy not in ("grid_search", "random_search"):
            strategy_name(strategy)  # raises with the list of names
        super().__init__(*args, **kwargs)
        self.strategy = strategy
        self.seed = seed
        self._rng = random.Random(seed)
        self._opt_args: dict[str, _OptArg] = {}
        self._json_config_dest: str | None = None

    def opt_list(
        self, *args: Any, options: Sequence[Any] | None = None, tunable: bool = False, **kwargs: Any
    ) -> argparse.Action:
        """Add an argument that trials draw from ``options`` when ``tunable``.

        The parsed value stays the argument's default (or the command-line value); only
        trials see the options.

        Raises:
            SearchSpecError: ``tunable`` with no options.

        Example:
            >>> parser = HyperOptArgumentParser()
            >>> parser.opt_list("--nb_layers", default=2, type=int, tunable=True,
            ...                 options=[2, 4, 8]).dest
            'nb_layers'
        """
        action = self.add_argument(*args, **kwargs)
        flag = action.option_strings[-1] if action.option_strings else action.dest
        values = list(options) if options is not None else []
        if tunable and not values:
            msg = f"Parameter {flag!r}: opt_list(tunable=True) has no options; pass options=[...]."
            raise SearchSpecError(msg, key=action.dest)
        self._opt_args[action.dest] = _OptArg(action.dest, flag, values, tunable)
        return action

    def opt_range(
        self,
        *args: Any,
        low: float,
        high: float,
        nb_samples: int = 10,
        tunable: bool = False,
        log_base: float | None = None,
        **kwargs: Any,
    ) -> argparse.Action:
        """Add an argument whose trials take one of ``nb_samples`` values drawn in ``[low, high]``.

        The values are drawn once, when the argument is added and only when ``tunable``: uniformly
        (distinct integers for ``type=int``), or on a log scale of base ``log_base`` when it is
        set. The parser's ``seed`` makes the draws reproducible.

        Raises:
            SearchSpecError: ``low > high``, ``nb_samples < 1``, or a log scale with a
                non-positive bound or base; the message names the argument.

        Example:
            >>> parser = HyperOptArgumentParser(seed=0)
            >>> _ = parser.opt_range("--neurons", default=50, type=int, tunable=True,
            ...                      low=100, high=800, nb_samples=8)
            >>> values = parser._opt_args["neurons"].values
            >>> len(values), all(100 <= v <= 800 for v in values)
            (8, True)
        """
        action = self.add_argument(*args, **kwargs)
        flag = action.option_strings[-1] if action.option_strings else action.dest
        values: list[Any] = []
        dimension: Dimension | None = None
        if tunable:
            values = self._draw_range(flag, action.type, low, high, nb_samples, log_base)
            dimension = _range_dimension(action.type, low, high, log_base)
        self._opt_args[action.dest] = _OptArg(action.dest, flag, values, tunable, dimension)
        return action

    def _draw_range(
        self, flag: str, kind: Any, low: float, high: float, nb_samples: int, log_base: float | None
    ) -> list[Any]:
        dimension: Dimension = (
            uniform(low, high) if log_base is None else loguniform(low, high, log_base)
        )
        dimension.check(flag)
        if not isinstance(nb_samples, int) or nb_samples < 1:
            msg = f"Parameter {flag!r}: nb_samples must be a positive integer, not {nb_samples!r}."
            raise SearchSpecError(msg, key=flag, value=nb_samples)
        rng = self._rng
        if kind is int and log_base is None:
            lowest, highest = math.ceil(low), math.floor(high)
            if lowest > highest:
                msg = f"Parameter {flag!r}: [{low}, {high}] holds no integer."
                raise SearchSpecError(msg, key=flag)
            count = highest - lowest + 1
            if count <= nb_samples:
                return list(range(lowest, highest + 1))
            return sorted(rng.sample(range(lowest, highest + 1), nb_samples))
        drawn = sorted(dimension.sample(rng) for _ in range(nb_samples))
        if kind is int:
            return sorted({round(v) for v in drawn})
        if callable(kind) and kind is not float:
            return [kind(v) for v in drawn]
        return drawn

    def json_config(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """Add an argument naming a JSON file whose values replace the parser's defaults.

        Values given on the command line still win over the file. A key that no argument declares
        becomes an attribute too (as in test-tube), with a warning naming the nearest argument.

        Example:
            >>> import json, os, tempfile
            >>> path = os.path.join(tempfile.mkdtemp(), "example.json")
            >>> with open(path, "w") as f:
            ...     json.dump({"learning_rate": 200}, f)
            >>> parser = HyperOptArgumentParser()
            >>> _ = parser.add_argument("--learning_rate", default=0.002, type=float)
            >>> _ = parser.json_config("--config", default=path)
            >>> parser.parse_args([]).learning_rate
            200
        """
        action = self.add_argument(*args, **kwargs)
        self._json_config_dest = action.dest
        return action

    def _read_json_config(self, path: str) -> dict[str, Any]:
        try:
            source = load_file(path)
        except ConfigError as err:
            self.error(str(err))
        known = {a.dest for a in self._actions}
        for key in source.data:
            if key not in known:
                close = suggest(key, sorted(known - {"help"}))
                hint = f" Did you mean {close[0]!r}?" if close else ""
                msg = (
                    f"Config file {path!r} sets {key!r}, which no argument of the parser declares; "
                    f"it is set on the namespace as given.{hint}"
                )
                warnings.warn(msg, HypertunerWarning, stacklevel=3)
        return source.data

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> HyperOptNamespace:
        """Parse the command line into a :class:`HyperOptNamespace`.

        Tunable arguments keep their parsed (default) values; ``trials(n)`` substitutes them.

        Example:
            >>> HyperOptArgumentParser().parse_args([])
            HyperOptNamespace()
        """
        target = namespace if namespace is not None else HyperOptNamespace()
        parsed = super().parse_args(args, target)
        if self._json_config_dest is not None:
            path = getattr(parsed, self._json_config_dest, None)
            if path:
                data = self._read_json_config(str(path))
                given = self._explicit_dests(args)
                for key, value in data.items():
                    if key not in given:
                        setattr(parsed, key, value)
        if not isinstance(parsed, HyperOptNamespace):
            parsed = HyperOptNamespace(**vars(parsed))
        strategy = strategy_name(self.strategy)
        ranges = strategy in MODEL_BASED
        space: dict[str, Dimension] = {
            dest: opt.dimension if ranges and opt.dimension is not None else Choice(opt.values)
            for dest, opt in self._opt_args.items()
            if opt.tunable
        }
        parsed._search = _Search(strategy, space, self.seed)
        return parsed

    def _explicit_dests(self, args: Sequence[str] | None) -> set[str]:
        """The dests the command line set explicitly (these beat the JSON file), by argparse's
        rules for matching an option: the whole name, ``--flag=value``, a unique prefix of a
        long option (``--learn`` when ``allow_abbrev``) and a short option with its value
        attached (``-l0.5``). Read from the tokens: parsing again would run each action twice
        (an ``append`` would append twice, a ``FileType`` open twice)."""
        strings = {s: a.dest for a in self._actions for s in a.option_strings}
        found = set()
        for token in sys.argv[1:] if args is None else args:
            if token == "--":
                break
            if not token.startswith("-") or token == "-":
                continue
            flag = token.split("=", 1)[0]
            if flag in strings:
                found.add(strings[flag])
            elif flag.startswith("--"):
                if self.allow_abbrev:
                    matches = {d for s, d in strings.items() if s.startswith(flag)}
                    if len(matches) == 1:
                        found |= matches
            elif token[:2] in strings:  # -l0.5
                found.add(strings[token[:2]])
        return found


class _NamespaceCall:
    """A trial function that takes test-tube's namespace (and, for GPUs, the trial's
    ``CUDA_VISIBLE_DEVICES`` entry) instead of :class:`hypertuner.Args`. Picklable, so worker
    processes get it like any trial function."""

    def __init__(self, fn: Callable[..., Any], search: _Search, gpu: bool) -> None:
        self.fn = fn
        self.search = search
        self.gpu = gpu
        functools.update_wrapper(self, fn)  # sweeps name and fingerprint the user's function

    def __call__(self, args: Args) -> Any:
        namespace = _namespace(args.to_dict(), self.search)  # hands every value over: all read
        if self.gpu:
            return self.fn(namespace, os.environ.get("CUDA_VISIBLE_DEVICES"))
        return self.fn(namespace)


_SWEEP_OPTIONS = (
    "backend",
    "metric",
    "mode",
    "name",
    "progress",
    "pruner",
    "ray_address",
    "ray_options",
    "seed",
    "start_method",
    "storage",
    "threads_per_worker",
)


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
    search = _search_of(namespace)
    unknown = sorted(set(options) - set(_SWEEP_OPTIONS))
    if unknown:
        close = suggest(unknown[0], _SWEEP_OPTIONS)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (
            f"Unknown option {unknown[0]!r} for the parser's sweep: use "
            f"{', '.join(_SWEEP_OPTIONS)}.{hint}"
        )
        raise SearchArgumentError(msg, key=unknown[0], suggestions=close)
    if not callable(fn):
        msg = f"The trial function {fn!r} is not callable (give a function)."
        raise SearchSpecError(msg, value=repr(fn))
    config = namespace._values()
    space = search.space
    if not space:
        # test-tube runs the plain values once: a sweep of one trial that changes nothing.
        if not config:
            msg = (
                "The parser has no argument at all, so there is no trial to run: add one with "
                "add_argument, opt_list or opt_range."
            )
            raise SearchSpecError(msg)
        first = next(iter(config))
        space = {first: Choice([config[first]])}
        nb_trials = None
    gpu = gpu_ids is not None
    threads = options.pop("threads_per_worker", 1)
    backend = options.pop("backend", None)
    start_method = options.pop("start_method", None)
    if (
        backend is None
        and start_method is None
        and (gpu or (workers or 1) > 1)
        and _fork_as_test_tube_did()
    ):
        backend = _forking_pool(workers, gpu_ids, threads)
        workers = gpu_ids = None
    return sweep(
        _NamespaceCall(fn, search, gpu=gpu),
        space,
        strategy=search.strategy,
        n_trials=nb_trials,
        seed=options.pop("seed", search.seed),
        config=config,
        backend=backend,
        workers=workers,
        gpus=gpu_ids,
        threads_per_worker=threads,
        start_method=start_method,
        **options,
    )


# ---------------------------------------------------------------------------------------------
# Scripts that start a sweep at their top level, as test-tube's do


def _forking_pool(workers: int | None, gpu_ids: list[str] | None, threads: int) -> ProcessPool:
    if gpu_ids is None:
        return ProcessPool(workers, start_method="fork", threads=threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        msg = (
            "optimize_parallel_gpu() is called outside \"if __name__ == '__main__':\" after "
            "this process started CUDA: a forked worker would share that CUDA state, and a "
            "spawned one would run the script again. Put the call under the guard."
        )
        raise SearchSpecError(msg, key="gpu_ids")
    pool = ProcessPool(gpus=gpu_ids, threads=threads)  # checked as a spawning pool...
    # ... then forked: ProcessPool refuses fork with gpus because a forked worker inherits the
    # CUDA state of its parent; this one has none (checked above), and each worker starts with
    # its own CUDA_VISIBLE_DEVICES entry in its environment, before CUDA is first used.
    pool.start_method = "fork"
    return pool


def _fork_as_test_tube_did() -> bool:
    """Whether the workers should fork as test-tube's did: on a platform where test-tube's pool
    forked (Linux), for a call from the script's top level outside a main guard, where spawned
    workers would run the script again, or from an interactive session."""
    import multiprocessing

    if (
        not sys.platform.startswith("linux")
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return False
    chosen = multiprocessing.get_start_method(allow_none=True)
    if chosen is not None and chosen != "fork":
        return False  # the script chose how its processes start
    main = sys.modules.get("__main__")
    if main is None:
        return False
    path = getattr(main, "__file__", None)
    if not path:
        return True  # an interactive session: spawned workers could not import its functions
    return _called_outside_main_guard(main.__dict__, path)


def _called_outside_main_guard(main_globals: dict[str, Any], path: str) -> bool:
    """Whether the ``__main__`` script's top level is running a line outside any
    ``if __name__ == "__main__":`` block (the line that led to this call)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not (
        frame.f_code.co_name == "<module>" and frame.f_globals is main_globals
    ):
        frame = frame.f_back
    if frame is None:
        return False  # not called while the script's top level runs
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return False
    return not _inside_main_guard(tree.body, frame.f_lineno)


def _inside_main_guard(statements: list[ast.stmt], line: int) -> bool:
    for node in statements:
        end = node.end_lineno or node.lineno
        if not node.lineno <= line <= end:
            continue
        if isinstance(node, ast.If) and _is_main_test(node.test):
            return any(s.lineno <= line <= (s.end_lineno or s.lineno) for s in node.body)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return False
        children: list[ast.stmt] = []
        for field in ("body", "orelse", "finalbody"):
            children += getattr(node, field, [])
        for handler in getattr(node, "handlers", []):
            children += handler.body
        return _inside_main_guard(children, line)
    return False


def _is_main_test(test: ast.expr) -> bool:
    if not (
        isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
    ):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(texts) == 1
