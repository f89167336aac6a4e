"""The run directory on disk: safe run names, the storage folder, finding and reading runs.

Everything here reads storage as untrusted input and writes nothing, so every layer above
(starting runs, saving, mirroring, comparing, the command line and the page) can use it.

Example:
    >>> import tempfile
    >>> check_run_name("big-lr0.1"), list_runs(tempfile.mkdtemp())
    ('big-lr0.1', [])
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import _files
from .errors import ConfigError, HypertunerWarning, RunNameError, RunNotFoundError, nearest_hint

__all__ = ["check_run_name", "host", "list_runs", "resolve_run", "status_of", "storage_root"]

_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def check_run_name(name: object) -> str:
    """Return ``name`` if it is a safe run folder name, else raise :class:`RunNameError`.

    Allowed: letters, digits, ``.``, ``_`` and ``-``; no leading ``.`` or ``-`` (a command line
    would read ``-x`` as an option), at most 200 characters.

    Raises:
        RunNameError: the name could escape the storage folder or is not a plain folder name.

    Example:
        >>> check_run_name("big-lr0.1")
        'big-lr0.1'
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.startswith((".", "-")):
        msg = (
            f"Run name {name!r} is not allowed: use letters, digits, '.', '_' and '-' only "
            "(at most 200 characters, not starting with '.' or '-')."
        )
        raise RunNameError(msg, name=name)
    return name


def storage_root(storage: str | os.PathLike[str] | None = None) -> Path:
    """The absolute storage folder: ``storage``, else ``$HYPERTUNER_STORAGE``, else ``./storage``.

    Raises:
        ConfigError: ``storage`` is a URL (mirror runs to one with ``run.backup`` instead).

    Example:
        >>> storage_root("/tmp/runs").as_posix()
        '/tmp/runs'
    """
    chosen = (
        storage if storage not in (None, "") else os.environ.get("HYPERTUNER_STORAGE") or "storage"
    )
    text = os.fspath(chosen)
    if "://" in text:
        msg = (
            f"Storage {text!r} is a URL, but runs are written to a local folder. Keep a local "
            "storage folder and mirror runs there with run.backup=URL (hypertuner pull brings "
            "one back)."
        )
        raise ConfigError(msg, key="run.storage", value=text)
    return Path(os.path.abspath(text))


#: The file that marks a sweep's folder in the storage folder (a sweep is not a run).
SWEEP_FILE = "sweep.json"


def make_storage(root: Path) -> None:
    """Create the storage folder ``root`` (and its parents) if need be.

    Raises:
        ConfigError: ``root`` is a file, or cannot be created or written (the message says
            which and why).

    Example:
        >>> import tempfile, pathlib
        >>> make_storage(pathlib.Path(tempfile.mkdtemp()) / "runs")
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _storage_error(root, exc) from None


def _storage_error(root: Path, exc: OSError) -> ConfigError:
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        why = "it (or a folder above it) is a file, not a folder"
    elif isinstance(exc, PermissionError):
        why = "permission denied"
    else:
        why = f"it cannot be created ({exc.strerror or type(exc).__name__})"
    msg = f"Storage folder '{root}' cannot be used: {why}. Choose another with --storage."
    return ConfigError(msg, key="run.storage", value=str(root))


def host() -> str:
    """This machine's host name, as ``meta.json`` records it.

    Example:
        >>> isinstance(host(), str)
        True
    """
    if hasattr(os, "uname"):
        return os.uname().nodename  # the same as socket.gethostname(), without importing socket
    import socket  # pragma: no cover - Windows

    return socket.gethostname()


def status_of(meta: Mapping[str, Any]) -> str:
    """A run's status as readers should show it: ``crashed`` for a run whose process is gone.

    ``meta.json`` says ``running`` until the run ends; a process killed with SIGKILL (or a machine
    that lost power) never says more. On the host that ran it, a dead process id tells.

    Example:
        >>> status_of({"status": "finished"})
        'finished'
        >>> import subprocess, sys
        >>> gone = subprocess.Popen([sys.executable, "-c", "pass"]); _ = gone.wait()
        >>> status_of({"status": "running", "host": host(), "pid": gone.pid})
        'crashed'
    """
    status = str(meta.get("status") or "unknown")
    if status == "running" and meta.get("host") == host():
        pid = meta.get("pid")
        if isinstance(pid, int) and not _files._alive(pid):
            return "crashed"
    return status


def list_runs(
    storage: str | os.PathLike[str] | None = None, *, skipped: list[str] | None = None
) -> list[str]:
    """Return the names of the runs in the storage folder, sorted.

    A run folder that is a link leading outside the storage folder is left out: with a
    :class:`~hypertuner.errors.HypertunerWarning` naming it, or, when ``skipped`` is given,
    added to that list instead (for a caller that reports it its own way).

    Example:
        >>> import tempfile
        >>> list_runs(tempfile.mkdtemp())
        []
    """
    root = storage_root(storage)
    try:
        entries = os.scandir(root)
    except FileNotFoundError:
        return []
    except OSError as exc:  # a file, or a folder this user may not read
        raise _storage_error(root, exc) from None
    with entries:
        names = sorted(
            e.name
            for e in entries
            if e.is_dir()
            and not e.name.startswith(".")
            and os.path.isfile(os.path.join(e.path, "config.json"))
        )
    outside = [n for n in names if not _files.inside(root, root / n)]
    if not outside:
        return names
    if skipped is not None:
        skipped.extend(outside)
    else:
        shown = ", ".join(repr(n) for n in outside)
        msg = (
            f"Skipped {len(outside)} run folder(s) in {str(root)!r} that are links leading "
            f"outside the storage folder: {shown}. hypertuner does not follow links out of the "
            "storage folder; copy those runs in to see them."
        )
        warnings.warn(msg, HypertunerWarning, stacklevel=2)
    return [n for n in names if n not in outside]


def resolve_run(name: str, storage: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder of run ``name``; raise with the nearest names when it does not exist.

    Raises:
        RunNameError: ``name`` is not a safe run name.
        RunNotFoundError: no such run; ``suggestions`` holds the nearest run names.
        OutsideStorageError: the run folder is a link leading outside the storage folder.

    Example:
        >>> import tempfile
        >>> try:
        ...     resolve_run("nope", tempfile.mkdtemp())
        ... except RunNotFoundError as err:
        ...     print(err)  # doctest: +ELLIPSIS
        No run 'nope' in '...': the storage folder has no runs yet...
    """
    check_run_name(name)
    root = storage_root(storage)
    directory = root / name
    if (directory / "config.json").is_file():
        _files.check_inside(root, directory, f"Run folder {name!r}")
        return directory
    names = list_runs(root)
    if not names:
        msg = (
            f"No run {name!r} in {str(root)!r}: the storage folder has no runs yet. Start one with "
            "'python train.py' (a script that calls hypertuner.parse()), or pass --storage."
        )
        raise RunNotFoundError(msg, name=name, suggestions=[])
    hint, close = nearest_hint(name, names, listing="Runs there")
    msg = f"No run {name!r} in {str(root)!r}.{hint}"
    raise RunNotFoundError(msg, name=name, suggestions=close)
