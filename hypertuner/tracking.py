"""Metrics of a run as TensorBoard event records: scalars and the HParams session summaries.

:func:`log` appends one TensorBoard ``Event`` per call (every scalar of the call shares it) to
an in-memory batch on the caller's thread; the batch is framed as TFRecords (length, masked
CRC32C of the length, data, masked CRC32C of the data) and appended to the run's own event file
at least every :data:`FLUSH_SECONDS` seconds (a background timer, or the next call), when it
holds :data:`FLUSH_RECORDS` events, and when the run ends. Only the writing process of a run
(global rank zero) writes anything; other ranks return at once.

The event file also carries the HParams plugin's session-start summary (the run's flattened
config) when the writer starts, and its session-end summary (the run's final status) when the run
ends. No experiment summary is written: without one, TensorBoard builds the HParams table from
every run's session-start info and declares every scalar tag of those runs as a metric column,
showing the last value of each, so the table has exactly the metrics that were logged.

Beside the event file the writer keeps ``summary.json`` (last, min and max value, last step and
count of each tag), so tables of many runs are built without parsing event files.

Example:
    >>> import tempfile, hypertuner
    >>> with hypertuner.start_run({"lr": 0.1}, name="demo", storage=tempfile.mkdtemp()) as run:
    ...     for step in range(3):
    ...         hypertuner.log({"loss": 1.0 / (step + 1)}, step=step)
    >>> read_summary(run.directory)["loss"]["last"]
    0.3333333333333333
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import operator
import os
import socket
import struct
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _files, _report
from ._eventfile import event_files, read_scalars
from ._tfrecord import frame_records
from ._trees import flatten
from .errors import HypertunerError, MetricError, NoRunError
from .run import Run, current_run

if TYPE_CHECKING:
    pass

__all__ = [
    "FLUSH_RECORDS",
    "FLUSH_SECONDS",
    "SUMMARY_FILE",
    "flush",
    "last_value",
    "log",
    "read_summary",
    "watch",
]

FLUSH_SECONDS = 2.0
"""The longest time a logged scalar waits in memory before it reaches the event file."""
FLUSH_RECORDS = 20_000
"""The number of pending events that triggers a flush on the caller's thread."""
SUMMARY_FILE = "summary.json"
"""The per-run metric summary written beside the event file."""

_STATUS_CODES = {"finished": 1, "failed": 2, "interrupted": 0, "pruned": 0}
"""Run status -> ``tensorboard.hparams.Status`` (SUCCESS, FAILURE, UNKNOWN). The plugin has no
ABORTED: ``interrupted`` and ``pruned`` (stopped early by a sweep's pruner) both show as UNKNOWN,
a run stopped before its end, so the table's "Success" filter keeps only complete runs."""

_pack_head = struct.Struct("<Bd").pack
_time = time.time
_pack_float = struct.Struct("<f").pack
_TRACKER_ATTRIBUTE = "_hypertuner_tracker"


# --- Event encoding ----------------------------------------------------------------------------


_SMALL = [bytes((n,)) for n in range(128)]


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _SMALL[value]
    if 0 < value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if 0 < value < 0x200000:
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
    value &= 0xFFFFFFFFFFFFFFFF  # a negative int64 is ten bytes of two's complement
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _value_prefix(tag: str) -> bytes:
    """The bytes of ``Summary.Value(tag=tag, simple_value=x)`` before the 4 bytes of ``x``.

    Built from tensorboard's own message once per tag, then reused for every value of that tag.
    """
    from tensorboard.compat.proto import summary_pb2  # type: ignore[import-untyped]

    encoded = summary_pb2.Summary.Value(tag=tag, simple_value=1.0).SerializeToString()
    prefix = encoded[:-4]
    inner = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=1.0)])
    body = inner.SerializeToString()
    if body != b"\x0a" + _varint(len(encoded)) + encoded or not encoded.endswith(_pack_float(1.0)):
        msg = f"tensorboard's Summary encoding changed; cannot write metric {tag!r} fast."
        raise RuntimeError(msg)
    return bytes(b"\x0a" + _varint(len(encoded)) + prefix)


def _event_bytes(**fields: Any) -> bytes:
    from tensorboard.compat.proto import event_pb2

    encoded: bytes = event_pb2.Event(**fields).SerializeToString()
    return encoded


