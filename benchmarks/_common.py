"""Shared machinery of the benchmarks: interleaved pairs, medians with their spread, the table.

Every figure is measured the same way. Each side of a comparison is a *sampler*: a function
that does the work (once, or a calibrated batch of times) and returns the seconds of one
operation, its window covering all the work the operation causes (a save's background hashing
and deletions, a writer's final flush). :func:`pairs` calls the two samplers of a figure in
turn, ``N`` times each, alternating which goes first (``ours, reference``, then
``reference, ours``, ...) after one untimed warm-up call of each, so both sides live through
the same moments of a shared machine. A figure is the **median of the per-pair ratios**,
printed with its **spread** (interquartile range, then the full range); each time column is
the median of that side's samples. No figure is a minimum or a best-of-N.

The API:

- ``pairs(ours, reference, n) -> Paired``: ``n`` interleaved pairs (``reference`` may be
  ``None``: ``n`` samples of ``ours`` alone, for an absolute target).
- ``interleave([s1, s2, ...], rounds) -> list[list[float]]``: the same for more than two
  samplers, rotated round by round (build each figure with ``Paired(a, b)`` from two lists).
- samplers: ``calibrated(fn)`` (seconds per call over a ~20 ms batch), ``statement(stmt,
  namespace)`` (seconds per execution of source text, the empty loop's time subtracted, for
  things that take nanoseconds), ``window(fn)`` (one call, timed whole), ``process(argv)``
  (one whole process, wall seconds), ``minus(a, b)`` (``a() - b()``, back to back).
- ``row(figure, paired, target)``: a table row; ``target`` is ``"<= 1.15x"`` (median of
  ``ours / reference``), ``">= 5x faster"`` / ``">= 5x less"`` (median of
  ``reference / ours``), ``"<= 0.3 us"`` (median of ``ours`` itself), or ``""`` for context.
- ``table(rows, title, references=[...])``: prints the table, a line per reference tool saying
  its configuration, and one ``MISSED:`` line per missed target (``run_all.py`` collects them).
- ``private(name)``: the few private hypertuner functions a benchmark needs, all named in one
  table here (:data:`PRIVATE`), so a restructuring of the package is repointed in one place.

Example:
    >>> r = row("a read", Paired([2e-8, 2.2e-8, 1.9e-8], [1e-8, 1e-8, 1e-8]), "<= 10x")
    >>> r.ok, r.ratio_text, r.spread_text
    (True, '2.00x', '1.95-2.10 (1.90-2.20)')
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import re
import statistics
import subprocess
import sys
import time
import timeit as _timeit
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "MISS_MARK",
    "PRIVATE",
    "Paired",
    "Row",
    "Sampler",
    "calibrated",
    "fmt_range",
    "fmt_time",
    "interleave",
    "load_text",
    "minus",
    "missing",
    "pairs",
    "private",
    "process",
    "python_env",
    "row",
    "standard_options",
    "statement",
    "table",
    "versions",
    "window",
]

#: Prefix of the lines :func:`table` prints for each missed target (``run_all.py`` greps them).
MISS_MARK = "MISSED:"

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}

Sampler = Callable[[], float]


def standard_options(description: str) -> argparse.ArgumentParser:
    """Return an ``ArgumentParser`` with the options every benchmark accepts.

    ``--quick`` (fewer pairs, for a busy machine; the sizes stay those of the issue unless the
    benchmark says otherwise) and ``--repeat N`` (override the number of pairs).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer pairs, for a busy machine")
    parser.add_argument("--repeat", type=int, default=None, help="override the number of pairs")
    return parser


# --------------------------------------------------------------------------------------------
# Private hypertuner functions: the one place a benchmark reaches past the public API


#: ``name -> "module:attribute"``. Everything else the benchmarks use is public
#: (``hypertuner.__all__``, ``hypertuner.errors``, ``hypertuner.integrations.*``).
PRIVATE = {
    # parse() without its run folder: reading, merging and overriding only
    "resolve": "hypertuner.config:resolve",
    # random trials of a search space, without running them
    "generate": "hypertuner.search:generate",
    # the .cfg reader behind HParams
    "read_cfg": "hypertuner._cfgformat:read_cfg",
    # mirroring a run to an fsspec URL (the backup)
    "mirror_run": "hypertuner.storage:mirror_run",
    # the metrics writer: flushing a run's pending events, and its event encoding
    "flush_metrics": "hypertuner.tracking:flush",
    "event_bytes": "hypertuner.tracking:_event_bytes",
    "value_prefix": "hypertuner.tracking:_value_prefix",
    "varint": "hypertuner.tracking:_varint",
    # the event-file reader (TFRecord framing, CRC-checked)
    "frame_records": "hypertuner._eventfile:frame_records",
    "read_scalars": "hypertuner._eventfile:read_scalars",
    # the runs table (what `hypertuner runs` and the page show) and the page's server
    "runs_table": "hypertuner.compare:runs_table",
    "UIServer": "hypertuner.ui.server:UIServer",
}


