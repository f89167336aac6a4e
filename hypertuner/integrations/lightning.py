"""``HypertunerCallback``: a Lightning run saves itself into ``storage/<run>/`` with no saving code.

The callback joins the current run (or starts one from the ``LightningModule``'s hparams), calls a
:class:`hypertuner.Saver` at every checkpoint moment, marks the run ``failed`` or ``interrupted``
when training stops early, and on SIGTERM lets the current batch finish, saves a last checkpoint
and exits with status 143. In a sweep with a pruner, a trial the pruner stops is stopped by
``trainer.should_stop`` at the end of the batch: its last checkpoint is saved, ``fit`` returns,
and the run ends ``pruned``.

It works with ``pytorch_lightning`` and with the ``lightning.pytorch`` namespace: the class
subclasses the ``Callback`` of each one that is installed, so either ``Trainer`` accepts it.

Example:
    >>> from hypertuner.integrations.lightning import HypertunerCallback
    >>> HypertunerCallback(monitor="val_loss", mode="min").monitor
    'val_loss'
"""

from __future__ import annotations

import importlib.util
import math
import signal
import sys
import threading
from collections.abc import Mapping
from types import FrameType, ModuleType
from typing import Any

from .. import _deps, tracking
from ..errors import NoRunError, TrialPruned
from ..run import Run, current_run, start_run
from ..saver import Saver, check_options

__all__ = ["HypertunerCallback"]


def _lightning_modules() -> list[ModuleType]:
    """The Lightning namespaces to subclass: each of ``pytorch_lightning`` and
    ``lightning.pytorch`` that is installed (at least one, else a clear error)."""
    found: list[ModuleType] = []
    if importlib.util.find_spec("pytorch_lightning") is not None:
        found.append(_deps.require("pytorch_lightning", "lightning", "HypertunerCallback"))
    # find_spec on "lightning" itself: a dotted name would import the whole package to look.
    if importlib.util.find_spec("lightning") is not None:
        found.append(_deps.require("lightning.pytorch", "lightning", "HypertunerCallback"))
    if not found:
        _deps.require("pytorch_lightning", "lightning", "HypertunerCallback")  # raises
    return found


_NAMESPACES = _lightning_modules()
_BASES: tuple[type, ...] = tuple(dict.fromkeys(m.Callback for m in _NAMESPACES))


