"""A plain PyTorch loop that saves itself: `attach()` checkpoints every N optimizer steps.

    python examples/pytorch/train.py train.steps=300 --name=mlp-300

Fits a small MLP to y = sin(3x) on synthetic data. The hook writes numbered checkpoints to
storage/<run>/checkpoints/ (keeping the latest 3), model.pt is the latest, and a last save happens
when the script ends (or on SIGTERM). It logs its loss every 10 steps, so `hypertuner runs`,
`compare` and the page show it. Run the same command again (same --name) after a crash, or to
look at a finished run, and it resumes from its last checkpoint: the weights, the optimizer and
the step count come back, training goes on to `train.steps`, and the loss is that of the
restored model.
"""

from __future__ import annotations

import torch

import hypertuner
from hypertuner.integrations.torch import attach

DEFAULTS = {
    "seed": 0,
    "data": {"samples": 512},
    "model": {"width": 32},
    "train": {"steps": 200, "lr": 0.01, "batch": 64, "save_every": 50},
}


def main() -> None:
    args = hypertuner.parse(defaults=DEFAULTS)
    torch.manual_seed(args.seed)
    x = torch.rand(args.data.samples, 1) * 2 - 1
    y = torch.sin(3 * x)
    model = torch.nn.Sequential(
        torch.nn.Linear(1, args.model.width), torch.nn.Tanh(), torch.nn.Linear(args.model.width, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.train.lr)
    hook = attach(optimizer, model, every_n_steps=args.train.save_every)
    if hook.record is not None:
        print(f"resumed at step {hook.step}")
    steps, batch = args.train.steps, args.train.batch
    while hook.step < steps:
        index = torch.randint(0, args.data.samples, (batch,))
        loss = torch.nn.functional.mse_loss(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if hook.step % 10 == 0:
            hypertuner.log({"loss": loss.item()}, step=hook.step)
    with torch.no_grad():  # the loss of the model as it is now, resumed or trained
        final = torch.nn.functional.mse_loss(model(x), y).item()
    run = hypertuner.current_run()
    print(f"[{run.name}] step {hook.step} loss {final:.4f} -> {run.directory / 'model.pt'}")


if __name__ == "__main__":
    main()