def private(name: str) -> Any:
    """Return the private hypertuner function ``name`` of :data:`PRIVATE`."""
    module, attribute = PRIVATE[name].split(":")
    return getattr(importlib.import_module(module), attribute)


# --------------------------------------------------------------------------------------------
# Samplers: each returns the seconds of one operation per call


def _calibrate(fn: Callable[[], Any], seconds: float) -> int:
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds or number >= 10**7:
            return number
        number *= 10 if elapsed < seconds / 10 else 2


def calibrated(fn: Callable[[], Any], seconds: float = 0.02, number: int | None = None) -> Sampler:
    """Return a sampler: seconds per call of ``fn()`` over a batch of ``number`` calls.

    ``number`` is chosen now, so that a batch lasts about ``seconds``, when not given. The
    loop's own cost is not subtracted (compare like with like, or use :func:`statement`).
    """
    count = number or _calibrate(fn, seconds)

    def sample() -> float:
        start = time.perf_counter()
        for _ in range(count):
            fn()
        return (time.perf_counter() - start) / count

    return sample


def statement(
    stmt: str,
    namespace: dict[str, Any],
    unroll: int = 20,
    seconds: float = 0.02,
) -> Sampler:
    """Return a sampler: seconds per execution of ``stmt`` (Python source), loop cost removed.

    Each sample times the statement unrolled ``unroll`` times in a ``timeit`` loop and
    subtracts the same loop with an empty body, timed right after it; names resolve in
    ``namespace``.

    Example:
        >>> statement("x.real", {"x": 1})() < 1e-6
        True
    """
    timer = _timeit.Timer("\n".join([stmt] * unroll), globals=namespace)
    empty = _timeit.Timer("pass", globals=namespace)
    number = 1
    while timer.timeit(number) < seconds and number < 10**7:
        number *= 2

    def sample() -> float:
        return max(timer.timeit(number) - empty.timeit(number), 0.0) / (number * unroll)

    return sample


def window(fn: Callable[[], Any]) -> Sampler:
    """Return a sampler that times one call of ``fn()``, which does the whole window."""

    def sample() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return sample


def process(
    argv: Sequence[str],
    env: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Sampler:
    """Return a sampler: the wall seconds of one run of ``argv`` as a process (it must exit 0).

    ``env`` may be a function, called (untimed) before each run for that run's environment.

    Raises:
        RuntimeError: the process exits non-zero (its stderr is in the message).
    """

    def sample() -> float:
        environment = env() if callable(env) else env
        start = time.perf_counter()
        done = subprocess.run(
            list(argv),
            env=None if environment is None else dict(environment),
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            msg = f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-3000:]}"
            raise RuntimeError(msg)
        return elapsed

    return sample


def minus(first: Sampler, second: Sampler) -> Sampler:
    """Return a sampler of ``first() - second()``, taken back to back (an added cost)."""

    def sample() -> float:
        return first() - second()

    return sample


# --------------------------------------------------------------------------------------------
# Interleaving


def interleave(samplers: Sequence[Sampler], rounds: int, warmup: int = 1) -> list[list[float]]:
    """Call the ``samplers`` in rotation ``rounds`` times; return each one's samples.

    Round ``i`` starts with sampler ``i % len(samplers)``, so no sampler always follows the
    same one. ``warmup`` untimed rounds come first.
    """
    samples: list[list[float]] = [[] for _ in samplers]
    count = len(samplers)
    for i in range(warmup + rounds):
        for k in range(count):
            j = (i + k) % count
            value = samplers[j]()
            if i >= warmup:
                samples[j].append(value)
    return samples


@dataclasses.dataclass(frozen=True)
class Paired:
    """The samples of a figure: ``ours[i]`` and ``reference[i]`` were taken as pair ``i``."""

    ours: Sequence[float]
    reference: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.reference is not None and len(self.reference) != len(self.ours):
            msg = f"{len(self.ours)} samples of ours against {len(self.reference)} references"
            raise ValueError(msg)

    def ratios(self, inverted: bool = False) -> list[float]:
        """Per-pair ``ours / reference`` (``reference / ours`` when ``inverted``)."""
        if self.reference is None:
            return []
        out = []
        for mine, theirs in zip(self.ours, self.reference, strict=True):
            top, bottom = (theirs, mine) if inverted else (mine, theirs)
            out.append(top / bottom if bottom > 0 else float("nan"))
        return out

    @property
    def n(self) -> int:
        return len(self.ours)


