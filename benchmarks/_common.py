"""Shared helpers for the benchmarks: timing and the result table.

Every ``benchmarks/bench_<area>.py`` prints one table with the columns
``figure | hypertuner | reference | ratio | target | ok``. Build its rows with :func:`row`,
print them with :func:`table`, and time things with :func:`timeit` (in-process, per call) or
:func:`time_process` (a whole ``python ...`` process). ``run_all.py`` reads the lines this module
prints with :data:`MISS_MARK` to build its final summary of missed targets.

The tiny API:

- ``timeit(fn, repeat=7, number=None) -> float``: best seconds per call of ``fn()``
  (``number`` calls per sample, chosen automatically so a sample lasts ~20 ms when ``None``).
- ``timeit_stmt(stmt, namespace, repeat=7, unroll=20) -> float``: best seconds per execution of a
  statement (source text), unrolled and with the empty loop's cost subtracted: use it for things
  that take nanoseconds (an attribute read, a call), where a ``lambda`` would cost more than
  the thing measured.
- ``time_process(argv, repeat=15, env=None, cwd=None) -> float``: median wall seconds of a whole
  process (it must exit 0).
- ``row(figure, ours, reference, target, unit="s")``: a table row; ``target`` is a string
  such as ``"<= 1.15x"``, ``">= 5x faster"`` (a ratio target: ratio = ours / reference) or
  ``"<= 0.3 us"`` (an absolute target on ``ours``), or ``""`` for a row shown for context
  only (never a miss); ``reference`` may be ``None``.
- ``table(rows, title="")``: prints the aligned table and returns the number of misses.
- ``fmt_time(seconds) -> str``: ``"13.2 us"``, ``"44.0 ms"``, ``"0.081 s"``.

Example:
    >>> r = row("a read", 2e-8, 1e-8, "<= 10x")
    >>> r.ok, r.ratio_text
    (True, '2.00x')
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import time
import timeit as _timeit
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "MISS_MARK",
    "Row",
    "fmt_time",
    "python_env",
    "row",
    "standard_options",
    "table",
    "time_process",
    "timeit",
    "timeit_stmt",
]

#: Prefix of the lines :func:`table` prints for each missed target (``run_all.py`` greps them).
MISS_MARK = "MISSED:"

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def standard_options(description: str) -> argparse.ArgumentParser:
    """Return an ``ArgumentParser`` with the options every benchmark accepts.

    ``--quick`` (smaller repeat counts, for a busy machine; the sizes stay those of the issue
    unless the benchmark says otherwise) and ``--repeat N`` (override the repeat count).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a busy machine")
    parser.add_argument("--repeat", type=int, default=None, help="override the repeat count")
    return parser


