"""Reading TensorBoard event files back fast, every checksum checked.

The records are TFRecords (see :mod:`hypertuner._tfrecord`, which also frames them for the
writer). :func:`read_scalars` checks both checksums of every record and decodes the common
scalar ``Event`` layout with numpy, a whole file at a time:

1. the records are located by predicting the next block of lengths from the repeating pattern of
   the previous ones and verifying the prediction for thousands of records at once (a Python walk
   takes over where the pattern breaks);
2. every record's two checksums are computed together (``_tfrecord._BatchCrc``), on zero-copy
   strided views of the runs of equally sized, evenly spaced records;
3. ``wall_time``, ``step`` and each ``Summary.Value(tag, simple_value)`` are decoded with vector
   operations; any other record (file version, HParams, ``SessionLog``, tensors) goes through
   tensorboard's own ``Event`` message.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import struct
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _files
from ._tfrecord import (
    _CRC_ROWS,
    _LONG_RECORD,
    _batch,
    _header,
    crc32c,
    frame_records,
    masked_crc32c,
)
from .errors import HypertunerWarning

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Series",
    "crc32c",
    "event_files",
    "frame_records",
    "masked_crc32c",
    "read_scalars",
]

_unpack_length = struct.Struct("<Q").unpack_from
_EVENT_FILE = re.compile(r"events\.out\.tfevents\.(\d+)\.")


# --- Reading ------------------------------------------------------------------------------------


class Series(NamedTuple):
    """One tag's scalar series: ``steps`` (int64, ascending) and their ``values`` (float64)."""

    steps: np.ndarray
    values: np.ndarray