def _hparam_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def _session_start(run: Run, wall_time: float) -> bytes:
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import (  # type: ignore[import-untyped]
        metadata,
        plugin_data_pb2,
    )

    info = plugin_data_pb2.SessionStartInfo(start_time_secs=wall_time)
    for key, value in flatten(run.config).items():
        if key == "run" or key.startswith("run."):
            continue  # name, storage and resume mode describe the run, not its hyperparameters
        value = _hparam_value(value)
        if isinstance(value, bool):
            info.hparams[key].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[key].number_value = value
        else:
            info.hparams[key].string_value = value
    return _plugin_event(
        metadata.SESSION_START_INFO_TAG,
        plugin_data_pb2.HParamsPluginData(session_start_info=info),
        wall_time,
        summary_pb2,
        metadata,
    )


def _session_end(status: str, wall_time: float) -> bytes:
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import (
        metadata,
        plugin_data_pb2,
    )

    info = plugin_data_pb2.SessionEndInfo(
        status=_STATUS_CODES.get(status, 0),
        end_time_secs=wall_time,
    )
    return _plugin_event(
        metadata.SESSION_END_INFO_TAG,
        plugin_data_pb2.HParamsPluginData(session_end_info=info),
        wall_time,
        summary_pb2,
        metadata,
    )


def _plugin_event(tag: str, data: Any, wall_time: float, summary_pb2: Any, metadata: Any) -> bytes:
    summary = summary_pb2.Summary(
        value=[
            summary_pb2.Summary.Value(
                tag=tag,
                metadata=metadata.create_summary_metadata(data),
                tensor=metadata.NULL_TENSOR,
            )
        ]
    )
    return _event_bytes(wall_time=wall_time, summary=summary)


# --- The per-run writer ------------------------------------------------------------------------


