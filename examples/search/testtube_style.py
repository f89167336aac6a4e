"""test-tube style search: HyperOptArgumentParser, trials(), optimize_parallel_cpu/gpu.

Code written for test-tube keeps working: only the import line changes. Every trial run by
``optimize_parallel_*`` is an ordinary hypertuner run (``storage/<sweep>-<index>/``).

    python examples/search/testtube_style.py                      # 20 trials on 2 CPU workers
    python examples/search/testtube_style.py --mode loop --nb_trials 3
    python examples/search/testtube_style.py --mode gpu           # one worker per gpu_ids entry

Worker processes are spawned: they import this script again, so the search starts under
``if __name__ == "__main__":`` and the train functions are defined at the top level.
"""

from __future__ import annotations

import os

from hypertuner import HyperOptArgumentParser


def train_network(hparams):  # type: ignore[no-untyped-def]
    """Train a small MLP on synthetic data; return the final training loss."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x @ torch.linspace(-1, 1, 8)).unsqueeze(1)
    layers: list[nn.Module] = []
    size = 8
    for _ in range(hparams.nb_layers):
        layers += [nn.Linear(size, hparams.neurons // 8), nn.ReLU()]
        size = hparams.neurons // 8
    model = nn.Sequential(*layers, nn.Linear(size, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=hparams.learning_rate)
    for _ in range(hparams.steps):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def train_main(trial_params, gpu_ids):  # type: ignore[no-untyped-def]
    """test-tube's GPU signature: the trial and the CUDA_VISIBLE_DEVICES entry it runs on."""
    import torch

    seen = os.environ.get("CUDA_VISIBLE_DEVICES")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loss = train_network(trial_params)
    print(
        f"trial nb_layers={trial_params.nb_layers} on gpus {gpu_ids!r} "
        f"({device}, CUDA_VISIBLE_DEVICES={seen})"
    )
    return {"loss": loss, "gpus": gpu_ids, "visible": seen}


def main() -> None:
    parser = HyperOptArgumentParser(strategy="random_search", seed=0)
    parser.add_argument("--learning_rate", default=0.002, type=float, help="the learning rate")
    parser.add_argument("--steps", default=100, type=int, help="training steps per trial")
    parser.add_argument("--mode", default="cpu", choices=["loop", "cpu", "gpu"])
    parser.add_argument("--nb_trials", default=20, type=int)
    parser.add_argument("--nb_workers", default=2, type=int)
    parser.add_argument(
        "--gpu_ids", default="1;0, 2", help="';'-separated CUDA_VISIBLE_DEVICES entries"
    )
    parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
    parser.opt_range(
        "--neurons", default=50, type=int, tunable=True, low=100, high=800, nb_samples=10
    )
    parser.json_config("--config", default="example.json")
    hparams = parser.parse_args()
    print(
        f"learning_rate={hparams.learning_rate} "
        f"nb_layers={hparams.nb_layers} neurons={hparams.neurons}"
    )

    if hparams.mode == "loop":
        for trial in hparams.trials(hparams.nb_trials):
            print(
                f"nb_layers={trial.nb_layers} neurons={trial.neurons} "
                f"loss={train_network(trial):.4f}"
            )
    elif hparams.mode == "cpu":
        results = hparams.optimize_parallel_cpu(
            train_network, nb_trials=hparams.nb_trials, nb_workers=hparams.nb_workers
        )
        best_params, best_loss = min(results, key=lambda pair: pair[1])
        print(
            f"best loss {best_loss:.4f}: "
            f"nb_layers={best_params.nb_layers} neurons={best_params.neurons}"
        )
    else:
        results = hparams.optimize_parallel_gpu(
            train_main, gpu_ids=hparams.gpu_ids.split(";"), max_nb_trials=hparams.nb_trials
        )
        for params, result in results:
            print(
                f"nb_layers={params.nb_layers} "
                f"gpus={result['gpus']!r} visible={result['visible']!r}"
            )


if __name__ == "__main__":
    main()