def pairs(ours: Sampler, reference: Sampler | None, n: int, warmup: int = 1) -> Paired:
    """Run ``n`` interleaved pairs of ``ours`` and ``reference`` (see :func:`interleave`).

    Returns:
        The samples, from which :func:`row` takes the median ratio and its spread.

    Example:
        >>> p = pairs(lambda: 2.0, lambda: 1.0, 3)
        >>> p.ratios(), row("x", p, "<= 3x").ok
        ([2.0, 2.0, 2.0], True)
    """
    if reference is None:
        return Paired(interleave([ours], n, warmup)[0])
    mine, theirs = interleave([ours, reference], n, warmup)
    return Paired(mine, theirs)


def _summary(values: Sequence[float]) -> tuple[float, float, float, float, float]:
    """Median, first and third quartile, minimum and maximum (NaN-free values)."""
    clean = sorted(v for v in values if v == v)
    if not clean:
        nan = float("nan")
        return nan, nan, nan, nan, nan
    if len(clean) == 1:
        v = clean[0]
        return v, v, v, v, v
    q1, _, q3 = statistics.quantiles(clean, n=4, method="inclusive")
    return statistics.median(clean), q1, q3, clean[0], clean[-1]


# --------------------------------------------------------------------------------------------
# Rows and the table


def fmt_time(seconds: float | None) -> str:
    """Format seconds with a readable unit.

    Example:
        >>> fmt_time(1.32e-5), fmt_time(0.044), fmt_time(1.5)
        ('13.2 us', '44.0 ms', '1.500 s')
    """
    if seconds is None or seconds != seconds:
        return "-"
    if abs(seconds) >= 1.0:
        return f"{seconds:.3f} s"
    if abs(seconds) >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    if abs(seconds) >= 1e-6:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e9:.1f} ns"


