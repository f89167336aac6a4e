"""The saver's file layer: writing one model file crash-safely, and reading one back.

``torch.save`` streams into :class:`_HashingWriter`, which writes straight to a temporary file
(:func:`hypertuner._files.atomic_open`) while a thread hashes what was written, mapped from the
page cache; the file replaces the old one only once it is durable and its hash is in the ledger.
:func:`load` checks a file against the sha256 in the run's ledger (``saves.json``), refuses one
whose ledger entry has no hash, and reads it with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _deps, _files
from ._layout import resolve_run
from .errors import CheckpointError, CheckpointNotFoundError
from .run import Run

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["FORMAT_VERSION", "LEDGER_FILE", "MODEL_FILE", "load"]

_CHUNK = 4 << 20
#: Version of the record inside ``model.pt``; :func:`load` refuses a newer one.
FORMAT_VERSION = 1
#: The model file in the run folder.
MODEL_FILE = "model.pt"
#: The ledger: sha256 and size of each file written here, and the kept checkpoints.
LEDGER_FILE = "saves.json"
CHECKPOINT_FOLDER = "checkpoints"
_FORMAT = "hypertuner"


def _torch() -> ModuleType:
    return _deps.require("torch", "torch", "Saving models")


def _write_all(fd: int, data: memoryview) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    offset, total = 0, len(data)
    while offset < total:
        offset += os.write(fd, data[offset:])


class _HashingWriter:
    """The file object ``torch.save`` streams into: bytes go straight to the file descriptor,
    and a thread hashes them behind, reading them back from the page cache.

    Hashing in the writing thread would add sha256's full cost (as long as the write itself for
    a large model); hashing what was written, mapped from the page cache on another core while
    the writes and the fsync go on, hides it, and never holds on to a buffer torch may free or
    reuse.
    """

    def __init__(self, fd: int) -> None:
        self._fd = os.dup(fd)  # the hash may finish after the temporary file is renamed and closed
        self._closed = False
        self._hash = hashlib.sha256()
        self._written = 0
        self._done = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._hash_behind, name="hypertuner-sha256")
        self._thread.daemon = True
        self._thread.start()

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        _write_all(self._fd, view)
        with self._cond:
            self._written += len(view)
            self._cond.notify()
        return len(view)

    def flush(self) -> None:
        """Nothing is buffered here."""

    def _hash_behind(self) -> None:
        hashed = 0
        try:
            while True:
                with self._cond:
                    while self._written == hashed and not self._done:
                        self._cond.wait()
                    end, done = self._written, self._done
                while hashed < end:
                    size = min(_CHUNK, end - hashed)
                    self._hash_range(hashed, size)
                    hashed += size
                if done:
                    return
        except BaseException as exc:  # handed to finish(), raised in the saving thread
            self._error = exc

    def _hash_range(self, offset: int, size: int) -> None:
        """Hash ``size`` bytes at ``offset``, mapped from the page cache (no copy) if possible."""
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        skip = offset - start
        try:
            mapped = mmap.mmap(
                self._fd,
                skip + size,
                flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                prot=mmap.PROT_READ,
                offset=start,
            )
        except (OSError, ValueError, AttributeError):  # no mmap here: read a copy instead
            data = os.pread(self._fd, size, offset)
            if len(data) != size:
                msg = f"Reading back a model file being written stopped at byte {offset}."
                raise OSError(msg) from None
            self._hash.update(data)
            return
        try:
            with memoryview(mapped) as whole, whole[skip : skip + size] as part:
                self._hash.update(part)
        finally:
            mapped.close()

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._written

    def end_input(self) -> None:
        """No more writes: the hash finishes on its own (see :meth:`finish`)."""
        with self._cond:
            self._done = True
            self._cond.notify()

    def finish(self) -> tuple[str, int]:
        """Wait for the hash of everything written; return ``(sha256 hex, size)``."""
        self.end_input()
        self._thread.join()
        if not self._closed:
            self._closed = True
            os.close(self._fd)
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest(), self._written

    def abort(self) -> None:
        with contextlib.suppress(BaseException):
            self.finish()


@contextlib.contextmanager
def _no_crc32(torch: ModuleType) -> Iterator[None]:
    """Skip the zip CRC32 torch computes over every tensor: the ledger's sha256 covers the file,
    and ``torch.load`` never checks the CRC anyway."""
    config = getattr(getattr(torch.utils, "serialization", None), "config", None)
    save_config = getattr(config, "save", None)
    if save_config is None or not hasattr(save_config, "compute_crc32"):
        yield
        return
    with _CRC_LOCK:
        previous = save_config.compute_crc32
        save_config.compute_crc32 = False
        try:
            yield
        finally:
            save_config.compute_crc32 = previous


_CRC_LOCK = threading.Lock()


def _write_record(
    path: Path, record: Mapping[str, Any], before_replace: Callable[[_HashingWriter], None]
) -> _HashingWriter:
    """Write ``record`` to ``path`` crash-safely; call ``before_replace(writer)`` once the new
    file is durable and before it replaces the old one. ``writer.finish()`` gives the sha256
    (the hash may still be running when this returns)."""
    torch = _torch()
    held: Path | None = None
    try:
        with _files.atomic_open(path, "wb") as handle:
            writer = _HashingWriter(handle.fileno())
            try:
                with _no_crc32(torch):
                    torch.save(record, writer)
                os.fsync(handle.fileno())  # the hash's tail overlaps this flush to disk
                writer.end_input()
                before_replace(writer)
            except BaseException:
                writer.abort()
                raise
            held = _hold(path)
    except BaseException:
        if held is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(held)
        raise
    if held is not None:
        _remove_later(held)
    return writer


def _hold(path: Path) -> Path | None:
    """A second name for the file about to be replaced, so the replace does not free its blocks
    (tens of ms for a large model) in the caller's thread; :func:`_remove_later` frees them."""
    held = path.with_name(f"{_files.TEMP_MARK}{path.name}.{os.getpid()}.{time.monotonic_ns()}")
    try:
        os.link(path, held)
    except OSError:
        return None
    return held


