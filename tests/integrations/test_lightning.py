"""HypertunerCallback with a real Lightning Trainer: runs, checkpoints, statuses, SIGTERM, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pl = pytest.importorskip("pytorch_lightning")
torch = pytest.importorskip("torch")

import hypertuner  # noqa: E402
from hypertuner.integrations.lightning import HypertunerCallback  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,  # every test here fits a real Trainer
    # Lightning's own advice about a tiny CPU setup, not about the code under test.
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*smaller than the logging interval:UserWarning"),
    # pytorch_lightning 2.6 on torch 2.13 calls a pytree helper torch deprecated.
    pytest.mark.filterwarnings("ignore:.*isinstance\\(treespec, LeafSpec\\).*is deprecated"),
]


class Tiny(pl.LightningModule):
    def __init__(
        self, width: int = 4, lr: float = 0.05, fail_at: int = -1, interrupt_at: int = -1
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(2, width)
        self.head = torch.nn.Linear(width, 1)

    def forward(self, x: Any) -> Any:
        return self.head(torch.relu(self.layer(x)))

    def training_step(self, batch: Any, index: int) -> Any:
        if self.global_step == self.hparams.fail_at:
            msg = "loss exploded"
            raise ValueError(msg)
        if self.global_step == self.hparams.interrupt_at:
            raise KeyboardInterrupt
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _data(samples: int = 16) -> Any:
    from torch.utils.data import DataLoader, TensorDataset

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(samples, 2, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


def _trainer(callback: HypertunerCallback, *others: Any, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "max_epochs": 2,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "accelerator": "cpu",
        "devices": 1,
    }
    settings.update(options)
    return pl.Trainer(callbacks=[callback, *others], **settings)


def _checkpoints(directory: Path) -> list[str]:
    return sorted(p.name for p in (directory / "checkpoints").iterdir())


def test_callback_starts_a_run_from_hparams_and_records_trainer_setup(storage: Path) -> None:
    callback = HypertunerCallback()
    _trainer(callback, max_epochs=1).fit(Tiny(width=3), _data(), _data(8))
    run = callback.run
    assert run is not None
    assert hypertuner.current_run() is run
    config = json.loads((run.directory / "config.json").read_text())
    assert config["width"] == 3
    assert config["lr"] == 0.05
    assert config["trainer"]["max_epochs"] == 1
    assert config["trainer"]["strategy"] == "SingleDeviceStrategy"
    run.finish()
    assert json.loads((run.directory / "meta.json").read_text())["status"] == "finished"


class EpochMetrics(Tiny):
    """Logs one metric per step and one per epoch only (Lightning's ``on_epoch=True``)."""

    def training_step(self, batch: Any, index: int) -> Any:
        loss = super().training_step(batch, index)
        self.log("epoch_loss", loss, on_step=False, on_epoch=True)
        return loss


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no")
@pytest.mark.parametrize("validate", [False, True], ids=["no-validation", "validation"])
def test_every_epoch_ends_with_its_training_metrics_in_tensorboard(
    storage: Path, validate: bool
) -> None:
    """Without a validation loop and with epochs shorter than log_every_n_steps, each epoch's
    training metrics still reach TensorBoard at its end; an epoch aggregate appears only there
    (never repeated stale at a logging step), with the value the checkpoint holds."""
    from hypertuner.tracking import read_scalars

    callback = HypertunerCallback(keep=1)
    trainer = _trainer(callback, max_epochs=3, log_every_n_steps=6)  # 4 steps an epoch
    trainer.fit(EpochMetrics(), _data(), *([_data(8)] if validate else []))
    run = callback.run
    assert run is not None
    run.finish()
    scalars = read_scalars(run.directory)
    assert list(scalars["epoch_loss"].steps) == [4, 8, 12]
    assert list(scalars["train_loss"].steps) == [4, 6, 8, 12]  # logging steps and epoch ends
    ledger = json.loads((run.directory / "saves.json").read_text())
    last = ledger["checkpoints"][-1]["metrics"]
    if validate:  # saved at validation's end, before the epoch's aggregate exists
        assert list(scalars["val_loss"].steps) == [4, 8, 12]
        assert float(scalars["val_loss"].values[-1]) == pytest.approx(last["val_loss"])
    else:  # saved at the epoch's end, with the aggregate just logged
        assert float(scalars["epoch_loss"].values[-1]) == pytest.approx(last["epoch_loss"])


def test_callback_saves_at_each_validation_end_and_model_pt_is_the_best(storage: Path) -> None:
    run = hypertuner.start_run({"note": "parsed"}, name="best", storage=storage)
    callback = HypertunerCallback(monitor="val_loss", mode="min", keep=1)
    module = Tiny()
    _trainer(callback, max_epochs=3).fit(module, _data(), _data(8))
    ledger = json.loads((run.directory / "saves.json").read_text())
    losses = {e["epoch"]: e["metrics"]["val_loss"] for e in ledger["checkpoints"]}
    record = hypertuner.load(run, Tiny())
    assert record["metrics"]["val_loss"] == min(losses.values())
    assert record["config"] == {"note": "parsed"}
    assert len(_checkpoints(run.directory)) <= 2  # the best one, plus the latest
    assert run.meta["lightning"]["hparams"]["width"] == 4


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_without_validation_callback_saves_at_each_train_epoch_end(storage: Path) -> None:
    run = hypertuner.start_run({}, name="noval", storage=storage)
    _trainer(HypertunerCallback(keep=5), max_epochs=2).fit(Tiny(), _data())
    assert _checkpoints(run.directory) == [
        "epoch-0000-step-00000004.pt",
        "epoch-0001-step-00000008.pt",
    ]


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_callback_saves_when_model_checkpoint_saves(storage: Path, tmp_path: Path) -> None:
    run = hypertuner.start_run({}, name="withckpt", storage=storage)
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "lightning", every_n_train_steps=3)
    callback = HypertunerCallback(keep=10)
    trainer = _trainer(
        callback, checkpoint, max_steps=6, max_epochs=None, enable_checkpointing=True
    )
    trainer.fit(Tiny(), _data())
    assert checkpoint.best_model_path.endswith("step=6.ckpt")
    assert _checkpoints(run.directory) == [
        "epoch-0000-step-00000003.pt",
        "epoch-0001-step-00000006.pt",
    ]


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_exception_marks_run_failed_with_the_error(storage: Path) -> None:
    run = hypertuner.start_run({}, name="fails", storage=storage)
    with pytest.raises(ValueError, match="loss exploded"):
        _trainer(HypertunerCallback()).fit(Tiny(fail_at=2), _data())
    run.finish()
    meta = json.loads((run.directory / "meta.json").read_text())
    assert meta["status"] == "failed"
    assert meta["error"] == "ValueError: loss exploded"


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_keyboard_interrupt_saves_last_checkpoint_and_marks_run_interrupted(
    storage: Path,
) -> None:
    run = hypertuner.start_run({}, name="ctrl-c", storage=storage)
    sigint = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning turns Ctrl+C into sys.exit(1)
            _trainer(HypertunerCallback()).fit(Tiny(interrupt_at=3), _data())
    finally:
        signal.signal(signal.SIGINT, sigint)  # Lightning leaves SIGINT ignored
    run.finish()
    meta = json.loads((run.directory / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    assert hypertuner.load(run)["step"] == 3


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_recalled_run_resumes_weights_and_loop_progress(storage: Path) -> None:
    run = hypertuner.start_run({}, name="resumed", storage=storage)
    first = Tiny()
    _trainer(HypertunerCallback(keep=5), max_epochs=1).fit(first, _data())
    run.finish()
    run = hypertuner.start_run({}, name="resumed", storage=storage)
    callback = HypertunerCallback(keep=5)
    trainer = _trainer(callback, max_epochs=2)
    trainer.fit(Tiny(width=4, lr=0.05), _data())
    assert callback._resumed is not None
    assert trainer.global_step == 8  # 4 steps restored, 4 more
    assert _checkpoints(run.directory) == [
        "epoch-0000-step-00000004.pt",
        "epoch-0001-step-00000008.pt",
    ]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"mode": "lowest"}, ValueError, "'min' or 'max'", id="mode"),
        pytest.param({"keep": 0}, ValueError, "keep", id="keep"),
    ],
)
def test_bad_callback_options_are_refused(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        HypertunerCallback(**options)
    assert not Path("storage").exists()


def test_unknown_monitor_names_the_logged_metrics(storage: Path) -> None:
    run = hypertuner.start_run({}, name="typo", storage=storage)
    with pytest.raises(
        KeyError,
        match=r"Unknown key 'val_los' \(HypertunerCallback's monitor=\) in the metrics the "
        r"module logged. Did you mean 'val_loss'\? Log it with self.log\('val_los', ...\)",
    ):
        _trainer(HypertunerCallback(monitor="val_los"), max_epochs=1).fit(Tiny(), _data(), _data(8))
    assert not (run.directory / "model.pt").exists()


_SCRIPT_HEAD = textwrap.dedent(
    """
    import os, sys, time
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    import hypertuner
    from hypertuner.integrations.lightning import HypertunerCallback

    class Tiny(pl.LightningModule):
        def __init__(self, width=4, pause=0.0):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(2, width)

        def training_step(self, batch, index):
            time.sleep(self.hparams.pause)
            loss = self.layer(batch[0]).pow(2).mean()
            self.log("train_loss", loss)
            return loss

        def on_train_epoch_end(self):
            if self.current_epoch == 1:
                print("training", flush=True)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    data = DataLoader(TensorDataset(torch.rand(16, 2)), batch_size=4)
    options = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu")
    """
)


def _run_script(tmp_path: Path, body: str, storage: Path, **popen: Any) -> subprocess.Popen[str]:
    script = tmp_path / "train_script.py"
    script.write_text(_SCRIPT_HEAD + textwrap.dedent(body))
    env = {**os.environ, "HYPERTUNER_STORAGE": str(storage), "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        **popen,
    )


def test_sigterm_finishes_the_batch_saves_a_last_checkpoint_and_exits_143(
    storage: Path, tmp_path: Path
) -> None:
    body = """
        trainer = pl.Trainer(max_epochs=1000, callbacks=[HypertunerCallback(keep=1)], **options)
        trainer.fit(Tiny(pause=0.02), data)
    """
    process = _run_script(tmp_path, body, storage)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "training"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    (directory,) = storage.iterdir()
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["error"] == "SIGTERM"
    ledger = json.loads((directory / "saves.json").read_text())
    record = hypertuner.load(directory / "model.pt")
    assert record["step"] == ledger["model"]["step"] >= 8  # beyond the two epoch-end saves
    assert record["step"] > 8 or record["epoch"] >= 2


@pytest.mark.parametrize(
    "parse_first",
    [pytest.param(False, id="run-from-hparams"), pytest.param(True, id="run-from-parse")],
)
def test_ddp_two_processes_share_one_run_written_by_rank_zero(
    storage: Path, tmp_path: Path, parse_first: bool
) -> None:
    body = f"""
        if {parse_first}:
            hypertuner.parse(["--name=ddp-parsed", "+extra=1"])
        trainer = pl.Trainer(max_steps=2, strategy="ddp", devices=2,
                             callbacks=[HypertunerCallback(keep=5)], **options)
        trainer.fit(Tiny(), data)
        run = hypertuner.current_run()
        print("rank", trainer.global_rank, run.name, run.rank, flush=True)
    """
    process = _run_script(tmp_path, body, storage)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    runs = [p for p in storage.iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1, runs
    directory = runs[0]
    lines = sorted(line for line in stdout.splitlines() if line.startswith("rank"))
    assert lines == [f"rank 0 {directory.name} 0", f"rank 1 {directory.name} 1"]
    assert _checkpoints(directory) == ["epoch-0000-step-00000002.pt"]
    config = json.loads((directory / "config.json").read_text())
    assert ("extra" in config) is parse_first
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["status"] == "finished"
    hypertuner.load(directory / "model.pt")


def test_lightning_example_trains_and_keeps_the_best_two(storage: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/lightning/train.py"), "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HYPERTUNER_STORAGE": str(storage)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best val_loss" in done.stdout
    (directory,) = storage.iterdir()
    assert len(list((directory / "checkpoints").iterdir())) == 2
    assert json.loads((directory / "meta.json").read_text())["status"] == "finished"


def test_callback_also_works_with_the_lightning_pytorch_namespace(storage: Path) -> None:
    """Runs where the ``lightning`` package is installed too; skipped where it is not."""
    lightning = pytest.importorskip("lightning.pytorch")

    class Unified(lightning.LightningModule):
        def __init__(self, width: int = 3) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(2, width)

        def training_step(self, batch: Any, index: int) -> Any:
            return self.layer(batch[0]).pow(2).mean()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callback = HypertunerCallback()
    trainer = lightning.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
    )
    trainer.fit(Unified(), _data(8))
    assert callback.run is not None
    assert callback.run.config["width"] == 3
    assert hypertuner.load(callback.run)["step"] == 2


def test_the_callback_saves_in_the_background_by_default() -> None:
    """The loop pauses only for a copy; fit's end, an exception and SIGTERM wait for the last save
    (the tests above run with this default and check what is on disk after each)."""
    assert HypertunerCallback().background is True


DDP_TRIAL = """
import time
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset
import hypertuner
from hypertuner.integrations.lightning import HypertunerCallback

args = hypertuner.parse(defaults={"level": 0.0})

class Line(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, index):
        loss = (self.weight - 1.0).pow(2).sum() + args.level + 0 * batch[0].sum()
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

data = DataLoader(TensorDataset(torch.zeros(80, 1)), batch_size=1)
trainer = pl.Trainer(max_steps=30, log_every_n_steps=1, strategy="ddp", devices=2,
                     accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     callbacks=[HypertunerCallback()])
trainer.fit(Line(), data)
print("rank", trainer.global_rank, "steps", trainer.global_step, flush=True)
"""


@pytest.mark.slow
def test_a_pruned_ddp_trial_stops_on_every_rank_together(storage: Path, tmp_path: Path) -> None:
    """Rank zero hears the pruner; the stop reaches rank one at the same step (no rank left
    waiting in a collective), the trial ends ``pruned`` with its last checkpoint."""
    optuna = pytest.importorskip("optuna")
    script = tmp_path / "ddp_trial.py"
    script.write_text(DDP_TRIAL)
    results = hypertuner.sweep(
        script,
        {"level": [0.0, 5.0]},
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
        metric="loss",
        name="ddp",
        storage=storage,
        progress=False,
    )
    assert [t.status for t in results] == ["finished", "pruned"], [t.error for t in results]
    pruned = storage / results[1].name
    summary = json.loads((pruned / "summary.json").read_text())
    assert summary["metrics"]["loss"]["count"] < 30  # stopped early, not at max_steps
    assert (pruned / "model.pt").is_file()
    output = (storage / "ddp" / "logs" / "1.log").read_text()
    assert "Error" not in output, output[-3000:]  # rank one was not left behind (gloo: crash)
    steps = sorted(line for line in output.splitlines() if line.startswith("rank "))
    assert len(steps) == 2, output[-3000:]
    assert steps[0].split()[-1] == steps[1].split()[-1]  # both ranks stopped at the same step
