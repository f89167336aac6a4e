"""Mirroring a run folder to a remote fsspec URL, and bringing runs back (``hypertuner pull``).

The local run folder is the truth and the remote a replica. :func:`mirror_run` watches a run:
each time hypertuner writes files of the run (config, meta, saved models, flushed event files:
every writer calls :meth:`Run.wrote <hypertuner.Run.wrote>`), a background thread copies the
folder's new and changed files to ``<url>/<run>/``. The training thread only sets a flag. A
failed copy is retried with backoff and reported with a
:class:`~hypertuner.errors.HypertunerWarning`; when the run ends, the end waits a bounded time
for the copies still pending.

URLs are any fsspec URL: ``s3://`` (``pip install 'hypertuner[s3]'``, s3fs), ``gs://``
(``pip install 'hypertuner[gcs]'``, gcsfs), ``file://`` and ``memory://``. Credentials and
endpoints come from the filesystem's usual settings (``AWS_*`` variables, ``FSSPEC_S3_ENDPOINT_URL``
and the other ``FSSPEC_<PROTOCOL>_<OPTION>`` variables, fsspec's config files).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _files
from ._deps import require
from ._layout import check_run_name, resolve_run, storage_root
from .errors import (
    ConfigError,
    HypertunerWarning,
    MissingDependencyError,
    OutsideStorageError,
    RemoteStorageError,
    RunInUseError,
    RunNameError,
    RunNotFoundError,
    nearest_hint,
)

if TYPE_CHECKING:
    from .run import Run

__all__ = [
    "EXIT_WAIT",
    "MAX_BACKOFF",
    "MIN_INTERVAL",
    "Mirror",
    "check_url",
    "mirror_run",
    "pull",
    "push",
]

#: Seconds the end of a run waits for pending uploads before it warns and gives up.
EXIT_WAIT = 30.0
#: The longest pause between two retries of failed uploads, in seconds.
MAX_BACKOFF = 30.0
#: The shortest pause between two copy passes, in seconds: writes in between are copied together,
#: so frequent metric flushes cost one upload every two seconds rather than one each.
MIN_INTERVAL = 2.0

# Protocols whose filesystem ships in one of hypertuner's extras: (extra, package).
_EXTRAS = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
}
_SKIPPED = (".lock",)


def _fsspec(feature: str) -> Any:
    return require("fsspec", "s3", feature)


def _protocol(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else "file"


def check_url(url: object) -> str:
    """Return ``url`` if an installed fsspec filesystem can store runs there, else raise.

    Raises:
        ConfigError: ``url`` is not a string, or its scheme is known to no filesystem.
        MissingDependencyError: the scheme's filesystem is not installed (the message names
            the extra, such as ``hypertuner[s3]``).

    Example:
        >>> check_url("memory://backups")
        'memory://backups'
        >>> try:
        ...     check_url("nope://bucket/runs")
        ... except ValueError as err:
        ...     print(str(err).split(":")[0])
        Backup URL 'nope
    """
    if not isinstance(url, str) or not url.strip():
        msg = f"Backup URL {url!r} is not a URL: write one such as 's3://bucket/runs' or 'file:///backups'."
        raise ConfigError(msg, key="run.backup", value=url)
    fsspec = _fsspec("Backing up runs")
    protocol = _protocol(url)
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        msg = (
            f"Backup URL {url!r} has the scheme {protocol + '://'!r}, which no installed "
            "filesystem provides: use s3:// (pip install 'hypertuner[s3]'), gs:// (pip install "
            "'hypertuner[gcs]'), file:// or memory://, or install the fsspec filesystem for it."
        )
        raise ConfigError(msg, key="run.backup", value=url) from None
    except ImportError as exc:
        if protocol in _EXTRAS:
            extra, package = _EXTRAS[protocol]
            msg = (
                f"Backing up to {protocol}:// URLs ({url!r}) needs {package}, which is not "
                f"installed: pip install 'hypertuner[{extra}]'."
            )
            raise MissingDependencyError(msg, module=package, extra=extra, url=url) from None
        detail = str(exc).strip().rstrip(".")
        msg = (
            f"Backing up to {protocol}:// URLs ({url!r}) needs a package that is not installed: "
            f"{detail}."
        )
        raise MissingDependencyError(msg, module=protocol, extra=None, url=url) from None
    return url


def _open_fs(url: str, options: dict[str, Any] | None) -> tuple[Any, str]:
    fsspec = _fsspec("Backing up runs")
    extra = dict(options or {})
    if _protocol(url) in ("file", "local"):
        extra.setdefault("auto_mkdir", True)
    fs, root = fsspec.core.url_to_fs(url, **extra)
    return fs, root.rstrip("/")


def _local_files(directory: Path) -> dict[str, tuple[int, int]]:
    """``{relative posix path: (size, mtime_ns)}`` of the run's files worth copying."""
    found: dict[str, tuple[int, int]] = {}
    stack = [(directory, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            name = entry.name
            if name in _SKIPPED or name.startswith(_files.TEMP_MARK):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), f"{prefix}{name}/"))
            elif entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    stat = entry.stat(follow_symlinks=False)
                    found[prefix + name] = (stat.st_size, stat.st_mtime_ns)
    return found


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Copier:
    """Copies a folder's new and changed files to a remote folder, remembering what it sent."""

    def __init__(self, directory: Path, fs: Any, remote: str) -> None:
        self.directory = directory
        self.fs = fs
        self.remote = remote
        self.sent: dict[str, tuple[int, int]] = {}
        self.failed: dict[str, str] = {}

    def sync(self) -> bool:
        """Copy what changed since the last call; return whether every copy succeeded."""
        files = _local_files(self.directory)
        failed: dict[str, str] = {}
        for rel, signature in files.items():
            if self.sent.get(rel) == signature:
                continue
            local = self.directory / rel
            try:
                self.fs.put_file(str(local), f"{self.remote}/{rel}")
            except FileNotFoundError as exc:
                if not local.exists():
                    continue  # removed locally since the scan (a rotated checkpoint)
                failed[rel] = _error_text(exc)  # the remote's folder or bucket is missing
                continue
            except Exception as exc:
                failed[rel] = _error_text(exc)
                continue
            self.sent[rel] = signature
        for rel in [r for r in self.sent if r not in files]:
            try:  # a file this copier sent and the run has deleted since (an old checkpoint)
                self.fs.rm_file(f"{self.remote}/{rel}")
            except FileNotFoundError:
                pass
            except Exception as exc:
                failed[rel] = _error_text(exc)
                continue
            del self.sent[rel]
        self.failed = failed
        return not failed


