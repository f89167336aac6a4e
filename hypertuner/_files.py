"""Files of runs and sweeps: crash-safe writes, folder locks and the timestamps they record.

A process killed at any moment leaves either the old file or the new one, never a mix; an error
while writing leaves the old file byte-identical and removes the temporary file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TEMP_MARK = ".tmp-hypertuner-"


def now() -> str:
    """The local time with its UTC offset, to the millisecond, as run and sweep files record it.

    Example:
        >>> now()[:2] == "20" and now()[10] == "T"
        True
    """
    import datetime

    return (
        datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="milliseconds")
    )


def _umask() -> int:
    # os.umask can only be read by setting it; read it once per process and put it straight back.
    global _UMASK
    if _UMASK is None:
        current = os.umask(0o022)
        os.umask(current)
        _UMASK = current
    return _UMASK


_UMASK: int | None = None


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it atomically becomes ``path``.

    The temporary file gets the permissions a normally created file would (0666 less the
    umask), not the 0600 of ``mkstemp``.
    """
    target = Path(path)
    temp = target.with_name(f"{TEMP_MARK}{target.name}.{os.getpid()}.{time.monotonic_ns()}")
    # Read-write, so a writer may read back what it wrote (the saver hashes it alongside).
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_directory(target.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` crash-safely."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``value`` as indented JSON to ``path`` crash-safely."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"
    write_bytes(path, text.encode("utf-8"))


def lock_folder(directory: str | os.PathLike[str]) -> int | None:
    """Take the exclusive lock on ``directory/.lock``; return its descriptor, or ``None`` when
    another process holds it. Closing the descriptor releases the lock (also when the process
    dies, so a killed process never leaves a stale lock)."""
    fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except ImportError:  # pragma: no cover - no flock (Windows): the mkdir claim protects names
        pass
    return fd


def remove_stale_temporaries(directory: str | os.PathLike[str]) -> int:
    """Delete the temporary files that killed writers left in ``directory``; return how many.

    The writer's process id is part of the temporary name: a file of a process that is still
    alive (a save in progress) is kept.
    """
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not entry.name.startswith(TEMP_MARK) or not entry.is_file(follow_symlinks=False):
            continue
        parts = entry.name.rsplit(".", 2)
        pid = int(parts[-2]) if len(parts) == 3 and parts[-2].isdigit() else -1
        if pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
