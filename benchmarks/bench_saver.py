"""Benchmark of saving (issue 3): durable model saves, background stalls, the Lightning callback.

Figures, each the median of interleaved pairs with its reference in this one run:

- a durable ``Saver.save()`` of a 201 MB ``state_dict`` (temp file, fsync, replace, folder fsync,
  sha256 recorded), its window running until :meth:`Saver.wait` returns: the sha256 thread
  (which writes the ledger a second time) and the old file's deletion in a thread are inside
  it; against writing the same number of bytes over one file from Python with fsync (the
  truncation freeing the previous copy's blocks is inside that window too). The time until
  ``save()`` returns and the deferred part are shown as their own rows;
- the same save vs Lightning's ``trainer.save_checkpoint`` of the same model;
- the training-loop stall of ``Saver(background=True).save()`` vs the time a synchronous save
  holds the loop (each followed, untimed, by :meth:`Saver.wait`, so no sample's background work
  lands in the next sample's window); the background save's whole time to disk is a context row;
- the Lightning callback's per-step cost: during real CPU ``Trainer.fit`` runs (MLP, 20k
  samples, 3 epochs, ``self.log`` every step, ``logger=False``), Lightning's callback
  dispatcher is timed hook by hook; the cost is the time spent dispatching the per-step hooks
  with ``HypertunerCallback`` minus the same without any callback, per step (fits with and
  without alternate). The per-epoch and per-fit hooks (run set-up, checkpoint saves, waits)
  are a row of their own, and the whole fits' difference is shown for context.

Run: ``python benchmarks/bench_saver.py`` (the issue's sizes) or ``--quick`` (fewer pairs).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Paired,
    Row,
    interleave,
    load_text,
    pairs,
    row,
    standard_options,
    table,
    versions,
)

MB = 1024 * 1024


def raw_overwrite(path: Path, data: bytes) -> float:
    """Seconds to write ``data`` over ``path`` (truncating the previous copy) and fsync it."""
    start = time.perf_counter()
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return time.perf_counter() - start


def torch_save_durable(torch: Any, path: Path, state: Any) -> float:
    """Seconds of torch.save into a temp file + fsync + os.replace + folder fsync (no hash)."""
    start = time.perf_counter()
    temp = path.with_name(f".tmp-{path.name}")
    with open(temp, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return time.perf_counter() - start


def make_state(torch: Any, size_mb: int) -> dict[str, Any]:
    count = max(1, round(size_mb * 1e6 / (4 * MB)))  # 4 MiB float32 tensors (1024 x 1024)
    generator = torch.Generator().manual_seed(0)
    return {f"layer{i}.weight": torch.randn(1024, 1024, generator=generator) for i in range(count)}


class SaveWindow:
    """Sampler of ``saver.save()`` whose window runs until ``saver.wait()`` returns.

    Each call returns the whole window; the time until ``save()`` returned is kept in
    ``returned``, so the deferred part (hashing, the second ledger write, the old file's
    deletion) can be reported on its own.
    """

    def __init__(self, saver: Any) -> None:
        self.saver = saver
        self.returned: list[float] = []

    def __call__(self) -> float:
        start = time.perf_counter()
        self.saver.save()
        returned = time.perf_counter()
        self.saver.wait()
        end = time.perf_counter()
        self.returned.append(returned - start)
        return end - start


class StallWindow:
    """Sampler of the time ``saver.save()`` holds the caller; then an untimed ``wait()``.

    The whole time to disk (until ``wait()`` returns) is kept in ``whole``.
    """

    def __init__(self, saver: Any) -> None:
        self.saver = saver
        self.whole: list[float] = []

    def __call__(self) -> float:
        start = time.perf_counter()
        self.saver.save()
        returned = time.perf_counter()
        self.saver.wait()
        self.whole.append(time.perf_counter() - start)
        return returned - start


def bench_durable(torch: Any, root: Path, size_mb: int, repeat: int) -> list[Row]:
    import hypertuner

    state = make_state(torch, size_mb)
    run = hypertuner.start_run({"bench": "saver"}, name="durable", storage=root)
    saver = hypertuner.Saver(state, run=run)
    saver.save()  # warm-up: first-touch costs on the page cache
    saver.wait()
    size = (run.directory / "model.pt").stat().st_size
    data = os.urandom(MB) * (size // MB) + os.urandom(size % MB)
    ours = SaveWindow(saver)
    raw_path, torch_path = run.directory / "raw.bin", run.directory / "torch.pt"
    # interleaved, so drifting disk and CPU load hit all three alike; the warm-up round's
    # samples of SaveWindow are dropped below with interleave's
    mine, raw, with_torch = interleave(
        [
            ours,
            lambda: raw_overwrite(raw_path, data),
            lambda: torch_save_durable(torch, torch_path, state),
        ],
        repeat,
    )
    returned = ours.returned[-repeat:]
    run.finish()
    label = f"{size / 1e6:.0f} MB"
    return [
        row(
            f"durable save of a {label} state_dict, until wait(), vs Python write+fsync",
            Paired(mine, raw),
            "<= 1.3x",
        ),
        row("  context: until save() returned, vs Python write+fsync", Paired(returned, raw), ""),
        row(
            "  context: deferred part (sha256, 2nd ledger write, old file's deletion)",
            Paired([m - r for m, r in zip(mine, returned, strict=True)]),
            "",
        ),
        row(
            f"  context: torch.save+fsync+replace ({label}) vs Python write+fsync",
            Paired(with_torch, raw),
            "",
        ),
    ]


def bench_background(torch: Any, root: Path, size_mb: int, repeat: int) -> list[Row]:
    import hypertuner

    state = make_state(torch, size_mb)
    run = hypertuner.start_run({}, name="background", storage=root)
    synchronous = StallWindow(hypertuner.Saver(state, run=run))
    background = StallWindow(hypertuner.Saver(state, run=run, background=True))
    paired = pairs(background, synchronous, repeat)
    run.finish()
    return [
        row("training-loop stall of a background save vs a synchronous save", paired, "<= 0.2x"),
        row(
            "  context: background save until on disk (wait()) vs synchronous, same",
            Paired(background.whole[-repeat:], synchronous.whole[-repeat:]),
            "",
        ),
    ]


def bench_lightning_checkpoint(
    torch: Any, pl: Any, root: Path, size_mb: int, repeat: int
) -> list[Row]:
    from torch.utils.data import DataLoader, TensorDataset

    import hypertuner

    class Big(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.weights = torch.nn.ParameterList(
                torch.nn.Parameter(t) for t in make_state(torch, size_mb).values()
            )

        def training_step(self, batch: Any, index: int) -> Any:
            return self.weights[0][0, 0] * batch[0].sum()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.0)

    module = Big()
    trainer = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(module, DataLoader(TensorDataset(torch.ones(1, 1)), batch_size=1))
    run = hypertuner.start_run({}, name="vs-lightning", storage=root)
    saver = hypertuner.Saver(module, trainer.optimizers[0], run=run)
    target = root / "lightning.ckpt"

    def lightning() -> float:  # over the previous file, as our save replaces model.pt
        start = time.perf_counter()
        trainer.save_checkpoint(target)
        return time.perf_counter() - start

    paired = pairs(SaveWindow(saver), lightning, repeat)
    run.finish()
    return [
        row(
            "durable save, until wait(), vs Lightning trainer.save_checkpoint, same model",
            paired,
            "<= 0.6x",
        )
    ]


# ---------------------------------------------------------------------------------------------
# The callback's per-step cost


class HookClock:
    """Times Lightning's callback dispatcher (``trainer.call._call_callback_hooks``) per hook.

    Every callback hook Lightning calls during ``fit`` goes through that one function; wrapping
    it counts each hook's calls and the seconds spent dispatching it to every callback.
    """

    def __init__(self, pl: Any) -> None:
        self.module = importlib.import_module(f"{pl.__name__}.trainer.call")
        if not callable(getattr(self.module, "_call_callback_hooks", None)):
            msg = (
                f"{pl.__name__} {pl.__version__} has no trainer.call._call_callback_hooks, the "
                "dispatcher this benchmark times: update HookClock for this Lightning."
            )
            raise RuntimeError(msg)
        self.calls: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        original = self.module._call_callback_hooks
        calls, seconds = self.calls, self.seconds
        clock = time.perf_counter

        def timed(trainer: Any, hook_name: str, *args: Any, **kwargs: Any) -> None:
            start = clock()
            try:
                original(trainer, hook_name, *args, **kwargs)
            finally:
                seconds[hook_name] = seconds.get(hook_name, 0.0) + clock() - start
                calls[hook_name] = calls.get(hook_name, 0) + 1

        self.calls.clear()
        self.seconds.clear()
        self.module._call_callback_hooks = timed
        try:
            yield
        finally:
            self.module._call_callback_hooks = original

    def split(self, steps: int) -> tuple[float, float, list[str]]:
        """Seconds in the hooks called at every step, in the others, and the per-step names."""
        per_step = sorted(h for h, n in self.calls.items() if n >= steps)
        each = sum(self.seconds[h] for h in per_step)
        return each, sum(self.seconds.values()) - each, per_step


def bench_callback(torch: Any, pl: Any, root: Path, repeat: int) -> tuple[list[Row], str]:
    from torch.utils.data import DataLoader, TensorDataset

    import hypertuner
    from hypertuner.integrations.lightning import HypertunerCallback

    class MLP(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
            )

        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(20_000, 16, generator=generator)
    data = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=32)
    steps = 3 * len(data)
    clock = HookClock(pl)
    per_step_names: set[str] = set()
    # per kind of fit: (whole fit, per-step hooks, other hooks) of each fit, in seconds
    results: dict[str, list[tuple[float, float, float]]] = {"ours": [], "empty": [], "none": []}

    class Empty(pl.Callback):  # type: ignore[misc,name-defined]
        """A callback with no hooks of its own: what Lightning costs to dispatch any callback."""

    def fit(kind: str) -> Callable[[], float]:
        def sample() -> float:
            callbacks: list[Any] = []
            run = None
            if kind == "ours":
                run = hypertuner.start_run({}, storage=root, resume="new", name="fit")
                callbacks.append(HypertunerCallback(run=run))
            elif kind == "empty":
                callbacks.append(Empty())
            trainer = pl.Trainer(
                max_epochs=3,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                callbacks=callbacks,
                accelerator="cpu",
                devices=1,
                default_root_dir=str(root),
            )
            torch.manual_seed(0)
            module = MLP()
            with clock.timing():
                start = time.perf_counter()
                trainer.fit(module, data)
                whole = time.perf_counter() - start
            if run is not None:
                run.finish()  # the metrics' last flush; outside the fit, as in a script
            each, other, names = clock.split(steps)
            per_step_names.update(names)
            results[kind].append((whole, each, other))
            return whole

        return sample

    interleave([fit("ours"), fit("none"), fit("empty")], repeat)
    ours, empty, none = (results[k][-repeat:] for k in ("ours", "empty", "none"))

    def per_step_hooks(fits: list[tuple[float, float, float]]) -> list[float]:
        return [(f[1] - n[1]) / steps for f, n in zip(fits, none, strict=True)]

    once = Paired([(w[2] - n[2]) for w, n in zip(ours, none, strict=True)])
    whole = Paired(
        [(w[0] - w[2] - (n[0] - n[2])) / steps for w, n in zip(ours, none, strict=True)],
    )
    names = ", ".join(sorted(per_step_names))
    note = (
        f"callback: {steps} steps a fit; fits with HypertunerCallback, with an empty Callback "
        "subclass (Lightning's cost of dispatching any callback) and with none, in rotation; "
        f"each is timed in Lightning's callback dispatcher minus the fit with none; the per-step "
        f"hooks: {names}"
    )
    return [
        row(
            "Lightning step, HypertunerCallback's hooks, profiled (ref: an empty Callback's)",
            Paired(per_step_hooks(ours), per_step_hooks(empty)),
            "<= 25 us",
        ),
        row("  context: its per-epoch/per-fit hooks (run set-up, 3 saves, waits), a fit", once, ""),
        row(
            "  context: whole fit with minus without, per step (per-fit hooks excluded)",
            whole,
            "",
        ),
    ], note


def main(argv: list[str] | None = None) -> int:
    parser = standard_options(__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=201, help="state_dict size (default 201 MB)")
    options = parser.parse_args(argv)
    repeat = options.repeat or (3 if options.quick else 9)
    fit_repeat = options.repeat or (3 if options.quick else 7)

    import logging

    import torch

    warnings.simplefilter("ignore")
    pl: Any
    try:
        import pytorch_lightning as pl
    except ImportError:
        try:
            import lightning.pytorch as pl
        except ImportError:
            pl = None
    # after the import, which sets Lightning's own level
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)

    os.environ.pop("HYPERTUNER_STORAGE", None)
    # The same folder as the project (never $TMPDIR, which may be another file system or tmpfs).
    root = Path(tempfile.mkdtemp(prefix="bench-saver-", dir=Path(__file__).resolve().parent))
    started = time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    try:
        print(f"bench_saver: torch {torch.__version__}, {options.size_mb} MB state_dict, in {root}")
        print(f"machine at the start: {load_text()}; torch threads {torch.get_num_threads()}")
        rows += bench_durable(torch, root, options.size_mb, repeat)
        rows += bench_background(torch, root, options.size_mb, repeat)
        if pl is not None:
            rows += bench_lightning_checkpoint(torch, pl, root, options.size_mb, repeat)
            callback_rows, note = bench_callback(torch, pl, root, fit_repeat)
            rows += callback_rows
            notes.append(note)
        else:
            print("Lightning is not installed: the Lightning figures are skipped")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"({time.perf_counter() - started:.0f} s)")
    lightning = versions("pytorch-lightning", "lightning")
    references = [
        "Python write+fsync: open(path, 'wb') over the previous copy, one write of the same "
        "number of bytes as model.pt, flush, os.fsync; no temp file, rename or hash",
        f"torch {torch.__version__} ({torch.get_num_threads()} threads): torch.save into a "
        "temp file, fsync, os.replace, folder fsync (no hash)",
        f"{lightning}: trainer.save_checkpoint over the previous file (torch.save into memory, "
        "then one write; no fsync, no hash); the fits: Trainer(accelerator='cpu', devices=1, "
        "logger=False, no checkpointing, progress bar or summary), with no callback at all",
        *notes,
    ]
    table(rows, title="saver (issue 3)", references=references)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