def _remove_later(path: Path) -> None:
    """Delete ``path`` in a thread; :func:`_join_removals` waits for it (the next save and
    :meth:`Saver.wait` do), the interpreter waits at exit, and a file a kill left behind is a
    stale temporary, removed at the next start."""

    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    thread = threading.Thread(target=remove, name="hypertuner-remove")
    thread.start()
    with _REMOVALS_LOCK:
        _REMOVALS.append(thread)


def _join_removals() -> None:
    with _REMOVALS_LOCK:
        threads, _REMOVALS[:] = list(_REMOVALS), []
    for thread in threads:
        thread.join()


_REMOVALS: list[threading.Thread] = []
_REMOVALS_LOCK = threading.Lock()


def _link_replace(source: Path, target: Path) -> None:
    """Make ``target`` a durable copy of ``source``: a hard link where the file system allows."""
    temp = target.with_name(f"{_files.TEMP_MARK}{target.name}.{os.getpid()}.{time.monotonic_ns()}")
    try:
        os.link(source, temp)
    except OSError:
        with open(source, "rb") as src, _files.atomic_open(target, "wb") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
        return
    try:
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _files.fsync_directory(target.parent)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_module(value: object) -> bool:
    if "torch" not in sys.modules:  # no torch imported: the value cannot be a torch module
        return False
    return isinstance(value, sys.modules["torch"].nn.Module)


def _check_model(model: object, where: str) -> None:
    if isinstance(model, Mapping) or _is_module(model):
        return
    shown = repr(model)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    msg = (
        f"{where} needs a torch.nn.Module or a state dict (a mapping of names to tensors), "
        f"not {type(model).__name__} ({shown})."
    )
    raise TypeError(msg)


def _check_optimizer(optimizer: object) -> None:
    if optimizer is None:
        return
    if not (
        callable(getattr(optimizer, "state_dict", None)) and hasattr(optimizer, "load_state_dict")
    ):
        msg = (
            "Saver's optimizer must be a torch optimizer (with state_dict() and "
            f"load_state_dict()), not {type(optimizer).__name__}."
        )
        raise TypeError(msg)


def _read_ledger(directory: Path) -> dict[str, Any]:
    path = directory / LEDGER_FILE
    try:
        value = json.loads(_files.read_regular(path))  # not a link, nor a FIFO that would block
    except FileNotFoundError:
        return {"format_version": FORMAT_VERSION, "model": None, "checkpoints": [], "last": None}
    except (OSError, ValueError, RecursionError) as exc:
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        msg = (
            f"Save ledger {str(path)!r} cannot be read ({reason}). It records the sha256 of each "
            "saved file; delete it to start a fresh ledger (the files stay, unchecked)."
        )
        raise CheckpointError(msg, path=str(path)) from None
    if not _ledger_shaped(value):
        msg = (
            f"Save ledger {str(path)!r} is not a hypertuner ledger (its model must be an object, "
            "its checkpoints a list of objects); delete it to start afresh."
        )
        raise CheckpointError(msg, path=str(path))
    ledger: dict[str, Any] = value
    ledger.setdefault("model", None)
    ledger.setdefault("checkpoints", [])
    ledger.setdefault("last", None)
    return ledger


def _ledger_shaped(value: Any) -> bool:
    """Whether a decoded ledger has the shape the saver and load() read (a tampered one may
    hold anything)."""
    if not isinstance(value, dict):
        return False
    model, entries, last = value.get("model"), value.get("checkpoints", []), value.get("last")
    return (
        (model is None or isinstance(model, dict))
        and isinstance(entries, list)
        and all(isinstance(entry, dict) for entry in entries)
        and (last is None or isinstance(last, str))
    )


