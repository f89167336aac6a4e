"""Train a small regression MLP on synthetic data; every setting comes from hypertuner.

    python examples/quickstart/train.py --config=configs/base.json --config=configs/big.json \
        train.lr=0.01 --name=big-lr01
"""

from __future__ import annotations

import torch
from torch import nn

import hypertuner
from hypertuner import auto_param


@auto_param
def mlp(width: int = 32, layers: int = 2, activation: str = "relu") -> nn.Sequential:
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[activation]
    blocks: list[nn.Module] = []
    size = 8
    for _ in range(layers):
        blocks += [nn.Linear(size, width), act()]
        size = width
    blocks.append(nn.Linear(size, 1))
    return nn.Sequential(*blocks)


def main() -> None:
    args = hypertuner.parse()
    run = hypertuner.current_run()
    torch.manual_seed(args.seed)
    x = torch.randn(args.data.samples, 8)
    # Sums of products of inputs: a linear model cannot fit it, a wider, deeper MLP fits it better.
    y = (x[:, :4] * x[:, 4:]).sum(1, keepdim=True) + 0.05 * torch.randn(args.data.samples, 1)

    model = mlp()  # width, layers and activation come from the config's "mlp" section
    optimizer = torch.optim.SGD(model.parameters(), lr=args.train.lr, momentum=args.train.momentum)
    # model.pt is the best epoch by loss, beside the config; the last two epochs stay as checkpoints
    saver = hypertuner.Saver(model, optimizer, monitor="loss", mode="min", keep=2)
    for epoch in range(args.train.epochs):
        for start in range(0, len(x), args.train.batch_size):
            xb, yb = (
                x[start : start + args.train.batch_size],
                y[start : start + args.train.batch_size],
            )
            loss = nn.functional.mse_loss(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            full = nn.functional.mse_loss(model(x), y).item()
        hypertuner.log({"loss": full}, step=epoch)  # TensorBoard scalars in storage/<run>/
        saver.save(epoch=epoch, metrics={"loss": full})
        print(f"[{run.name}] epoch {epoch + 1}/{args.train.epochs} loss {full:.4f}")


if __name__ == "__main__":
    main()