class _Tracker:
    """The metrics writer of one run (rank zero); created on the run's first :func:`log`."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.active = run.is_writer
        self.lock = threading.Lock()
        self.pending: list[bytes] = []
        self.prefixes: dict[str, bytes] = {}
        self.stats: dict[str, list[Any]] = {}
        self.next_step = 0
        self.last_flush = time.time()
        self.path: Path | None = None
        self.handle: Any = None
        self.header_written = False
        self.pid = os.getpid()
        # A sweep's trial: the values of its metric go to the sweep as they are logged.
        self.watch: Any = None
        if not self.active:
            return
        self.watch = _report.from_environment(run.name)
        self.stats = _load_stats(run.directory)
        if self.stats:
            self.next_step = max(int(s[3]) for s in self.stats.values()) + 1
        run.on_end(self._on_end)
        _register(self)

    # The caller's-thread path: keep it short.
    def log(self, metrics: Mapping[str, Any], step: int | None) -> None:
        # No lock here: list.append is atomic, and flushes take what is pending with one
        # slice-and-delete under the flush lock (see _flush_locked).
        now = _time()
        if step is None:
            step = self.next_step
        elif type(step) is not int:
            step = _check_step(step)
        prefixes = self.prefixes
        # Check every name and value before anything changes; one metric (the common case of
        # a training loop) skips the lists.
        tags: Any
        values: Any
        if len(metrics) == 1:
            ((tag, value),) = metrics.items()
            prefix = prefixes.get(tag)
            if prefix is None:
                prefix = self._new_tag(tag)
            if type(value) is not float:
                value = _to_float(tag, value)
            try:
                summary = prefix + _pack_float(value)
            except OverflowError:  # beyond float32: TensorBoard shows it as infinite
                summary = prefix + _pack_float(math.copysign(math.inf, value))
            tags, values = (tag,), (value,)
        else:
            parts = []
            values = []
            for tag, value in metrics.items():
                prefix = prefixes.get(tag)
                if prefix is None:
                    prefix = self._new_tag(tag)
                if type(value) is not float:
                    value = _to_float(tag, value)
                try:
                    packed = _pack_float(value)
                except OverflowError:
                    packed = _pack_float(math.copysign(math.inf, value))
                parts.append(prefix)
                parts.append(packed)
                values.append(value)
            if not parts:
                return
            tags = metrics
            summary = b"".join(parts)
        if not self.header_written:
            with self.lock:
                self._start(now, step)
        self.next_step = step + 1
        stats = self.stats
        for tag, value in zip(tags, values, strict=True):
            entry = stats.get(tag)
            if entry is None:
                low = high = value
                if value != value:  # NaN: the first number sets min and max
                    low, high = math.inf, -math.inf
                stats[tag] = [value, low, high, step, 1]
            else:
                entry[0] = value
                entry[3] = step
                entry[4] += 1
                if value < entry[1]:
                    entry[1] = value
                if value > entry[2]:
                    entry[2] = value
        pending = self.pending
        pending.append(
            b"%b%b\x2a%b%b"
            % (
                _pack_head(9, now),  # field 1 (wall_time), a double
                b"\x10" + _varint(step) if step else b"",  # field 2 (step); proto3 omits 0
                _varint(len(summary)),  # field 5 (summary), length-delimited
                summary,
            )
        )
        if now - self.last_flush > FLUSH_SECONDS or len(pending) > FLUSH_RECORDS:
            self.flush()
        if self.watch is not None:
            self.watch(metrics, step)  # may raise TrialPruned, once this call's values are kept

    def _new_tag(self, tag: object) -> bytes:
        if not isinstance(tag, str) or not tag or tag.startswith("_hparams_/"):
            msg = (
                f"Metric name {tag!r} cannot be logged: use a non-empty string that does not "
                "start with '_hparams_/' (for example 'val/loss')."
            )
            raise MetricError(msg, key=str(tag))
        prefix = _value_prefix(tag)
        self.prefixes[tag] = prefix
        return prefix

    def _start(self, now: float, step: int) -> None:
        """Queue the file's first events: version, resume marker, HParams session start."""
        if self.header_written:
            return
        self.header_written = True
        self.pending.append(_event_bytes(wall_time=now, file_version="brain.Event:2"))
        if self.run.recalled:
            from tensorboard.compat.proto import event_pb2

            # TensorBoard drops every earlier event at or after this step: the redone steps.
            log = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            self.pending.append(_event_bytes(wall_time=now, step=step, session_log=log))
            self.stats = _stats_before(self.run.directory, step)
        self.pending.append(_session_start(self.run, now))

    def _flush_locked(self) -> None:
        self.last_flush = _time()
        pending = self.pending
        count = len(pending)
        if not count:
            return
        records = pending[:count]
        del pending[:count]  # one step under the GIL: an append racing with it is kept
        data = frame_records(records)
        if self.handle is None:
            self._open()
        self.handle.write(data)
        self.handle.flush()
        _write_stats(self.run.directory, dict(self.stats))
        assert self.path is not None
        self.run.wrote(self.path, self.run.directory / SUMMARY_FILE)

    def _open(self) -> None:
        # TensorBoard reads a folder's event files in name order: a resumed run's file must sort
        # after the earlier ones even when they were created within the same second.
        stamp = int(time.time())
        for earlier in event_files(self.run.directory):
            parts = earlier.name.split(".")
            if len(parts) > 3 and parts[3].isdigit():
                stamp = max(stamp, int(parts[3]) + 1)
        host, pid, unique = socket.gethostname(), os.getpid(), id(self) & 0xFFFF
        name = f"events.out.tfevents.{stamp:010d}.{host}.{pid}.{unique}"
        self.path = self.run.directory / name
        self.handle = open(self.path, "ab")  # noqa: SIM115 - kept open for the run's lifetime

    def flush(self) -> None:
        with self.lock:
            if self.active:
                self._flush_locked()

    def _on_end(self, run: Run, status: str) -> None:
        with self.lock:
            if not self.active:
                return
            try:
                if self.header_written:
                    self.pending.append(_session_end(status, time.time()))
                self._flush_locked()
            finally:
                self.active = False
                _unregister(self)
                if self.handle is not None:
                    self.handle.close()
                    self.handle = None


def _stats_before(directory: Path, step: int) -> dict[str, list[Any]]:
    """The summary of what a recalled run logged before ``step`` (what TensorBoard still shows)."""
    import numpy as np

    stats: dict[str, list[Any]] = {}
    for tag, series in read_scalars(directory).items():
        kept = series.steps < step
        if not kept.any():
            continue
        values = series.values[kept]
        numbers = values[~np.isnan(values)]
        low, high = (
            (float(numbers.min()), float(numbers.max())) if len(numbers) else (math.nan,) * 2
        )
        stats[tag] = [float(values[-1]), low, high, int(series.steps[kept][-1]), int(kept.sum())]
    return stats


def _check_step(step: object) -> int:
    try:
        return operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        if isinstance(step, float) and step.is_integer():
            return int(step)
        msg = f"Step {step!r} is not an integer: pass step=<int> to hypertuner.log()."
        raise MetricError(msg, value=step) from None