# --------------------------------------------------------------------------- loading


def _resolve_path(target: Any, storage: str | os.PathLike[str] | None) -> Path:
    if isinstance(target, Run):
        found = target.directory / MODEL_FILE
        if not found.is_file():
            msg = (
                f"Run {target.name!r} has no saved model yet (no {MODEL_FILE} in "
                f"{str(target.directory)!r}): save one with hypertuner.Saver(model).save() or "
                "HypertunerCallback before loading it."
            )
            raise CheckpointNotFoundError(msg, path=str(found))
        return found
    if not isinstance(target, (str, os.PathLike)):
        msg = f"load() needs a run, a run name or a path, not {type(target).__name__}."
        raise TypeError(msg)
    text = os.fspath(target)
    path = Path(text)
    if path.is_file():
        return path
    if path.is_dir():
        found = path / MODEL_FILE
        if not found.is_file():
            msg = (
                f"Run folder {text!r} has no {MODEL_FILE} yet: save one with "
                "hypertuner.Saver(model).save() in the training script."
            )
            raise CheckpointNotFoundError(msg, path=str(found))
        return found
    if os.sep in text or "/" in text or text.endswith(".pt"):
        msg = f"Model file {text!r} does not exist."
        raise CheckpointNotFoundError(msg, path=text)
    directory = resolve_run(text, storage)
    found = directory / MODEL_FILE
    if not found.is_file():
        msg = (
            f"Run {text!r} has no saved model yet (no {MODEL_FILE} in {str(directory)!r}): "
            "save one with hypertuner.Saver(model).save() in the training script."
        )
        raise CheckpointNotFoundError(msg, path=str(found))
    return found


def _expected(path: Path) -> tuple[list[tuple[str, int | None]], bool]:
    """The (sha256, size) pairs the ledger accepts for ``path`` (none: no record), and whether
    the ledger records the file without a hash (an older version was killed while hashing it)."""
    if path.parent.name == CHECKPOINT_FOLDER:
        directory, relative = path.parent.parent, f"{CHECKPOINT_FOLDER}/{path.name}"
    else:
        directory, relative = path.parent, path.name
    if not os.path.lexists(directory / LEDGER_FILE):  # a FIFO or a link is read, and refused
        return [], False
    ledger = _read_ledger(directory)
    entries: list[tuple[Any, Any]]
    if relative == MODEL_FILE:
        model = ledger.get("model") or {}
        if not model:
            return [], False
        entries = [(model.get("sha256"), model.get("size"))]
        previous = (model.get("previous_sha256"), model.get("previous_size"))
        pairs = [(str(d), s) for d, s in [*entries, previous] if d]
    else:
        entries = [
            (e.get("sha256"), e.get("size"))
            for e in ledger.get("checkpoints", [])
            if isinstance(e, dict) and e.get("file") == relative
        ]
        pairs = [(str(d), s) for d, s in entries if d]
    return pairs, any(not d for d, _ in entries)


def _verify(path: Path) -> None:
    expected, unhashed = _expected(path)
    size = path.stat().st_size
    if not expected and not unhashed:
        return  # a file the ledger does not know (a plain torch file): nothing to check against
    if expected and all(s is not None and s != size for _, s in expected) and not unhashed:
        msg = (
            f"Model file {str(path)!r} is {size} bytes but {LEDGER_FILE} recorded "
            f"{expected[0][1]}: it is truncated or was changed after it was written."
        )
        raise CheckpointError(msg, path=str(path), reason="size")
    found = _file_sha256(path)
    if unhashed and found not in {d for d, _ in expected}:
        msg = (
            f"Model file {str(path)!r} is recorded in {LEDGER_FILE} without its sha256 (a save "
            "was killed while hashing it, by an older hypertuner), so nothing can tell whether "
            "it is the file that was written: it is not loaded. Save the model again, or load an "
            "earlier checkpoint; if you trust this file, remove its entry from "
            f"{LEDGER_FILE}."
        )
        raise CheckpointError(msg, path=str(path), reason="unverified")
    if found not in {d for d, _ in expected}:
        msg = (
            f"Model file {str(path)!r} does not match the sha256 recorded in {LEDGER_FILE} "
            f"(expected {expected[0][0][:12]}..., found {found[:12]}...): it was corrupted or "
            "changed after it was written. Use an earlier checkpoint or save again."
        )
        raise CheckpointError(msg, path=str(path), reason="sha256")


