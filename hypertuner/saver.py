"""Saving models beside their config: ``storage/<run>/model.pt``, checkpoints, loading back.

Every file is written crash-safely (:func:`hypertuner._files.atomic_open`): a process killed at any
moment leaves the previous ``model.pt`` complete, and an error in the middle of a save leaves it
byte-identical. The sha256 of every file written here is recorded in ``saves.json`` in the run
folder, the ledger, which also keeps the top-k checkpoints across restarts; :func:`load` checks
it, so a flipped bit that ``torch.load`` would accept is reported. The hash is computed on another
core while the file is written and flushed, and recorded durably in the ledger *before* the file
replaces the old one: no file is ever in place without its hash, and :func:`load` refuses a file
whose ledger entry has none (left by an older version killed while hashing).

Example:
    >>> import tempfile, torch, hypertuner
    >>> run = hypertuner.start_run({"lr": 0.1}, name="saved", storage=tempfile.mkdtemp())
    >>> model = torch.nn.Linear(2, 1)
    >>> hypertuner.Saver(model).save().name
    'model.pt'
    >>> hypertuner.load("saved", torch.nn.Linear(2, 1), storage=run.storage)["config"]
    {'lr': 0.1}
    >>> run.finish()
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import json
import math
import os
import shutil
import sys
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _files
from ._savefile import (
    _FORMAT,
    CHECKPOINT_FOLDER,
    FORMAT_VERSION,
    LEDGER_FILE,
    MODEL_FILE,
    _check_model,
    _check_optimizer,
    _file_sha256,
    _HashingWriter,
    _is_module,
    _join_removals,
    _link_replace,
    _load_file,
    _read_ledger,
    _write_record,
    load,
)
from .errors import (
    CheckpointError,
    DiskFullError,
    HypertunerWarning,
    NoRunError,
    UnknownKeyError,
)
from .run import Run, current_run

if TYPE_CHECKING:
    pass

__all__ = ["FORMAT_VERSION", "LEDGER_FILE", "MODEL_FILE", "Saver", "load"]

_MODES = ("min", "max")


# --------------------------------------------------------------------------- values


def _plain_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        msg = f"metrics must be a mapping of names to numbers, not {type(metrics).__name__}."
        raise TypeError(msg)
    plain: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            plain[str(key)] = float(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            msg = f"Metric {str(key)!r} must be a number (or a one-element tensor), not {value!r}."
            raise TypeError(msg) from exc
    return plain


def _json_metrics(metrics: Mapping[str, float]) -> dict[str, float | str]:
    """Metrics for the JSON ledger: non-finite values as text ('nan', 'inf'), JSON has none."""
    return {k: v if math.isfinite(v) else str(v) for k, v in metrics.items()}


def _plain(value: Any) -> Any:
    """Plain JSON data (``weights_only=True`` refuses OmegaConf or argparse objects)."""
    return json.loads(json.dumps(value, default=str))


def _loadable(value: Any, where: str) -> Any:
    """``value`` as a checkpoint's ``extra`` holds it: plain data and tensors (both load with
    ``weights_only=True``), an OmegaConf container or an ``argparse.Namespace`` as plain data.
    Anything else raises :class:`CheckpointError` naming where it is, never a silent string.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    kind = type(value)
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().clone()  # the value at save time, whatever training does next
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                msg = f"Saver.save(extra=...): {where} has the key {key!r}: keys must be plain."
                raise CheckpointError(msg, reason="weights_only")
            out[key] = _loadable(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        items = [_loadable(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if kind.__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return _loadable(OmegaConf.to_container(value, resolve=True), where)
    if kind.__name__ == "Namespace" and kind.__module__ == "argparse":
        return _loadable(vars(value), where)
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return _loadable(value.item(), where)  # a numpy or tensor scalar
    hint = "torch.as_tensor(value) or value.tolist()" if hasattr(value, "tolist") else "plain data"
    msg = (
        f"Saver.save(extra=...): {where} is a {kind.__module__}.{kind.__qualname__}, which a "
        f"checkpoint loaded with weights_only=True cannot hold: store {hint} instead."
    )
    raise CheckpointError(msg, reason="weights_only")


def _check_step(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"Saver.save() {name} must be a whole number >= 0, not {value!r}."
        raise TypeError(msg)
    return value


def _tensors(value: Any) -> Iterator[Any]:
    torch = sys.modules["torch"]
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def _copy_to(value: Any, buffers: Iterator[Any]) -> Any:
    """A copy of ``value`` with its tensors in CPU memory (refilling ``buffers`` where they fit)."""
    torch = sys.modules["torch"]
    if isinstance(value, torch.Tensor):
        buffer = next(buffers, None)
        source = value.detach()
        if source.layout != torch.strided or not source.is_contiguous():
            return source.to("cpu", copy=True)
        if buffer is None or buffer.shape != source.shape or buffer.dtype != source.dtype:
            buffer = torch.empty(source.shape, dtype=source.dtype)
        if source.device.type == "cpu":
            # One plain memcpy: torch's copy_ splits a large copy over its intra-op threads,
            # which on a busy machine can be twenty times slower than a single thread.
            ctypes.memmove(
                buffer.data_ptr(), source.data_ptr(), source.numel() * source.element_size()
            )
            return buffer
        return buffer.copy_(source)
    if isinstance(value, Mapping):
        items = [(k, _copy_to(v, buffers)) for k, v in value.items()]
        return OrderedDict(items) if isinstance(value, OrderedDict) else dict(items)
    if isinstance(value, list):
        return [_copy_to(v, buffers) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy_to(v, buffers) for v in value)
    return value


# --------------------------------------------------------------------------- the ledger


def _checkpoint_name(step: int | None, epoch: int | None) -> str:
    parts = []
    if epoch is not None:
        parts.append(f"epoch-{epoch:04d}")
    if step is not None:
        parts.append(f"step-{step:08d}")
    return "-".join(parts) + ".pt"


class _Background:
    """One writer thread; the newest queued save replaces an older one not yet started, unless
    that one is to be kept (the best so far by the monitor): then the new one waits for the
    writer to take it, so a best checkpoint is never dropped."""

    def __init__(self, write: Callable[..., Any]) -> None:
        self._write = write
        self._cond = threading.Condition()
        self._pending: tuple[Any, ...] | None = None
        self._pending_kept = False
        self._busy = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        # Two sets of CPU buffers: one may be on its way to disk while the other is refilled.
        self._buffers: list[list[Any]] = [[], []]
        self._writing: int | None = None

    def submit(self, record: dict[str, Any], *args: Any, keep: bool = False) -> None:
        with self._cond:
            self._raise_error()
            while self._pending is not None and self._pending_kept:
                if self._thread is None or not self._thread.is_alive():
                    break
                self._cond.wait(timeout=1.0)  # the writer takes it next: disk is the bottleneck
                self._raise_error()
            self._pending = None  # replaced by this save, and its buffers are free again
            slot = 0 if self._writing != 0 else 1
        # Copy outside the lock: the writer keeps writing the other slot meanwhile.
        buffers = self._buffers[slot]
        snapshot = _copy_to(record, iter(buffers))
        self._buffers[slot] = list(_tensors(snapshot))
        with self._cond:
            self._pending = (slot, snapshot, *args)
            self._pending_kept = keep
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="hypertuner-saver", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None:
                    if not self._cond.wait(timeout=30.0) and self._pending is None:
                        self._thread = None  # idle: let the thread end, submit starts another
                        return
                slot, *job = self._pending
                self._pending = None
                self._busy = True
                self._writing = slot
            try:
                self._write(*job)
            except BaseException as exc:  # raised in the training thread at the next call
                self._error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._writing = None
                    self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            while self._pending is not None or self._busy:
                if self._thread is None or not self._thread.is_alive():
                    break
                self._cond.wait(timeout=1.0)
            self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def check_options(owner: str, mode: str, keep: int) -> None:
    """Refuse a ``mode`` other than ``"min"``/``"max"`` and a ``keep`` below 1 (``ValueError``)."""
    if mode not in _MODES:
        msg = f"{owner} mode must be 'min' or 'max', not {mode!r}."
        raise ValueError(msg)
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        msg = f"{owner} keep must be a whole number >= 1, not {keep!r}."
        raise ValueError(msg)


class Saver:
    """Save a model with its run's config to ``storage/<run>/model.pt``, crash-safely.

    Args:
        model: the ``torch.nn.Module`` (or a state dict) to save; ``None`` to pass it to
            :meth:`save` instead.
        optimizer: an optimizer whose state is saved with the model.
        run: the run to save into; default: the current run (started by
            :func:`hypertuner.parse` or :func:`hypertuner.start_run`).
        monitor: a metric name; with it, the checkpoints kept are the best ``keep`` by that
            metric and ``model.pt`` is the best one.
        mode: ``"min"`` or ``"max"``: which way ``monitor`` is better.
        keep: how many numbered checkpoints to keep (the best ``keep`` with ``monitor``, else the
            latest ``keep``); the latest one is always kept too, for resuming.
        background: copy the tensors to CPU memory in the caller's thread and write them in a
            background thread; the newest save wins when saves queue up.

    Raises:
        NoRunError: no run was given and none was started.
        TypeError: ``model`` is neither a module nor a state dict.

    Example:
        >>> import tempfile, torch, hypertuner
        >>> run = hypertuner.start_run({}, name="ckpt", storage=tempfile.mkdtemp())
        >>> saver = hypertuner.Saver(torch.nn.Linear(2, 1), monitor="loss", keep=2)
        >>> for step, loss in enumerate([0.5, 0.2, 0.4, 0.3]):
        ...     _ = saver.save(step=step, metrics={"loss": loss})
        >>> sorted(p.name for p in (run.directory / "checkpoints").iterdir())
        ['step-00000001.pt', 'step-00000003.pt']
        >>> hypertuner.load(run.directory / "model.pt")["metrics"]
        {'loss': 0.2}
        >>> run.finish()
    """

    def __init__(
        self,
        model: Any = None,
        optimizer: Any = None,
        *,
        run: Run | None = None,
        monitor: str | None = None,
        mode: str = "min",
        keep: int = 3,
        background: bool = False,
    ) -> None:
        if model is not None:
            _check_model(model, "Saver")
        _check_optimizer(optimizer)
        check_options("Saver", mode, keep)
        if run is None:
            run = current_run()
        if run is None:
            msg = (
                "Saver needs a run to know where to save, and none was started. Call "
                "hypertuner.parse() (or hypertuner.start_run()) at the start of the script, "
                "or pass run=."
            )
            raise NoRunError(msg)
        self.model = model
        self.optimizer = optimizer
        self.run = run
        self.monitor = monitor
        self.mode = mode
        self.keep = keep
        self.background = background
        self._lock = threading.Lock()
        self._ledger: dict[str, Any] | None = None
        self._worker = _Background(self._write) if background else None
        self._best_submitted: float | None = None  # the monitor's best value handed to _worker
        if self._worker is not None:
            _track_background(self)
        run.on_end(_weak_end(self))

    @property
    def directory(self) -> Path:
        """The run folder this saver writes into."""
        return self.run.directory

    @property
    def path(self) -> Path:
        """``storage/<run>/model.pt``."""
        return self.run.directory / MODEL_FILE

    def save(
        self,
        model: Any = None,
        *,
        step: int | None = None,
        epoch: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Path | None:
        """Save the model (and optimizer), the run's config, ``step``/``epoch`` and ``metrics``.

        Without ``step`` and ``epoch`` this writes ``model.pt``. With either, it writes a numbered
        file under ``checkpoints/``, keeps the best (or latest) ``keep`` of them, and makes
        ``model.pt`` the best (with ``monitor``) or the latest.

        Args:
            model: the model to save, when none was given to the saver.
            step: the optimizer step (names the checkpoint file).
            epoch: the epoch (names the checkpoint file).
            metrics: metric values (numbers or one-element tensors) to store and rank by.
            extra: more to store under the record's ``"extra"`` key: plain data and tensors
                (an EMA's state_dict, say); an OmegaConf container or ``argparse.Namespace``
                is stored as plain data; anything else (a numpy array, an object) is refused
                with :class:`~hypertuner.errors.CheckpointError`, as ``weights_only=True``
                could not load it.

        Returns:
            The file written (or, in the background, being written); ``None`` on a rank that is
            not global rank zero, where nothing is written.

        Raises:
            UnknownKeyError: ``monitor`` is set, ``step`` or ``epoch`` is given and ``metrics``
                lacks the monitored key.
            DiskFullError: no space left where the file is written (an ``OSError`` with
                ``errno`` ``ENOSPC``); it names the folder, the space needed and the space free.
                The previous files are intact.
            OSError: the write failed otherwise; the previous files are intact.

        Example:
            >>> import tempfile, torch, hypertuner
            >>> run = hypertuner.start_run({}, name="s", storage=tempfile.mkdtemp())
            >>> hypertuner.Saver().save(torch.nn.Linear(1, 1), step=10).name
            'step-00000010.pt'
            >>> run.finish()
        """
        return self._save(model, step=step, epoch=epoch, metrics=metrics, extra=extra)

    def _save(
        self,
        model: Any = None,
        *,
        step: int | None = None,
        epoch: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        require_monitor: bool = True,
        source: tuple[str, str] = (
            " (the saver's monitor) in the metrics given to Saver.save()",
            "Pass it in metrics=, or change monitor=.",
        ),
    ) -> Path | None:
        """:meth:`save`; ``source`` says, in the caller's words, where the metrics came from
        and how to give the monitor (the message of a monitor missing from them)."""
        model = self.model if model is None else model
        if model is None:
            msg = "Saver.save() needs a model: pass it to Saver(model) or to save(model)."
            raise TypeError(msg)
        _check_model(model, "Saver.save()")
        step = _check_step("step", step)
        epoch = _check_step("epoch", epoch)
        if self.run.rank != 0 or os.getpid() != self.run._pid:
            return None  # only global rank zero writes
        plain_metrics = _plain_metrics(metrics)
        numbered = step is not None or epoch is not None
        if (
            numbered
            and require_monitor
            and self.monitor is not None
            and self.monitor not in plain_metrics
        ):
            where, hint = source
            raise UnknownKeyError.for_key(self.monitor, plain_metrics, where=where, hint=hint)
        state = model.state_dict() if _is_module(model) else dict(model)
        record: dict[str, Any] = {
            "format": _FORMAT,
            "format_version": FORMAT_VERSION,
            "run": self.run.name,
            "config": _plain(self.run.config),
            "state_dict": state,
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "step": step,
            "epoch": epoch,
            "metrics": plain_metrics,
            "time": time.time(),
            "extra": _loadable(dict(extra), "extra") if extra else {},
        }
        target = (
            self.directory / CHECKPOINT_FOLDER / _checkpoint_name(step, epoch)
            if numbered
            else self.path
        )
        if self._worker is not None:
            keep = numbered and self._is_new_best(plain_metrics)
            self._worker.submit(record, step, epoch, plain_metrics, keep=keep)
            return target
        return self._write(record, step, epoch, plain_metrics)

    def _is_new_best(self, metrics: Mapping[str, float]) -> bool:
        """Whether a checkpoint with ``metrics`` beats every one submitted so far (by monitor)."""
        value = metrics.get(self.monitor) if self.monitor is not None else None
        if value is None or value != value:
            return False
        best = self._best_submitted
        if best is None or (value < best if self.mode == "min" else value > best):
            self._best_submitted = value
            return True
        return False

    def _write(
        self,
        record: dict[str, Any],
        step: int | None,
        epoch: int | None,
        metrics: dict[str, float],
    ) -> Path:
        with self._lock:
            _join_removals()
            if self._ledger is None:
                self._ledger = _read_ledger(self.directory)
                _remove_orphans(self.directory, self._ledger)
                self._settle_model_entry()
            try:
                if step is None and epoch is None:
                    return self._write_model(record)
                return self._write_checkpoint(record, step, epoch, metrics)
            except BaseException as exc:
                self._ledger = None  # re-read (and settle) what is on disk at the next save
                full = _no_space(exc)
                if full is None or isinstance(exc, DiskFullError):
                    raise
                raise self._disk_full(record, step, epoch, full) from exc

    def _disk_full(
        self, record: dict[str, Any], step: int | None, epoch: int | None, cause: OSError
    ) -> DiskFullError:
        """The error for a save that ran out of space (torch hides the ``OSError`` in a
        ``RuntimeError`` of its own): the folder, the space the file needs, the space free."""
        needed = sum(t.numel() * t.element_size() for t in _tensors(record)) + 64 * 1024
        try:
            free = shutil.disk_usage(self.directory).free
        except OSError:
            free = None
        name = MODEL_FILE if step is None and epoch is None else _checkpoint_name(step, epoch)
        room = f" and {_megabytes(free)} are free" if free is not None else ""
        quota = " (disk quota exceeded)" if cause.errno == getattr(errno, "EDQUOT", -1) else ""
        msg = (
            f"No space left in {str(self.directory)!r} to save {name}{quota}: it needs about "
            f"{_megabytes(needed)}{room}. The previous {MODEL_FILE} is intact. Free some space, "
            "or keep runs on a larger disk (run.storage=... or $HYPERTUNER_STORAGE)."
        )
        error = DiskFullError(msg, path=str(self.directory), needed=needed, free=free)
        error.errno = cause.errno
        return error

    def _settle_model_entry(self) -> None:
        """Make the ledger say which of its two hashes ``model.pt`` has, once per saver.

        A process killed between writing the ledger and replacing ``model.pt`` leaves the older
        file, which matches ``previous_sha256``; the next save moves ``sha256`` to
        ``previous_sha256``, so it must first be the hash of the file really there. A file whose
        hash was never recorded (``sha256`` null, left by an older version killed while hashing)
        is never adopted: nothing says it is the file that was written.
        """
        assert self._ledger is not None
        model = self._ledger.get("model") or {}
        if not model.get("previous_sha256") or not self.path.is_file():
            return
        found = _file_sha256(self.path)
        if model.get("sha256") and found == model.get("sha256"):
            settled = {**model, "previous_sha256": None, "previous_size": None}
        elif found == model["previous_sha256"]:
            settled = {
                **model,
                "sha256": found,
                "size": model.get("previous_size"),
                "previous_sha256": None,
                "previous_size": None,
                "source": None,
            }
        else:
            return  # neither: load() reports the file as changed or corrupt
        self._commit_ledger({**self._ledger, "model": settled})

    def _commit_ledger(self, ledger: dict[str, Any]) -> None:
        ledger["format_version"] = FORMAT_VERSION
        ledger["monitor"], ledger["mode"] = self.monitor, self.mode
        _files.write_json(self.directory / LEDGER_FILE, ledger)
        self._ledger = ledger

    def _model_entry(self, digest: str | None, size: int, source: dict[str, Any]) -> dict[str, Any]:
        old = (self._ledger or {}).get("model") or {}
        return {
            "file": MODEL_FILE,
            "sha256": digest,
            "size": size,
            # model.pt is replaced after the ledger is written: a crash in between leaves the
            # previous file, which must still pass the check.
            "previous_sha256": old.get("sha256"),
            "previous_size": old.get("size"),
            "source": source.get("file"),
            "step": source.get("step"),
            "epoch": source.get("epoch"),
            "metrics": source.get("metrics", {}),
        }

    def _write_model(self, record: dict[str, Any]) -> Path:
        ledger = dict(self._ledger or {})
        source = {
            "step": record["step"],
            "epoch": record["epoch"],
            "metrics": _json_metrics(record["metrics"]),
        }

        def record_hash(writer: _HashingWriter) -> None:
            # The new file is durable; its hash (computed alongside the write and the fsync) goes
            # into the ledger, durably, before the file replaces model.pt. A kill before the
            # replace leaves the previous file, which the ledger keeps as previous_sha256.
            digest, size = writer.finish()
            ledger["model"] = self._model_entry(digest, size, source)
            self._commit_ledger(ledger)

        _write_record(self.path, record, record_hash)
        self.run.wrote(self.path, self.directory / LEDGER_FILE)
        return self.path

    def _write_checkpoint(
        self, record: dict[str, Any], step: int | None, epoch: int | None, metrics: dict[str, float]
    ) -> Path:
        folder = self.directory / CHECKPOINT_FOLDER
        folder.mkdir(exist_ok=True)
        name = _checkpoint_name(step, epoch)
        target = folder / name
        relative = f"{CHECKPOINT_FOLDER}/{name}"
        ledger = dict(self._ledger or {})
        if any(e.get("file") == relative for e in ledger.get("checkpoints", [])):
            # Rewriting a recorded file: forget its old hash first, or a crash between the
            # replace and the ledger write would leave a good file that fails its check.
            ledger["checkpoints"] = [e for e in ledger["checkpoints"] if e.get("file") != relative]
            self._commit_ledger(ledger)
        digest, size = _write_record(target, record, lambda writer: None).finish()
        entry = {
            "file": relative,
            "sha256": digest,
            "size": size,
            "step": step,
            "epoch": epoch,
            "metrics": _json_metrics(metrics),
            "time": record["time"],
        }
        ledger = dict(self._ledger or {})
        entries = [e for e in ledger.get("checkpoints", []) if e.get("file") != relative]
        entries.append(entry)
        kept, best = self._choose(entries, entry)
        dropped = [e for e in entries if e not in kept]
        ledger["checkpoints"] = kept
        ledger["last"] = relative
        old_model = ledger.get("model") or {}
        changed = old_model.get("sha256") != best["sha256"] or not self.path.exists()
        if changed:
            ledger["model"] = self._model_entry(best["sha256"], best["size"], best)
        # The new checkpoint is durable; record it, then point model.pt at the best, and only
        # then delete what it replaces.
        self._commit_ledger(ledger)
        written: list[Path] = [target, self.directory / LEDGER_FILE]
        if changed:
            _link_replace(self.directory / best["file"], self.path)
            written.append(self.path)
        for old in dropped:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.directory / old["file"])
        if dropped:
            _files.fsync_directory(folder)
        self.run.wrote(*written)
        return target

    def _choose(
        self, entries: list[dict[str, Any]], latest: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Return the entries to keep (oldest first) and the one ``model.pt`` should be."""
        order = {id(e): i for i, e in enumerate(entries)}
        if self.monitor is None:
            kept = entries[-self.keep :]
            return kept, latest
        sign = 1.0 if self.mode == "min" else -1.0

        def badness(entry: dict[str, Any]) -> tuple[float, int]:
            value = self._score(entry)
            return (sign * value if value is not None else math.inf, -order[id(entry)])

        ranked = sorted((e for e in entries if self._scored(e)), key=badness)
        best_k = ranked[: self.keep]
        best = best_k[0] if best_k else latest
        kept_ids = {id(e) for e in best_k} | {id(latest)}
        return [e for e in entries if id(e) in kept_ids], best

    def _scored(self, entry: dict[str, Any]) -> bool:
        return self._score(entry) is not None

    def _score(self, entry: dict[str, Any]) -> float | None:
        metrics = entry.get("metrics")
        value: Any = metrics.get(self.monitor) if isinstance(metrics, dict) else None
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 309+ digits
            return None
        return None if math.isnan(number) else number

    def resume(self, model: Any = None, optimizer: Any = None) -> dict[str, Any] | None:
        """Restore the run's last checkpoint (else ``model.pt``) into the model and optimizer.

        This is how a recalled run continues where it stopped.

        Returns:
            The record read (see :func:`load`), or ``None`` when the run saved nothing yet.

        Example:
            >>> import tempfile, torch, hypertuner
            >>> root = tempfile.mkdtemp()
            >>> run = hypertuner.start_run({}, name="r", storage=root)
            >>> _ = hypertuner.Saver(torch.nn.Linear(1, 1)).save(step=7); run.finish()
            >>> run = hypertuner.start_run({}, name="r", storage=root)
            >>> hypertuner.Saver(torch.nn.Linear(1, 1)).resume()["step"]
            7
            >>> run.finish()
        """
        model = self.model if model is None else model
        optimizer = self.optimizer if optimizer is None else optimizer
        if self._worker is not None:
            self._worker.wait()
        with self._lock:
            ledger = _read_ledger(self.directory)
        last = ledger.get("last")
        path = self.directory / last if last else self.path
        if not path.is_file():
            if not self.path.is_file():
                return None
            path = self.path
        return _load_file(path, model, optimizer, map_location="cpu")

    def wait(self) -> None:
        """Wait until a background save in progress is on disk (and raise its error, if any).

        Example:
            >>> import tempfile, torch, hypertuner
            >>> run = hypertuner.start_run({}, name="w", storage=tempfile.mkdtemp())
            >>> saver = hypertuner.Saver(torch.nn.Linear(1, 1), background=True)
            >>> _ = saver.save(); saver.wait(); saver.path.is_file()
            True
            >>> run.finish()
        """
        if self._worker is not None:
            self._worker.wait()
        _join_removals()

    def close(self) -> None:
        """Wait for the last background save; the saver can still be used afterwards.

        Example:
            >>> import tempfile, torch, hypertuner
            >>> run = hypertuner.start_run({}, name="c", storage=tempfile.mkdtemp())
            >>> hypertuner.Saver(torch.nn.Linear(1, 1)).close(); run.finish()
        """
        self.wait()


def _no_space(error: BaseException | None) -> OSError | None:
    """The ``OSError`` ``ENOSPC`` (or ``EDQUOT``) behind ``error``, through its causes, if any."""
    codes = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in codes:
            return error
        error = error.__cause__ or error.__context__
    return None


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _remove_orphans(directory: Path, ledger: Mapping[str, Any]) -> None:
    """Delete numbered checkpoints a killed save left behind unrecorded (only ours, only here)."""
    folder = directory / CHECKPOINT_FOLDER
    _files.remove_stale_temporaries(folder)
    _files.remove_stale_temporaries(directory)
    recorded = {e.get("file") for e in ledger.get("checkpoints", [])}
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        if _is_checkpoint_name(name) and f"{CHECKPOINT_FOLDER}/{name}" not in recorded:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(folder / name)


def _is_checkpoint_name(name: str) -> bool:
    if not name.endswith(".pt"):
        return False
    parts = name[:-3].split("-")
    if len(parts) not in (2, 4) or not all(p.isdigit() for p in parts[1::2]):
        return False
    return parts[0::2] in (["epoch"], ["step"], ["epoch", "step"])


def _weak_end(saver: Saver) -> Callable[[Run, str], None]:
    reference = weakref.ref(saver)

    def on_end(run: Run, status: str) -> None:
        found = reference()
        if found is None:
            return
        try:
            found.wait()
        except Exception as exc:
            warnings.warn(
                f"The last background save of run {run.name!r} failed: {exc}",
                HypertunerWarning,
                stacklevel=2,
            )

    return on_end


_BACKGROUND: weakref.WeakSet[Saver] = weakref.WeakSet()
_ATEXIT_DONE = False


def _track_background(saver: Saver) -> None:
    global _ATEXIT_DONE
    _BACKGROUND.add(saver)
    if not _ATEXIT_DONE:
        _ATEXIT_DONE = True
        atexit.register(_wait_all)


def _wait_all() -> None:
    for saver in list(_BACKGROUND):
        with contextlib.suppress(Exception):
            saver.wait()
