"""What the page reads beyond the runs table: sweeps, a run's checkpoints, its log and its curves.

A storage folder is untrusted input (a pulled bucket, a shared folder), so every file here is read
the same careful way (:func:`read_small`, :func:`read_tail`): only inside the storage folder,
never through a link (a link leading out, or a link at all for a run's own files), only a regular
file (a FIFO or a device would block or never end), and at most a bounded number of bytes. What
cannot be read that way is reported as a sentence for the page (``problem``), never raised, so
one tampered file leaves the rest of a run's page readable. Every value taken from these files
is checked for its type before it is passed on: the page shows text and numbers, nothing else.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> read_small(Path(tempfile.mkdtemp()), Path("/etc/hostname"), "File 'x'")
    (None, "File 'x' leads outside the storage folder; the page does not read it.")
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import _files
from .._eventfile import event_files, read_scalars
from .._savefile import CHECKPOINT_FOLDER, LEDGER_FILE, MODEL_FILE
from .._sweeprecord import JOURNAL, SWEEP_FILE

__all__ = [
    "MAX_CURVE_BYTES",
    "MAX_JOURNAL_BYTES",
    "MAX_POINTS",
    "MAX_SMALL_BYTES",
    "checkpoints",
    "curves",
    "log_tail",
    "points",
    "read_json",
    "read_small",
    "read_tail",
    "sweeps",
]

#: The most bytes read of a small JSON file (meta.json, sweep.json, saves.json, a config file).
MAX_SMALL_BYTES = 4 * 1024 * 1024
#: The most bytes read of a sweep's journal (a line per trial event: ~1,000 bytes a trial).
MAX_JOURNAL_BYTES = 64 * 1024 * 1024
#: The most bytes of event files read for one run's curves.
MAX_CURVE_BYTES = 512 * 1024 * 1024
#: The most points of one curve sent to the page (a chart is a few hundred pixels wide).
MAX_POINTS = 2000
_LOG_TAIL_BYTES = 64 * 1024
_MAX_CHECKPOINTS = 1000
_TEXT = 500  # the longest text taken from a file for one field
_TRIAL = re.compile(r"(.+)-([0-9]+)")
_RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")
_HEX = re.compile(r"[0-9a-f]{8,128}")


def _open(
    root: Path, path: Path, what: str
) -> tuple[int | None, os.stat_result | None, str | None]:
    """A descriptor of ``path`` and its stat, or why not (``None, None, None`` when absent)."""
    if not _files.inside(root, path):
        return None, None, f"{what} leads outside the storage folder; the page does not read it."
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = _files.open_nofollow(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None, None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, None, f"{what} is a link; the page reads files, not links."
        return None, None, f"{what} cannot be read ({exc.strerror})."
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None, None, f"{what} is not a regular file; the page does not read it."
    return fd, info, None


def read_small(
    root: Path, path: Path, what: str, limit: int = MAX_SMALL_BYTES
) -> tuple[bytes | None, str | None]:
    """The bytes of ``path`` (a regular file inside ``root``, not a link, at most ``limit``
    bytes), or ``None`` and why not; ``(None, None)`` when there is no such file.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / "a.json").write_text("{}")
        >>> read_small(root, root / "a.json", "File 'a.json'"), read_small(root, root / "b", "b")
        ((b'{}', None), (None, None))
    """
    fd, info, problem = _open(root, path, what)
    if fd is None or info is None:
        return None, problem
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            return None, _too_large(what, info.st_size, limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        return None, _too_large(what, len(data), limit)
    return data, None


def _too_large(what: str, size: int, limit: int) -> str:
    return (
        f"{what} holds {size:,} bytes, more than the {limit:,} the page reads; the page does "
        "not show it."
    )


def read_tail(
    root: Path, path: Path, what: str, limit: int = _LOG_TAIL_BYTES
) -> tuple[str | None, bool, str | None]:
    """The last ``limit`` bytes of ``path`` as text, whether earlier bytes were left out, and
    why it could not be read (``(None, False, None)`` when there is no such file)."""
    fd, info, problem = _open(root, path, what)
    if fd is None or info is None:
        return None, False, problem
    with os.fdopen(fd, "rb") as handle:
        start = max(info.st_size - limit, 0)
        handle.seek(start)
        data = handle.read(limit)
    text = data.decode("utf-8", "replace")
    if start > 0 and "\n" in text:
        text = text.split("\n", 1)[1]  # from the first whole line
    return text, start > 0, None


def read_json(
    root: Path, path: Path, what: str, limit: int = MAX_SMALL_BYTES
) -> tuple[Any, str | None]:
    """:func:`read_small` decoded as JSON: the value (``None`` when absent) and any problem.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / "a.json").write_text("[1")
        >>> read_json(root, root / "a.json", "File 'a.json'")[1]  # doctest: +ELLIPSIS
        "File 'a.json' is not valid JSON (...)."
    """
    data, problem = read_small(root, path, what, limit)
    if data is None:
        return None, problem
    try:
        return json.loads(data), None
    except RecursionError:
        return None, f"{what} nests lists or objects too deeply to read."
    except ValueError as exc:
        return None, f"{what} is not valid JSON ({str(exc)[:200]})."


def _text(value: Any, limit: int = _TEXT) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)[:limit]
    return text[:limit]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too big for a float: no number, never a 500
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- sweeps ---------------------------------------------------------------------------------------


def sweeps(root: Path, names: Iterable[str]) -> list[dict[str, Any]]:
    """The sweeps whose trials are among the runs ``names``, each as plain data for the page.

    A sweep is a folder ``<sweep>/`` with a ``sweep.json``; its trials are the runs its journal
    (``trials.jsonl``) names. Each sweep is ``{"name", "status", "strategy", "n_trials",
    "metric", "mode", "space", "target", "trials", "best", "problems"}``: ``trials`` maps each
    trial's run name to ``{"index", "status", "value", "error"}`` as the journal last recorded
    it, and ``best`` is the finished trial with the best ``value`` (``mode``), or ``None``.

    Example:
        >>> import tempfile, hypertuner
        >>> root = Path(tempfile.mkdtemp())
        >>> results = hypertuner.sweep(lambda args: args.x ** 2, {"x": [3, -1]}, name="sq",
        ...                            storage=root, progress=False)
        >>> [(s["name"], s["best"]["run"], len(s["trials"])) for s in sweeps(root, ["sq-0"])]
        [('sq', 'sq-1', 2)]
    """
    prefixes = sorted({m.group(1) for n in names if (m := _TRIAL.fullmatch(n))})
    found = []
    for prefix in prefixes:
        if not _RUN_NAME.fullmatch(prefix) or not os.path.isfile(root / prefix / SWEEP_FILE):
            continue
        sweep = _sweep(root, prefix)
        if sweep is not None:
            found.append(sweep)
    return found


def _sweep(root: Path, name: str) -> dict[str, Any] | None:
    directory = root / name
    info, problem = read_json(root, directory / SWEEP_FILE, f"Sweep file '{name}/{SWEEP_FILE}'")
    if not isinstance(info, dict):
        return None  # not readable as a sweep: its trials show as ordinary runs
    problems = [problem] if problem else []
    mode = info.get("mode") if info.get("mode") in ("min", "max") else "min"
    space = info.get("space")
    trials, journal_problem = _journal(root, directory, name)
    if journal_problem:
        problems.append(journal_problem)
    scored = [
        (t["value"], run)
        for run, t in trials.items()
        if t["status"] == "finished" and t["value"] is not None
    ]
    best = None
    if scored:
        value, run = (min if mode == "min" else max)(scored)
        best = {"run": run, "index": trials[run]["index"], "value": value}
    return {
        "name": name,
        "status": _text(info.get("status"), 40),
        "strategy": _text(info.get("strategy"), 40),
        "n_trials": _count(info.get("n_trials")),
        "metric": _text(info.get("metric"), 200),
        "mode": mode,
        "space": [str(k)[:_TEXT] for k in space][:200] if isinstance(space, dict) else [],
        "target": _text(info.get("target")),
        "trials": trials,
        "best": best,
        "problems": problems,
    }


def _journal(
    root: Path, directory: Path, name: str
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """``{run: {"index", "status", "value", "error"}}`` from the journal's last word on each
    trial index (two indices may hold the same config, hence the same trial id); lines that are
    torn, not objects or name a run outside this sweep are skipped."""
    what = f"Sweep journal '{name}/{JOURNAL}'"
    data, problem = read_small(root, directory / JOURNAL, what, MAX_JOURNAL_BYTES)
    if data is None:
        return {}, problem
    latest: dict[int, dict[str, Any]] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line torn by a crash
        if not isinstance(record, dict) or not isinstance(record.get("trial"), str):
            continue
        index = _count(record.get("index"))
        if index is None:
            continue
        merged = latest.get(index)
        if merged is None or merged.get("trial") != record["trial"]:
            merged = latest[index] = {}  # new, or the index asked again with other values
        merged.update(record)
    trials: dict[str, dict[str, Any]] = {}
    for index, record in latest.items():
        run = record.get("run")
        if not isinstance(run, str) or not _RUN_NAME.fullmatch(run) or run != f"{name}-{index}":
            continue
        trials[run] = {
            "index": index,
            "status": _text(record.get("status"), 40) or "unknown",
            "value": _number(record.get("value")),
            "error": _text(record.get("error")),
        }
    return trials, None


# --- a run's checkpoints, log and curves -------------------------------------------------------


def checkpoints(root: Path, directory: Path) -> dict[str, Any]:
    """The saved checkpoints of a run, from its ledger ``saves.json``.

    Returns ``{"monitor", "mode", "model", "checkpoints", "problem"}``: ``checkpoints`` lists
    ``{"file", "step", "epoch", "size", "metrics", "time", "sha256", "best", "present"}``
    oldest first; ``best`` marks the one ``model.pt`` holds (the best by ``monitor``, or the
    latest without one), ``present`` whether its file is in the run folder. Entries that name
    a file outside the run's ``checkpoints/`` folder are left out, and said so in ``problem``.

    Example:
        >>> import tempfile
        >>> checkpoints(Path(tempfile.mkdtemp()), Path("/nowhere"))["checkpoints"]
        []
    """
    out: dict[str, Any] = {
        "monitor": None,
        "mode": None,
        "model": None,
        "checkpoints": [],
        "problem": None,
    }
    ledger, problem = read_json(root, directory / LEDGER_FILE, f"Save ledger '{LEDGER_FILE}'")
    if ledger is None or problem:
        out["problem"] = problem
        return out
    if not isinstance(ledger, dict):
        out["problem"] = f"Save ledger '{LEDGER_FILE}' is not a JSON object; nothing to show."
        return out
    out["monitor"] = _text(ledger.get("monitor"), 200)
    out["mode"] = ledger.get("mode") if ledger.get("mode") in ("min", "max") else None
    model = ledger.get("model") if isinstance(ledger.get("model"), dict) else None
    entries = ledger.get("checkpoints")
    entries = entries if isinstance(entries, list) else []
    skipped = 0
    shown = []
    for entry in entries[:_MAX_CHECKPOINTS]:
        item = _entry(root, directory, entry)
        if item is None:
            skipped += 1
            continue
        shown.append(item)
    best_file = _text(model.get("source")) if model else None
    best_hash = _text(model.get("sha256")) if model else None
    for item in shown:
        item["best"] = item["file"] == best_file or (
            best_hash is not None and item["sha256"] == best_hash
        )
    out["checkpoints"] = shown
    if model is not None:
        out["model"] = {
            "file": MODEL_FILE,
            "size": _count(model.get("size")),
            "step": _count(model.get("step")),
            "epoch": _count(model.get("epoch")),
            "metrics": _metrics(model.get("metrics")),
            "source": best_file,
            "present": _present(root, directory / MODEL_FILE),
        }
    notes = []
    if skipped:
        notes.append(
            f"{skipped} ledger entr{'y' if skipped == 1 else 'ies'} name no file in "
            f"'{CHECKPOINT_FOLDER}/' and are not shown."
        )
    if len(entries) > _MAX_CHECKPOINTS:
        notes.append(f"Only the first {_MAX_CHECKPOINTS} of {len(entries)} entries are shown.")
    out["problem"] = " ".join(notes) or None
    return out


def _entry(root: Path, directory: Path, entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    file = entry.get("file")
    if not isinstance(file, str):
        return None
    folder, _, base = file.partition("/")
    if folder != CHECKPOINT_FOLDER or not _RUN_NAME.fullmatch(base):
        return None  # a path that leaves the run's checkpoints folder: not this run's file
    digest = entry.get("sha256")
    return {
        "file": file,
        "step": _count(entry.get("step")),
        "epoch": _count(entry.get("epoch")),
        "size": _count(entry.get("size")),
        "metrics": _metrics(entry.get("metrics")),
        "time": _number(entry.get("time")),
        "sha256": digest if isinstance(digest, str) and _HEX.fullmatch(digest) else None,
        "best": False,
        "present": _present(root, directory / file),
    }


def _metrics(value: Any) -> dict[str, float | str]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, float | str] = {}
    for key, item in list(value.items())[:100]:
        number = _number(item)
        if number is not None:
            out[str(key)[:200]] = number
        elif isinstance(item, str) and item in ("nan", "inf", "-inf"):
            out[str(key)[:200]] = item
    return out


def _present(root: Path, path: Path) -> bool:
    return os.path.isfile(path) and not os.path.islink(path) and _files.inside(root, path)


def log_tail(root: Path, candidates: Iterable[Path]) -> dict[str, Any]:
    """The tail of the first of ``candidates`` that exists: ``{"path", "tail", "truncated",
    "problem"}`` (all ``None``/``False`` when none exists)."""
    for path in candidates:
        what = f"Log {str(path.relative_to(root))!r}"
        text, truncated, problem = read_tail(root, path, what)
        if text is not None or problem:
            return {"path": str(path), "tail": text, "truncated": truncated, "problem": problem}
    return {"path": None, "tail": None, "truncated": False, "problem": None}


def points(steps: Any, values: Any, limit: int = MAX_POINTS) -> dict[str, list[Any]]:
    """At most ``limit`` evenly spread points of a curve, non-finite values as ``None``.

    Example:
        >>> import numpy as np
        >>> points(np.arange(5), np.array([1.0, np.nan, 3, 4, 5]), limit=3)
        {'steps': [0, 2, 4], 'values': [1.0, 3.0, 5.0]}
    """
    import numpy as np

    if len(steps) > limit:
        keep = np.unique(np.linspace(0, len(steps) - 1, limit).astype(np.int64))
        steps, values = steps[keep], values[keep]
    return {
        "steps": steps.tolist(),
        "values": [v if math.isfinite(v) else None for v in values.tolist()],
    }


def curves(root: Path, directory: Path, tags: Iterable[str] | None = None) -> dict[str, Any]:
    """Every logged metric's curve of a run (or only ``tags``): ``{"curves": {tag: {"steps",
    "values"}}, "warnings": [...]}``.

    Event files that are links, are not regular files, or hold more than
    :data:`MAX_CURVE_BYTES` together are not read (a warning says so).
    """
    problems = check_event_files(root, directory)
    if problems:
        return {"curves": {}, "warnings": problems}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = read_scalars(directory, tags=tags)
    return {
        "curves": {tag: points(s.steps, s.values) for tag, s in sorted(found.items())},
        "warnings": [str(w.message) for w in caught],
    }


def check_event_files(root: Path, directory: Path) -> list[str]:
    """Why a run's event files must not be read (links, odd files, too many bytes), or ``[]``."""
    try:
        links = sorted(
            p.name for p in directory.iterdir() if "tfevents" in p.name and p.is_symlink()
        )
    except OSError:
        links = []
    if links:  # event_files() leaves links out: say why this run's curves are missing
        name = f"{directory.name}/{links[0]}"
        return [f"Event file {name!r} is a link; the page does not read this run's curves."]
    total = 0
    for path in event_files(directory):
        name = f"{directory.name}/{path.name}"
        if not _files.inside(root, path):
            return [f"Event file {name!r} is a link; the page does not read this run's curves."]
        try:
            info = path.stat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            return [f"Event file {name!r} is not a regular file; its curves are not read."]
        total += info.st_size
    if total > MAX_CURVE_BYTES:
        return [
            f"The event files of run {directory.name!r} hold {total:,} bytes, more than the "
            f"{MAX_CURVE_BYTES:,} the page reads for one run; open it in TensorBoard instead."
        ]
    return []


def trial_logs(root: Path, name: str, sweep: Mapping[str, Any] | None) -> list[Path]:
    """Where a run's output may be: a page launch's log, then its sweep trial's log."""
    found = [root / ".hypertuner" / "logs" / f"{name}.log"]
    if sweep is not None:
        found.append(root / sweep["name"] / "logs" / f"{sweep['index']}.log")
    return found
