"""TFRecord framing of TensorBoard event files: CRC32C and the length/data checksums.

A TFRecord is ``uint64 length``, ``uint32 masked CRC32C of the length``, the data, ``uint32
masked CRC32C of the data``. :func:`frame_records` frames a batch for the writer
(:mod:`hypertuner.tracking`); :class:`_BatchCrc` checks many records at once for the reader
(:mod:`hypertuner._eventfile`). Pure Python and numpy: no native CRC package is needed, because
a batch's checksums are computed together, one vector step per byte column.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["crc32c", "frame_records", "masked_crc32c"]

_pack_length = struct.Struct("<Q").pack
_pack_crc = struct.Struct("<I").pack


# --- CRC32C (Castagnoli), pure Python for single records and numpy for batches -------------------

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    """The CRC32C (Castagnoli) checksum of ``data``, in pure Python (for short inputs).

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    table = _TABLE
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC32C that TFRecord framing stores after the length and after the data.

    Example:
        >>> masked_crc32c(b"")
        2726488792
    """
    return _mask(crc32c(data))


class _BatchCrc:
    """CRC32C of many byte strings at once with numpy: one vector step per byte column.

    Records are right-aligned in a matrix. A shorter record starts from the state that turns into
    the standard initial value after its left padding of zero bytes (the zero-byte step of a CRC
    is invertible), so one pass over the columns checks records of any length together.
    """

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.table = np.array(_TABLE, dtype=np.uint32)
        # The inverse of s -> T[s & 0xFF] ^ (s >> 8): the top byte of T[i] is unique per i.
        inverse_top = np.zeros(256, dtype=np.int64)
        inverse_top[self.table >> 24] = np.arange(256)
        self.inverse_top = inverse_top
        self.starts = np.array([0xFFFFFFFF], dtype=np.uint32)

    def _start_states(self, width: int) -> np.ndarray:
        np = self.np
        states = [int(s) for s in self.starts]
        table = _TABLE
        top = self.inverse_top
        while len(states) <= width:
            after = states[-1]
            index = int(top[after >> 24])
            before = (((after ^ table[index]) << 8) & 0xFFFFFFFF) | index
            states.append(before)
        self.starts = np.array(states, dtype=np.uint32)
        return self.starts

    def masked(self, matrix: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Masked CRCs of the rows of ``matrix`` (uint8, right-aligned, ``lengths`` bytes each)."""
        import numpy as np

        width = matrix.shape[1]
        starts = self.starts if len(self.starts) > width else self._start_states(width)
        crc = starts[width - lengths.astype(np.int64)]
        table = self.table
        for column in range(width):
            crc = table[(crc ^ matrix[:, column]) & 0xFF] ^ (crc >> 8)
        crc ^= np.uint32(0xFFFFFFFF)
        masked: np.ndarray = (((crc >> 15) | (crc << 17)) + np.uint32(_MASK_DELTA)).astype(
            np.uint32
        )
        return masked


_batch_crc: _BatchCrc | None = None
_LONG_RECORD = 512  # longer records are checksummed one by one, not in a padded matrix
_CRC_ROWS = 8192  # rows of one padded matrix: bounds its memory


def _batch() -> _BatchCrc:
    global _batch_crc
    if _batch_crc is None:
        _batch_crc = _BatchCrc()
    return _batch_crc


def _header(length: int) -> bytes:
    head = _pack_length(length)
    return head + _pack_crc(masked_crc32c(head))


def frame_records(records: list[bytes]) -> bytes:
    """Frame serialized events as TFRecords: length, masked CRC of it, data, masked CRC of it.

    Small batches are framed in pure Python; larger ones with numpy (the CRC of every record
    at once and the output assembled by scatter), which costs well under a microsecond a record.

    Example:
        >>> frame_records([b"abc"])[:8]
        b'\\x03\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
    """
    if len(records) < 32:
        out: list[bytes] = []
        for data in records:
            out += (_header(len(data)), data, _pack_crc(masked_crc32c(data)))
        return b"".join(out)
    batch = _batch()
    np = batch.np
    count = len(records)
    lengths = np.fromiter(map(len, records), dtype=np.int64, count=count)
    unique = np.unique(lengths)
    if len(unique) == 1 and unique[0] <= _LONG_RECORD:  # one size: everything is a matrix
        size = int(unique[0])
        data = np.frombuffer(b"".join(records), dtype=np.uint8).reshape(count, size)
        crcs = batch.masked(data, lengths).astype("<u4").view(np.uint8).reshape(count, 4)
        table = np.empty((count, size + 16), dtype=np.uint8)
        table[:, :12] = np.frombuffer(_header(size), dtype=np.uint8)
        table[:, 12 : 12 + size] = data
        table[:, 12 + size :] = crcs
        framed: bytes = table.tobytes()
        return framed
    # Several sizes: each size's records framed as one matrix (their CRCs at once, or one by
    # one for a rare size or a long record), whose rows are then scattered to their places.
    sizes = lengths + 16
    starts = np.cumsum(sizes) - sizes
    joined = np.empty(int(sizes.sum()), dtype=np.uint8)
    for size in unique.tolist():
        rows = np.flatnonzero(lengths == size)
        data = np.frombuffer(b"".join([records[i] for i in rows.tolist()]), dtype=np.uint8)
        data = data.reshape(len(rows), size)
        if size > _LONG_RECORD or len(rows) < 32:
            crc = np.array([masked_crc32c(records[i]) for i in rows.tolist()], dtype=np.uint32)
        else:
            crc = batch.masked(data, lengths[rows])
        table = np.empty((len(rows), size + 16), dtype=np.uint8)
        table[:, :12] = np.frombuffer(_header(size), dtype=np.uint8)
        table[:, 12 : 12 + size] = data
        table[:, 12 + size :] = crc.astype("<u4").view(np.uint8).reshape(len(rows), 4)
        joined[starts[rows][:, None] + np.arange(size + 16)] = table
    mixed: bytes = joined.tobytes()
    return mixed
