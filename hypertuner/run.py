"""Runs, and the one path that starts them: :func:`start_run`.

``start_run`` turns a resolved config into a started run: it names the run (or recalls it when
the name exists), claims and locks ``storage/<run>/``, writes ``config.json`` and ``meta.json``,
hands the name to the other ranks, installs the config as the base scope of ``param_scope`` and
``@auto_param``, starts mirroring to ``run.backup``, and hooks the run's end (status, unread-keys
report, Ctrl-C, SIGTERM, exceptions). :func:`hypertuner.parse`, ``HParams``, a sweep's trials and
the Lightning callback all start their runs through it. Only global rank zero writes files.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import json
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from . import _files, scope
from ._layout import SWEEP_FILE, check_run_name, host, make_storage, storage_root
from ._trees import flatten
from ._view import ConfigView
from .errors import (
    ConfigError,
    HypertunerWarning,
    RunInUseError,
    RunNameError,
    TrialPruned,
    suggest,
)

__all__ = [
    "RESUME_MODES",
    "STATUSES",
    "Run",
    "current_run",
    "rank_info",
    "recall_note",
    "saved_config",
    "start_run",
]

RESUME_MODES = ("recall", "refuse", "new")
#: How a run can end (``running`` until it does); ``pruned``: stopped early by a sweep's pruner.
STATUSES = ("running", "finished", "failed", "interrupted", "pruned")
_ENDS = "'finished', 'failed', 'interrupted' or 'pruned'"
_V = TypeVar("_V", bound=ConfigView)
_HANDOFF_ENV = "HYPERTUNER_RUN_NAME"
_HANDOFF_PID_ENV = "HYPERTUNER_RUN_PID"

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "hypertuner_run", default=None
)
_process_run: Run | None = None
_exit_hooks_installed = False
_lock = threading.Lock()


def rank_info() -> tuple[int, int]:
    """Return ``(global_rank, world_size)`` from the launcher's environment (``(0, 1)`` alone).

    Reads ``RANK``/``WORLD_SIZE`` (torchrun), else ``NODE_RANK``/``LOCAL_RANK`` (Lightning's
    launcher), else ``SLURM_PROCID``/``SLURM_NTASKS``.

    Example:
        >>> import os
        >>> rank_info() if "RANK" not in os.environ else (0, 1)
        (0, 1)
    """
    env = os.environ
    world = int(env.get("WORLD_SIZE") or env.get("SLURM_NTASKS") or 1)
    if env.get("RANK"):
        return int(env["RANK"]), world
    if env.get("LOCAL_RANK") or env.get("NODE_RANK"):
        local = int(env.get("LOCAL_RANK") or 0)
        node = int(env.get("NODE_RANK") or env.get("GROUP_RANK") or 0)
        per_node = int(env.get("LOCAL_WORLD_SIZE") or 0) or max(world // max(node + 1, 1), 1)
        return node * per_node + local, world
    if env.get("SLURM_PROCID") and world > 1:
        return int(env["SLURM_PROCID"]), world
    return 0, world


def _script() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if not path or path == "-c":
        return None
    return os.path.abspath(path)


def _main_module() -> str | None:
    """The module name when the script was started as ``python -m package.module``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None)
    return name if isinstance(name, str) and name != "__main__" else None


def _generated_stem() -> str:
    script = _script()
    stem = Path(script).stem if script else "run"
    if stem in ("__main__", "-c", ""):
        stem = "run"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-") or "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