def _torch_load(path: Path, map_location: Any) -> Any:
    torch = _torch()
    import pickle
    import zipfile

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only" in str(exc).lower() or "weights_only" in str(exc):
            msg = (
                f"Model file {str(path)!r} cannot be loaded with weights_only=True: it holds "
                f"Python objects beyond tensors and plain data ({first}). hypertuner never loads "
                "with weights_only=False, which can run code from the file; save the model with "
                "hypertuner.Saver, or re-save a trusted file's state_dict."
            )
            raise CheckpointError(msg, path=str(path), reason="weights_only") from exc
        msg = f"Model file {str(path)!r} is truncated or corrupt ({first})."
        raise CheckpointError(msg, path=str(path), reason="corrupt") from exc
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, KeyError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"Model file {str(path)!r} is truncated or corrupt and cannot be read ({first})."
        raise CheckpointError(msg, path=str(path), reason="corrupt") from exc


def _load_file(path: Path, model: Any, optimizer: Any, *, map_location: Any) -> dict[str, Any]:
    if model is not None:
        _check_model(model, "load()")
    _check_optimizer(optimizer)
    _verify(path)
    data = _torch_load(path, map_location)
    torch = sys.modules["torch"]
    if isinstance(data, Mapping) and data.get("format") == _FORMAT:
        record = dict(data)
    elif isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        record = {"state_dict": data["state_dict"], "config": data.get("hyper_parameters", {})}
    elif (
        isinstance(data, Mapping)
        and data
        and all(isinstance(v, torch.Tensor) for v in data.values())
    ):
        record = {"state_dict": dict(data)}
    else:
        msg = (
            f"Model file {str(path)!r} holds {type(data).__name__}, not a hypertuner model "
            "record or a state dict."
        )
        raise CheckpointError(msg, path=str(path), reason="format")
    version = record.get("format_version", FORMAT_VERSION)
    if isinstance(version, int) and version > FORMAT_VERSION:
        msg = (
            f"Model file {str(path)!r} has format version {version}, newer than this hypertuner "
            f"reads ({FORMAT_VERSION}): upgrade hypertuner."
        )
        raise CheckpointError(msg, path=str(path), reason="version")
    for key, default in (("config", {}), ("optimizer", None), ("step", None), ("epoch", None)):
        record.setdefault(key, default)
    record.setdefault("metrics", {})
    record["path"] = str(path)
    if model is not None:
        _restore(model, record["state_dict"], path, "model")
    if optimizer is not None:
        if record["optimizer"] is None:
            msg = (
                f"Model file {str(path)!r} holds no optimizer state to restore: it was saved "
                "without an optimizer (pass optimizer= to the Saver)."
            )
            raise CheckpointError(msg, path=str(path), reason="optimizer")
        _restore(optimizer, record["optimizer"], path, "optimizer")
    return record


def _restore(target: Any, state: Mapping[str, Any], path: Path, what: str) -> None:
    if isinstance(target, dict):
        target.clear()
        target.update(state)
        return
    try:
        target.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        msg = f"The {what} state in {str(path)!r} does not fit the given {what}: {first}"
        raise CheckpointError(msg, path=str(path), reason="mismatch") from exc


def load(
    run_or_path: Run | str | os.PathLike[str],
    model: Any = None,
    optimizer: Any = None,
    *,
    storage: str | os.PathLike[str] | None = None,
    map_location: Any = "cpu",
) -> dict[str, Any]:
    """Read a saved model back (with ``weights_only=True``) and restore it into ``model``.

    Args:
        run_or_path: a :class:`Run`, a run name (looked up in ``storage``), a run folder, or a
            model file (``model.pt`` or a file under ``checkpoints/``).
        model: a module (or a dict) to load the saved ``state_dict`` into.
        optimizer: an optimizer to load the saved optimizer state into.
        storage: the storage folder for a run name (default: ``$HYPERTUNER_STORAGE`` or
            ``./storage``).
        map_location: where to put the tensors (``torch.load``'s argument); CPU by default.

    Returns:
        The record: ``config``, ``state_dict``, ``optimizer``, ``step``, ``epoch``, ``metrics``,
        ``extra`` and ``path``.

    Raises:
        RunNotFoundError: no run of that name; it lists the nearest names.
        CheckpointNotFoundError: the run or folder holds no ``model.pt``, or the file is missing.
        CheckpointError: the file is truncated or corrupt, differs from the sha256 recorded
            when it was written, needs ``weights_only=False``, or does not fit ``model``.

    Example:
        >>> import tempfile, torch, hypertuner
        >>> run = hypertuner.start_run({"width": 3}, name="l", storage=tempfile.mkdtemp())
        >>> _ = hypertuner.Saver(torch.nn.Linear(3, 1)).save(metrics={"loss": 0.5})
        >>> record = hypertuner.load(run, torch.nn.Linear(3, 1))
        >>> record["config"], record["metrics"]
        ({'width': 3}, {'loss': 0.5})
        >>> run.finish()
    """
    path = _resolve_path(run_or_path, storage)
    return _load_file(path, model, optimizer, map_location=map_location)