def _to_float(tag: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        msg = (
            f"Metric {tag!r} has value {value!r} of type {type(value).__name__}, which is not a "
            "number: log a float, an int or a one-element tensor."
        )
        raise MetricError(msg, key=tag, value=value) from None


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)


def _write_stats(directory: Path, stats: Mapping[str, list[Any]]) -> None:
    body = {
        tag: {
            "last": _finite(last),
            "min": _finite(low if low <= high else math.nan),  # only NaN logged: no min or max
            "max": _finite(high if low <= high else math.nan),
            "step": step,
            "count": count,
        }
        for tag, (last, low, high, step, count) in stats.items()
    }
    _files.write_bytes(
        directory / SUMMARY_FILE,
        (json.dumps({"version": 1, "metrics": body}, indent=1) + "\n").encode(),
    )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float, str)) else math.nan


def _load_stats(directory: Path) -> dict[str, list[Any]]:
    stats: dict[str, list[Any]] = {}
    for tag, entry in read_summary(directory).items():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            low, high = _number(entry["min"]), _number(entry["max"])
            stats[tag] = [
                _number(entry["last"]),
                low if low == low else math.inf,  # NaN: no number logged yet
                high if high == high else -math.inf,
                int(entry["step"]),
                int(entry.get("count", 0)),
            ]
    return stats