@functools.cache
def _versions() -> dict[str, str]:
    """Versions of Python and the packages that shape a run (read once per process)."""
    import platform
    from importlib import metadata

    found = {"python": platform.python_version()}
    for dist in (
        "hypertuner",
        "torch",
        "pytorch-lightning",
        "lightning",
        "omegaconf",
        "tensorboard",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found


_GIT_FRESH_S = 5.0  # a sweep starts many runs a second from one checkout: ask git once for them
_git_seen: dict[str, tuple[float, dict[str, Any] | None]] = {}


def _git(folder: str) -> dict[str, Any] | None:
    """The commit checked out around ``folder`` and whether tracked files differ from it.

    The answer is reused for :data:`_GIT_FRESH_S` seconds: runs started within that time (a
    sweep's trials) share one ``git status`` instead of paying a subprocess each.
    """
    now = time.monotonic()
    seen = _git_seen.get(folder)
    if seen is not None and now - seen[0] < _GIT_FRESH_S:
        return dict(seen[1]) if seen[1] is not None else None
    found = _ask_git(folder)
    _git_seen[folder] = (now, found)
    return dict(found) if found is not None else None


def _ask_git(folder: str) -> dict[str, Any] | None:
    import subprocess

    try:
        done = subprocess.run(
            ["git", "-C", folder, "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    commit = None
    dirty = False
    for line in done.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[2]
            commit = None if oid == "(initial)" else oid
        elif line and not line.startswith("#"):
            dirty = True
    if commit is None:
        return None
    return {"commit": commit, "dirty": dirty}


class Run:
    """One run: its name, folder, resolved config and metadata.

    Create runs with :func:`hypertuner.parse` or :func:`start_run`; read the current one with
    :func:`current_run`. Used as a context manager, a run is the current run inside the block and
    ends ``finished``, ``failed`` or ``interrupted`` with it.

    Attributes:
        name: the run's folder name.
        storage: the absolute storage folder.
        directory: ``storage / name``.
        config: the resolved config, plain JSON-able data (the content of ``config.json``).
        rank: this process's global rank; only rank zero writes files.
        recalled: whether an existing run was recalled rather than created.
        status: ``running`` until the run ends.

    Example:
        >>> import tempfile, hypertuner
        >>> with hypertuner.start_run({"lr": 0.1}, name="demo", storage=tempfile.mkdtemp()) as run:
        ...     run.config["lr"], run.directory.name
        (0.1, 'demo')
        >>> run.status
        'finished'
    """

    def __init__(
        self,
        name: str,
        storage: Path,
        config: dict[str, Any],
        *,
        rank: int = 0,
        world_size: int = 1,
        recalled: bool = False,
        meta: dict[str, Any] | None = None,
        lock_fd: int | None = None,
    ) -> None:
        self.name = name
        self.storage = storage
        self.directory = storage / name
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self.recalled = recalled
        self.status = "running"
        self.meta: dict[str, Any] = meta if meta is not None else {}
        self._lock_fd = lock_fd
        self._pid = os.getpid()
        self._end_callbacks: list[Callable[[Run, str], None]] = []
        self._write_callbacks: list[Callable[[Run, list[Path]], None]] = []
        self._tokens: list[contextvars.Token[Run | None]] = []
        self._pending_status: str | None = None
        self._base: scope.Base | None = None  # this run's config as the base scope
        self._base_entered = False  # installed by __enter__ (a trial): restored by __exit__
        self._reads_handed_out = False

    @property
    def is_writer(self) -> bool:
        """Whether this process writes the run's files: global rank zero, the process that made
        the run, and the run not ended yet (end callbacks still write)."""
        return self.rank == 0 and os.getpid() == self._pid and self.status in ("running", "ending")

    def mark(self, status: str, *, error: str | None = None) -> None:
        """Record how the run will end without ending it yet.

        A later :meth:`finish` (at exit, or at the end of a ``with`` block) that would say
        ``finished`` says ``status`` instead; the integrations use it for SIGTERM and Ctrl-C.

        Example:
            >>> import tempfile, hypertuner
            >>> run = hypertuner.start_run({}, name="mk", storage=tempfile.mkdtemp())
            >>> run.mark("interrupted", error="SIGTERM")
            >>> run.finish(); run.meta["status"], run.meta["error"]
            ('interrupted', 'SIGTERM')
        """
        if status not in STATUSES[1:]:
            msg = f"Run status {status!r} is not one of {_ENDS}."
            raise ValueError(msg)
        self._pending_status = status
        if error is not None:
            self.meta["error"] = error

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, directory={str(self.directory)!r}, status={self.status!r})"

    def view(self, cls: type[_V], data: Mapping[str, Any] | None = None) -> _V:
        """The run's config (or ``data``) as a read-only ``cls`` view whose reads are recorded.

        Handing out a view turns on the unread-keys report: when the run ends, the config keys
        the code never read are listed in ``meta.json`` (``unread_keys``) and in a warning.
        :func:`hypertuner.parse` returns such a view (:class:`hypertuner.Args`).

        Example:
            >>> import tempfile, hypertuner
            >>> run = hypertuner.start_run({"lr": 0.1}, name="v", storage=tempfile.mkdtemp())
            >>> run.view(hypertuner.Args).lr
            0.1
            >>> run.finish(); run.meta["unread_keys"]
            []
        """
        base = self._install_base()
        self._reads_handed_out = True
        return cls.from_dict(self.config if data is None else data, _reads=base.usage.reads)

    def _install_base(self) -> scope.Base:
        """Make this run's config the base scope (once) and hook the unread-keys report."""
        if self._base is None:
            self._base = scope.install_base(self.config)
            self.on_end(_report_unused)
        return self._base

    def on_end(self, callback: Callable[[Run, str], None]) -> None:
        """Call ``callback(run, status)`` when the run ends, before ``meta.json`` is finalised.

        Example:
            >>> import tempfile, hypertuner
            >>> run = hypertuner.start_run({}, name="cb", storage=tempfile.mkdtemp())
            >>> run.on_end(lambda run, status: print("ended", status))
            >>> run.finish()
            ended finished
        """
        self._end_callbacks.append(callback)

    def on_write(self, callback: Callable[[Run, list[Path]], None]) -> None:
        """Call ``callback(run, paths)`` each time hypertuner finishes writing files of this run.

        The saver, the metrics writer and the run itself report their writes here (config and
        meta files, checkpoints, flushed event files); remote mirroring listens to it.

        Example:
            >>> import tempfile, hypertuner
            >>> run = hypertuner.start_run({}, name="w", storage=tempfile.mkdtemp())
            >>> run.on_write(lambda run, paths: print([p.name for p in paths]))
            >>> run.update_meta(note="x")
            ['meta.json']
            >>> run.finish()
            ['meta.json']
        """
        self._write_callbacks.append(callback)

    def wrote(self, *paths: str | os.PathLike[str]) -> None:
        """Tell the run's listeners (see :meth:`on_write`) that ``paths`` were written.

        Example:
            >>> import tempfile, hypertuner
            >>> run = hypertuner.start_run({}, name="w2", storage=tempfile.mkdtemp())
            >>> run.wrote(run.directory / "config.json"); run.finish()
        """
        if not self._write_callbacks:
            return
        written = [Path(p) for p in paths]
        for callback in self._write_callbacks:
            callback(self, written)

    def update_meta(self, **fields: Any) -> None:
        """Merge ``fields`` into ``meta.json`` and rewrite it atomically (rank zero only).

        Example:
            >>> import tempfile, hypertuner
            >>> run = hypertuner.start_run({}, name="m", storage=tempfile.mkdtemp())
            >>> run.update_meta(note="baseline"); run.meta["note"]
            'baseline'
            >>> run.finish()
        """
        self.meta.update(fields)
        if self.rank == 0 and os.getpid() == self._pid:
            _files.write_json(self.directory / "meta.json", self._public_meta())
            self.wrote(self.directory / "meta.json")

    def finish(self, status: str = "finished", *, error: str | None = None) -> None:
        """End the run with ``status`` (``finished``, ``failed``, ``interrupted`` or ``pruned``).

        Runs the end callbacks, writes the end time and status to ``meta.json`` and releases the
        run's lock. Ending a run twice does nothing.

        Example:
            >>> import tempfile, hypertuner
            >>> run = hypertuner.start_run({}, name="f", storage=tempfile.mkdtemp())
            >>> run.finish("failed", error="ValueError: boom"); run.meta["status"]
            'failed'
        """
        global _process_run
        if status not in STATUSES[1:]:
            msg = f"Run status {status!r} is not one of {_ENDS}."
            raise ValueError(msg)
        with _lock:
            if self.status != "running":
                return
            self.status = "ending"
        if self._pending_status is not None and status == "finished":
            status = self._pending_status
        try:
            for callback in self._end_callbacks:
                callback(self, status)
        finally:
            self.status = status
            if self.rank == 0 and os.getpid() == self._pid:
                end = time.time()
                fields: dict[str, Any] = {
                    "status": status,
                    "end_time": _files.now(),
                    "duration_s": round(end - self.meta.get("_start_epoch", end), 3),
                }
                if error is not None:
                    fields["error"] = error
                self.meta.update(fields)
                sessions = self.meta.get("sessions")
                if isinstance(sessions, list) and sessions and isinstance(sessions[-1], dict):
                    sessions[-1].update(fields)
                _files.write_json(self.directory / "meta.json", self._public_meta())
                self.wrote(self.directory / "meta.json")
            self._release()
            if _process_run is self:
                _process_run = None

    def _public_meta(self) -> dict[str, Any]:
        return {k: v for k, v in self.meta.items() if not k.startswith("_")}

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def __enter__(self) -> Run:
        self._tokens.append(_current.set(self))
        if self._base is None:  # a run that is not the process's run (a sweep's trial)
            self._install_base()
            self._base_entered = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(ValueError):  # a token from another context: nothing to reset
            _current.reset(self._tokens.pop())
        try:
            if exc is None:
                self.finish("finished")
            elif isinstance(exc, KeyboardInterrupt):
                self.finish("interrupted", error="KeyboardInterrupt")
            elif isinstance(exc, TrialPruned):
                self.finish("pruned", error=str(exc))
            else:
                self.finish("failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            if self._base_entered and self._base is not None:
                self._base.restore()
                self._base_entered = False


def _report_unused(run: Run, status: str) -> None:
    """At the run's end: list the config keys nothing read and the scope keys nothing declares."""
    if run._base is None or not run._reads_handed_out:
        return  # nobody read the config through a recorded view: unread would mean nothing
    unread, undeclared = scope.unused_keys(run._base)
    run.meta["unread_keys"] = unread
    run.meta["undeclared_scope_keys"] = undeclared
    parts = []
    if unread:
        read = sorted(set(flatten(run.config)) - set(unread))
        shown = []
        for key in unread:
            near = suggest(key, read, n=1)
            shown.append(f"{key} (did you mean {near[0]}?)" if near else key)
        parts.append(f"config keys never read: {', '.join(shown)}")
    if undeclared:
        parts.append(f"scope keys no @auto_param declares: {', '.join(undeclared)}")
    # Warned of only where it helps: a run that ended well (after a crash, the crash is the
    # news) in its first session (a recalled run's keys were checked when it was created; a
    # script that only resumes or evaluates it need not read them all).
    if parts and run.rank == 0 and status == "finished" and not run.recalled:
        msg = f"Run {run.name!r}: " + "; ".join(parts) + " (a typo, or a value the code ignores)."
        # Reported at the run's end, where no user line is on the stack: name this script.
        main = sys.modules.get("__main__")
        script = getattr(main, "__file__", None) or run.meta.get("script") or "<run>"
        warnings.warn_explicit(
            msg, HypertunerWarning, filename=script, lineno=0, module="hypertuner"
        )


def current_run() -> Run | None:
    """Return the run this code runs in, or ``None`` when no run was started.

    Example:
        >>> import tempfile, hypertuner
        >>> with hypertuner.start_run({}, name="here", storage=tempfile.mkdtemp()):
        ...     hypertuner.current_run().name
        'here'
    """
    run = _current.get()
    if run is not None and run.status == "running":
        return run
    return _process_run


def _lock_directory(directory: Path, name: str) -> int:
    fd = _files.lock_folder(directory)
    if fd is None:
        msg = (
            f"Run {name!r} is in use by another process. Wait for it to end, choose another "
            "--name, or set run.resume=new to start a fresh run under a suffixed name."
        )
        raise RunInUseError(msg, name=name)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {host()}\n".encode())
    return fd


def _claim(storage: Path, name: str, *, exact: bool) -> tuple[str, int, bool]:
    """Claim ``storage/name`` (or the first free ``name-N`` unless ``exact``).

    Returns the name, the lock descriptor and whether a complete run already lives there.
    """
    make_storage(storage)
    candidate, n = name, 1
    while True:
        directory = storage / candidate
        try:
            os.mkdir(directory)
            created = True
        except FileExistsError:
            created = False
            if not exact:
                n += 1
                candidate = f"{name}-{n}"
                continue
        if not created and (directory / SWEEP_FILE).is_file():  # a sweep's folder, not a run's
            if not exact:
                n += 1
                candidate = f"{name}-{n}"
                continue
            msg = (
                f"Run name {candidate!r} is taken by a sweep: '{directory}' holds the sweep's "
                "journal, and a run cannot share its folder. Choose another --name."
            )
            raise RunNameError(msg, name=candidate)
        try:
            fd = _lock_directory(directory, candidate)
        except RunInUseError:
            if exact:
                raise
            n += 1
            candidate = f"{name}-{n}"
            continue
        exists = (directory / "config.json").is_file()
        if created or not exists or exact:
            return candidate, fd, exists
        os.close(fd)  # pragma: no cover - a run finished between mkdir and lock


def _handoff_path(storage: Path) -> Path | None:
    import hashlib

    env = os.environ
    if not env.get("MASTER_PORT"):
        return None
    key = "|".join(
        env.get(k, "")
        for k in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT", "SLURM_JOB_ID")
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return storage / ".hypertuner" / f"handoff-{digest}.json"


def _await_handoff(storage: Path, timeout: float = 120.0) -> str:
    # Lightning's launcher starts the other ranks as children of rank zero, which put the name in
    # its environment; a grandchild (say, ranks that torchrun starts from inside a run) must not
    # take its grandparent's run, so the name counts only for the direct children of its writer.
    name = os.environ.get(_HANDOFF_ENV)
    if name and os.environ.get(_HANDOFF_PID_ENV) == str(os.getppid()):
        return check_run_name(name)
    path = _handoff_path(storage)
    if path is None:
        msg = (
            "This process is a non-zero rank but the rank-zero process did not hand over a run "
            "name. Give the run an explicit --name (or run.name) so every rank agrees on it."
        )
        raise RunInUseError(msg)
    deadline = time.monotonic() + timeout
    started = time.time() - 600
    while time.monotonic() < deadline:
        # Not there yet, half-written, or not this code's (a FIFO, a link, wrong types): wait on.
        with contextlib.suppress(
            OSError, ValueError, KeyError, TypeError, RecursionError, OverflowError
        ):
            record = json.loads(_files.read_regular(path))
            written = float(record["time"])
            if started <= written <= time.time() + 60:  # recent, and not from the future (inf)
                return check_run_name(record["name"])
        time.sleep(0.05)
    msg = (
        f"Rank zero did not create the run within {timeout:.0f} s (waited for {str(path)!r}). "
        "Give the run an explicit --name so every rank agrees on it."
    )
    raise RunInUseError(msg, path=str(path))


def _publish_handoff(storage: Path, name: str) -> None:
    os.environ[_HANDOFF_ENV] = name  # the ranks that Lightning's launcher starts inherit it
    os.environ[_HANDOFF_PID_ENV] = str(os.getpid())
    path = _handoff_path(storage)
    if path is not None and int(os.environ.get("WORLD_SIZE") or 1) > 1:
        path.parent.mkdir(exist_ok=True)
        _files.write_json(path, {"name": name, "time": time.time()})


def _changed_keys(saved: Mapping[str, Any], explicit: Mapping[str, Any]) -> list[str]:
    flat_saved = flatten(saved)
    changes = []
    for key, new in explicit.items():
        old = flat_saved.get(key, _MISSING)
        if old is _MISSING:
            if any(k.startswith(key + ".") for k in flat_saved) and isinstance(new, Mapping):
                continue
            changes.append(f"{key}: <absent> -> {new!r}")
        elif old != new or (type(old) is not type(new) and not _same_number(old, new)):
            changes.append(f"{key}: {old!r} -> {new!r}")
    return changes


def _same_number(a: Any, b: Any) -> bool:
    return (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


_MISSING = object()


def start_run(
    config: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    storage: str | os.PathLike[str] | None = None,
    resume: str = "recall",
    explicit: Mapping[str, Any] | None = None,
    backup: str | None = None,
    current: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> Run:
    """Start a run from a resolved config (or recall the run of that name): the one path.

    The run's folder is claimed and locked, ``meta.json`` and ``config.json`` are written (by
    global rank zero; the other ranks join the run rank zero names), the config becomes the base
    scope of ``param_scope`` and ``@auto_param``, and the folder is mirrored to ``backup``.

    Args:
        config: the resolved config to snapshot in ``config.json`` (plain data).
        name: the run name; generated from the script name and the start time when ``None``.
        storage: the storage folder (default: ``$HYPERTUNER_STORAGE`` or ``./storage``).
        resume: what an existing ``name`` means: ``"recall"`` (load its saved config),
            ``"refuse"`` (an error) or ``"new"`` (a fresh run named ``name-2``, ``name-3``...).
        explicit: flat ``{dotted key: value}`` set on purpose (command line, config files); on
            recall, a value here that differs from the saved one is refused.
        backup: an fsspec URL (``s3://bucket/runs``) the run folder is mirrored to, as
            ``<backup>/<run>/``, while the run lasts.
        current: make the new run the process's current run (ending the one before) and its
            config the base scope now; otherwise both happen inside ``with run:`` only (how a
            sweep runs several trials in one process).
        meta: more fields for ``meta.json`` from the start (a sweep's trial records its sweep
            and index), in the first write rather than one more.

    Returns:
        The running :class:`Run`; on recall its ``config`` is the saved one.

    Raises:
        RunNameError: ``name`` is not a safe folder name.
        RunInUseError: the name is being written by another process, or exists with
            ``resume="refuse"``.
        ConfigError: ``resume`` is unknown, a recalled run's saved value would change, or
            ``backup`` has a scheme no filesystem provides.
        MissingDependencyError: ``backup`` needs a filesystem package that is not installed.

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({"lr": 0.1}, name="a", storage=root).finish()
        >>> again = hypertuner.start_run({"lr": 0.5}, name="a", storage=root)
        >>> again.recalled, again.config
        (True, {'lr': 0.1})
        >>> again.finish()
    """
    if resume not in RESUME_MODES:
        options = ", ".join(repr(m) for m in RESUME_MODES)
        msg = f"run.resume must be one of {options}, not {resume!r}."
        raise ConfigError(msg, key="run.resume", value=resume)
    if name is not None:
        check_run_name(name)
    if backup:
        from . import storage as remote  # only runs with run.backup load it (and fsspec)

        remote.check_url(backup)  # before the run exists: a bad URL leaves no run
    root = storage_root(storage)
    rank, world = rank_info()
    if rank == 0:
        run = _claim_run(root, dict(config or {}), name, resume, explicit or {}, world, meta)
    else:
        run = _join_run(root, dict(config or {}), name, resume, rank, world)
    if current:
        if rank == 0:
            _publish_handoff(root, run.name)
        _set_process_run(run)
        run._install_base()
    if rank == 0:
        _install_exit_hooks()
        if backup:
            remote.mirror_run(run, backup)
    return run


def recall_note(run: Run) -> str:
    """The line that tells a user their run's name existed: this is another session of it.

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({}, name="again", storage=root).finish()
        >>> run = hypertuner.start_run({}, name="again", storage=root)
        >>> recall_note(run).split(" (")[0]
        "hypertuner: run 'again' exists: recalled with its saved config"
        >>> run.finish()
    """
    sessions = run.meta.get("sessions") or []
    first = sessions[0].get("start_time") if sessions and isinstance(sessions[0], dict) else None
    since = f", first started {str(first)[:16].replace('T', ' ')}" if first else ""
    return (
        f"hypertuner: run {run.name!r} exists: recalled with its saved config (session "
        f"{len(sessions)}{since}). Use another --name, or run.resume=new, for a fresh run."
    )


def _join_run(
    root: Path, data: dict[str, Any], name: str | None, resume: str, rank: int, world: int
) -> Run:
    """A non-zero rank: the run rank zero started (named explicitly or handed over)."""
    run_name = name if name is not None and resume != "new" else _await_handoff(root)
    saved = root / run_name / "config.json"
    with contextlib.suppress(OSError, ValueError, RecursionError):
        value = json.loads(_files.read_regular(saved))
        data = value if isinstance(value, dict) else data
    return Run(run_name, root, data, rank=rank, world_size=world, recalled=saved.exists())


def _claim_run(
    root: Path,
    data: dict[str, Any],
    name: str | None,
    resume: str,
    explicit: Mapping[str, Any],
    world: int,
    extra: Mapping[str, Any] | None = None,
) -> Run:
    """Rank zero: claim the folder, recall or create the run, and write its files."""
    exact = name is not None and resume != "new"
    run_name, fd, exists = _claim(root, name or _generated_stem(), exact=exact)
    directory = root / run_name
    try:
        if exists:
            data, meta = _recall(directory, run_name, resume, explicit)
        else:
            meta = _new_meta(run_name, world)
        _files.remove_stale_temporaries(directory)
        meta.update(extra or {})
        meta["_start_epoch"] = time.time()
        run = Run(
            run_name, root, data, rank=0, world_size=world, recalled=exists, meta=meta, lock_fd=fd
        )
        _files.write_json(directory / "meta.json", run._public_meta())
        if not exists:
            # config.json is what makes a folder a run (list_runs): it is written last, so a
            # reader never sees a run without its meta.json.
            _files.write_json(directory / "config.json", data)
    except BaseException:
        os.close(fd)
        if not exists:
            _remove_new_run(directory)
        raise
    return run


def _recall(
    directory: Path, name: str, resume: str, explicit: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The saved config and meta of an existing run, checked against what was set explicitly."""
    if resume == "refuse":
        msg = (
            f"Run {name!r} exists already in {str(directory.parent)!r} and run.resume is "
            "'refuse'. Choose another --name, or use run.resume=recall or run.resume=new."
        )
        raise RunInUseError(msg, name=name)
    meta = _read_json(directory / "meta.json")
    saved_config = _read_json(directory / "config.json")
    changes = _changed_keys(saved_config, explicit)
    if changes:
        listing = "; ".join(changes)
        status = meta.get("status")
        ended = (
            f" (its last session ended {status}; if it holds nothing worth keeping, delete "
            f"'{directory}' to reuse the name)"
            if status in ("failed", "crashed", "interrupted")
            else ""
        )
        msg = (
            f"Run {name!r} exists{ended} and is recalled with its saved config, but the "
            f"command line changes saved values: {listing}. Use a new --name for a new run, "
            "or run.resume=new to start one under a suffixed name."
        )
        raise ConfigError(msg, key=changes[0].split(":")[0], changes=changes)
    sessions = meta.get("sessions")
    if not isinstance(sessions, list):  # a run from before sessions were recorded
        sessions = [{"start_time": meta.get("start_time"), "end_time": meta.get("end_time")}]
    start = _files.now()
    sessions.append(_session(start))
    starts = meta.get("starts")  # every start time, as the first release recorded them
    if not isinstance(starts, list):
        starts = [s.get("start_time") for s in sessions[:-1] if isinstance(s, dict)]
    # start_time and duration_s describe the latest session, so every reader shows the two
    # together; sessions holds them all (the first start is sessions[0]["start_time"]).
    meta.update(
        status="running",
        start_time=start,
        end_time=None,
        duration_s=None,
        pid=os.getpid(),
        argv=list(sys.argv),
        sessions=sessions,
        starts=[*starts, start],
    )
    meta.pop("error", None)
    return saved_config, meta


def saved_config(
    name: object, storage: str | os.PathLike[str] | None = None, resume: object = "recall"
) -> dict[str, Any] | None:
    """The saved ``config.json`` of the run that :func:`start_run` would recall under these
    settings, or ``None`` (no such run, a name that is no run name, or ``resume`` not
    ``"recall"``). Reads only; a run whose config cannot be read counts as none here.

    Example:
        >>> import tempfile, hypertuner
        >>> root = tempfile.mkdtemp()
        >>> hypertuner.start_run({"lr": 0.1}, name="kept", storage=root).finish()
        >>> saved_config("kept", root), saved_config("other", root)
        ({'lr': 0.1}, None)
    """
    if resume != "recall" or not isinstance(name, (str, int)) or isinstance(name, bool):
        return None
    try:
        folder = storage_root(storage) / check_run_name(str(name))
        value = json.loads(_files.read_regular(folder / "config.json"))
    except (OSError, ValueError, RunNameError):
        return None
    return value if isinstance(value, dict) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(_files.read_regular(path))
    except (OSError, ValueError) as exc:
        msg = (
            f"Run file {str(path)!r} cannot be read ({exc}). "
            "Delete the run folder or pick another name."
        )
        raise ConfigError(msg, path=str(path)) from exc
    if not isinstance(value, dict):
        msg = f"Run file {str(path)!r} does not hold a JSON object."
        raise ConfigError(msg, path=str(path))
    return value


def _remove_new_run(directory: Path) -> None:
    for child in directory.iterdir():
        with contextlib.suppress(OSError):
            child.unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()


def _new_meta(name: str, world: int) -> dict[str, Any]:
    script = _script()
    meta: dict[str, Any] = {
        "name": name,
        "status": "running",
        "argv": list(sys.argv),
        "executable": sys.executable,
        "script": script,
        "module": _main_module(),
        "cwd": os.getcwd(),
        "git": _git(os.path.dirname(script) if script else os.getcwd()),
        "host": host(),
        "pid": os.getpid(),
        "world_size": world,
        "versions": _versions(),
        "start_time": _files.now(),
        "end_time": None,
    }
    meta["sessions"] = [_session(meta["start_time"])]
    return meta


def _session(start: str) -> dict[str, Any]:
    """One process's stretch of a run, as ``meta.json``'s ``sessions`` lists them."""
    return {"start_time": start, "argv": list(sys.argv), "host": host(), "pid": os.getpid()}


def _set_process_run(run: Run) -> None:
    global _process_run
    previous = _process_run
    if previous is not None and previous is not run and previous.status == "running":
        previous.finish("finished")
    _process_run = run


def _install_exit_hooks() -> None:
    global _exit_hooks_installed
    if _exit_hooks_installed:
        return
    _exit_hooks_installed = True
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        run = _process_run
        if run is not None and run.status == "running":
            if issubclass(kind, KeyboardInterrupt):
                run.mark("interrupted")
            elif issubclass(kind, TrialPruned):
                run.mark("pruned", error=str(exc))
                print(f"hypertuner: {exc} Run {run.name!r} ends 'pruned'.", file=sys.stderr)
                return  # a sweep's decision, not a crash: no traceback
            else:
                run.mark("failed", error=f"{kind.__name__}: {exc}")
        previous_hook(kind, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)


_SIGTERM_GRACE_S = 10.0


def _on_sigterm(signum: int, frame: object) -> None:
    run = _process_run
    if run is not None:
        run.mark("interrupted", error="SIGTERM")
    # The SystemExit below unwinds the script (finally blocks, atexit, the run's status). Should
    # it be swallowed (a handler that lands inside a __del__ or a callback, or code that catches
    # BaseException), a watchdog still ends the process after a grace period, run finished.
    watchdog = threading.Thread(
        target=_exit_after_grace, args=(128 + signum,), name="hypertuner-sigterm", daemon=True
    )
    watchdog.start()
    raise SystemExit(128 + signum)


def _exit_after_grace(code: int) -> None:
    try:
        grace = float(os.environ.get("HYPERTUNER_SIGTERM_GRACE") or _SIGTERM_GRACE_S)
    except ValueError:
        grace = _SIGTERM_GRACE_S
    time.sleep(grace)
    try:
        _at_exit()
    finally:
        os._exit(code)


def _at_exit() -> None:
    run = _process_run
    if run is not None and run.status == "running":
        error = run.meta.get("error") if run._pending_status else None
        run.finish(run._pending_status or "finished", error=error)
