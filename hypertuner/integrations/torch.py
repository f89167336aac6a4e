"""The plain-PyTorch hook: save the model every N optimizer steps or seconds, and at the end.

``attach(optimizer, model, every_n_steps=500)`` registers an optimizer step post-hook that calls a
:class:`hypertuner.Saver` at the chosen cadence; the hook also saves a last time when the run ends
(interpreter exit, the end of a ``with run:`` block) and on SIGTERM. A SIGTERM that arrives in the
middle of an optimizer step is held until the step is complete, so the last checkpoint never
holds half-updated weights.

Example:
    >>> import tempfile, torch, hypertuner
    >>> from hypertuner.integrations.torch import attach
    >>> run = hypertuner.start_run({}, name="hooked", storage=tempfile.mkdtemp())
    >>> model = torch.nn.Linear(2, 1)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> hook = attach(optimizer, model, every_n_steps=2)
    >>> for _ in range(4):
    ...     model(torch.ones(1, 2)).sum().backward()
    ...     optimizer.step()
    >>> sorted(p.name for p in (run.directory / "checkpoints").iterdir())
    ['step-00000002.pt', 'step-00000004.pt']
    >>> hook.remove(); run.finish()
"""

from __future__ import annotations

import signal
import threading
import time
import weakref
from types import FrameType
from typing import Any

import torch

from ..run import Run
from ..saver import Saver

__all__ = ["SaveHook", "attach"]