def read_summary(directory: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Return ``{tag: {"last", "min", "max", "step", "count"}}`` from a run's ``summary.json``.

    Non-finite values are stored as the strings ``'nan'``, ``'inf'`` and ``'-inf'`` and come back
    as floats. A run with no metrics (or an unreadable summary) gives ``{}``; a malformed entry
    (a value that is not a number, a step that is not an integer) is left out.

    Example:
        >>> import tempfile
        >>> read_summary(tempfile.mkdtemp())
        {}
    """
    path = Path(directory) / SUMMARY_FILE
    try:
        data = json.loads(_files.read_regular(path))  # not a link (it may lead out), nor a FIFO
        metrics = data["metrics"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return {}
    if not isinstance(metrics, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for tag, entry in metrics.items():
        checked = _summary_entry(entry)
        if checked is not None:
            out[tag] = checked
    return out


_STEP_LIMIT = 2**63  # a step or count is a 64-bit integer (TensorBoard's step is one)


def _summary_entry(entry: Any) -> dict[str, Any] | None:
    """One metric's entry of ``summary.json`` with ``last``, ``min`` and ``max`` as floats, or
    ``None`` when it is malformed (a tampered file: the metric is left out, the rest is read)."""
    if not isinstance(entry, dict):
        return None
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key in ("last", "min", "max"):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                return None
            try:
                out[key] = float(value)  # 'nan', 'inf' and '-inf' are written as strings
            except (ValueError, OverflowError):
                return None
        elif key in ("step", "count"):
            if type(value) is not int or not -_STEP_LIMIT <= value < _STEP_LIMIT:
                return None
            out[key] = value
        else:
            out[key] = value
    return out


# --- Background flushing -----------------------------------------------------------------------

_live: weakref.WeakSet[_Tracker] = weakref.WeakSet()
_timer: threading.Thread | None = None
_timer_lock = threading.Lock()
_exit_hook = False


def _register(tracker: _Tracker) -> None:
    global _timer, _exit_hook
    with _timer_lock:
        _live.add(tracker)
        if not _exit_hook:  # a run that is never finished still gets its last metrics written
            _exit_hook = True
            atexit.register(_flush_all)
        if _timer is None or not _timer.is_alive():
            _timer = threading.Thread(target=_flush_loop, name="hypertuner-flush", daemon=True)
            _timer.start()


def _flush_all() -> None:
    for tracker in list(_live):
        with contextlib.suppress(OSError, HypertunerError):
            tracker.flush()


def _unregister(tracker: _Tracker) -> None:
    _live.discard(tracker)


def _flush_loop() -> None:
    global _timer
    while True:
        time.sleep(FLUSH_SECONDS / 2)
        with _timer_lock:
            if not _live:  # every run ended: stop until a writer starts again
                _timer = None
                return
        now = time.time()
        for tracker in list(_live):
            if tracker.pending and now - tracker.last_flush >= FLUSH_SECONDS:
                with contextlib.suppress(OSError, HypertunerError):
                    tracker.flush()


def _after_fork_in_child() -> None:
    global _timer
    _timer = None
    for tracker in list(_live):
        tracker.active = False
        tracker.pending = []
    _live.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- Public API --------------------------------------------------------------------------------


def _tracker(run: Run) -> _Tracker:
    tracker = run.__dict__.get(_TRACKER_ATTRIBUTE)
    if tracker is None:
        if run.status != "running":
            msg = (
                f"Run {run.name!r} has ended ({run.status}): metrics can only be logged while a "
                "run is running."
            )
            raise NoRunError(msg, name=run.name)
        tracker = _Tracker(run)
        run.__dict__[_TRACKER_ATTRIBUTE] = tracker
    return tracker


def log(metrics: Mapping[str, Any], step: int | None = None, *, run: Run | None = None) -> None:
    """Log scalar metrics of the current run (or ``run``) at ``step``.

    Every value of one call shares one TensorBoard event. Values may be floats, ints, numpy
    scalars or one-element tensors. Without ``step`` the step after the previous call's is used
    (0 first). Only the run's writing process (global rank zero) writes; elsewhere this returns
    at once.

    Args:
        metrics: ``{name: value}``; names such as ``"loss"`` or ``"val/acc"``.
        step: the global step of these values.
        run: the run to log to (default: :func:`hypertuner.current_run`).

    Raises:
        NoRunError: there is no current run, or ``run`` has ended.
        MetricError: a name is not a non-empty string, a value is not a number, or ``step`` is
            not an integer.

    Example:
        >>> import tempfile, hypertuner
        >>> with hypertuner.start_run({}, name="log", storage=tempfile.mkdtemp()) as run:
        ...     hypertuner.log({"loss": 0.5, "acc": 0.75}, step=10)
        >>> sorted(read_summary(run.directory))
        ['acc', 'loss']
    """
    if run is None:
        run = current_run()
        if run is None:
            msg = (
                "hypertuner.log() needs a run: call hypertuner.parse() or hypertuner.start_run() "
                "first, or pass run=."
            )
            raise NoRunError(msg)
    tracker = run.__dict__.get(_TRACKER_ATTRIBUTE) or _tracker(run)
    if tracker.active:
        tracker.log(metrics, step)
    elif run.rank == 0 and run.status != "running" and os.getpid() == tracker.pid:
        msg = f"Run {run.name!r} has ended ({run.status}): metrics can no longer be logged."
        raise NoRunError(msg, name=run.name)


def watch(run: Run, watcher: Any) -> None:
    """Call ``watcher(metrics, step)`` after every :func:`log` call of ``run`` (a sweep's trial).

    ``watcher`` may raise (:class:`hypertuner.TrialPruned`) once the call's values are written.

    Example:
        >>> import tempfile, hypertuner
        >>> with hypertuner.start_run({}, name="w", storage=tempfile.mkdtemp()) as run:
        ...     watch(run, lambda metrics, step: print(step, dict(metrics)))
        ...     hypertuner.log({"loss": 0.5}, step=3)
        3 {'loss': 0.5}
    """
    tracker = _tracker(run)
    if tracker.active:
        tracker.watch = watcher


def last_value(run: Run, tag: str) -> float | None:
    """The last value of ``tag`` that this process logged to ``run``, or ``None`` when it logged
    none since the run started here.

    Read from memory, so it is there before the next flush. A recalled run's earlier sessions
    do not count (their values are in ``summary.json``), except for the steps before the first
    one this session logged, which the run keeps (as TensorBoard does).

    Example:
        >>> import tempfile, hypertuner
        >>> with hypertuner.start_run({}, name="last", storage=tempfile.mkdtemp()) as run:
        ...     hypertuner.log({"loss": 0.5}, step=0)
        ...     hypertuner.log({"loss": 0.25}, step=1)
        ...     last_value(run, "loss"), last_value(run, "acc")
        (0.25, None)
    """
    tracker = run.__dict__.get(_TRACKER_ATTRIBUTE)
    if tracker is None or not tracker.header_written:  # nothing logged here yet
        return None
    entry = tracker.stats.get(tag)
    return None if entry is None else float(entry[0])


def flush(run: Run | None = None) -> None:
    """Write the logged metrics of ``run`` (default: the current run) to disk now.

    Example:
        >>> flush()  # no current run: nothing to do
    """
    if run is None:
        run = current_run()
    if run is None:
        return
    tracker = run.__dict__.get(_TRACKER_ATTRIBUTE)
    if tracker is not None:
        tracker.flush()
