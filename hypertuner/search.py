"""Search spaces, strategies and test-tube's ``HyperOptArgumentParser``.

A *space* maps dotted config keys to dimensions: :func:`choice`, :func:`uniform`,
:func:`loguniform` and :func:`irange` (an integer range with Python's ``range`` rules). A
*strategy* turns a space into trials, each a flat ``{dotted key: value}`` dict:

- ``"grid"``: the product of every dimension's values in a stable order (the first key varies
  slowest, values in the order given), truncated to ``n_trials`` when given; every dimension
  must be finite.
- ``"random"``: ``n_trials`` draws from a seeded ``random.Random``. The same seed gives the same
  trials, and a longer run starts with the trials of a shorter one. Where every dimension is
  finite no trial repeats, and ``n_trials`` is capped at the number of distinct trials.

Dimensions check their bounds when a space is used, so each error names its parameter. On the
command line (``hypertuner sweep``) a dimension is written as an expression:
``lr=loguniform(1e-4,1e-1)``, ``model.layers=range(2,8,2)``, ``act=choice(relu,tanh)``.

Example:
    >>> from hypertuner.search import choice, generate, irange
    >>> for trial in generate({"lr": choice(0.1, 0.01), "layers": irange(2, 6, 2)}, "grid"):
    ...     print(trial)
    {'lr': 0.1, 'layers': 2}
    {'lr': 0.1, 'layers': 4}
    {'lr': 0.01, 'layers': 2}
    {'lr': 0.01, 'layers': 4}
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import math
import random
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import HypertunerWarning, SearchSpecError, suggest

if TYPE_CHECKING:
    from .launch import SweepResults

__all__ = [
    "STRATEGIES",
    "Choice",
    "Dimension",
    "HyperOptArgumentParser",
    "HyperOptNamespace",
    "IntRange",
    "LogUniform",
    "Uniform",
    "check_space",
    "choice",
    "generate",
    "irange",
    "loguniform",
    "parse_dimension",
    "uniform",
]

STRATEGIES = ("grid", "random")
_STRATEGY_ALIASES = {
    "grid": "grid",
    "grid_search": "grid",
    "random": "random",
    "random_search": "random",
}


# ---------------------------------------------------------------------------------------------
# Dimensions


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Dimension:
    """One searchable parameter: finite (a list of values) or continuous (sampled).

    Build dimensions with :func:`choice`, :func:`uniform`, :func:`loguniform` and :func:`irange`.

    Example:
        >>> isinstance(choice(1, 2), Dimension)
        True
    """

    finite: bool = True
    _is_dimension = True  # recognised by this mark, not by class identity (a module may load twice)

    def problem(self) -> str | None:
        """Return what is wrong with this dimension (a sentence fragment), or ``None``."""
        return None

    def check(self, key: str | None = None) -> None:
        """Raise :class:`SearchSpecError` naming ``key`` when the dimension cannot be searched.

        Example:
            >>> try:
            ...     uniform(1.0, 0.0).check("lr")
            ... except SearchSpecError as err:
            ...     print(err.key, "|", err)  # doctest: +NORMALIZE_WHITESPACE
            lr | Parameter 'lr': uniform(1.0, 0.0) has low 1.0 greater than high 0.0;
            swap them.
        """
        trouble = self.problem()
        if trouble is not None:
            where = f"Parameter {key!r}: " if key else ""
            msg = f"{where}{self!r} {trouble}"
            raise SearchSpecError(msg, key=key, value=repr(self))

    def values(self) -> list[Any]:
        """Every value of a finite dimension, in order (a continuous one raises)."""
        msg = f"{self!r} is continuous: it has no list of values (use random search)."
        raise SearchSpecError(msg, value=repr(self))

    def sample(self, rng: random.Random) -> Any:
        """Draw one value with ``rng``."""
        return self.sampler(rng.random)()

    def sampler(self, draw: Callable[[], float]) -> Callable[[], Any]:
        """Return a function drawing one value from uniform numbers in ``[0, 1)`` given by ``draw``.

        A closure over precomputed constants: random search of a large space is a hot loop.
        """
        values = self.values()
        count = len(values)
        return lambda: values[int(draw() * count)]

    def to_json(self) -> dict[str, Any]:
        """A plain-data description (recorded in the sweep's folder)."""
        raise NotImplementedError


class Choice(Dimension):
    """One of a list of values (see :func:`choice`)."""

    def __init__(self, options: Sequence[Any]) -> None:
        self.options = list(options)

    def problem(self) -> str | None:
        if not self.options:
            return "has no options; give at least one value, e.g. choice(0.1, 0.01)."
        return None

    def values(self) -> list[Any]:
        self.check()
        return list(self.options)

    def to_json(self) -> dict[str, Any]:
        return {"type": "choice", "options": self.options}

    def __repr__(self) -> str:
        return f"choice({', '.join(repr(o) for o in self.options)})"


class Uniform(Dimension):
    """A float drawn uniformly between ``low`` and ``high`` (see :func:`uniform`)."""

    finite = False

    def __init__(self, low: float, high: float) -> None:
        self.low = low
        self.high = high

    def problem(self) -> str | None:
        if not (_is_number(self.low) and _is_number(self.high)):
            return "needs numbers for low and high."
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return "needs finite bounds."
        if self.low > self.high:
            return f"has low {self.low!r} greater than high {self.high!r}; swap them."
        return None

    def sampler(self, draw: Callable[[], float]) -> Callable[[], Any]:
        low, span = self.low, self.high - self.low
        return lambda: low + span * draw()

    def to_json(self) -> dict[str, Any]:
        return {"type": "uniform", "low": self.low, "high": self.high}

    def __repr__(self) -> str:
        return f"uniform({self.low!r}, {self.high!r})"


class LogUniform(Uniform):
    """A float whose logarithm is uniform between ``log(low)`` and ``log(high)``."""

    def __init__(self, low: float, high: float, log_base: float = 10) -> None:
        super().__init__(low, high)
        self.log_base = log_base

    def problem(self) -> str | None:
        trouble = super().problem()
        if trouble is not None:
            return trouble
        if self.low <= 0 or self.high <= 0:
            return "needs positive bounds (a log scale has no zero or negative values)."
        if not _is_number(self.log_base) or self.log_base <= 0 or self.log_base == 1:
            return f"has log_base {self.log_base!r}; use a positive number other than 1, e.g. 10."
        return None

    def sampler(self, draw: Callable[[], float]) -> Callable[[], Any]:
        # The distribution does not depend on the base: uniform in the exponent either way.
        low, span = math.log(self.low), math.log(self.high) - math.log(self.low)
        exp = math.exp
        return lambda: exp(low + span * draw())

    def to_json(self) -> dict[str, Any]:
        return {"type": "loguniform", "low": self.low, "high": self.high, "log_base": self.log_base}

    def __repr__(self) -> str:
        base = "" if self.log_base == 10 else f", log_base={self.log_base!r}"
        return f"loguniform({self.low!r}, {self.high!r}{base})"


class IntRange(Dimension):
    """The integers of ``range(start, stop, step)`` (see :func:`irange`)."""

    def __init__(self, start: int, stop: int, step: int = 1) -> None:
        self.start = start
        self.stop = stop
        self.step = step

    def problem(self) -> str | None:
        if not all(
            isinstance(v, int) and not isinstance(v, bool)
            for v in (self.start, self.stop, self.step)
        ):
            return "needs integers for start, stop and step."
        if self.step == 0:
            return "has step 0; use a non-zero step."
        if not range(self.start, self.stop, self.step):
            return (
                f"is empty: range({self.start}, {self.stop}, {self.step}) holds no value "
                "(stop is excluded, as in Python's range)."
            )
        return None

    def values(self) -> list[Any]:
        self.check()
        return list(range(self.start, self.stop, self.step))

    def to_json(self) -> dict[str, Any]:
        return {"type": "irange", "start": self.start, "stop": self.stop, "step": self.step}

    def __repr__(self) -> str:
        step = "" if self.step == 1 else f", {self.step}"
        return f"irange({self.start}, {self.stop}{step})"


def choice(*options: Any) -> Choice:
    """One of ``options``; ``choice([2, 4, 8])`` (one list) is the same as ``choice(2, 4, 8)``.

    Example:
        >>> choice(2, 4, 8).values(), choice(["relu", "tanh"]).values()
        ([2, 4, 8], ['relu', 'tanh'])
    """
    if len(options) == 1 and isinstance(options[0], (list, tuple)):
        return Choice(options[0])
    return Choice(options)


def uniform(low: float, high: float) -> Uniform:
    """A float drawn uniformly from ``[low, high]`` (random search only).

    Example:
        >>> 0.0 <= uniform(0.0, 1.0).sample(random.Random(0)) <= 1.0
        True
    """
    return Uniform(low, high)


def loguniform(low: float, high: float, log_base: float = 10) -> LogUniform:
    """A positive float drawn uniformly on a log scale between ``low`` and ``high``.

    ``log_base`` (any positive number other than 1) only changes how the dimension is written:
    the draw is uniform in the exponent whatever the base.

    Example:
        >>> 1e-4 <= loguniform(1e-4, 1e-1).sample(random.Random(0)) <= 1e-1
        True
    """
    return LogUniform(low, high, log_base)


def irange(start: int, stop: int, step: int = 1) -> IntRange:
    """The integers of Python's ``range(start, stop, step)``: ``stop`` is excluded.

    On the command line the same dimension is written ``range(start,stop,step)``.

    Example:
        >>> irange(2, 10, 2).values()
        [2, 4, 6, 8]
    """
    return IntRange(start, stop, step)


# ---------------------------------------------------------------------------------------------
# Spaces and strategies


def check_space(space: Mapping[str, Any]) -> dict[str, Dimension]:
    """Return ``space`` with every value a :class:`Dimension`, after checking each one.

    A plain list or tuple is taken as :func:`choice` of its items; any other plain value is a
    fixed value (``choice(value)``).

    Raises:
        SearchSpecError: the space is empty, a key is not a string, or a dimension is invalid.

    Example:
        >>> check_space({"lr": [0.1, 0.01]})
        {'lr': choice(0.1, 0.01)}
    """
    if not isinstance(space, Mapping) or not space:
        msg = (
            "The search space is empty: give at least one parameter, e.g. "
            "{'lr': hypertuner.loguniform(1e-4, 1e-1)}."
        )
        raise SearchSpecError(msg, value=space)
    out: dict[str, Dimension] = {}
    for key, value in space.items():
        if not isinstance(key, str) or not key:
            msg = f"Search space key {key!r} is not a dotted config key (a non-empty string)."
            raise SearchSpecError(msg, key=key)
        if getattr(type(value), "_is_dimension", False):
            dimension = value
        elif isinstance(value, (list, tuple)):
            dimension = Choice(value)
        else:
            dimension = Choice([value])
        dimension.check(key)
        out[key] = dimension
    return out


def strategy_name(strategy: str) -> str:
    """Return ``"grid"`` or ``"random"`` for a strategy name (test-tube's names included).

    Raises:
        SearchSpecError: the strategy is unknown (the message lists the valid ones).

    Example:
        >>> strategy_name("random_search")
        'random'
    """
    found = _STRATEGY_ALIASES.get(strategy) if isinstance(strategy, str) else None
    if found is None:
        valid = list(_STRATEGY_ALIASES)
        close = suggest(str(strategy), valid)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (
            f"Unknown search strategy {strategy!r}: use one of {', '.join(map(repr, valid))}.{hint}"
        )
        raise SearchSpecError(msg, key="strategy", value=strategy, suggestions=close)
    return found


def size(space: Mapping[str, Dimension]) -> int | None:
    """The number of distinct trials of a finite space, or ``None`` when a dimension is continuous.

    Example:
        >>> size({"a": choice(1, 2), "b": irange(0, 3)})
        6
    """
    total = 1
    for dimension in space.values():
        if not dimension.finite:
            return None
        total *= len(dimension.values())
    return total


def generate(
    space: Mapping[str, Any],
    strategy: str = "grid",
    n_trials: int | None = None,
    seed: int | None = None,
) -> list[dict[str, Any]]:
    """Return the trials of ``space`` under ``strategy``, each a flat ``{key: value}`` dict.

    Args:
        space: dotted keys to dimensions (see :func:`check_space`).
        strategy: ``"grid"`` or ``"random"`` (also ``"grid_search"``/``"random_search"``).
        n_trials: how many trials; grid search truncates its product to it, random search needs it.
        seed: the random search seed; ``None`` draws a fresh one.

    Raises:
        SearchSpecError: the space or strategy is invalid, grid search meets a continuous
            dimension, random search has no ``n_trials``, or ``n_trials`` is below 1.

    Example:
        >>> space = {"lr": loguniform(1e-4, 1e-1), "bs": choice(32, 64)}
        >>> trials = generate(space, "random", 3, seed=0)
        >>> len(trials), trials == generate(space, "random", 3, seed=0)
        (3, True)
    """
    kind = strategy_name(strategy)
    dims = check_space(space)
    if n_trials is not None and (
        not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1
    ):
        msg = f"n_trials must be a positive integer, not {n_trials!r}."
        raise SearchSpecError(msg, key="n_trials", value=n_trials)
    if kind == "grid":
        return _grid(dims, n_trials)
    if n_trials is None:
        msg = (
            "Random search needs a trial count: pass n_trials (nb_trials in test-tube's "
            "methods, --trials on the command line)."
        )
        raise SearchSpecError(msg, key="n_trials")
    return _random(dims, n_trials, random.Random(seed))


def _grid(dims: Mapping[str, Dimension], n_trials: int | None) -> list[dict[str, Any]]:
    for key, dimension in dims.items():
        if not dimension.finite:
            msg = (
                f"Parameter {key!r}: grid search needs a list of values, but {dimension!r} is "
                "continuous. Use choice(...) or irange(...), or strategy='random'."
            )
            raise SearchSpecError(msg, key=key, value=repr(dimension))
    keys = list(dims)
    columns = [dims[k].values() for k in keys]
    total = math.prod(len(c) for c in columns)
    count = total if n_trials is None else min(n_trials, total)
    out = []
    for index in range(count):
        trial = {}
        # Mixed-radix decoding: the last key varies fastest, as itertools.product does.
        for key, column in zip(reversed(keys), reversed(columns), strict=False):
            index, digit = divmod(index, len(column))
            trial[key] = column[digit]
        out.append({k: trial[k] for k in keys})
    return out


def _random(
    dims: Mapping[str, Dimension], n_trials: int, rng: random.Random
) -> list[dict[str, Any]]:
    keys = list(dims)
    total = size(dims)
    if total is not None:
        # Finite: a partial Fisher-Yates shuffle over the trial indices (a dict holds only the
        # swapped entries), so no trial repeats and a longer run extends a shorter one.
        columns = [dims[k].values() for k in keys]
        count = min(n_trials, total)
        swapped: dict[int, int] = {}
        out = []
        for i in range(count):
            j = i + int(rng.random() * (total - i))
            pick = swapped.get(j, j)
            swapped[j] = swapped.get(i, i)
            trial = {}
            index = pick
            for key, column in zip(reversed(keys), reversed(columns), strict=False):
                index, digit = divmod(index, len(column))
                trial[key] = column[digit]
            out.append({k: trial[k] for k in keys})
        return out
    samplers: list[Callable[[], Any]] = []
    draw = rng.random
    for key in keys:
        samplers.append(dims[key].sampler(draw))
    pairs = list(zip(keys, samplers, strict=False))
    return [{key: sample() for key, sample in pairs} for _ in range(n_trials)]


# ---------------------------------------------------------------------------------------------
# Command-line expressions

_EXPRESSION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_FUNCTIONS: dict[str, Callable[..., Dimension]] = {
    "choice": choice,
    "uniform": uniform,
    "loguniform": loguniform,
    "range": irange,
    "irange": irange,
}


def is_dimension_expression(text: str) -> bool:
    """Whether an override's value is written as a dimension (``name(...)``).

    Example:
        >>> is_dimension_expression("choice(1,2)"), is_dimension_expression("0.1")
        (True, False)
    """
    return _EXPRESSION.match(text) is not None


def parse_dimension(key: str, text: str) -> Dimension:
    """Parse ``choice(...)``, ``uniform(...)``, ``loguniform(...)`` or ``range(...)`` for ``key``.

    Arguments are literals (numbers, quoted strings, lists, ``true``/``false``/``null``); a bare
    word is a string, so ``choice(relu,tanh)`` works. Nothing is evaluated.

    Raises:
        SearchSpecError: the expression does not parse, names an unknown function, or gives a
            dimension that cannot be searched; the message names ``key``.

    Example:
        >>> parse_dimension("model.layers", "range(2,8,2)").values()
        [2, 4, 6]
        >>> parse_dimension("act", "choice(relu, 'tanh', 3)").values()
        ['relu', 'tanh', 3]
    """
    from .config import parse_value

    token = f"{key}={text}"
    match = _EXPRESSION.match(text)
    if match is None:
        msg = f"Override {token!r}: {text!r} is not a search expression such as choice(0.1,0.01)."
        raise SearchSpecError(msg, key=key, value=token)
    function = match.group(1)
    if function not in _FUNCTIONS:
        close = suggest(function, list(_FUNCTIONS))
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (
            f"Override {token!r} for parameter {key!r} uses {function}(), which is not a search "
            f"function: use {', '.join(f + '()' for f in _FUNCTIONS)}.{hint}"
        )
        raise SearchSpecError(msg, key=key, value=token, suggestions=close)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        msg = (
            f"Override {token!r} for parameter {key!r} does not parse ({exc.msg}): write it like "
            f"{key}=choice(0.1,0.01) or {key}=range(2,8,2)."
        )
        raise SearchSpecError(msg, key=key, value=token) from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        msg = f"Override {token!r} for parameter {key!r} must be one call, like {function}(...)."
        raise SearchSpecError(msg, key=key, value=token)

    def literal(node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            return parse_value(node.id)
        try:
            return ast.literal_eval(node)
        except (ValueError, SyntaxError, TypeError):
            source = ast.get_source_segment(text.strip(), node) or ast.dump(node)
            msg = (
                f"Override {token!r} for parameter {key!r}: {source!r} is not a literal value "
                "(a number, a quoted string, a list, true/false/null or a bare word)."
            )
            raise SearchSpecError(msg, key=key, value=token) from None

    args = [literal(a) for a in call.args]
    kwargs = {k.arg: literal(k.value) for k in call.keywords if k.arg is not None}
    try:
        dimension = _FUNCTIONS[function](*args, **kwargs)
    except TypeError as exc:
        msg = f"Override {token!r} for parameter {key!r}: wrong arguments to {function}() ({exc})."
        raise SearchSpecError(msg, key=key, value=token) from None
    trouble = dimension.problem()
    if trouble is not None:
        msg = f"Override {token!r} for parameter {key!r}: {dimension!r} {trouble}"
        raise SearchSpecError(msg, key=key, value=token)
    return dimension


# ---------------------------------------------------------------------------------------------
# test-tube's HyperOptArgumentParser


class _OptArg:
    """A tunable argument: its dest, the values it takes, and how it was declared."""

    __slots__ = ("dest", "flag", "tunable", "values")

    def __init__(self, dest: str, flag: str, values: list[Any], tunable: bool) -> None:
        self.dest = dest
        self.flag = flag
        self.values = values
        self.tunable = tunable


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
            # test-tube yields the plain values when nothing is tunable.
            count = 1 if nb_trials is None else nb_trials
            return [dict(base) for _ in range(count)]
        out = []
        for values in generate(search.space, search.strategy, nb_trials, search.seed):
            trial = copy.deepcopy(base)
            trial.update(values)
            out.append(trial)
        return out

    def generate_trials(self, nb_trials: int | None = None) -> list[HyperOptNamespace]:
        """Return the trials as namespaces with the tunable values substituted.

        Raises:
            SearchSpecError: random search without ``nb_trials``.

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
        accepted here too). Worker processes are spawned and reused across trials.

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
        from .launch import _parser_sweep

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

        Example:
            >>> parser = HyperOptArgumentParser()
            >>> _ = parser.opt_list("--x", default=1, type=int, tunable=True, options=[1, 2])
            >>> try:
            ...     parser.parse_args([]).optimize_parallel_gpu(print, gpu_ids=[])
            ... except SearchSpecError as err:
            ...     print(err)
            gpu_ids is empty: give one entry per GPU set, e.g. gpu_ids=['0', '1'].
        """
        from .launch import _parser_sweep

        results = _parser_sweep(
            self,
            train_function,
            nb_trials=max_nb_trials,
            workers=None,
            gpu_ids=list(gpu_ids),
            **options,
        )
        return _pairs(results, _search_of(self))


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


class HyperOptArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with test-tube's hyperparameter search, on hypertuner's runs.

    Args:
        strategy: ``"grid_search"`` (the product of the tunable values) or ``"random_search"``.
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
        if tunable:
            values = self._draw_range(flag, action.type, low, high, nb_samples, log_base)
        self._opt_args[action.dest] = _OptArg(action.dest, flag, values, tunable)
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
        from ._formats import load_file
        from .errors import ConfigError

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
                warnings.warn(msg, HypertunerWarning, stacklevel=4)
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
        space: dict[str, Dimension] = {
            dest: Choice(opt.values) for dest, opt in self._opt_args.items() if opt.tunable
        }
        parsed._search = _Search(strategy_name(self.strategy), space, self.seed)
        return parsed

    def _explicit_dests(self, args: Sequence[str] | None) -> set[str]:
        """The dests the command line set explicitly (these beat the JSON file)."""
        tokens = list(sys.argv[1:] if args is None else args)
        flags = {t.split("=", 1)[0] for t in tokens if t.startswith("-")}
        found = set()
        for action in self._actions:
            if any(opt in flags for opt in action.option_strings):
                found.add(action.dest)
        return found


def describe(space: Mapping[str, Dimension]) -> dict[str, Any]:
    """The plain-data description of a checked space (recorded in the sweep's ``sweep.json``).

    Example:
        >>> describe({"lr": choice(0.1)})
        {'lr': {'type': 'choice', 'options': [0.1]}}
    """
    return {key: json.loads(json.dumps(dim.to_json(), default=str)) for key, dim in space.items()}
