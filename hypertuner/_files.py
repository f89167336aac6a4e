"""Files of runs and sweeps: crash-safe writes, folder locks and the timestamps they record.

A process killed at any moment leaves either the old file or the new one, never a mix; an error
while writing leaves the old file byte-identical and removes the temporary file.

Also the checks that keep readers and writers inside the storage folder: :func:`inside` (real
paths), :func:`check_inside`, and opening files without following a link (:func:`open_nofollow`,
:func:`read_inside`, :func:`create_nofollow`). Readers open only regular files, and never wait:
:func:`open_regular` and :func:`read_regular` refuse a link, a FIFO (which would block until a
writer came), a socket, a device or a folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import OutsideStorageError

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


# --- staying inside the storage folder ------------------------------------------------------------
# A storage folder may be shared (a bucket pulled down, a network folder): a link inside it may
# lead anywhere. Readers and writers that serve or change files for the page resolve every path
# and refuse one whose real location leaves the folder, and open files without following a link.

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether ``path``, every link resolved, is ``root`` (resolved) or lies under it.

    Example:
        >>> inside("/srv/runs", "/srv/runs/a/config.json"), inside("/srv/runs", "/srv/runs/../x")
        (True, False)
    """
    base = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def check_inside(root: str | os.PathLike[str], path: str | os.PathLike[str], what: str) -> None:
    """Raise :class:`~hypertuner.errors.OutsideStorageError` when ``path`` leaves ``root``.

    ``what`` names the thing in the message (``"Run folder 'a'"``, ``"Saved config 'x.json'"``).

    Example:
        >>> check_inside("/srv/runs", "/srv/runs/a", "Run folder 'a'")
    """
    if inside(root, path):
        return
    real = os.path.realpath(path)
    msg = (
        f"{what} ({os.fspath(path)!r}) leads outside the storage folder {os.fspath(root)!r}: it "
        f"is a link to {real!r}, and hypertuner does not follow links out of the storage folder. "
        "Remove the link, or copy what it points to into the storage folder."
    )
    raise OutsideStorageError(msg, path=os.fspath(path), target=real, storage=os.fspath(root))


def open_nofollow(path: str | os.PathLike[str], flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """``os.open`` that refuses a link as the last part of ``path`` (``OSError`` ``ELOOP``).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> os.symlink("/etc/hostname", f"{folder}/link")
        >>> try:
        ...     open_nofollow(f"{folder}/link")
        ... except OSError as err:
        ...     print(err.errno == errno.ELOOP)
        True
    """
    if not _NOFOLLOW and os.path.islink(path):  # pragma: no cover - no O_NOFOLLOW (Windows)
        raise OSError(errno.ELOOP, "Too many levels of symbolic links", os.fspath(path))
    return os.open(path, flags | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)


def open_regular(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor of the regular file ``path``, opened without waiting and without
    following a link.

    Raises:
        OSError: ``ELOOP`` for a link, ``EINVAL`` ("Not a regular file") for a FIFO, socket,
            device or folder, or whatever opening the file raises.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> os.mkfifo(f"{folder}/summary.json")
        >>> try:
        ...     open_regular(f"{folder}/summary.json")
        ... except OSError as err:
        ...     print(err.strerror)
        Not a regular file
    """
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    fd = open_nofollow(path, os.O_RDONLY | _NONBLOCK)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        raise OSError(errno.EINVAL, "Not a regular file", os.fspath(path))
    return fd


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_regular`).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> write_bytes(f"{folder}/a.json", b"{}")
        >>> read_regular(f"{folder}/a.json")
        b'{}'
    """
    with os.fdopen(open_regular(path), "rb") as handle:
        return handle.read()


def read_inside(root: str | os.PathLike[str], path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of ``path``, a file that must lie inside ``root`` and must not be a link.

    Raises:
        OutsideStorageError: ``path`` (or a folder above it) leads outside ``root``, or is a link.
        FileNotFoundError: there is no such file.
        OSError: ``path`` is not a regular file (a FIFO, a folder...), or cannot be read.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> write_bytes(f"{folder}/a.json", b"{}")
        >>> read_inside(folder, f"{folder}/a.json", "Saved config 'a.json'")
        b'{}'
    """
    check_inside(root, path, what)
    try:
        fd = open_regular(path)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        check_inside(root, os.path.realpath(path), what)  # raced: it became a link out meanwhile
        msg = (
            f"{what} ({os.fspath(path)!r}) is a link; hypertuner reads the files of the storage "
            "folder themselves, not links. Replace the link with the file."
        )
        raise OutsideStorageError(
            msg, path=os.fspath(path), target=os.path.realpath(path), storage=os.fspath(root)
        ) from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def create_nofollow(path: str | os.PathLike[str]) -> IO[bytes]:
    """A new, empty file at ``path`` for writing; whatever was there (a link too) is replaced,
    never followed.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> os.symlink(f"{folder}/elsewhere", f"{folder}/run.log")
        >>> with create_nofollow(f"{folder}/run.log") as handle:
        ...     _ = handle.write(b"x")
        >>> os.path.islink(f"{folder}/run.log"), os.path.exists(f"{folder}/elsewhere")
        (False, False)
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_umask())
    return os.fdopen(fd, "wb")


def silence_stdout() -> None:
    """Point stdout at ``/dev/null``: our output cannot be written (the reader went away, the
    disk is full), so no traceback, and no second error when Python flushes stdout at exit.

    Example:
        >>> silence_stdout  # doctest: +ELLIPSIS
        <function silence_stdout at ...>
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass
