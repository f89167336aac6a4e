"""A Lightning module that saves itself: add `HypertunerCallback` to the Trainer, nothing else.

    python examples/lightning/train.py

The script never calls hypertuner.parse(): the callback starts a run from the module's hparams
(`save_hyperparameters()`), writes them with the trainer setup to storage/<run>/config.json, and
saves after each validation: the best 2 checkpoints by val_loss stay in checkpoints/, and
model.pt is the best. Read it back with `hypertuner.load("<run>", MLP())`.
"""

from __future__ import annotations

import logging
import sys
import warnings

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

import hypertuner
from hypertuner.integrations.lightning import HypertunerCallback


class MLP(pl.LightningModule):
    def __init__(self, width: int = 32, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2, width), torch.nn.ReLU(), torch.nn.Linear(width, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def loaders(samples: int = 512) -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(samples, 2, generator=generator) * 2 - 1
    y = (x[:, :1] * x[:, 1:]) * 3 + 0.05 * torch.randn(samples, 1, generator=generator)
    split = samples * 3 // 4
    train = DataLoader(TensorDataset(x[:split], y[:split]), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x[split:], y[split:]), batch_size=128)
    return train, val


def quiet_lightning() -> None:
    """Keep the output about this script: Lightning's cloud-logging tip, and a deprecation that
    pytorch_lightning 2.6 itself triggers in torch 2.13, say nothing about it."""
    packages = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")
    for package in packages:
        logger = logging.getLogger(f"{package}.utilities.rank_zero")
        logger.addFilter(lambda record: "Tip:" not in record.getMessage())
    warnings.filterwarnings(
        "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
    )


def main() -> None:
    quiet_lightning()
    pl.seed_everything(0, verbose=False)
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[HypertunerCallback(monitor="val_loss", mode="min", keep=2)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(MLP(width=32), *loaders())
    run = hypertuner.current_run()
    record = hypertuner.load(run, MLP())
    print(
        f"[{run.name}] best val_loss {record['metrics']['val_loss']:.4f} at epoch {record['epoch']}"
    )


if __name__ == "__main__":
    main()
