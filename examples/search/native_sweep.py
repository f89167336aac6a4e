"""The native sweep: ``hypertuner.sweep`` over a function, each trial an ordinary run.

    python examples/search/native_sweep.py                       # 20 random trials, 2 workers
    python examples/search/native_sweep.py --backend ray         # the same trials as Ray tasks
    RAY_ADDRESS=ray://head:10001 python examples/search/native_sweep.py --backend ray --workers 16

Running the same command again resumes the sweep: finished trials are skipped.
"""

from __future__ import annotations

import argparse

import hypertuner
from hypertuner import auto_param


@auto_param
def model(layers: int = 2, width: int = 32):  # type: ignore[no-untyped-def]
    """The MLP; ``model.layers`` and ``model.width`` come from the trial's config."""
    from torch import nn

    blocks: list[nn.Module] = []
    size = 8
    for _ in range(layers):
        blocks += [nn.Linear(size, width), nn.ReLU()]
        size = width
    return nn.Sequential(*blocks, nn.Linear(size, 1))


def train(args: hypertuner.Args) -> float:
    """One trial: train on synthetic data, log the loss to the trial's run, return the last loss."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x @ torch.linspace(-1, 1, 8)).unsqueeze(1)
    net = model()  # reads model.layers and model.width from the trial
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    for step in range(args.steps):
        loss = nn.functional.mse_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == args.steps - 1:
            hypertuner.log({"loss": loss.item()}, step=step)
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", default=None, help="serial, process (default) or ray")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--name", default=None)
    parser.add_argument("--storage", default=None)
    options = parser.parse_args()
    results = hypertuner.sweep(
        train,
        space={"lr": hypertuner.loguniform(1e-4, 1e-1), "model.layers": hypertuner.choice(2, 4, 8)},
        strategy="random",
        n_trials=options.trials,
        workers=options.workers,
        backend=options.backend,
        seed=0,
        config={"steps": options.steps, "model": {"width": 32}},
        name=options.name,
        storage=options.storage,
    )
    print(results.summary())  # a line per trial and the best, as `hypertuner sweep` prints it


if __name__ == "__main__":
    main()