class _Optimizers:
    """Several optimizers saved and restored as one state dict."""

    def __init__(self, optimizers: list[Any]) -> None:
        self.optimizers = optimizers

    def state_dict(self) -> dict[str, Any]:
        return {str(i): o.state_dict() for i, o in enumerate(self.optimizers)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for i, optimizer in enumerate(self.optimizers):
            optimizer.load_state_dict(state[str(i)])


def _plain(value: Any, depth: int = 0) -> Any:
    """Plain JSON-able data from hparams (OmegaConf, Namespace, dataclasses, anything else)."""
    if depth > 20:
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if "omegaconf" in sys.modules:
        omegaconf = sys.modules["omegaconf"]
        if isinstance(value, (omegaconf.DictConfig, omegaconf.ListConfig)):
            return _plain(omegaconf.OmegaConf.to_container(value, resolve=True), depth + 1)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return _plain(dataclasses.asdict(value), depth + 1)
    if type(value).__name__ == "Namespace" and hasattr(value, "__dict__"):
        return _plain(vars(value), depth + 1)
    if "torch" in sys.modules and isinstance(value, sys.modules["torch"].Tensor):
        return value.tolist() if value.numel() <= 16 else repr(value)
    return repr(value)


def _trainer_setup(trainer: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "accelerator": type(trainer.accelerator).__name__,
        "strategy": type(trainer.strategy).__name__,
        "num_devices": trainer.num_devices,
        "num_nodes": trainer.num_nodes,
        "world_size": trainer.world_size,
        "precision": str(trainer.precision),
        "max_epochs": trainer.max_epochs,
        "max_steps": trainer.max_steps,
        "accumulate_grad_batches": trainer.accumulate_grad_batches,
        "gradient_clip_val": trainer.gradient_clip_val,
        "check_val_every_n_epoch": trainer.check_val_every_n_epoch,
        "val_check_interval": trainer.val_check_interval,
        "log_every_n_steps": trainer.log_every_n_steps,
    }
    return _plain(fields)  # type: ignore[no-any-return]


def _floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``{name: value}`` of Lightning's callback metrics as floats (what changed is compared)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError, RuntimeError):  # not a scalar: never compared equal
            out[key] = math.nan
    return out


def _mark(run: Run, status: str, error: str) -> None:
    """Record how the run ends; ``run.finish`` (at exit, or the ``with`` block) writes it."""
    run.mark(status, error=error)


class HypertunerCallback(*_BASES):  # type: ignore[misc]
    """Save a Lightning run into ``storage/<run>/`` at every checkpoint moment.

    - It joins the current run, or starts one from the ``LightningModule``'s hparams when the
      script never called :func:`hypertuner.parse`; the hparams and the trainer setup land in
      ``config.json`` (in ``meta.json`` under ``lightning`` when the run existed already).
    - It saves when a ``ModelCheckpoint`` saves; without one, at each validation end (or each
      training epoch end when there is no validation), with ``trainer.callback_metrics``.
    - It marks the run ``failed`` on an exception and ``interrupted`` on KeyboardInterrupt or
      SIGTERM; on SIGTERM the current batch finishes, a last checkpoint is saved and the
      process exits with status 143.
    - In a sweep with a pruner (``hypertuner.sweep(..., pruner="asha")``), the metrics it logs
      reach the pruner; a trial to stop gets ``trainer.should_stop`` at the end of the batch,
      its last checkpoint is saved, and its run ends ``pruned``.
    - A recalled run resumes: the last checkpoint's weights, optimizer state and loop progress
      are restored at the start of ``fit`` (unless ``fit`` was given a ``ckpt_path``).
    - Under DDP every rank shares the run; only global rank zero writes.

    Args:
        monitor: the metric that ranks checkpoints (``model.pt`` is the best); ``None``: the latest.
        mode: ``"min"`` or ``"max"``.
        keep: how many numbered checkpoints to keep.
        background: write checkpoints in a background thread (the default): the training loop
            pauses only to copy the tensors to CPU memory, about a tenth of a synchronous save,
            and the last save is waited for at the end of ``fit``, on an exception and on
            SIGTERM, so nothing durable is lost; a best checkpoint is never skipped (see
            :class:`hypertuner.Saver`). ``False`` writes each checkpoint before training goes on.
        run: the run to save into; default: the current run, or a new one.

    Example:
        >>> from hypertuner.integrations.lightning import HypertunerCallback
        >>> callback = HypertunerCallback(keep=2)
        >>> callback.keep, callback.monitor
        (2, None)
    """

    def __init__(
        self,
        monitor: str | None = None,
        mode: str = "min",
        *,
        keep: int = 3,
        background: bool = True,
        run: Run | None = None,
    ) -> None:
        super().__init__()
        check_options("HypertunerCallback", mode, keep)
        self.monitor = monitor
        self.mode = mode
        self.keep = keep
        self.background = background
        self.run = run
        self.saver: Saver | None = None
        self._owns_run = False
        self._has_checkpointing = False
        self._validated = False
        self._sigterm = False
        self._signal_installed = False
        self._log_every = 0
        self._world = 1
        self._val_keys: set[str] = set()
        self._before_val: dict[str, float] = {}
        self._last_batch_keys: frozenset[str] | None = None
        self._epoch_keys: set[str] = set()
        self._last_batch = -1  # the index of the epoch's last batch, while it is still watched
        self._logged_at: tuple[int, frozenset[str]] = (-1, frozenset())
        self._resumed: dict[str, Any] | None = None
        self._stopped = False
        self._pruned = False
        self._last_saved: tuple[int, int] | None = None

    @property
    def state_key(self) -> str:
        return "HypertunerCallback"

    # ------------------------------------------------------------------ setup

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit" and self.saver is not None:
            return
        run = self.run or current_run()
        hparams = _plain(dict(getattr(pl_module, "hparams", {}) or {}))
        setup = _trainer_setup(trainer)
        if run is None:
            run = self._start_run(trainer, {**hparams, "trainer": setup})
        elif run.rank == 0 and run.status == "running":
            run.update_meta(lightning={"hparams": hparams, "trainer": setup})
        self.run = run
        optimizer = None  # set in on_fit_start, once the strategy made the optimizers
        self.saver = Saver(
            pl_module,
            optimizer,
            run=run,
            monitor=self.monitor,
            mode=self.mode,
            keep=self.keep,
            background=self.background,
        )
        self._has_checkpointing = bool(getattr(trainer, "checkpoint_callbacks", []))
        self._log_every = int(getattr(trainer, "log_every_n_steps", 0) or 0)
        self._world = int(getattr(trainer, "world_size", 1) or 1)

    def _start_run(self, trainer: Any, config: dict[str, Any]) -> Run:
        """Start the run on rank zero; the other ranks join it by the name rank zero broadcasts."""
        world = int(getattr(trainer, "world_size", 1) or 1)
        if world == 1:
            run = start_run(config)
        elif trainer.global_rank == 0:
            run = start_run(config)
            trainer.strategy.broadcast(run.name, src=0)
        else:
            run = start_run(config, name=trainer.strategy.broadcast(None, src=0))
        self._owns_run = True
        return run

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if self.saver is None:
            msg = "HypertunerCallback.on_fit_start ran before setup: no run to save into."
            raise NoRunError(msg)
        optimizers = list(getattr(trainer, "optimizers", []) or [])
        if len(optimizers) == 1:
            self.saver.optimizer = optimizers[0]
        elif optimizers:
            self.saver.optimizer = _Optimizers(optimizers)
        if self.run is not None and self.run.recalled and trainer.ckpt_path is None:
            self._resume(trainer)

    def _resume(self, trainer: Any) -> None:
        assert self.saver is not None
        record = self.saver.resume()
        if record is None:
            return
        self._resumed = record
        loops = (record.get("extra") or {}).get("fit_loop")
        if loops:
            trainer.fit_loop.load_state_dict(loops)

    # ------------------------------------------------------------------ checkpoint moments

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if self._has_checkpointing and not trainer.sanity_checking:
            self._save(trainer)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._validated = False
        batches = trainer.num_training_batches  # inf for an iterable data set: never matched
        done = self._epoch_keys or not isinstance(batches, int)
        self._last_batch = -1 if done else batches - 1
        self._install_sigterm(trainer)

    def on_sanity_check_start(self, trainer: Any, pl_module: Any) -> None:
        self._install_sigterm(trainer)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or getattr(trainer.state, "fn", None) != "fit":
            return
        self._before_val = _floats(trainer.callback_metrics)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or getattr(trainer.state, "fn", None) != "fit":
            return
        self._validated = True
        metrics = trainer.callback_metrics
        # Validation's own metrics: those it added or changed (the training ones stand still),
        # kept out of the per-step logging, where they would repeat a stale value every step.
        before = self._before_val
        now = _floats(metrics)
        self._val_keys.update(k for k, v in now.items() if k not in before or before[k] != v)
        val = {k: v for k, v in metrics.items() if k in self._val_keys}
        self._log_metrics(trainer, val, trainer.global_step)  # training's: at the epoch's end
        self._share_stop(trainer)
        if not self._has_checkpointing:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        # The epoch's training metrics (on_epoch=True aggregates, and the last step's values
        # when no logging step fell on it); validation logged its own at its end. A metric
        # that first appears now is an epoch aggregate: never logged per step (stale there).
        metrics = trainer.callback_metrics
        if self._last_batch_keys is not None:
            self._epoch_keys.update(set(metrics) - self._last_batch_keys - self._val_keys)
            self._last_batch_keys = None
        step, done = self._logged_at
        now = {
            k: v
            for k, v in metrics.items()
            if k not in self._val_keys and not (step == trainer.global_step and k in done)
        }
        self._log_metrics(trainer, now, trainer.global_step)
        self._share_stop(trainer)
        if not self._has_checkpointing and not self._validated:
            self._save(trainer)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # Cheap on purpose: this runs every step (the per-step budget is a few microseconds).
        if self._log_every and trainer.global_step % self._log_every == 0:
            metrics = trainer.callback_metrics
            val, epoch = self._val_keys, self._epoch_keys  # stale between their own moments
            step_metrics = {k: v for k, v in metrics.items() if k not in val and k not in epoch}
            if step_metrics:
                self._log_metrics(trainer, step_metrics, trainer.global_step)
                self._logged_at = (trainer.global_step, frozenset(step_metrics))
            self._share_stop(trainer)
        if batch_idx == self._last_batch:  # until the first epoch shows its aggregates
            self._last_batch_keys = frozenset(trainer.callback_metrics)

    def _log_metrics(self, trainer: Any, metrics: Mapping[str, Any], step: int) -> None:
        """Send ``metrics`` to :func:`hypertuner.tracking.log` (TensorBoard), rank zero only."""
        if self.run is None or self.run.rank != 0 or not metrics:
            return
        try:
            tracking.log(metrics, step, run=self.run)
        except TrialPruned as exc:  # the sweep's pruner: stop after this batch, keep the work
            if not self._pruned:
                self._pruned = True
                _mark(self.run, "pruned", str(exc))
            if self._world == 1:
                trainer.should_stop = True  # with more ranks, _share_stop tells them all

    def _share_stop(self, trainer: Any) -> None:
        """Under DDP, stop every rank at the same step when rank zero's trial was pruned: a
        rank that went on alone would wait forever (NCCL) or crash (gloo) in its next
        collective. Called on every rank at the same points (the logging steps, validation)."""
        if self._world > 1 and trainer.strategy.reduce_boolean_decision(self._pruned, all=False):
            trainer.should_stop = True

    def _save(self, trainer: Any, *, last: bool = False) -> None:
        if self.saver is None:
            return
        moment = (trainer.global_step, trainer.current_epoch)
        if moment == self._last_saved and not last:
            return  # a second Lightning checkpoint of the same moment (save_last, say)
        self._last_saved = moment
        extra = {"fit_loop": trainer.fit_loop.state_dict(), "global_step": trainer.global_step}
        self.saver._save(
            step=trainer.global_step,
            epoch=trainer.current_epoch,
            metrics=dict(trainer.callback_metrics),
            extra=extra,
            require_monitor=not last,
            source=(  # in Lightning's words: the user never called Saver.save()
                " (HypertunerCallback's monitor=) in the metrics the module logged",
                f"Log it with self.log({self.monitor!r}, ...), or change monitor=.",
            ),
        )

    # ------------------------------------------------------------------ the end

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self._pruned and self.saver is not None and trainer.global_step > 0:
            self._save(trainer, last=True)  # the last checkpoint of a pruned trial
        if self.saver is not None:
            self.saver.wait()
        if self._sigterm and not self._stopped:
            # SIGTERM came after the loops' last check: still save and stop as asked.
            self._stopped = True
            self._save(trainer, last=True)
            if self.saver is not None:
                self.saver.wait()
            raise SystemExit(128 + signal.SIGTERM)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        run = self.run
        if run is None or self._stopped:
            return
        self._stopped = True
        interrupted = self._sigterm or isinstance(exception, (KeyboardInterrupt, SystemExit))
        if not interrupted:
            _mark(run, "failed", f"{type(exception).__name__}: {exception}")
            return
        _mark(run, "interrupted", "SIGTERM" if self._sigterm else type(exception).__name__)
        if self.saver is not None and trainer.global_step > 0:
            self._save(trainer, last=True)
            self.saver.wait()
        if self._sigterm and isinstance(exception, SystemExit) and not exception.code:
            exception.code = 128 + signal.SIGTERM  # Lightning's SIGTERMException exits 0

    def _install_sigterm(self, trainer: Any) -> None:
        """Wrap the SIGTERM handler Lightning installed when fit started (it is restored when fit
        ends): the run is marked interrupted and the loop stops after the current batch."""
        if self._signal_installed or threading.current_thread() is not threading.main_thread():
            return
        self._signal_installed = True
        previous = signal.getsignal(signal.SIGTERM)
        if previous in (signal.SIG_IGN,):
            return

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self._sigterm = True
            if self.run is not None:
                _mark(self.run, "interrupted", "SIGTERM")
            try:
                if callable(previous):
                    previous(signum, frame)  # Lightning's notifier (and run.py's handler)
            except SystemExit:
                pass  # Lightning raises at the end of the current batch instead
            if not getattr(trainer, "received_sigterm", False):
                raise SystemExit(128 + signum)  # no Lightning handler saw it: stop now

        signal.signal(signal.SIGTERM, on_sigterm)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._signal_installed = False
        self._stopped = False
        self._pruned = False
        if self.saver is not None:
            self.saver.wait()

    def state_dict(self) -> dict[str, Any]:
        return {"run": self.run.name if self.run is not None else None}
