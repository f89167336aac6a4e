"""A sweep's records: its trials (:class:`Trial`, :class:`SweepResults`), the journal
``trials.jsonl``, ``sweep.json``, and the progress it prints.

Example:
    >>> trial_id({"a": 1, "b": 2}) == trial_id({"b": 2, "a": 1})
    True
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import _files
from ._formats import format_value
from ._layout import SWEEP_FILE, check_run_name
from ._trees import flatten
from ._trial import json_default, number_of
from .errors import RunInUseError, RunNameError, SearchSpecError

__all__ = [
    "JOURNAL",
    "SWEEP_FILE",
    "AppendFile",
    "BatchedSync",
    "Journal",
    "Progress",
    "SweepResults",
    "Trial",
    "best_of",
    "lock_sweep",
    "read_sweep_file",
    "trial_id",
]

JOURNAL = "trials.jsonl"


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
        return best_of(list(self), self.mode)

    @property
    def keys(self) -> list[str]:
        """The searched keys (the space's, from ``sweep.json``), in the space's order."""
        space = read_sweep_file(self.directory).get("space")
        return [k.lstrip("+") for k in space] if isinstance(space, dict) else []

    def values(self, trial: Trial) -> str:
        """A trial's searched values as written on a command line: ``lr=0.0225, model.layers=2``.

        Example:
            >>> import tempfile, hypertuner
            >>> results = hypertuner.sweep(lambda args: args.lr, {"lr": [0.1, 0.01]},
            ...                            storage=tempfile.mkdtemp(), progress=False)
            >>> results.values(results.best)
            'lr=0.01'
        """
        flat = flatten(trial.config)
        return ", ".join(f"{k}={format_value(flat.get(k))}" for k in self.keys if k in flat)

    def summary(self) -> str:
        """One line per trial (index, status, value, run, its searched values), the error of
        each failed trial on one line (of the first few; a script's names its log), and a last
        line with the counts and the best trial: what ``hypertuner sweep`` prints at its end.

        Example:
            >>> import tempfile, hypertuner
            >>> results = hypertuner.sweep(lambda args: args.x ** 2, {"x": [3, -1]},
            ...                            storage=tempfile.mkdtemp(), name="sq", progress=False)
            >>> print(results.summary().split("; folder")[0])
            trial  status    value  run   values
            0      finished  9      sq-0  x=3
            1      finished  1      sq-1  x=-1
            sweep sq: 2/2 finished; best 1 (sq-1: x=-1)
        """
        rows = [("trial", "status", "value", "run", "values")]
        for trial in self:
            value = "-" if trial.value is None else f"{trial.value:.6g}"
            rows.append((str(trial.index), trial.status, value, trial.name, self.values(trial)))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=False)) + "  " + row[4]
            for row in rows
        ]
        failed = [t for t in self if t.status == "failed" and t.error]
        lines += [f"trial {t.index} failed: {_one_line(t.error or '')}" for t in failed[:_ERRORS]]
        if len(failed) > _ERRORS:
            more = len(failed) - _ERRORS
            lines.append(f"... and {more} more failed (errors in {self.directory / JOURNAL})")
        counts = collections.Counter(t.status for t in self)
        line = f"sweep {self.name}: {counts['finished']}/{len(self)} finished"
        line += "".join(
            f", {counts[s]} {s}" for s in ("pruned", "failed", "interrupted") if counts[s]
        )
        best = self.best
        if best is not None:
            line += f"; best {best.value:.6g} ({best.name}: {self.values(best)})"
        lines.append(f"{line}; folder {self.directory}")
        return "\n".join(line.rstrip() for line in lines)


_ERRORS = 3  # the failed trials whose error a summary shows
_ERROR_CHARS = 300


def _one_line(error: str) -> str:
    """An error on one line: its first line, shortened, with a script's ``(log: PATH)`` kept.

    Example:
        >>> _one_line("exit code 1: ValueError: bad\\nmore (log: logs/0.log)")
        'exit code 1: ValueError: bad ... (log: logs/0.log)'
    """
    text, log = error.strip(), ""
    at = text.rfind(" (log: ")
    if at >= 0 and text.endswith(")"):
        text, log = text[:at], text[at:]
    first = text.splitlines()[0] if text else ""
    if len(first) > _ERROR_CHARS:
        first = first[:_ERROR_CHARS].rstrip() + " ..."
    elif first != text:
        first += " ..."
    return first + log


def best_of(trials: Sequence[Trial], mode: str) -> Trial | None:
    scored = [t for t in trials if t.status == "finished" and t.value is not None]
    if not scored:
        return None
    pick = min if mode == "min" else max
    return pick(scored, key=lambda t: t.value)  # type: ignore[arg-type, return-value]


# ---------------------------------------------------------------------------------------------
# The journal and the sweep folder


def trial_id(config: Mapping[str, Any]) -> str:
    """The id of a trial: a hash of its config (key order does not matter).

    Example:
        >>> trial_id({"a": 1, "b": 2}) == trial_id({"b": 2, "a": 1})
        True
    """
    text = json.dumps(config, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class BatchedSync:
    """The fsyncs of one append-only file, off its writer's thread: at most one every
    ``every`` seconds, and none later than ``every`` seconds after a write (and its own time).

    The writer writes and flushes each line itself, so a crash of its process loses nothing,
    and calls :meth:`wrote`; a thread, started at the first write, fsyncs the file, so a crash of
    the machine loses at most the last ``every`` seconds. :meth:`close` stops the thread and
    fsyncs what is left; an fsync that failed in the thread is raised by the next call.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryFile() as handle:
        ...     sync = BatchedSync(handle.fileno(), 0.5)
        ...     _ = handle.write(b"line\\n"); handle.flush(); sync.wrote()
        ...     sync.close()
    """

    def __init__(self, fd: int, every: float) -> None:
        self.fd = fd
        self.every = every
        self._dirty = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def wrote(self) -> None:
        """Say that a line was written and flushed: it is fsynced within ``every`` seconds."""
        self._raise()
        self._dirty = True  # after the flush: the fsync that clears it covers that line
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hypertuner-fsync", daemon=True)
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread and fsync what it has not (the file stays open)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._sync()
        self._raise()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            self._sync()
            self._stop.wait(self.every)  # the next fsync waits, so writes in between batch

    def _sync(self) -> None:
        if self._dirty:
            self._dirty = False
            try:
                os.fsync(self.fd)
            except OSError as exc:
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class AppendFile:
    """An append-only text file kept open: each :meth:`write` is written through at once (a
    crash of the process loses nothing) and fsynced by a :class:`BatchedSync` within ``every``
    seconds; :meth:`close` fsyncs what is left. The file is opened at the first write.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
        >>> log = AppendFile(path, 0.5)
        >>> log.write('{"a": 1}\\n'); log.close()
        >>> path.read_text()
        '{"a": 1}\\n'
    """

    def __init__(self, path: Path, every: float) -> None:
        self.path = path
        self.every = every
        self._handle: Any = None
        self._sync: BatchedSync | None = None

    @property
    def opened(self) -> bool:
        """Whether the file is open (a first write happened since the last :meth:`close`)."""
        return self._handle is not None

    def write(self, text: str) -> None:
        """Append ``text`` (whole lines), written through and fsynced soon."""
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._sync = BatchedSync(self._handle.fileno(), self.every)
        self._handle.write(text)
        self._handle.flush()
        assert self._sync is not None
        self._sync.wrote()

    def close(self) -> None:
        """Fsync what is left and close the file (a later write opens it again)."""
        if self._handle is not None:
            try:
                if self._sync is not None:
                    self._sync.close()
            finally:
                self._handle.close()
                self._handle = None
                self._sync = None


class Journal:
    """``trials.jsonl``: one JSON line per trial event.

    Lines are written through at once (a crash of the sweep loses nothing) and fsynced in the
    background within ``SYNC_EVERY_S``, at most once per ``SYNC_EVERY_S``, and at the end (a
    crash of the machine loses at most that much: those trials run again on resume).
    """

    SYNC_EVERY_S = 0.5

    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL
        self._file = AppendFile(self.path, self.SYNC_EVERY_S)

    def read(self) -> dict[int, dict[str, Any]]:
        """The journal's last word on each trial index: its lines merged, oldest first.

        Trials are told apart by index, not by id: two indices may hold the same config (a
        model-based strategy may ask a point twice), and each has its own run. The lines of an
        index merge while they name the same trial id; a line with another id starts the index
        over. A line torn by a crash, or without a trial id and an index, is skipped (every line
        the sweep writes has both).

        Example:
            >>> import tempfile
            >>> journal = Journal(Path(tempfile.mkdtemp()))
            >>> for index in (0, 1):
            ...     journal.append({"trial": "same", "index": index, "status": "running"})
            >>> journal.append({"trial": "same", "index": 1, "status": "finished", "value": 2})
            >>> journal.close()
            >>> {i: (r["status"], r.get("value")) for i, r in journal.read().items()}
            {0: ('running', None), 1: ('finished', 2)}
        """
        latest: dict[int, dict[str, Any]] = {}
        try:
            text = _files.read_regular(self.path).decode("utf-8", errors="replace")
        except FileNotFoundError:
            return latest
        except OSError as exc:  # a link or a FIFO in the sweep's folder: never waited on
            raise untrusted(self.path, exc) from None
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue  # a line torn by a crash (or none this code wrote): the trial runs again
            record = _checked_record(record)
            if record is None:
                continue
            index = record["index"]
            before = latest.get(index, {})
            merged = dict(before) if before.get("trial") == record["trial"] else {}
            merged.update(record)
            latest[index] = merged
        return latest

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one line (with the time), written through and fsynced soon."""
        line = json.dumps(dict(record, time=_files.now()), default=json_default, allow_nan=False)
        self._file.write(line + "\n")

    def close(self) -> None:
        self._file.close()


def _checked_record(record: Any) -> dict[str, Any] | None:
    """A journal line as this code writes it, or ``None`` for one it never would (a tampered
    or foreign line: its trial runs again). Values of the wrong type are dropped; a run name
    that is not a safe folder name drops the line."""
    if not isinstance(record, dict) or not isinstance(record.get("trial"), str):
        return None
    index = record.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 2**31:
        return None
    run = record.get("run")
    if run is not None:
        if not isinstance(run, str):
            return None
        try:
            check_run_name(run)
        except RunNameError:
            return None
    out = dict(record)
    value = out.get("value")
    if value is not None and (
        not isinstance(value, (int, float)) or number_of(value, None) is None
    ):
        del out["value"]  # the earlier lines' value stands
    for key in ("status", "error"):
        if out.get(key) is not None and not isinstance(out[key], str):
            del out[key]
    return out


def lock_sweep(directory: Path, name: str) -> int:
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


class Progress:
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
            what += f": {_one_line(trial.error)}"
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


def read_sweep_file(directory: Path) -> dict[str, Any]:
    """The ``sweep.json`` of a sweep's folder (``{}`` when there is none yet).

    Raises:
        SearchSpecError: the file is not valid JSON.
    """
    path = directory / SWEEP_FILE
    try:
        value = json.loads(_files.read_regular(path).decode("utf-8", errors="replace"))
    except FileNotFoundError:
        return {}
    except RecursionError:
        value = None  # nested beyond reason: not a sweep file this code wrote
    except OSError as exc:  # a link or a FIFO in the sweep's folder: never waited on
        raise untrusted(path, exc) from None
    except ValueError as exc:
        msg = (
            f"Sweep file {str(path)!r} is not valid JSON ({exc}); delete the sweep's folder "
            "to start over."
        )
        raise SearchSpecError(msg, path=str(path)) from None
    return value if isinstance(value, dict) else {}


def untrusted(path: Path, exc: OSError, what: str = "Sweep file") -> SearchSpecError:
    """The error for a file of a sweep's folder that is no regular file (a link, a FIFO).

    Example:
        >>> untrusted(Path("s/study.jsonl"), OSError(22, "Not a regular file"), "Study file")
        ... # doctest: +ELLIPSIS
        SearchSpecError("Study file 's/study.jsonl' cannot be read as a plain file (Not a ...
    """
    why = exc.strerror or type(exc).__name__
    msg = (
        f"{what} {str(path)!r} cannot be read as a plain file ({why}): a sweep writes none "
        "of those, so its folder cannot be trusted; delete the sweep's folder to start over."
    )
    return SearchSpecError(msg, value=str(path))