class SaveHook:
    """The handle :func:`attach` returns: counts optimizer steps and saves at the cadence.

    Attributes:
        saver: the :class:`hypertuner.Saver` used.
        step: optimizer steps taken (continued from the checkpoint a recalled run resumed).
        record: the checkpoint restored when a recalled run resumed, else ``None``.

    Example:
        >>> import tempfile, torch, hypertuner
        >>> from hypertuner.integrations.torch import attach
        >>> run = hypertuner.start_run({}, name="h", storage=tempfile.mkdtemp())
        >>> model = torch.nn.Linear(1, 1)
        >>> hook = attach(torch.optim.SGD(model.parameters(), lr=0.1), model)
        >>> hook.step, hook.record
        (0, None)
        >>> hook.remove(); run.finish()
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        saver: Saver,
        *,
        every_n_steps: int | None,
        every_n_seconds: float | None,
    ) -> None:
        self.saver = saver
        self.optimizer = optimizer
        self.every_n_steps = every_n_steps
        self.every_n_seconds = every_n_seconds
        self.step = 0
        self.record: dict[str, Any] | None = None
        self._saved_step: int | None = None
        self._last_time = time.monotonic()
        self._removed = False
        self._in_step = False
        self._sigterm_held: int | None = None
        self._previous_handler: Any = None
        self._handler: Any = None
        self._handles = [
            optimizer.register_step_pre_hook(self._before_step),
            optimizer.register_step_post_hook(self._after_step),
        ]

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._in_step = True

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        try:
            self.step += 1
            due = self.every_n_steps is not None and self.step % self.every_n_steps == 0
            if (
                not due
                and self.every_n_seconds is not None
                and time.monotonic() - self._last_time >= self.every_n_seconds
            ):
                due = True
            if due:
                self._save()
        finally:
            self._in_step = False
        if self._sigterm_held is not None:
            signum, self._sigterm_held = self._sigterm_held, None
            self._stop(signum)

    def save(self) -> None:
        """Save now (at the current step), unless this step was saved already.

        Example:
            >>> import tempfile, torch, hypertuner
            >>> from hypertuner.integrations.torch import attach
            >>> run = hypertuner.start_run({}, name="n", storage=tempfile.mkdtemp())
            >>> model = torch.nn.Linear(1, 1)
            >>> hook = attach(torch.optim.SGD(model.parameters(), lr=0.1), model)
            >>> hook.save(); (run.directory / "model.pt").is_file()
            True
            >>> hook.remove(); run.finish()
        """
        busy, self._in_step = self._in_step, True
        try:
            self._save()
        finally:
            self._in_step = busy
        if not busy and self._sigterm_held is not None:
            signum, self._sigterm_held = self._sigterm_held, None
            self._stop(signum)

    def _save(self) -> None:
        if self._saved_step == self.step:
            return
        self.saver._save(step=self.step, require_monitor=False)
        self._saved_step = self.step
        self._last_time = time.monotonic()

    def remove(self) -> None:
        """Stop saving: remove the optimizer hooks and the SIGTERM handler; no final save.

        Example:
            >>> import tempfile, torch, hypertuner
            >>> from hypertuner.integrations.torch import attach
            >>> run = hypertuner.start_run({}, name="x", storage=tempfile.mkdtemp())
            >>> model = torch.nn.Linear(1, 1)
            >>> attach(torch.optim.SGD(model.parameters(), lr=0.1), model).remove(); run.finish()
        """
        if self._removed:
            return
        self._removed = True
        for handle in self._handles:
            handle.remove()
        self._restore_signal()

    # -- the end of the run and SIGTERM

    def _on_run_end(self, run: Run, status: str) -> None:
        if self._removed:
            return
        try:
            if self.step > 0:
                self._save()
            self.saver.wait()
        finally:
            self.remove()

    def _install_signal(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous_handler = signal.getsignal(signal.SIGTERM)
        if self._previous_handler is signal.SIG_IGN:
            return  # the program ignores SIGTERM on purpose
        reference = weakref.ref(self)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            hook = reference()
            if hook is None or hook._removed:
                _call(hook._previous_handler if hook else signal.SIG_DFL, signum, frame)
                return
            if hook._in_step:  # finish the step (or save) first: no half-updated last save
                hook._sigterm_held = signum
                return
            hook._stop(signum)

        self._handler = on_sigterm
        signal.signal(signal.SIGTERM, on_sigterm)

    def _stop(self, signum: int) -> None:
        run = self.saver.run
        run.mark("interrupted", error="SIGTERM")
        if self.step > 0:
            self._in_step = True  # a second SIGTERM during this save waits for it
            self._save()
        previous = self._previous_handler
        self.remove()
        _call(previous, signum, None)
        raise SystemExit(128 + signum)

    def _restore_signal(self) -> None:
        handler = self._handler
        if handler is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is handler:
            previous = self._previous_handler
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        self._handler = None


def _call(handler: Any, signum: int, frame: FrameType | None) -> None:
    """Run the handler that was there before ours (``run.py``'s raises SystemExit itself)."""
    if callable(handler):
        handler(signum, frame)


def attach(
    optimizer: torch.optim.Optimizer,
    model: Any = None,
    *,
    every_n_steps: int | None = None,
    every_n_seconds: float | None = None,
    saver: Saver | None = None,
) -> SaveHook:
    """Save ``model`` every ``every_n_steps`` optimizer steps (or seconds), and at the end.

    The checkpoints go under ``storage/<run>/checkpoints/`` with ``model.pt`` the latest (or the
    best, with a ``saver`` that monitors a metric). A recalled run resumes: the last checkpoint
    is restored into ``model`` and ``optimizer`` and counting continues from its step.

    Args:
        optimizer: the optimizer whose steps are counted (and whose state is saved).
        model: the ``torch.nn.Module`` to save (or give a ``saver`` that has one).
        every_n_steps: save after every this many optimizer steps.
        every_n_seconds: save after the first step at least this many seconds after the last save.
        saver: the :class:`hypertuner.Saver` to use; default: ``Saver(model, optimizer)`` on
            the current run.

    Returns:
        A :class:`SaveHook`; ``hook.remove()`` stops it.

    Raises:
        TypeError: no model, or a cadence that is not a positive number.
        NoRunError: no saver was given and no run was started.

    Example:
        >>> import tempfile, torch, hypertuner
        >>> from hypertuner.integrations.torch import attach
        >>> run = hypertuner.start_run({}, name="a", storage=tempfile.mkdtemp())
        >>> model = torch.nn.Linear(1, 1)
        >>> hook = attach(torch.optim.SGD(model.parameters(), lr=0.1), model, every_n_seconds=60)
        >>> hook.remove(); run.finish()
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        msg = f"attach() needs a torch.optim.Optimizer, not {type(optimizer).__name__}."
        raise TypeError(msg)
    for name, value in (("every_n_steps", every_n_steps), ("every_n_seconds", every_n_seconds)):
        if value is None:
            continue
        whole = name == "every_n_steps"
        if (
            isinstance(value, bool)
            or not isinstance(value, int if whole else (int, float))
            or value <= 0
        ):
            kind = "a whole number" if whole else "a number"
            msg = f"attach() {name} must be {kind} > 0, not {value!r}."
            raise TypeError(msg)
    if saver is None:
        if model is None:
            msg = "attach() needs the model to save: attach(optimizer, model, ...) or saver=."
            raise TypeError(msg)
        saver = Saver(model, optimizer)
    elif model is not None:
        saver.model = model
    if saver.model is None:
        msg = "attach() needs the model to save: the saver given has none; pass model=."
        raise TypeError(msg)
    if saver.optimizer is None:
        saver.optimizer = optimizer
    hook = SaveHook(optimizer, saver, every_n_steps=every_n_steps, every_n_seconds=every_n_seconds)
    run = saver.run
    if run.recalled:
        record = saver.resume()
        if record is not None:
            hook.record = record
            hook.step = int(record.get("step") or 0)
            hook._saved_step = hook.step
    reference = weakref.ref(hook)

    def on_end(run: Run, status: str) -> None:
        found = reference()
        if found is not None:
            found._on_run_end(run, status)

    run.on_end(on_end)
    hook._install_signal()
    return hook
