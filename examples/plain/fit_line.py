"""A plain-Python script (no torch): typed defaults, config files, overrides and @auto_param.

    python examples/plain/fit_line.py --config=line.yaml fit.steps=200 --name=line-200

Fits y = a*x + b by gradient descent. Settings come in three layers: the dataclass below, the
config file, the command line; `@auto_param` functions read theirs from the same config.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import hypertuner
from hypertuner import auto_param


@dataclass
class Data:
    points: int = 200
    noise: float = 0.1
    slope: float = 2.0
    intercept: float = -1.0


@dataclass
class Fit:
    steps: int = 100
    lr: float = 0.1


@dataclass
class Settings:
    seed: int = 0
    data: Data = field(default_factory=Data)
    fit: Fit = field(default_factory=Fit)


@auto_param
def make_data(points: int = 50, noise: float = 0.0, slope: float = 1.0, intercept: float = 0.0):
    xs = [random.uniform(-1, 1) for _ in range(points)]
    return [(x, slope * x + intercept + random.gauss(0, noise)) for x in xs]


def main() -> None:
    args = hypertuner.parse(defaults=Settings)
    random.seed(args.seed)
    with hypertuner.param_scope(make_data=args.data):  # the "data" section feeds make_data()
        data = make_data()
    a = b = 0.0
    for _ in range(args.fit.steps):
        grad_a = sum(2 * (a * x + b - y) * x for x, y in data) / len(data)
        grad_b = sum(2 * (a * x + b - y) for x, y in data) / len(data)
        a, b = a - args.fit.lr * grad_a, b - args.fit.lr * grad_b
    run = hypertuner.current_run()
    print(f"[{run.name}] slope {a:.3f} intercept {b:.3f} -> {run.directory}")


if __name__ == "__main__":
    main()