def event_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The TensorBoard event files directly in ``directory``, oldest first.

    A link is never an event file of the run (it may lead out of the storage folder): skipped.

    Example:
        >>> import tempfile
        >>> event_files(tempfile.mkdtemp())
        []
    """

    def order(path: Path) -> tuple[int, float, str]:
        match = _EVENT_FILE.match(path.name)
        stamp = int(match.group(1)) if match else 0
        with contextlib.suppress(OSError):
            return stamp, path.stat().st_mtime, path.name
        return stamp, 0.0, path.name

    try:
        found = [
            p
            for p in Path(directory).iterdir()
            if "tfevents" in p.name and p.is_file() and not p.is_symlink()
        ]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found, key=order)


_SEQ_RECORD = 1 << 16  # entry order key: record * _SEQ_RECORD + value index within the record


def _period(lengths: list[int]) -> int:
    """The smallest period (up to 32) of the tail of ``lengths``, or 0 when there is none."""
    size = len(lengths)
    for period in range(1, min(33, size // 2 + 1)):
        if all(lengths[i] == lengths[i - period] for i in range(size - 1, period - 1, -1)):
            return period
    return 0


def _locate(data: bytes, buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the data offsets and lengths of the complete records, and where they end."""
    import numpy as np

    size = len(data)
    starts: list[Any] = []
    lengths: list[Any] = []
    pos = 0
    probe = 64
    while pos + 12 <= size:
        walked_starts: list[int] = []
        walked_lengths: list[int] = []
        truncated = False
        while len(walked_lengths) < probe and pos + 12 <= size:
            length = _unpack_length(data, pos)[0]
            if pos + 16 + length > size:
                truncated = True
                break
            walked_starts.append(pos + 12)
            walked_lengths.append(length)
            pos += 16 + length
        starts.append(np.array(walked_starts, dtype=np.int64))
        lengths.append(np.array(walked_lengths, dtype=np.int64))
        if truncated or len(walked_lengths) < probe:
            break
        period = _period(walked_lengths)
        if not period:
            continue
        pattern = np.array(walked_lengths[-period:], dtype=np.int64)
        block = int(pattern.sum()) + 16 * period
        inside = np.concatenate(([0], np.cumsum(pattern[:-1] + 16)))
        limit = 64  # blocks to predict; grows while the pattern holds, so a file whose
        while True:  # pattern keeps breaking costs a little per break, not a whole-file check
            blocks = min((size - pos) // block, limit)
            if not blocks:
                break
            heads = pos + np.arange(blocks, dtype=np.int64)[:, None] * block + inside
            found = buffer[heads.reshape(-1, 1) + np.arange(8)].view("<u8").reshape(blocks, period)
            matches = (found == pattern.astype(np.uint64)).all(axis=1)
            good_blocks = blocks if matches.all() else int(np.argmin(matches))
            if good_blocks:
                starts.append((heads[:good_blocks] + 12).ravel())
                lengths.append(np.tile(pattern, good_blocks))
                pos += good_blocks * block
            if good_blocks < blocks:
                break
            limit *= 8
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, 0
    all_starts = np.concatenate(starts)
    all_lengths = np.concatenate(lengths)
    end = int(all_starts[-1] + all_lengths[-1] + 4) if len(all_starts) else 0
    return all_starts, all_lengths, end


def _gather(buffer: np.ndarray, positions: np.ndarray, width: int) -> np.ndarray:
    """Bytes ``positions[i] + 0..width-1`` of ``buffer`` (0 past its end): an (n, width) array."""
    import numpy as np

    index = positions[:, None] + np.arange(width)
    inside = index < len(buffer)
    out = buffer[np.where(inside, index, 0)]
    out[~inside] = 0
    return out


def _varints(buffer: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode the varints at ``positions``: (values as int64, encoded sizes; 0 where invalid)."""
    import numpy as np

    raw = _gather(buffer, positions, 10).astype(np.uint64)
    more = raw >= 0x80
    size = np.argmin(more, axis=1) + 1  # first byte without the continuation bit
    size[more.all(axis=1)] = 0
    value = np.zeros(len(positions), dtype=np.uint64)
    for i in range(10):
        used = i < size
        value |= np.where(used, (raw[:, i] & np.uint64(0x7F)) << np.uint64(7 * i), np.uint64(0))
    return value.view(np.int64), size


class _Run(NamedTuple):
    """Records of one length at evenly spaced offsets: a zero-copy (count, length) view."""

    rows: np.ndarray
    first: int
    stride: int
    length: int


def _runs(starts: np.ndarray, lengths: np.ndarray, minimum: int = 32) -> list[_Run]:
    """Split the records into runs of equal length and equal spacing (``minimum`` or more)."""
    import numpy as np

    if len(starts) < minimum:
        return []
    order = np.lexsort((starts, lengths))
    ordered_starts, ordered_lengths = starts[order], lengths[order]
    gaps = np.diff(ordered_starts)
    breaks = np.ones(len(order), dtype=bool)
    breaks[1:] = ordered_lengths[1:] != ordered_lengths[:-1]
    breaks[2:] |= gaps[1:] != gaps[:-1]
    edges = [*np.flatnonzero(breaks).tolist(), len(order)]
    runs = []
    for begin, end in itertools.pairwise(edges):
        if end - begin >= minimum:
            runs.append(
                _Run(
                    order[begin:end],
                    int(ordered_starts[begin]),
                    int(gaps[begin]),
                    int(ordered_lengths[begin]),
                )
            )
    return runs


def _view(buffer: np.ndarray, run: _Run, offset: int = 0, width: int | None = None) -> np.ndarray:
    from numpy.lib.stride_tricks import as_strided

    width = run.length if width is None else width
    base = buffer[run.first + offset :]
    return as_strided(base, shape=(len(run.rows), width), strides=(run.stride, 1), writeable=False)


def _layout(record: bytes) -> tuple[int, int, list[tuple[str, int]]] | None:
    """The simple scalar layout of ``record``: (step offset, step size, [(tag, float offset)])."""
    size = len(record)
    if size < 12 or record[0] != 0x09:
        return None
    p = 9
    step_at, step_size = 0, 0
    if record[p] == 0x10:
        q = p + 1
        while q < size and record[q] >= 0x80:
            q += 1
        if q >= size:
            return None
        step_at, step_size = p + 1, q - p
        p = q + 1
    if p + 2 > size or record[p] != 0x2A:
        return None
    body = record[p + 1]
    p += 2
    if body >= 0x80:
        if p >= size or record[p] >= 0x80:
            return None
        body = (body & 0x7F) | (record[p] << 7)
        p += 1
    if p + body != size:
        return None
    values = []
    while p < size:
        if p + 4 > size or record[p] != 0x0A or record[p + 2] != 0x0A:
            return None
        value_size, tag_size = record[p + 1], record[p + 3]
        tag_end = p + 4 + tag_size
        if value_size != tag_size + 7 or tag_end + 5 > size or record[tag_end] != 0x15:
            return None
        try:
            tag = record[p + 4 : tag_end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        values.append((tag, tag_end + 1))
        p = tag_end + 5
    return step_at, step_size, values


def _decode_run(buffer: np.ndarray, run: _Run, good: np.ndarray) -> tuple[np.ndarray, Any] | None:
    """Decode a run whose records share one layout; return (decoded mask, entries) or None."""
    import numpy as np

    view = _view(buffer, run)
    layout = _layout(view[0].tobytes())
    if layout is None:
        return None
    step_at, step_size, values = layout
    variable = set(range(1, 9)) | set(range(step_at, step_at + step_size))
    for _, at in values:
        variable.update(range(at, at + 4))
    reference = view[0]
    ok = good[run.rows].copy()
    for column in range(run.length):
        if column not in variable:
            ok &= view[:, column] == reference[column]
    step = np.zeros(len(run.rows), dtype=np.uint64)
    for i in range(step_size):
        byte = view[:, step_at + i]
        ok &= (byte >= 0x80) if i < step_size - 1 else (byte < 0x80)
        step |= (byte & 0x7F).astype(np.uint64) << np.uint64(7 * i)
    rows = run.rows[ok]
    steps = step[ok].view(np.int64)
    entries = [
        (rows, steps, tag, index, np.ascontiguousarray(view[ok, at : at + 4]).view("<f4").ravel())
        for index, (tag, at) in enumerate(values)
    ]
    return ok, entries


class _Decoded(NamedTuple):
    tag_names: list[str]
    tag: np.ndarray
    step: np.ndarray
    value: np.ndarray
    seq: np.ndarray
    purges: list[tuple[int, int]]


def _decode(
    data: bytes,
    buffer: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    good: np.ndarray,
    runs: list[_Run],
    path: Path,
) -> _Decoded:
    """Decode the scalars of the good records; ``seq`` orders them as written."""
    import numpy as np

    names: list[str] = []
    lookup: dict[str, int] = {}
    done = np.zeros(len(starts), dtype=bool)
    parts_seq, parts_step, parts_tag, parts_value = [], [], [], []
    for run in runs:
        decoded = _decode_run(buffer, run, good)
        if decoded is None:
            continue
        ok, entries = decoded
        done[run.rows[ok]] = True
        for rows, steps, tag_name, index, values in entries:
            tag_id = lookup.setdefault(tag_name, len(lookup))
            if tag_id == len(names):
                names.append(tag_name)
            parts_seq.append(rows * _SEQ_RECORD + index)
            parts_step.append(steps)
            parts_tag.append(np.full(len(rows), tag_id, dtype=np.int64))
            parts_value.append(values.astype(np.float64))
    generic = _decode_generic(data, buffer, starts, lengths, good & ~done, path, names, lookup)
    parts_seq.append(generic.seq)
    parts_step.append(generic.step)
    parts_tag.append(generic.tag)
    parts_value.append(generic.value)
    return _Decoded(
        names,
        np.concatenate(parts_tag),
        np.concatenate(parts_step),
        np.concatenate(parts_value),
        np.concatenate(parts_seq),
        generic.purges,
    )


def _decode_generic(
    data: bytes,
    buffer: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    good: np.ndarray,
    path: Path,
    names: list[str],
    lookup: dict[str, int],
) -> _Decoded:
    """Decode records of any layout: simple scalar events vectorized, the rest one by one."""
    import numpy as np

    ends = starts + lengths
    count = len(starts)
    at = np.minimum(starts, len(buffer) - 1) if len(buffer) else starts
    wall = (buffer[at] == 0x09) & (lengths >= 9) if count else np.zeros(0, bool)
    cursor = starts + 9 * wall
    has_step = (cursor < ends) & (buffer[np.minimum(cursor, len(buffer) - 1)] == 0x10)
    step, step_size = _varints(buffer, cursor + 1)
    step = np.where(has_step, step, 0)
    fast = good & ~(has_step & (step_size == 0))
    cursor = cursor + np.where(has_step, 1 + step_size, 0)
    fast &= (cursor < ends) & (buffer[np.minimum(cursor, len(buffer) - 1)] == 0x2A)
    body, body_size = _varints(buffer, cursor + 1)
    cursor = cursor + 1 + body_size
    fast &= (body_size > 0) & (cursor + body == ends)
    # Summary values, one per pass over the records that still have bytes left.
    entry_record, entry_tag_at, entry_tag_size, entry_order = [], [], [], []
    rows = np.flatnonzero(fast)
    position = cursor[rows]
    index = 0
    while len(rows):
        head = _gather(buffer, position, 4).astype(np.int64)
        tag_size = head[:, 3]
        tag_end = position + 4 + tag_size
        ok = (
            (head[:, 0] == 0x0A)
            & (head[:, 2] == 0x0A)
            & (head[:, 1] == tag_size + 7)
            & (tag_end + 5 <= ends[rows])
        )
        ok[ok] &= buffer[tag_end[ok]] == 0x15
        fast[rows[~ok]] = False
        rows, position, tag_size = rows[ok], position[ok], tag_size[ok]
        entry_record.append(rows)
        entry_tag_at.append(position + 4)
        entry_tag_size.append(tag_size)
        entry_order.append(np.full(len(rows), index, dtype=np.int64))
        position = position + 9 + tag_size
        more = position < ends[rows]
        rows, position = rows[more], position[more]
        index += 1
    record = np.concatenate(entry_record) if entry_record else np.zeros(0, np.int64)
    tag_at = np.concatenate(entry_tag_at) if entry_tag_at else np.zeros(0, np.int64)
    tag_size = np.concatenate(entry_tag_size) if entry_tag_size else np.zeros(0, np.int64)
    order = np.concatenate(entry_order) if entry_order else np.zeros(0, np.int64)
    keep = fast[record]  # a record that failed a later value goes the slow way as a whole
    record, tag_at, tag_size, order = record[keep], tag_at[keep], tag_size[keep], order[keep]
    value = _gather(buffer, tag_at + tag_size + 1, 4).view("<f4").ravel().astype(np.float64)
    # Tags: unique byte strings (with their size, so trailing NULs cannot collide).
    tag = np.zeros(len(record), dtype=np.int64)
    if len(record):
        width = int(tag_size.max()) + 1
        matrix = _gather(buffer, tag_at, width)
        matrix[np.arange(width) >= tag_size[:, None]] = 0
        matrix[:, -1] = tag_size.astype(np.uint8)
        rows_void = np.ascontiguousarray(matrix).view(np.dtype((np.void, width))).ravel()
        _, first, inverse = np.unique(rows_void, return_index=True, return_inverse=True)
        ids = []
        for position_index in first.tolist():
            start, size = int(tag_at[position_index]), int(tag_size[position_index])
            name = data[start : start + size].decode("utf-8", "replace")
            ids.append(lookup.setdefault(name, len(lookup)))
            if ids[-1] == len(names):
                names.append(name)
        tag = np.array(ids, dtype=np.int64)[inverse.ravel()]
    seq = record * _SEQ_RECORD + order
    step_out = step[record]
    # The rest, one by one with tensorboard's message.
    slow = np.flatnonzero(good & ~fast)
    purges: list[tuple[int, int]] = []
    if len(slow):
        extra = _decode_slow(data, starts, lengths, slow, names, lookup, path)
        if extra[0]:
            seq = np.concatenate([seq, np.array(extra[0], dtype=np.int64)])
            step_out = np.concatenate([step_out, np.array(extra[1], dtype=np.int64)])
            tag = np.concatenate([tag, np.array(extra[2], dtype=np.int64)])
            value = np.concatenate([value, np.array(extra[3], dtype=np.float64)])
        purges = extra[4]
    return _Decoded(names, tag, step_out, value, seq, purges)


def _decode_slow(
    data: bytes,
    starts: np.ndarray,
    lengths: np.ndarray,
    rows: np.ndarray,
    names: list[str],
    lookup: dict[str, int],
    path: Path,
) -> tuple[list[int], list[int], list[int], list[float], list[tuple[int, int]]]:
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
    from tensorboard.compat.proto import event_pb2  # type: ignore[import-untyped]

    seq: list[int] = []
    steps: list[int] = []
    tags: list[int] = []
    values: list[float] = []
    purges: list[tuple[int, int]] = []
    for row in rows.tolist():
        start = int(starts[row])
        try:
            event = event_pb2.Event.FromString(data[start : start + int(lengths[row])])
        except DecodeError:
            warnings.warn(
                f"Event file {str(path)!r}: record {row} passed its checksums but is not a "
                "TensorBoard event; it was skipped.",
                HypertunerWarning,
                stacklevel=4,
            )
            continue
        if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
            purges.append((row * _SEQ_RECORD, event.step))
        if not event.HasField("summary"):
            continue
        for index, value in enumerate(event.summary.value):
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                number: float | None = float(value.simple_value)
            elif kind == "tensor" and value.metadata.plugin_data.plugin_name == "scalars":
                number = _tensor_scalar(value.tensor)
            else:
                number = None
            if number is None:
                continue
            tag_id = lookup.get(value.tag)
            if tag_id is None:
                tag_id = lookup[value.tag] = len(names)
                names.append(value.tag)
            seq.append(row * _SEQ_RECORD + index)
            steps.append(event.step)
            tags.append(tag_id)
            values.append(number)
    return seq, steps, tags, values, purges


def _tensor_scalar(tensor: Any) -> float | None:
    if tensor.float_val:
        return float(tensor.float_val[0])
    if tensor.double_val:
        return float(tensor.double_val[0])
    if tensor.tensor_content:
        import numpy as np

        kinds = {1: np.float32, 2: np.float64, 19: np.float16}
        kind = kinds.get(tensor.dtype)
        content = tensor.tensor_content
        # Content that is not whole values of its dtype (a cut or forged record) is unreadable.
        if kind is not None and len(content) % np.dtype(kind).itemsize == 0:
            return float(np.frombuffer(content, dtype=kind)[0])
    return None


def _check_crcs(
    buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray, runs: list[_Run]
) -> tuple[np.ndarray, np.ndarray]:
    """Return two bool masks: records whose length checksum holds, and whose data one does."""
    import numpy as np

    count = len(starts)
    good = np.ones(count, dtype=bool)
    if not count:
        return good, good.copy()
    unique, inverse = np.unique(lengths, return_inverse=True)
    expected = np.array([int.from_bytes(_header(int(n))[8:], "little") for n in unique], np.uint32)
    stored = buffer[(starts - 4)[:, None] + np.arange(4)].view("<u4").ravel()
    heads = stored == expected[inverse.ravel()]
    stored = buffer[(starts + lengths)[:, None] + np.arange(4)].view("<u4").ravel()
    batch = _batch()
    covered = np.zeros(count, dtype=bool)
    for run in runs:
        if run.length <= 4096:
            view = _view(buffer, run)
            good[run.rows] = (
                batch.masked(view, np.full(len(run.rows), run.length)) == stored[run.rows]
            )
            covered[run.rows] = True
    long = (lengths > _LONG_RECORD) & ~covered
    for index in np.flatnonzero(long).tolist():
        start, length = int(starts[index]), int(lengths[index])
        good[index] = masked_crc32c(buffer[start : start + length].tobytes()) == int(stored[index])
    short = np.flatnonzero(~long & ~covered)
    chunk = _CRC_ROWS
    for first in range(0, len(short), chunk):
        rows = short[first : first + chunk]
        row_lengths = lengths[rows]
        width = int(row_lengths.max())
        columns = np.arange(width)
        padding = (width - row_lengths)[:, None]
        matrix = buffer[np.maximum(starts[rows][:, None] - padding + columns, 0)]
        matrix[columns < padding] = 0
        good[rows] = batch.masked(matrix, row_lengths) == stored[rows]
    return heads, good


def _read_file(path: Path) -> _Decoded:
    """Read one event file: its scalars in write order, with lost records reported."""
    import numpy as np

    data = _files.read_regular(path)  # swapped for a link or a FIFO since listed: not read
    buffer = np.frombuffer(data, dtype=np.uint8)
    starts, lengths, end = _locate(data, buffer)
    runs = _runs(starts, lengths)
    heads, good = _check_crcs(buffer, starts, lengths, runs)
    count = len(starts)
    tail_from = count  # the first record of a lost tail
    if not heads.all():
        # A bad length checksum: that length, and so every record after it, cannot be trusted.
        tail_from = int(np.argmin(heads))
        good[tail_from:] = False
        end = int(starts[tail_from]) - 12
    tail = len(data) - end  # bytes from the first lost tail record (or a partial one) on
    lost_tail = count - tail_from if tail_from < count else (1 if tail else 0)
    lost = int((~good[:tail_from]).sum()) + lost_tail
    if lost:
        where = f", the last {tail} bytes" if tail else ""
        warnings.warn(
            f"Event file {str(path)!r} is truncated or corrupt (a run killed while writing?): "
            f"skipped {lost} record(s){where}; the other records were read.",
            HypertunerWarning,
            stacklevel=3,
        )
    return _decode(data, buffer, starts, lengths, good, runs, path)


def _unpurged(seq: np.ndarray, step: np.ndarray, purges: list[tuple[int, int]]) -> np.ndarray:
    """Mask of the values no later ``SessionLog.START`` hides: a START at step ``s`` hides every
    value written before it whose step is ``s`` or more (TensorBoard's purge).

    A value is hidden when its step reaches the smallest step of the STARTs written after it,
    so one sort of the STARTs and a running minimum from the end decide every value at once.
    """
    import numpy as np

    keep = np.ones(len(step), dtype=bool)
    if not purges:
        return keep
    table = np.array(sorted(purges), dtype=np.int64).reshape(-1, 2)
    at, purge_step = table[:, 0], table[:, 1]
    lowest_from = np.minimum.accumulate(purge_step[::-1])[::-1]  # min step of STARTs i, i+1, ...
    first_after = np.searchsorted(at, seq, side="right")  # the first START written after it
    later = first_after < len(at)
    keep[later] = step[later] < lowest_from[first_after[later]]
    return keep


def read_scalars(
    directory: str | os.PathLike[str], *, tags: Iterable[str] | None = None
) -> dict[str, Series]:
    """Read the scalar series of a run folder's event files: ``{tag: Series(steps, values)}``.

    Every record's checksums are verified. Each ``(tag, step)`` appears once with its latest
    value, and a resumed run's ``SessionLog.START`` marker hides the older values at and after
    its step, as in TensorBoard. HParams and non-scalar summaries are not returned. Scalars
    written as ``simple_value`` or as scalar tensors (``new_style``) are both read.

    Args:
        directory: a run folder (``storage/<run>``).
        tags: only these tags (default: all).

    Warns:
        HypertunerWarning: a file has a corrupt or truncated part (named, with the number of
            records lost); the other records are still returned.

    Example:
        >>> import tempfile, hypertuner
        >>> with hypertuner.start_run({}, name="s", storage=tempfile.mkdtemp()) as run:
        ...     hypertuner.log({"loss": 1.0}, step=0)
        ...     hypertuner.log({"loss": 0.5}, step=1)
        >>> series = read_scalars(run.directory)["loss"]
        >>> series.steps.tolist(), series.values.tolist()
        ([0, 1], [1.0, 0.5])
    """
    import numpy as np

    wanted = set(tags) if tags is not None else None
    parts_tag, parts_step, parts_value, parts_seq = [], [], [], []
    purges: list[tuple[int, int]] = []
    names: dict[str, int] = {}
    for file_index, path in enumerate(event_files(directory)):
        decoded = _read_file(path)
        base = file_index << 42
        remap = np.array([names.setdefault(n, len(names)) for n in decoded.tag_names] or [0])
        parts_tag.append(remap[decoded.tag])
        parts_step.append(decoded.step)
        parts_value.append(decoded.value)
        parts_seq.append(decoded.seq + base)
        purges.extend((base + at, step) for at, step in decoded.purges)
    if not names:
        return {}
    tag = np.concatenate(parts_tag)
    step = np.concatenate(parts_step)
    values = np.concatenate(parts_value)
    seq = np.concatenate(parts_seq)
    keep = _unpurged(seq, step, purges)
    out: dict[str, Series] = {}
    for name, tag_id in sorted(names.items()):
        if wanted is not None and name not in wanted:
            continue
        mine = keep & (tag == tag_id)
        tag_steps, tag_values, tag_seq = step[mine], values[mine], seq[mine]
        if not len(tag_steps):
            continue
        by_step = np.lexsort((tag_seq, tag_steps))
        tag_steps, tag_values = tag_steps[by_step], tag_values[by_step]
        last = np.ones(len(tag_steps), dtype=bool)
        last[:-1] = tag_steps[1:] != tag_steps[:-1]  # keep the latest write of each step
        out[name] = Series(tag_steps[last], tag_values[last])
    return out
