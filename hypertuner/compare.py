"""Reading runs back from ``storage/``: configs, metadata, metric summaries and scalar series.

The functions here return plain data (dicts, lists, numpy arrays) for the ``hypertuner`` command
and the web page alike:

- :func:`runs_table` lists every run from its ``meta.json`` and ``summary.json`` (no event file is
  parsed, and neither torch nor tensorboard is imported);
- :func:`read_run` gives one run's config, meta and metric summary;
- :func:`diff_configs` lists the flattened config keys where runs differ;
- :func:`rank_runs` orders runs by the best (or last) value of a metric;
- :func:`read_scalars` reads a run's TensorBoard event files into ``{tag: Series(steps, values)}``.

The event reader walks TFRecords directly: lengths in pure Python, CRC32C of every record at once
with numpy, and the common scalar ``Event`` layout decoded by hand (anything else goes through
tensorboard's protobuf messages). A record whose checksum fails and a truncated tail (a run killed
mid-write) are skipped with a :class:`~hypertuner.errors.HypertunerWarning` naming the file and how
many records were lost. Each ``(tag, step)`` appears once, with its latest value, and the steps
that a resumed run redid (after its ``SessionLog.START`` marker) hide the older ones, as in
TensorBoard.

The storage folder may be shared, so a link inside it may lead anywhere: a run folder that is a link
leading outside the storage folder is skipped (with a warning) or refused when named, and a run's
``config.json``, ``meta.json`` and ``summary.json`` are read only when they are not links.

Example:
    >>> import tempfile, hypertuner
    >>> root = tempfile.mkdtemp()
    >>> with hypertuner.start_run({"lr": 0.1}, name="a", storage=root):
    ...     hypertuner.log({"loss": 0.5}, step=1)
    >>> [row["name"] for row in runs_table(root)]
    ['a']
    >>> read_scalars(f"{root}/a")["loss"].values.tolist()
    [0.5]
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import _files
from ._eventfile import Series, event_files, read_scalars
from ._layout import list_runs, resolve_run, status_of, storage_root
from ._trees import flatten
from .errors import MetricError, nearest_hint
from .tracking import read_summary

__all__ = [
    "MODES",
    "Series",
    "diff_configs",
    "event_files",
    "rank_runs",
    "read_run",
    "read_scalars",
    "runs_table",
]

MODES = ("min", "max", "last")
"""How :func:`rank_runs` scores a run: its lowest, highest or last value of the metric."""


# --- Tables from meta.json and summary.json -----------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    """A run file's JSON object; ``{}`` when it is missing, unreadable, not an object, a link
    (a run's own files are never links: one may lead out of the storage folder) or not a regular
    file (a FIFO would block the reader)."""
    try:
        value = json.loads(_files.read_regular(path))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _rows(root: Path, chosen: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for name in chosen:
        directory = root / name
        meta = _read_json(directory / "meta.json")
        rows.append(
            {
                "name": name,
                "status": status_of(meta) if meta else "unknown",
                "start_time": meta.get("start_time"),
                "end_time": meta.get("end_time"),
                "duration_s": meta.get("duration_s"),
                "error": meta.get("error"),
                "config": flatten(_read_json(directory / "config.json")),
                "metrics": read_summary(directory),
            }
        )
    rows.sort(key=lambda row: (str(row["start_time"] or ""), row["name"]))
    return rows


def runs_table(
    storage: str | os.PathLike[str] | None = None, *, names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Return one plain dict per run: name, status, times, error and metric summary.

    Each row holds ``name``, ``status``, ``start_time``, ``end_time``, ``duration_s``,
    ``error`` (or ``None``), ``config`` (flattened, dotted keys) and ``metrics``
    (``{tag: {"last", "min", "max", "step", "count"}}`` from ``summary.json``). Rows are sorted by
    start time, oldest first.

    Args:
        storage: the storage folder (default: ``$HYPERTUNER_STORAGE`` or ``./storage``).
        names: only these runs (each checked with :func:`hypertuner._layout.resolve_run`).

    A run folder that is a link leading outside the storage folder is skipped, with a
    :class:`~hypertuner.errors.HypertunerWarning` naming it.

    Raises:
        RunNotFoundError: a name in ``names`` is not a run (the nearest names are suggested).
        OutsideStorageError: a name in ``names`` is a run folder leading outside the storage
            folder.

    Example:
        >>> import tempfile
        >>> runs_table(tempfile.mkdtemp())
        []
    """
    root = storage_root(storage)
    chosen = [resolve_run(n, root).name for n in names] if names else list_runs(root)
    return _rows(root, chosen)


def read_run(name: str, storage: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Return run ``name`` as ``{"name", "directory", "config", "meta", "metrics", "files"}``.

    ``config`` is the nested config as saved, ``metrics`` the summary of each logged tag.

    Raises:
        RunNameError: ``name`` is not a safe run name.
        RunNotFoundError: there is no such run; the nearest names are suggested.
        OutsideStorageError: the run folder is a link leading outside the storage folder.

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({"lr": 0.1}, name="b", storage=root).finish()
        >>> read_run("b", root)["config"]
        {'lr': 0.1}
    """
    directory = resolve_run(name, storage_root(storage))
    meta = _read_json(directory / "meta.json")
    if meta:
        meta["status"] = status_of(meta)
    return {
        "name": directory.name,
        "directory": str(directory),
        "config": _read_json(directory / "config.json"),
        "meta": meta,
        "metrics": read_summary(directory),
        "files": sorted(
            p.name
            for p in directory.iterdir()
            if not p.name.startswith(".") and p.is_file() and not p.is_symlink()
        ),
    }


_ABSENT = object()


def diff_configs(
    names: Sequence[str], storage: str | os.PathLike[str] | None = None
) -> list[tuple[str, list[Any]]]:
    """Return ``[(dotted key, [value in each run])]`` for the keys whose values differ.

    A key missing from a run shows as ``None`` in that run's place; keys under ``run.`` (name,
    storage) are left out. Keys come sorted.

    Raises:
        RunNotFoundError: a name is not a run (the nearest names are suggested).
        OutsideStorageError: a run folder is a link leading outside the storage folder.

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({"lr": 0.1, "layers": 4}, name="x", storage=root).finish()
        >>> hypertuner.start_run({"lr": 0.5, "layers": 4}, name="y", storage=root).finish()
        >>> diff_configs(["x", "y"], root)
        [('lr', [0.1, 0.5])]
    """
    root = storage_root(storage)
    configs = [flatten(_read_json(resolve_run(n, root) / "config.json")) for n in names]
    keys = sorted({k for c in configs for k in c if k != "run" and not k.startswith("run.")})
    out = []
    for key in keys:
        values = [c.get(key, _ABSENT) for c in configs]
        first = values[0]
        if any(v != first or type(v) is not type(first) for v in values[1:]):
            out.append((key, [None if v is _ABSENT else v for v in values]))
    return out


def _score(entry: Mapping[str, Any], mode: str) -> float:
    value = entry.get(mode if mode != "last" else "last")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past a float
        return math.nan
    return number


def rank_runs(
    metric: str,
    mode: str = "min",
    *,
    names: Sequence[str] | None = None,
    storage: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Rank runs by ``metric``: best first by their ``min``, ``max`` or ``last`` value.

    Each row is a :func:`runs_table` row plus ``rank`` (1 = best), ``score`` and ``last``; runs
    that never logged ``metric`` (or whose score is NaN) come after the others with ``rank``
    ``None``.

    Raises:
        MetricError: ``mode`` is not one of :data:`MODES`, or no run logged ``metric`` (the
            message lists the nearest metric names).
        RunNotFoundError: a name in ``names`` is not a run.

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> for name, loss in [("p", 0.3), ("q", 0.1)]:
        ...     with hypertuner.start_run({}, name=name, storage=root):
        ...         hypertuner.log({"loss": loss}, step=0)
        >>> [(r["rank"], r["name"]) for r in rank_runs("loss", "min", storage=root)]
        [(1, 'q'), (2, 'p')]
    """
    if mode not in MODES:
        msg = f"Mode {mode!r} is not one of {', '.join(repr(m) for m in MODES)}."
        raise MetricError(msg, value=mode)
    rows = runs_table(storage, names=names)
    known = sorted({tag for row in rows for tag in row["metrics"]})
    if metric not in known:
        hint, close = nearest_hint(metric, known, listing="Metrics logged")
        if not known:
            hint = " These runs logged no metrics yet (hypertuner.log writes them)."
        msg = f"No run logged metric {metric!r}.{hint}"
        raise MetricError(msg, key=metric, suggestions=close)
    scored: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for row in rows:
        entry = row["metrics"].get(metric)
        score = _score(entry, mode) if entry else math.nan
        row = {**row, "score": score, "last": _score(entry, "last") if entry else math.nan}
        (missing if math.isnan(score) else scored).append(row)
    scored.sort(key=lambda r: r["score"], reverse=mode == "max")
    for index, row in enumerate(scored, 1):
        row["rank"] = index
    for row in missing:
        row["rank"] = None
    return scored + missing
