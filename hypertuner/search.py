"""Search spaces and strategies (test-tube's parser is in :mod:`hypertuner.testtube`).

A *space* maps dotted config keys to dimensions: :func:`choice`, :func:`uniform`,
:func:`loguniform` and :func:`irange` (an integer range with Python's ``range`` rules). A
*strategy* turns a space into trials, each a flat ``{dotted key: value}`` dict:

- ``"grid"``: the product of every dimension's values in a stable order (the first key varies
  slowest, values in the order given), truncated to ``n_trials`` when given; every dimension
  must be finite.
- ``"random"``: ``n_trials`` draws from a seeded ``random.Random``. The same seed gives the same
  trials, and a longer run starts with the trials of a shorter one. Where every dimension is
  finite no trial repeats, and ``n_trials`` is capped at the number of distinct trials.
- ``"tpe"``, ``"gp"``, ``"cmaes"`` (:data:`MODEL_BASED`): Optuna's samplers (TPE, a Gaussian
  process, CMA-ES), seeded. Each trial is drawn from the results so far, so the trials exist only
  as a sweep runs them (:func:`hypertuner.sweep`); ``pip install 'hypertuner[search]'``.

A sweep may also stop hopeless trials early with a *pruner* (:data:`PRUNERS`: Optuna's
successive halving ``"asha"``, ``"hyperband"`` and ``"median"``), fed by the values of the
sweep's metric that each trial logs.

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

import ast
import json
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._formats import check_plain, parse_value
from .errors import ConfigError, SearchSpecError, suggest

__all__ = [
    "MODEL_BASED",
    "PRUNERS",
    "STRATEGIES",
    "Choice",
    "Dimension",
    "IntRange",
    "LogUniform",
    "Uniform",
    "check_model_space",
    "check_space",
    "choice",
    "generate",
    "irange",
    "loguniform",
    "parse_dimension",
    "pruner_name",
    "uniform",
]

#: The strategies that draw each trial from a model of the results so far (Optuna's samplers).
MODEL_BASED = ("tpe", "gp", "cmaes")
STRATEGIES = ("grid", "random", *MODEL_BASED)
#: The pruners a sweep can stop trials early with (Optuna's).
PRUNERS = ("asha", "hyperband", "median")
_STRATEGY_ALIASES = {
    "grid": "grid",
    "grid_search": "grid",
    "random": "random",
    "random_search": "random",
    "tpe": "tpe",
    "gp": "gp",
    "cmaes": "cmaes",
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

    def sequence(self) -> Sequence[Any]:
        """Every value of a finite dimension, indexable, never listed when it need not be."""
        return self.values()

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


#: The most values a finite dimension lists (an ``irange`` beyond it is sampled, never listed).
MAX_VALUES = 1_000_000


def _as_lists(value: Any) -> Any:
    """``value`` with its tuples as lists, as ``config.json`` stores them."""
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    return value


class Choice(Dimension):
    """One of a list of values (see :func:`choice`)."""

    def __init__(self, options: Sequence[Any]) -> None:
        self.options = list(options)
        self._problem: tuple[str | None] | None = None  # judged once: values() asks every use

    def problem(self) -> str | None:
        if self._problem is not None:
            return self._problem[0]
        trouble = None
        if not self.options:
            trouble = "has no options; give at least one value, e.g. choice(0.1, 0.01)."
        else:
            try:  # each option is a trial's config value: config.json must hold it as it is
                check_plain(_as_lists(self.options), "its option list")
            except ConfigError as err:
                trouble = f"cannot be searched: {err.message}"
        self._problem = (trouble,)
        return trouble

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
        count = len(range(self.start, self.stop, self.step))
        if count > MAX_VALUES:
            msg = (
                f"{self!r} holds {count:,} values, too many to list (a grid of them would never "
                f"end; at most {MAX_VALUES:,}): search it with strategy='random' or a model."
            )
            raise SearchSpecError(msg, value=repr(self))
        return list(range(self.start, self.stop, self.step))

    def sequence(self) -> Sequence[Any]:
        self.check()
        return range(self.start, self.stop, self.step)  # indexed, never listed

    def sampler(self, draw: Callable[[], float]) -> Callable[[], Any]:
        span = self.sequence()
        count = len(span)
        return lambda: span[int(draw() * count)]

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
    """A float drawn uniformly from ``[low, high]`` (random search and the model-based strategies).

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
    """Return the strategy a name stands for (test-tube's ``grid_search``/``random_search`` too).

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


def pruner_name(pruner: str) -> str:
    """Return ``pruner`` when it names one of :data:`PRUNERS`.

    Raises:
        SearchSpecError: the name is unknown (the message lists the pruners).

    Example:
        >>> pruner_name("asha")
        'asha'
    """
    if isinstance(pruner, str) and pruner in PRUNERS:
        return pruner
    close = suggest(str(pruner), PRUNERS)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    msg = f"Unknown pruner {pruner!r}: use one of {', '.join(map(repr, PRUNERS))}.{hint}"
    raise SearchSpecError(msg, key="pruner", value=pruner, suggestions=close)


def check_model_space(strategy: str, space: Mapping[str, Dimension]) -> None:
    """Raise when a model-based ``strategy`` cannot model ``space``.

    CMA-ES models numbers: beside numeric dimensions a choice is drawn by TPE (Optuna's
    fallback), but a space of choices only leaves CMA-ES nothing to model.

    Raises:
        SearchSpecError: ``"cmaes"`` on a space without a ``uniform``, ``loguniform`` or
            ``irange`` dimension of more than one value.

    Example:
        >>> try:
        ...     check_model_space("cmaes", {"act": choice("relu", "tanh")})
        ... except SearchSpecError as err:
        ...     print(err.key)
        strategy
    """
    if strategy != "cmaes":
        return
    numeric = [
        key
        for key, dim in space.items()
        if dim.to_json()["type"] != "choice" and (not dim.finite or len(dim.values()) > 1)
    ]
    if not numeric:
        keys = ", ".join(repr(k) for k in space)
        msg = (
            f"strategy='cmaes' models numeric parameters, but this space has none ({keys}: "
            "choices or single values). Use strategy='tpe' or 'gp', or give a parameter as "
            "uniform(...), loguniform(...) or irange(...)."
        )
        raise SearchSpecError(msg, key="strategy", value=strategy)


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
        total *= len(dimension.sequence())
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
        strategy: ``"grid"`` or ``"random"`` (also ``"grid_search"``/``"random_search"``); a
            model-based strategy has no trials before a sweep runs.
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
    if kind in MODEL_BASED:
        msg = (
            f"Strategy {kind!r} draws each trial from the results of the trials before it: "
            "its trials exist only while a sweep runs them (hypertuner.sweep, "
            "optimize_parallel_cpu or hypertuner sweep)."
        )
        raise SearchSpecError(msg, key="strategy", value=strategy)
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
        columns = [dims[k].sequence() for k in keys]
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


def describe(space: Mapping[str, Dimension]) -> dict[str, Any]:
    """The plain-data description of a checked space (recorded in the sweep's ``sweep.json``).

    Example:
        >>> describe({"lr": choice(0.1)})
        {'lr': {'type': 'choice', 'options': [0.1]}}
    """
    return {key: json.loads(json.dumps(dim.to_json(), default=str)) for key, dim in space.items()}