class Mirror:
    """A run folder mirrored to ``<url>/<run>/`` by a background thread (see :func:`mirror_run`).

    Attributes:
        url: the remote folder of the run, ``<url>/<run name>``.
        failed: ``{relative path: error}`` of the files whose last copy failed.

    Example:
        >>> import tempfile, hypertuner
        >>> run = hypertuner.start_run({"lr": 0.1}, name="mirrored", storage=tempfile.mkdtemp())
        >>> mirror = mirror_run(run, "memory://doc-backups")
        >>> run.finish()
        >>> sorted(p.rsplit("/", 1)[-1] for p in mirror.copier.fs.find("/doc-backups/mirrored"))
        ['config.json', 'meta.json']
    """

    def __init__(
        self,
        run: Run,
        url: str,
        *,
        storage_options: dict[str, Any] | None = None,
        exit_wait: float = EXIT_WAIT,
        interval: float = MIN_INTERVAL,
    ) -> None:
        fs, root = _open_fs(url, storage_options)
        self.interval = interval
        self.run_name = run.name
        self.base_url = url.rstrip("/")
        self.url = f"{self.base_url}/{run.name}"
        self.exit_wait = exit_wait
        self.copier = _Copier(run.directory, fs, f"{root}/{run.name}")
        self._cond = threading.Condition()
        self._requested = 1  # the first pass copies what the run folder holds already
        self._completed = 0
        self._wake = False
        self._stop = False
        self._warned: set[str] = set()
        self._thread = threading.Thread(
            target=self._loop, name=f"hypertuner-backup-{run.name}", daemon=True
        )
        self._thread.start()
        run.on_write(self._on_write)

    @property
    def failed(self) -> dict[str, str]:
        """``{relative path: error}`` of the files whose last copy failed."""
        return dict(self.copier.failed)

    def request(self) -> None:
        """Ask for a copy of what changed; returns at once."""
        with self._cond:
            self._requested += 1
            self._cond.notify_all()

    def _on_write(self, run: Run, paths: list[Path]) -> None:
        self.request()
        if run.status not in ("running", "ending"):
            self.close()  # the last write of a run: its final meta.json

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until everything asked for so far is copied.

        Example:
            >>> import tempfile, hypertuner
            >>> run = hypertuner.start_run({}, name="waited", storage=tempfile.mkdtemp())
            >>> mirror_run(run, "memory://doc-wait").wait(10)
            True
            >>> run.finish()
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._requested
            self._wake = True
            self._cond.notify_all()
            while self._completed < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout``, default ``exit_wait`` seconds) for pending copies, then stop.

        Files still not copied are named in one :class:`~hypertuner.errors.HypertunerWarning`.
        Returns whether everything was copied.
        """
        if self._stop:
            return not self.copier.failed
        done = self.wait(self.exit_wait if timeout is None else timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if not done:
            pending = self.copier.failed or {
                "(copies in progress)": "still running at the deadline"
            }
            names = ", ".join(sorted(pending))
            reason = next(iter(pending.values()))
            msg = (
                f"Run {self.run_name!r} ended but {len(pending)} file(s) were not backed up to "
                f"{self.url!r}: {names} ({reason}). The local run folder is complete; copy it "
                f"later with: hypertuner push {self.run_name} {self.base_url}"
            )
            warnings.warn(msg, HypertunerWarning, stacklevel=2)
        return done

    def _loop(self) -> None:
        delay = 0.0
        last = float("-inf")
        while True:
            with self._cond:
                if delay:
                    self._cond.wait_for(lambda: self._stop or self._wake, timeout=delay)
                else:
                    self._cond.wait_for(lambda: self._stop or self._requested > self._completed)
                    pause = last + self.interval - time.monotonic()
                    if pause > 0:  # gather the writes of the next moments into one pass
                        self._cond.wait_for(lambda: self._stop or self._wake, timeout=pause)
                if self._stop:
                    return
                self._wake = False
                target = self._requested
            last = time.monotonic()
            ok = self.copier.sync()
            with self._cond:
                if ok:
                    self._completed = max(self._completed, target)
                    self._warned.clear()
                    delay = 0.0
                else:
                    delay = min(max(delay * 2, 0.5), MAX_BACKOFF)
                self._cond.notify_all()
            if not ok:
                self._report(delay)

    def _report(self, delay: float) -> None:
        failed = self.copier.failed
        new = set(failed) - self._warned
        if not new:
            return
        self._warned.update(new)
        names = ", ".join(sorted(failed))
        reason = failed[sorted(new)[0]]
        msg = (
            f"Backup of run {self.run_name!r} to {self.url!r} failed for {names} ({reason}); "
            f"retrying in the background (next in {delay:g} s). Training goes on: the local run "
            "folder is complete."
        )
        # Warnings turned into errors cannot stop this thread; the end of the run warns again,
        # from the thread that ends it, about every file still not copied.
        with contextlib.suppress(Warning):
            warnings.warn(msg, HypertunerWarning, stacklevel=1)


def mirror_run(
    run: Run,
    url: str,
    *,
    storage_options: dict[str, Any] | None = None,
    exit_wait: float = EXIT_WAIT,
) -> Mirror | None:
    """Mirror ``run``'s folder to ``<url>/<run name>/`` from now until it ends.

    A run is mirrored once per URL (a second call returns the same :class:`Mirror`); a process
    that does not write the run (a non-zero rank) mirrors nothing and gets ``None``.

    Args:
        run: the running run.
        url: an fsspec URL (``s3://bucket/runs``, ``gs://bucket/runs``, ``file:///backups``).
        storage_options: keyword arguments for the filesystem (credentials, endpoint).
        exit_wait: seconds the end of the run waits for pending copies.

    Raises:
        ConfigError: the URL's scheme is known to no filesystem.
        MissingDependencyError: the URL's filesystem is not installed.

    Example:
        >>> import tempfile, hypertuner
        >>> run = hypertuner.start_run({}, name="twice", storage=tempfile.mkdtemp())
        >>> mirror_run(run, "memory://doc-twice") is mirror_run(run, "memory://doc-twice")
        True
        >>> run.finish()
    """
    check_url(url)
    if not run.is_writer:
        return None
    mirrors: dict[str, Mirror] = run.meta.setdefault("_mirrors", {})
    key = url.rstrip("/")
    if key not in mirrors:
        mirrors[key] = Mirror(run, url, storage_options=storage_options, exit_wait=exit_wait)
    return mirrors[key]


# ---------------------------------------------------------------------------------------------
# push and pull


def push(
    name: str,
    url: str,
    storage: str | os.PathLike[str] | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
) -> int:
    """Copy the local run ``name`` to ``<url>/<name>/`` now; return the number of files copied.

    Raises:
        RunNotFoundError: no such local run.
        RemoteStorageError: a copy failed (the message names the files).

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({"lr": 0.1}, name="pushed", storage=root).finish()
        >>> push("pushed", "memory://doc-push", root)
        2
    """
    check_url(url)
    directory = resolve_run(name, storage)
    fs, root = _open_fs(url, storage_options)
    copier = _Copier(directory, fs, f"{root}/{name}")
    if not copier.sync():
        names = ", ".join(sorted(copier.failed))
        reason = next(iter(copier.failed.values()))
        where = url.rstrip("/") + "/" + name
        msg = f"Copying run {name!r} to {where!r} failed for {names} ({reason})."
        raise RemoteStorageError(msg, url=url, failed=dict(copier.failed))
    return len(copier.sent)


def _remote_files(fs: Any, remote: str, url: str) -> dict[str, tuple[str, int | None]]:
    """``{relative path: (remote path, size)}`` of the remote run's regular files.

    A link, a FIFO, a device or any other entry that is not a plain file or folder is refused:
    hypertuner never puts one there, and following it would copy what it leads to (a secret
    file, an endless ``/dev/zero``) or wait forever (a FIFO).
    """
    try:
        listing = fs.find(remote, withdirs=True, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:
        msg = f"Cannot list {url!r}: {_error_text(exc)}."
        raise RemoteStorageError(msg, url=url) from exc
    prefix = remote.rstrip("/") + "/"
    out: dict[str, tuple[str, int | None]] = {}
    for key, info in listing.items():
        path = str(key)
        if not path.startswith(prefix):
            continue
        rel = path[len(prefix) :]
        kind = info.get("type") if isinstance(info, dict) else None
        if isinstance(info, dict) and info.get("islink"):  # fsspec lists links without following
            kind = "other"
        if kind == "directory":
            continue
        if kind != "file":
            raise _not_plain(url, rel)
        size = info.get("size") if isinstance(info, dict) else None
        out[rel] = (path, size if isinstance(size, int) and size >= 0 else None)
    return out


def _is_local(fs: Any) -> bool:
    protocol = getattr(fs, "protocol", "")
    names = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return any(n in ("file", "local") for n in names)


def _open_remote(fs: Any, path: str, rel: str, url: str) -> Any:
    """Open a remote file for reading; a local one without following links or blocking."""
    if not _is_local(fs):
        return fs.open(path, "rb")
    try:  # swapped for a link or a FIFO since it was listed: refused all the same
        return os.fdopen(_files.open_regular(path), "rb")
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EINVAL):
            raise _not_plain(url, rel) from None
        raise


def _not_plain(url: str, rel: str) -> RemoteStorageError:
    msg = (
        f"Remote run {url!r} holds {rel!r}, which is a link or not a regular file: "
        "nothing was copied. Remove it from the backup and pull again."
    )
    return RemoteStorageError(msg, url=url, file=rel)


def _copy_bounded(source: Any, sink: Any, size: int | None, rel: str, url: str) -> None:
    """Copy ``source`` to ``sink``, failing once more than the listed ``size`` bytes arrive."""
    copied = 0
    while True:
        chunk = source.read(1 << 20)
        if not chunk:
            return
        copied += len(chunk)
        if size is not None and copied > size:
            msg = (
                f"Remote file {url + '/' + rel!r} sent more than the {size} bytes it was listed "
                "with: nothing was kept. Check that nothing writes to the backup, and pull again."
            )
            raise RemoteStorageError(msg, url=url, file=rel)
        sink.write(chunk)


def _safe_parts(rel: str, url: str) -> list[str]:
    parts = rel.split("/")
    if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts) or len(parts) > 32:
        msg = (
            f"Remote run {url!r} holds the file {rel!r}, whose path would leave the run folder: "
            "nothing was copied. Check what wrote that file."
        )
        raise RemoteStorageError(msg, url=url, file=rel)
    return parts


def _refuse_link(root: Path, path: Path, what: str) -> None:
    """Raise :class:`OutsideStorageError` when ``path`` is a link: pull writes only into the
    storage folder's own folders (a shared folder's link may lead anywhere)."""
    if not os.path.islink(path):
        return
    real = os.path.realpath(path)
    msg = (
        f"{what} ({str(path)!r}) is a link to {real!r}; hypertuner pull never writes through "
        "links in the storage folder. Remove the link, or pull into another --storage."
    )
    raise OutsideStorageError(msg, path=str(path), target=real, storage=str(root))


def pull(
    url: str,
    storage: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> Path:
    """Copy the remote run at ``url`` (``<backup url>/<run>``) into the local storage folder.

    The run lands in ``storage/<run>/``, the last part of the URL being the run's name. A run
    that exists locally is only overwritten with ``force``. A new run appears all at once: a
    failed copy leaves nothing behind. Nothing is written through a link: a run folder, a folder
    in it or the ``.hypertuner`` folder that is a link is refused (a file that is a link is
    replaced).

    Returns:
        The local run folder.

    Raises:
        RunNameError: the URL does not end in a valid run name.
        RunNotFoundError: nothing is stored at ``url`` (the message lists the runs beside it).
        RunInUseError: the run exists locally and ``force`` is false.
        RemoteStorageError: the remote cannot be listed or read, holds an unsafe path, a link
            or anything but plain files and folders (refused before anything is copied), sends
            more bytes than it listed for a file, or the copy cannot be moved into place.
        OutsideStorageError: the run folder, a folder in it or ``.hypertuner`` is a link.

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({"lr": 0.1}, name="round-trip", storage=root).finish()
        >>> push("round-trip", "memory://doc-pull", root)
        2
        >>> target = pull("memory://doc-pull/round-trip", tempfile.mkdtemp())
        >>> sorted(p.name for p in target.iterdir())
        ['config.json', 'meta.json']
    """
    check_url(url)
    clean = url.rstrip("/")
    name = clean.rsplit("/", 1)[-1]
    try:
        check_run_name(name)
    except RunNameError as exc:
        msg = (
            f"URL {url!r} does not end in a run name ({exc.message[:-1]}): write "
            "<backup url>/<run>."
        )
        raise RunNameError(msg, name=name) from None
    fs, remote = _open_fs(clean, storage_options)
    files = _remote_files(fs, remote, clean)
    if "config.json" not in files:
        raise _no_remote_run(fs, remote, clean, name, bool(files))
    plan = {rel: _safe_parts(rel, clean) for rel in files}
    root = storage_root(storage)
    target = root / name
    _refuse_link(root, target, f"Run folder {name!r}")
    exists = target.exists()
    if exists and not force:
        msg = (
            f"Run {name!r} exists already in {str(root)!r}: delete it, pass --force to overwrite "
            "its files with the remote copy, or pull into another --storage."
        )
        raise RunInUseError(msg, name=name)
    destination = target
    if not exists:
        hidden = root / ".hypertuner"
        _refuse_link(root, hidden, "Folder '.hypertuner'")
        staging = hidden / f"pull-{name}-{os.getpid()}"
        _refuse_link(root, staging, f"Folder '.hypertuner/{staging.name}'")
        shutil.rmtree(staging, ignore_errors=True)
        destination = staging
    else:
        for parts in plan.values():  # before anything is copied
            for depth in range(1, len(parts)):
                folder = destination.joinpath(*parts[:depth])
                _refuse_link(root, folder, f"Folder {'/'.join([name, *parts[:depth]])!r}")
    try:
        for rel, parts in plan.items():
            local = destination.joinpath(*parts)
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                path, size = files[rel]
                with (
                    _open_remote(fs, path, rel, clean) as source,
                    _files.atomic_open(local, "wb") as sink,
                ):
                    _copy_bounded(source, sink, size, rel, clean)
            except OSError as exc:
                if isinstance(exc, RemoteStorageError):
                    raise
                msg = f"Cannot copy {clean + '/' + rel!r} to {str(local)!r}: {_error_text(exc)}."
                raise RemoteStorageError(msg, url=clean, file=rel) from exc
            except Exception as exc:
                msg = f"Cannot copy {clean + '/' + rel!r}: {_error_text(exc)}."
                raise RemoteStorageError(msg, url=clean, file=rel) from exc
        if not exists:
            try:
                os.replace(destination, target)
            except OSError as exc:
                msg = (
                    f"Cannot move the pulled copy of {clean!r} from {str(destination)!r} to "
                    f"{str(target)!r}: {_error_text(exc)}. Nothing was kept."
                )
                raise RemoteStorageError(msg, url=clean) from exc
    finally:
        if not exists:
            shutil.rmtree(destination, ignore_errors=True)
    return target


def _no_remote_run(fs: Any, remote: str, url: str, name: str, has_files: bool) -> Exception:
    if has_files:
        msg = f"{url!r} holds files but no config.json: it is not a hypertuner run."
        return RunNotFoundError(msg, name=name, suggestions=[])
    parent = remote.rsplit("/", 1)[0] if "/" in remote else ""
    names: list[str] = []
    with contextlib.suppress(Exception):
        names = sorted(str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(parent, detail=False))
    hint, close = nearest_hint(name, names, listing="Runs there")
    msg = f"No run at {url!r}.{hint}"
    return RunNotFoundError(msg, name=name, suggestions=close)
