"""Benchmark of saving (issue 3): durable model saves, background stalls, the Lightning callback.

Figures, each measured side by side with its reference in this one run:

- a durable ``Saver.save()`` of a 201 MB ``state_dict`` (temp file, fsync, replace, folder fsync,
  sha256 recorded) vs writing the same number of bytes from Python with fsync, same folder;
- the same save vs Lightning's ``trainer.save_checkpoint`` of the same model;
- the training-loop stall of ``Saver(background=True).save()`` vs a synchronous save;
- a Lightning fit (MLP, 20k samples, 3 epochs, ``self.log`` every step, ``logger=False``) with
  ``HypertunerCallback`` vs without it, per step, the callback's checkpoint writes excluded.

Run: ``python benchmarks/bench_saver.py`` (the issue's sizes) or ``--quick`` (fewer repeats).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, row, standard_options, table

MB = 1024 * 1024


def best_of(fn: Callable[[], float], repeat: int) -> float:
    """The minimum of ``repeat`` calls of ``fn`` (each returns the seconds it measured)."""
    return min(fn() for _ in range(repeat))


def durable_write(path: Path, data: bytes) -> float:
    start = time.perf_counter()
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    os.unlink(path)
    return elapsed


def torch_save_durable(torch: Any, path: Path, state: Any) -> float:
    """torch.save into a temp file + fsync + os.replace + folder fsync (no hashing)."""
    from hypertuner import _files

    start = time.perf_counter()
    with _files.atomic_open(path, "wb") as handle:
        torch.save(state, handle)
    return time.perf_counter() - start


def make_state(torch: Any, size_mb: int) -> dict[str, Any]:
    count = max(1, round(size_mb * 1e6 / (4 * MB)))  # 4 MiB float32 tensors (1024 x 1024)
    generator = torch.Generator().manual_seed(0)
    return {f"layer{i}.weight": torch.randn(1024, 1024, generator=generator) for i in range(count)}


def bench_durable(torch: Any, root: Path, size_mb: int, repeat: int) -> list[Row]:
    import hypertuner

    state = make_state(torch, size_mb)
    run = hypertuner.start_run({"bench": "saver"}, name="durable", storage=root)
    saver = hypertuner.Saver(state, run=run)
    saver.save()  # warm-up: first-touch costs on the page cache
    size = (run.directory / "model.pt").stat().st_size
    data = os.urandom(MB) * (size // MB) + os.urandom(size % MB)

    def ours() -> float:
        start = time.perf_counter()
        saver.save()
        return time.perf_counter() - start

    samples: dict[str, list[float]] = {"ours": [], "raw": [], "torch": []}
    for _ in range(repeat):  # interleaved, so drifting disk and CPU load hit both alike
        samples["raw"].append(durable_write(run.directory / "raw.bin", data))
        samples["ours"].append(ours())
        samples["torch"].append(torch_save_durable(torch, run.directory / "torch.pt", state))
    os.unlink(run.directory / "torch.pt")
    t_ours, t_raw, t_torch = (min(samples[k]) for k in ("ours", "raw", "torch"))
    run.finish()
    label = f"{size / 1e6:.0f} MB"
    return [
        row(
            f"durable save of a {label} state_dict vs Python write+fsync", t_ours, t_raw, "<= 1.3x"
        ),
        row(
            f"  context: torch.save+fsync+replace ({label}) vs Python write+fsync",
            t_torch,
            t_raw,
            "",
        ),
    ]


def bench_background(torch: Any, root: Path, size_mb: int, repeat: int) -> list[Row]:
    import hypertuner

    state = make_state(torch, size_mb)
    run = hypertuner.start_run({}, name="background", storage=root)
    synchronous = hypertuner.Saver(state, run=run)
    background = hypertuner.Saver(state, run=run, background=True)
    background.save()
    background.wait()

    def stall() -> float:
        start = time.perf_counter()
        background.save()
        elapsed = time.perf_counter() - start
        background.wait()
        return elapsed

    def sync() -> float:
        start = time.perf_counter()
        synchronous.save()
        return time.perf_counter() - start

    t_stall = best_of(stall, repeat)
    t_sync = best_of(sync, repeat)
    run.finish()
    return [
        row(
            "training-loop stall of a background save vs a synchronous save",
            t_stall,
            t_sync,
            "<= 0.2x",
        )
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

    def lightning() -> float:
        start = time.perf_counter()
        trainer.save_checkpoint(target)
        elapsed = time.perf_counter() - start
        os.unlink(target)
        return elapsed

    def ours() -> float:
        start = time.perf_counter()
        saver.save()
        return time.perf_counter() - start

    lightning()
    ours()
    samples: dict[str, list[float]] = {"ours": [], "lightning": []}
    for _ in range(repeat):
        samples["lightning"].append(lightning())
        samples["ours"].append(ours())
    run.finish()
    return [
        row(
            "durable save vs Lightning trainer.save_checkpoint, same model",
            min(samples["ours"]),
            min(samples["lightning"]),
            "<= 0.6x",
        )
    ]


def bench_callback(torch: Any, pl: Any, root: Path, repeat: int) -> list[Row]:
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

    def fit(with_callback: bool) -> float:
        callbacks: list[Any] = []
        saving = [0.0]
        if with_callback:
            run = hypertuner.start_run({}, storage=root, resume="new", name="fit")
            callback = HypertunerCallback(run=run)
            original = callback._save

            def timed_save(trainer: Any, *, last: bool = False) -> None:
                start = time.perf_counter()
                original(trainer, last=last)
                saving[0] += time.perf_counter() - start

            callback._save = timed_save  # type: ignore[method-assign]
            callbacks.append(callback)
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
        start = time.perf_counter()
        trainer.fit(module, data)
        elapsed = time.perf_counter() - start - saving[0]
        if with_callback:
            run.finish()
        return elapsed

    fit(True)  # warm-up
    with_times, without_times = [], []
    for _ in range(repeat):
        without_times.append(fit(False))
        with_times.append(fit(True))
    per_step_with = min(with_times) / steps
    per_step_without = min(without_times) / steps
    added = max(per_step_with - per_step_without, 0.0)
    return [
        row(
            f"Lightning fit step with HypertunerCallback, added ({steps} steps, saves excluded)",
            added,
            per_step_without,
            "<= 25 us",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = standard_options(__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=201, help="state_dict size (default 201 MB)")
    options = parser.parse_args(argv)
    repeat = options.repeat or (3 if options.quick else 7)
    fit_repeat = options.repeat or (2 if options.quick else 3)

    import logging

    import torch

    warnings.simplefilter("ignore")
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import pytorch_lightning as pl
    except ImportError:
        pl = None

    os.environ.pop("HYPERTUNER_STORAGE", None)
    # The same folder as the project (never $TMPDIR, which may be another file system or tmpfs).
    root = Path(tempfile.mkdtemp(prefix="bench-saver-", dir=Path(__file__).resolve().parent))
    started = time.perf_counter()
    rows: list[Row] = []
    try:
        print(f"bench_saver: torch {torch.__version__}, {options.size_mb} MB state_dict, in {root}")
        rows += bench_durable(torch, root, options.size_mb, repeat)
        rows += bench_background(torch, root, options.size_mb, repeat)
        if pl is not None:
            rows += bench_lightning_checkpoint(torch, pl, root, options.size_mb, repeat)
            rows += bench_callback(torch, pl, root, fit_repeat)
        else:
            print("pytorch_lightning is not installed: the Lightning figures are skipped")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"({time.perf_counter() - started:.0f} s)")
    table(rows, title="saver (issue 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