def timeit(fn: Callable[[], Any], repeat: int = 7, number: int | None = None) -> float:
    """Return the best (minimum) seconds per call of ``fn()`` over ``repeat`` samples.

    Each sample runs ``fn`` ``number`` times in a loop; with ``number=None`` it is calibrated so a
    sample lasts about 20 ms. The loop's own overhead is not subtracted (compare like with like).
    """
    if number is None:
        number = 1
        while True:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = time.perf_counter() - start
            if elapsed >= 0.02 or number >= 10**7:
                break
            number *= 10 if elapsed < 0.002 else 2
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def timeit_stmt(
    stmt: str,
    namespace: dict[str, Any],
    repeat: int = 7,
    unroll: int = 20,
) -> float:
    """Return the best seconds per execution of ``stmt`` (Python source), loop cost removed.

    The statement is repeated ``unroll`` times in the timed loop body, names resolve in
    ``namespace``, and the time of the same loop with an empty body is subtracted.

    Example:
        >>> timeit_stmt("x.real", {"x": 1}, repeat=2) < 1e-6
        True
    """
    body = "\n".join([stmt] * unroll)
    timer = _timeit.Timer(body, globals=namespace)
    empty = _timeit.Timer("pass", globals=namespace)
    number, _ = timer.autorange()
    number = max(1, number // 2)
    best = min(timer.repeat(repeat=repeat, number=number))
    base = min(empty.repeat(repeat=repeat, number=number))
    return max(best - base, 0.0) / (number * unroll)


def time_process(
    argv: Sequence[str],
    repeat: int = 15,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> float:
    """Return the median wall seconds of running ``argv`` as a process (after one warm-up run).

    Raises:
        RuntimeError: the process exits non-zero (its stderr is in the message).
    """
    samples: list[float] = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        done = subprocess.run(
            list(argv), env=env, cwd=cwd, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            msg = f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
            raise RuntimeError(msg)
        if i:
            samples.append(elapsed)
    return statistics.median(samples)


def fmt_time(seconds: float | None) -> str:
    """Format seconds with a readable unit.

    Example:
        >>> fmt_time(1.32e-5), fmt_time(0.044), fmt_time(0.0812)
        ('13.2 us', '44.0 ms', '81.2 ms')
    """
    if seconds is None:
        return "-"
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e9:.1f} ns"


@dataclasses.dataclass
class Row:
    """One line of a result table (build it with :func:`row`)."""

    figure: str
    ours: float
    reference: float | None
    target: str
    ok: bool
    ratio_text: str
    unit: str = "s"
    absolute: bool = False  # the target bounds ``ours`` itself, not the ratio

    def measured(self) -> str:
        """Return what the target is checked against: the ratio, or the time itself."""
        return self.cells()[1] if self.absolute else self.ratio_text

    def cells(self) -> list[str]:
        """Return the table cells: figure, ours, reference, ratio, target, ok."""
        ours = fmt_time(self.ours) if self.unit == "s" else f"{self.ours:.3g} {self.unit}"
        if self.reference is None:
            ref = "-"
        elif self.unit == "s":
            ref = fmt_time(self.reference)
        else:
            ref = f"{self.reference:.3g} {self.unit}"
        verdict = "-" if self.target == "-" else ("yes" if self.ok else "NO")
        return [self.figure, ours, ref, self.ratio_text, self.target, verdict]


_TARGET = re.compile(
    r"\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*(x|s|ms|us|µs|ns)?\s*(faster|less|slower)?\s*$"
)


def row(
    figure: str,
    ours: float,
    reference: float | None,
    target: str,
    unit: str = "s",
) -> Row:
    """Build a table row and decide whether it meets ``target``.

    ``target`` forms:

    - ``"<= 1.15x"``: ratio ``ours / reference`` at most 1.15;
    - ``">= 5x faster"`` / ``">= 5x less"``: ``reference / ours`` at least 5 (the ratio column then
      shows ``5.3x faster``);
    - ``"<= 0.3 us"``: an absolute bound on ``ours`` (seconds), reference shown for context.

    Example:
        >>> row("parse", 0.005, 0.044, ">= 5x faster").ratio_text
        '8.80x faster'
        >>> row("read", 2.5e-7, None, "<= 0.3 us").ok
        True
    """
    if not target:
        ratio_text = f"{ours / reference:.2f}x" if reference else "-"
        return Row(figure, ours, reference, "-", True, ratio_text, unit)
    match = _TARGET.fullmatch(target)
    if match is None:
        forms = "'<= 1.15x', '>= 5x faster' or '<= 0.3 us'"
        msg = f"benchmark target {target!r} is not of the form {forms}"
        raise ValueError(msg)
    op, number, unit_text, word = match.groups()
    bound = float(number)
    if unit_text in (None, "x"):
        if reference is None or reference <= 0 or ours <= 0:
            ratio = float("nan")
        elif word in ("faster", "less"):
            ratio = reference / ours
        else:
            ratio = ours / reference
        ratio_text = f"{ratio:.2f}x" + (f" {word}" if word in ("faster", "less") else "")
        value = ratio
    else:
        value = ours / _UNITS[unit_text]
        ratio_text = f"{ours / reference:.2f}x" if reference else "-"
    ok = _compare(value, op, bound)
    absolute = unit_text not in (None, "x")
    return Row(figure, ours, reference, target, ok, ratio_text, unit, absolute)


def _compare(value: float, op: str, bound: float) -> bool:
    if value != value:  # NaN: could not be measured
        return False
    return {
        "<=": value <= bound,
        "<": value < bound,
        ">=": value >= bound,
        ">": value > bound,
    }[op]


def table(rows: Sequence[Row], title: str = "") -> int:
    """Print ``rows`` as an aligned table and one ``MISSED:`` line per missed target.

    Returns:
        The number of rows that missed their target.

    Example:
        >>> table([row("x", 1e-6, 2e-6, "<= 1x")], title="demo")  # doctest: +NORMALIZE_WHITESPACE
        demo
        figure | hypertuner | reference | ratio | target | ok
        -------+------------+-----------+-------+--------+----
        x      | 1.0 us     | 2.0 us    | 0.50x | <= 1x  | yes
        0
    """
    header = ["figure", "hypertuner", "reference", "ratio", "target", "ok"]
    body = [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    if title:
        print(title)

    def fmt(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    print(fmt(header))
    print("-+-".join("-" * w for w in widths))
    for cells in body:
        print(fmt(cells))
    misses = [r for r in rows if not r.ok]
    for r in misses:
        print(f"{MISS_MARK} {r.figure}: {r.measured()} (target {r.target})")
    sys.stdout.flush()
    return len(misses)


def python_env() -> dict[str, str]:
    """Return a copy of ``os.environ`` without variables that would change Python's start-up.

    ``PYTHONDONTWRITEBYTECODE`` goes too: an installed package has its bytecode cached, and an
    editable install gets it on the first (warm-up) run; without the cache every run would
    compile the project's sources while the reference tools load theirs precompiled.
    """
    env = dict(os.environ)
    startup = ("PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME", "PYTHONDEVMODE", "PYTHONWARNINGS")
    for name in (*startup, "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env
