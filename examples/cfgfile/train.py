"""Train a tiny regression MLP whose every setting comes from ``hparams.cfg``.

    python examples/cfgfile/train.py                          # reads hparams.cfg beside this file
    python examples/cfgfile/train.py --backup s3://bucket/runs  # and mirrors the run folder there

The run lands in ``./storage/<run.name>/`` (``hparams.cfg``, ``config.json``, ``meta.json``,
``model.pt`` and the TensorBoard event file). Run it again with the same ``run.name`` and the saved
copy of ``hparams.cfg`` is used; change ``run.name`` to start a new run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import hypertuner
from hypertuner import HParams, auto_param


@auto_param
def mlp(width: int = 32, layers: int = 1, activation: str = "relu") -> nn.Sequential:
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
    blocks: list[nn.Module] = []
    size = 4
    for _ in range(layers):
        blocks += [nn.Linear(size, width), act()]
        size = width
    blocks.append(nn.Linear(size, 1))
    return nn.Sequential(*blocks)


def train() -> None:
    hparams = HParams.get_hparams_by_name("train")  # the same object, from any module
    torch.manual_seed(hparams.train.seed)
    x = torch.randn(256, 4)
    y = x.sum(dim=1, keepdim=True) + 0.05 * torch.randn(256, 1)
    model = mlp()  # width, layers and activation come from the [mlp] section
    optimizer = torch.optim.SGD(model.parameters(), lr=hparams.train.lr)
    batch = hparams.train.batch_size
    loss = torch.tensor(0.0)
    for step in range(hparams.train.steps):
        start = (step * batch) % len(x)
        loss = nn.functional.mse_loss(model(x[start : start + batch]), y[start : start + batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % hparams.train.log_every == 0:
            hypertuner.log({"loss": loss.item()}, step=step + 1)
    hypertuner.Saver(model).save(step=hparams.train.steps, metrics={"loss": loss.item()})
    print(f"run {hparams.run.name!r}: final loss {loss.item():.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project", default=str(Path(__file__).parent), help="folder of hparams.cfg"
    )
    parser.add_argument("--backup", default=None, help="URL to mirror the run folder to")
    options = parser.parse_args()
    HParams(options.project, name="train", backup=options.backup)
    train()


if __name__ == "__main__":
    main()