def fmt_range(low: float, high: float) -> str:
    """Format a range of seconds in the unit of its upper end.

    Example:
        >>> fmt_range(3.83e-7, 4.03e-7), fmt_range(9e-4, 1.2e-3)
        ('383-403 ns', '0.9-1.2 ms')
    """
    scale, unit = next(
        ((s, u) for s, u in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")) if abs(high) >= s),
        (1e-9, "ns"),
    )
    digits = 0 if abs(high) / scale >= 100 else 1 if abs(high) / scale >= 1 else 2
    return f"{low / scale:.{digits}f}-{high / scale:.{digits}f} {unit}"


@dataclasses.dataclass
class Row:
    """One line of a result table (build it with :func:`row`)."""

    figure: str
    ours: float
    reference: float | None
    target: str
    ok: bool
    ratio_text: str
    spread_text: str
    n: int
    absolute: bool = False  # the target bounds ``ours`` itself, not the ratio
    near: bool = False  # the target lies inside the interquartile range

    def measured(self) -> str:
        """Return what the target is checked against: the ratio, or the time itself."""
        return fmt_time(self.ours) if self.absolute else self.ratio_text

    def cells(self) -> list[str]:
        """Return the table cells."""
        if self.target == "-":
            verdict = "-"
        else:
            verdict = ("yes" if self.ok else "NO") + ("*" if self.near else "")
        return [
            self.figure,
            fmt_time(self.ours),
            fmt_time(self.reference),
            self.ratio_text,
            self.spread_text,
            str(self.n) if self.n else "-",
            self.target,
            verdict,
        ]


_TARGET = re.compile(r"\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*(x|s|ms|us|µs|ns)?\s*(faster|less)?\s*$")


def row(figure: str, paired: Paired, target: str) -> Row:
    """Build a table row from ``paired`` and decide whether its median meets ``target``.

    ``target`` forms:

    - ``"<= 1.15x"``: the median of the per-pair ``ours / reference`` at most 1.15;
    - ``">= 5x faster"`` / ``">= 5x less"``: the median of the per-pair ``reference / ours``
      at least 5 (the ratio column then shows ``5.30x faster``);
    - ``"<= 0.3 us"``: the median of ``ours`` at most 0.3 µs (the ratio, if any, is context);
    - ``""``: a row for context, never a miss.

    The spread is the interquartile range of the same per-pair values (of ``ours`` itself for
    an absolute target), then their full range.

    Example:
        >>> row("parse", Paired([0.005], [0.044]), ">= 5x faster").ratio_text
        '8.80x faster'
        >>> row("read", Paired([2.5e-7, 2.6e-7]), "<= 0.3 us").ok
        True
    """
    ours_median = _summary(paired.ours)[0]
    reference_median = _summary(paired.reference)[0] if paired.reference is not None else None
    op = word = None
    bound = 0.0
    unit_text: str | None = None
    if target:
        match = _TARGET.fullmatch(target)
        if match is None:
            forms = "'<= 1.15x', '>= 5x faster' or '<= 0.3 us'"
            msg = f"benchmark target {target!r} is not of the form {forms}"
            raise ValueError(msg)
        op, number, unit_text, word = match.groups()
        bound = float(number)
    absolute = unit_text not in (None, "x")
    inverted = word in ("faster", "less")
    ratios = paired.ratios(inverted)
    ratio, r1, r3, rlo, rhi = _summary(ratios)
    suffix = f" {word}" if inverted else ""
    ratio_text = f"{ratio:.2f}x{suffix}" if ratios and ratio == ratio else "-"
    if absolute or not ratios:
        value, q1, q3, lo, hi = _summary(paired.ours)
        spread_text = f"{fmt_range(q1, q3)} ({fmt_range(lo, hi)})"
        value, q1, q3 = (v / _UNITS[unit_text or "s"] for v in (value, q1, q3))
    else:
        value, q1, q3 = ratio, r1, r3
        spread_text = f"{r1:.2f}-{r3:.2f} ({rlo:.2f}-{rhi:.2f})" if ratios else "-"
    if op is None:
        return Row(
            figure, ours_median, reference_median, "-", True, ratio_text, spread_text, paired.n
        )
    ok = _compare(value, op, bound)
    near = q1 <= bound <= q3
    return Row(
        figure,
        ours_median,
        reference_median,
        target,
        ok,
        ratio_text,
        spread_text,
        paired.n,
        absolute,
        near,
    )


def missing(figure: str, tool: str) -> Row:
    """A context row saying that ``tool`` is not installed, so ``figure`` is not measured."""
    print(
        f"note: {tool} is not installed; '{figure}' is not measured "
        "(pip install -r benchmarks/requirements.txt)."
    )
    return Row(figure, float("nan"), None, "-", True, "-", "-", 0)


def _compare(value: float, op: str, bound: float) -> bool:
    if value != value:  # NaN: could not be measured
        return False
    return {
        "<=": value <= bound,
        "<": value < bound,
        ">=": value >= bound,
        ">": value > bound,
    }[op]


def table(rows: Sequence[Row], title: str = "", references: Sequence[str] = ()) -> int:
    """Print ``rows`` as an aligned table, the references' configuration, and the misses.

    Returns:
        The number of rows that missed their target.

    Example:
        >>> table([row("x", Paired([1e-6], [2e-6]), "<= 1x")], "demo", ["y: a stub"])
        ... # doctest: +NORMALIZE_WHITESPACE, +ELLIPSIS
        demo (...)
        figure | hypertuner | reference | ratio | spread: IQR (range)   | pairs | target | ok
        -------+------------+-----------+-------+-----------------------+-------+--------+----
        x      | 1.0 us     | 2.0 us    | 0.50x | 0.50-0.50 (0.50-0.50) | 1     | <= 1x  | yes
        reference: y: a stub
        0
    """
    header = ["figure", "hypertuner", "reference", "ratio", "spread: IQR (range)", "pairs"]
    header += ["target", "ok"]
    body = [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{title} ({os.cpu_count()} CPUs, load average {load:.1f} at the end)")

    def fmt(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    print(fmt(header))
    print("-+-".join("-" * w for w in widths))
    for cells in body:
        print(fmt(cells))
    for line in references:
        print(f"reference: {line}")
    if any(r.near for r in rows):
        print("* the target lies inside the interquartile range: rerun before trusting the verdict")
    misses = [r for r in rows if not r.ok]
    for r in misses:
        print(f"{MISS_MARK} {r.figure}: {r.measured()} (target {r.target})")
    sys.stdout.flush()
    return len(misses)


# --------------------------------------------------------------------------------------------
# Environment


def versions(*distributions: str) -> str:
    """Return ``"name version, ..."`` of installed distributions (``name not installed``)."""
    from importlib import metadata

    parts = []
    for name in distributions:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def load_text() -> str:
    """Return the machine's CPU count and load average now, for a note above a table."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def python_env(**overrides: str) -> dict[str, str]:
    """Return a copy of ``os.environ`` without variables that change Python's start-up.

    ``PYTHONDONTWRITEBYTECODE`` goes too (it is set in some sandboxes): a process figure says
    whether bytecode is cached by passing it back in ``overrides`` explicitly.
    """
    env = dict(os.environ)
    startup = ("PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME", "PYTHONDEVMODE", "PYTHONWARNINGS")
    for name in (*startup, "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"):
        env.pop(name, None)
    env.update(overrides)
    return env
