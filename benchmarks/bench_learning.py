"""Benchmark of sweeps that learn and stop early (issue 13), each figure side by side in one run.

The objective is real: a small torch MLP (``--width`` hidden units, 1-3 layers) trained with SGD
on a fixed synthetic regression set (a random teacher network, 512 training and 256 validation
points, seed 0), over four hyperparameters: ``lr`` (log scale), ``width``, ``layers`` and
``momentum``. A trial logs its validation loss after every epoch with ``hypertuner.log``.

Figures (medians over ``--seeds`` seeds; timings are medians of interleaved pairs, with the
spread of the pair ratios shown as ``[min-max]``):

- TPE vs random: the number of TPE trials that reach the median (over seeds) best value of 40
  random trials; target at most 20 (0.5x of 40).
- ASHA: total training epochs of a random sweep with ``pruner="asha"`` against the same sweep
  (same seed, same trials) without pruning, and the best value of each; targets <= 0.4x epochs
  and the best within 2%.
- Against Optuna: ``study.optimize(n_jobs=2)`` (threads) with the same sampler (TPE) and pruner
  (successive halving) against ``hypertuner.sweep(workers=2)`` (the default process pool), on
  the torch objective (<= 1.0x) and on a pure-Python objective that holds the GIL (<= 0.6x);
  and hypertuner's scheduling cost per trial (<= 2 ms): the wall time of 100 no-op trials that is
  neither inside a trial's run nor Optuna's own ask and tell.
- Against Ray Tune: the same search (Optuna's TPE as search algorithm, ASHA scheduler, 2 CPUs)
  against hypertuner's Ray backend with 2 workers on the same Ray instance (<= 0.7x).
- Default start method: 16 one-second trials (the MLP, one torch thread) on 2 workers with the
  default start method against the same trials serially in this process (>= 1.7x faster).

Run: ``python benchmarks/bench_learning.py [--quick] [--seeds 5] [--only tpe,asha,...]``. The
trial functions live in this file, so worker processes import them as they import a user's
script. The machine is usually shared and busy: compare ratios, rerun a near miss.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, row, standard_options, table

import hypertuner
from hypertuner.search import choice, irange, loguniform, uniform
from hypertuner.tracking import read_summary

SPACE = {
    "lr": loguniform(1e-3, 1.0),
    "width": choice(8, 16, 32, 64),
    "layers": irange(1, 4),
    "momentum": uniform(0.0, 0.95),
}
EPOCHS = 27

# ---------------------------------------------------------------------------------------------
# The objective: an MLP on a fixed synthetic data set

_DATA: Any = None


def _data() -> Any:
    global _DATA
    if _DATA is None:
        import torch

        generator = torch.Generator().manual_seed(0)
        x = torch.randn(768, 8, generator=generator)
        teacher = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
        )
        with torch.no_grad():
            for p in teacher.parameters():
                p.copy_(torch.randn(p.shape, generator=generator))
            y = teacher(x) + 0.1 * torch.randn(768, 1, generator=generator)
        _DATA = (x[:512], y[:512], x[512:], y[512:])
    return _DATA


def train_mlp(
    lr: float,
    width: int,
    layers: int,
    momentum: float,
    epochs: int,
    report: Callable[[int, float], None] | None = None,
) -> float:
    """Train the MLP for ``epochs`` epochs of 8 mini-batches; return the last validation loss."""
    import torch

    torch.manual_seed(0)
    x, y, vx, vy = _data()
    blocks: list[Any] = []
    size = 8
    for _ in range(layers):
        blocks += [torch.nn.Linear(size, width), torch.nn.Tanh()]
        size = width
    model = torch.nn.Sequential(*blocks, torch.nn.Linear(size, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss = math.inf
    for epoch in range(epochs):
        for batch in range(8):
            xb, yb = x[batch * 64 : (batch + 1) * 64], y[batch * 64 : (batch + 1) * 64]
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(xb), yb).backward()
            optimizer.step()
        with torch.no_grad():
            loss = float(torch.nn.functional.mse_loss(model(vx), vy))
        if not math.isfinite(loss):
            loss = 1e3
        loss = min(loss, 1e3)
        if report is not None:
            report(epoch, loss)
    return loss


def mlp_trial(args: hypertuner.Args) -> float:
    """hypertuner's trial: the MLP, its validation loss logged after each epoch."""
    return train_mlp(
        args.lr,
        args.width,
        args.layers,
        args.momentum,
        args.epochs,
        lambda epoch, loss: hypertuner.log({"val_loss": loss}, step=epoch),
    )


def python_work(n: int) -> float:
    """Pure-Python arithmetic that holds the GIL for the whole call."""
    total = 0.0
    for i in range(n):
        total += (i % 7) * 0.5 - (i % 3)
    return total


def python_trial(args: hypertuner.Args) -> float:
    """A pure-Python trial of the same shape: a loss per epoch, each epoch a GIL-bound loop."""
    loss = 0.0
    for epoch in range(args.epochs):
        python_work(args.work)
        loss = (math.log10(args.lr) + 1.5) ** 2 + args.momentum / (epoch + 1) + args.layers * 0.01
        loss += args.width * 1e-4
        hypertuner.log({"val_loss": loss}, step=epoch)
    return loss


def noop(args: hypertuner.Args) -> float:
    return float(args.lr + args.width + args.layers + args.momentum)


def sleepy_mlp(args: hypertuner.Args) -> float:
    """One trial of the start-method figure: the MLP for a calibrated number of epochs."""
    return train_mlp(args.lr, 64, 2, 0.5, args.epochs) + 0 * (
        args.width + args.layers + args.momentum
    )


# ---------------------------------------------------------------------------------------------


def _sweep(storage: str, fn: Callable[..., Any], **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hypertuner.sweep(fn, SPACE, storage=storage, progress=False, **options)


def _epochs(results: Any) -> int:
    total = 0
    for trial in results:
        summary = read_summary(trial.directory)
        total += int(summary.get("val_loss", {}).get("count", 0))
    return total


def _spread(ratios: list[float]) -> str:
    return f"[{min(ratios):.2f}-{max(ratios):.2f}]"


def tpe_vs_random(root: str, seeds: int) -> list[Row]:
    config = {"epochs": 9}
    random_best, curves = [], []
    for seed in range(seeds):
        rnd = _sweep(
            f"{root}/r{seed}",
            mlp_trial,
            strategy="random",
            n_trials=40,
            seed=seed,
            config=config,
            metric="val_loss",
        )
        random_best.append(min(t.value for t in rnd if t.value is not None))
        tpe = _sweep(
            f"{root}/t{seed}",
            mlp_trial,
            strategy="tpe",
            n_trials=40,
            seed=seed,
            config=config,
            metric="val_loss",
        )
        curves.append([t.value if t.value is not None else math.inf for t in tpe])
    target = statistics.median(random_best)
    reached = []
    for curve in curves:
        best, count = math.inf, len(curve) + 1
        for i, value in enumerate(curve, start=1):
            best = min(best, value)
            if best <= target:
                count = i
                break
        reached.append(count)
    median_reached = statistics.median(reached)
    label = (
        f"TPE trials to reach random-40's median best {target:.4g} (median of {seeds} seeds; "
        f"each: {reached})"
    )
    return [
        row(label, median_reached, 40, "<= 0.5x", unit="trials"),
        row(
            "  context: TPE best of 20 trials (median) vs random best of 40",
            statistics.median(min(c[:20]) for c in curves),
            target,
            "",
            unit="loss",
        ),
    ]


def asha(root: str, seeds: int) -> list[Row]:
    config = {"epochs": EPOCHS}
    step_ratios, best_ratios = [], []
    for seed in range(seeds):
        whole = _sweep(
            f"{root}/w{seed}",
            mlp_trial,
            strategy="random",
            n_trials=32,
            seed=seed,
            config=config,
            metric="val_loss",
        )
        pruned = _sweep(
            f"{root}/p{seed}",
            mlp_trial,
            strategy="random",
            n_trials=32,
            seed=seed,
            config=config,
            metric="val_loss",
            pruner="asha",
        )
        step_ratios.append(_epochs(pruned) / _epochs(whole))
        best_ratios.append(pruned.best.value / whole.best.value)
    return [
        row(
            f"ASHA: training epochs vs no pruning, 32 trials x {EPOCHS} epochs "
            f"(median of {seeds} seeds) {_spread(step_ratios)}",
            statistics.median(step_ratios),
            1.0,
            "<= 0.4x",
            unit="x",
        ),
        row(
            f"ASHA: best value vs no pruning {_spread(best_ratios)}",
            statistics.median(best_ratios),
            1.0,
            "<= 1.02x",
            unit="x",
        ),
    ]


def _optuna_objective(fn: Callable[..., float], config: dict[str, Any]) -> Callable[..., float]:
    import optuna

    def objective(trial: Any) -> float:
        args = hypertuner.Args.from_dict(
            {
                **config,
                "lr": trial.suggest_float("lr", 1e-3, 1.0, log=True),
                "width": trial.suggest_categorical("width", (8, 16, 32, 64)),
                "layers": trial.suggest_int("layers", 1, 3),
                "momentum": trial.suggest_float("momentum", 0.0, 0.95),
            }
        )

        def report(epoch: int, loss: float) -> None:
            trial.report(loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned

        if fn is mlp_trial:
            return train_mlp(args.lr, args.width, args.layers, args.momentum, args.epochs, report)
        loss = 0.0
        for epoch in range(args.epochs):
            python_work(args.work)
            loss = (math.log10(args.lr) + 1.5) ** 2 + args.momentum / (epoch + 1)
            loss += args.layers * 0.01 + args.width * 1e-4
            report(epoch, loss)
        return loss

    return objective


def _optuna_time(fn: Callable[..., float], config: dict[str, Any], n: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(),
    )
    start = time.perf_counter()
    study.optimize(_optuna_objective(fn, config), n_trials=n, n_jobs=2)
    return time.perf_counter() - start


def against_optuna(root: str, pairs: int, n: int) -> list[Row]:
    rows = []
    for label, fn, config, target in (
        ("torch MLP", mlp_trial, {"epochs": EPOCHS}, "<= 1.0x"),
        ("pure Python (GIL)", python_trial, {"epochs": 9, "work": 60_000}, "<= 0.6x"),
    ):
        ours, theirs = [], []
        for i in range(pairs):
            start = time.perf_counter()
            _sweep(
                f"{root}/{label[:5]}{i}",
                fn,
                strategy="tpe",
                pruner="asha",
                metric="val_loss",
                n_trials=n,
                seed=i,
                config=config,
                workers=2,
            )
            ours.append(time.perf_counter() - start)
            theirs.append(_optuna_time(fn, config, n, i))
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        rows.append(
            row(
                f"{label}: {n} trials TPE+ASHA, 2 workers vs optuna n_jobs=2 "
                f"(median of {pairs} pairs) {_spread(ratios)}",
                statistics.median(ours),
                statistics.median(theirs),
                target,
            )
        )
    return rows


def scheduling_cost(root: str, n: int) -> list[Row]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    distributions = {
        "lr": optuna.distributions.FloatDistribution(1e-3, 1.0, log=True),
        "width": optuna.distributions.CategoricalDistribution((8, 16, 32, 64)),
        "layers": optuna.distributions.IntDistribution(1, 3),
        "momentum": optuna.distributions.FloatDistribution(0.0, 0.95),
    }
    start = time.perf_counter()
    for _ in range(n):
        trial = study.ask(distributions)
        study.tell(trial, trial.params["lr"])
    optuna_per_trial = (time.perf_counter() - start) / n
    rows = []
    for backend in ("serial", "process"):
        start = time.perf_counter()
        results = _sweep(
            f"{root}/{backend}",
            noop,
            strategy="tpe",
            n_trials=n,
            seed=0,
            backend=backend,
            workers=1,
            threads_per_worker=None,
        )
        wall = time.perf_counter() - start
        journal = [
            line for line in _read_journal(results.directory) if line["status"] == "finished"
        ]
        inside = sum(line["duration_s"] for line in journal) / n
        cost = wall / n - inside - optuna_per_trial
        rows.append(
            row(
                f"scheduling per trial beyond optuna's ask+tell ({optuna_per_trial * 1e3:.1f} "
                f"ms), {backend}, {n} no-op TPE trials",
                max(cost, 0.0),
                None,
                "<= 2 ms",
            )
        )
    return rows


def _read_journal(directory: Path) -> list[dict[str, Any]]:
    import json

    text = (directory / "trials.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def against_ray_tune(root: str, pairs: int, n: int) -> list[Row]:
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search.optuna import OptunaSearch
    except ImportError as exc:
        print(
            f"note: Ray Tune is not installed ({exc}); pip install -r benchmarks/requirements.txt"
        )
        return []
    config = {"epochs": EPOCHS}

    def tune_trial(params: dict[str, Any]) -> None:
        train_mlp(
            params["lr"],
            params["width"],
            params["layers"],
            params["momentum"],
            EPOCHS,
            lambda epoch, loss: tune.report({"val_loss": loss}),
        )

    param_space = {
        "lr": tune.loguniform(1e-3, 1.0),
        "width": tune.choice([8, 16, 32, 64]),
        "layers": tune.randint(1, 4),
        "momentum": tune.uniform(0.0, 0.95),
    }
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ours, theirs = [], []
    try:
        for i in range(pairs):
            start = time.perf_counter()
            _sweep(
                f"{root}/ray{i}",
                mlp_trial,
                strategy="tpe",
                pruner="asha",
                metric="val_loss",
                n_trials=n,
                seed=i,
                config=config,
                backend="ray",
                workers=2,
            )
            ours.append(time.perf_counter() - start)
            import optuna

            searcher = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=i))
            tuner = tune.Tuner(
                tune.with_resources(tune_trial, {"cpu": 1}),
                param_space=param_space,
                tune_config=tune.TuneConfig(
                    metric="val_loss",
                    mode="min",
                    search_alg=searcher,
                    scheduler=ASHAScheduler(max_t=EPOCHS),
                    num_samples=n,
                    max_concurrent_trials=2,
                ),
                run_config=tune.RunConfig(
                    storage_path=f"{root}/tune{i}", verbose=0, log_to_file=False
                ),
            )
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                tuner.fit()
            theirs.append(time.perf_counter() - start)
    finally:
        ray.shutdown()
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return [
        row(
            f"Ray backend vs Ray Tune (OptunaSearch TPE + ASHA, 2 CPUs), {n} trials "
            f"(median of {pairs} pairs) {_spread(ratios)}",
            statistics.median(ours),
            statistics.median(theirs),
            "<= 0.7x",
        )
    ]


def start_method(root: str, pairs: int, n: int, seconds: float) -> list[Row]:
    import torch

    train_mlp(0.1, 64, 2, 0.5, 2)  # warm-up
    start = time.perf_counter()
    train_mlp(0.1, 64, 2, 0.5, 20)
    epochs = max(1, round(20 * seconds / (time.perf_counter() - start)))
    print(
        f"calibrated: {epochs} epochs take about {seconds:g} s here "
        f"(torch threads {torch.get_num_threads()})"
    )
    config = {"epochs": epochs}
    serial, pooled = [], []
    for i in range(pairs):
        start = time.perf_counter()
        _sweep(
            f"{root}/serial{i}", sleepy_mlp, strategy="random", n_trials=n, seed=i, config=config
        )
        serial.append(time.perf_counter() - start)
        start = time.perf_counter()
        _sweep(
            f"{root}/pool{i}",
            sleepy_mlp,
            strategy="random",
            n_trials=n,
            seed=i,
            config=config,
            workers=2,
        )
        pooled.append(time.perf_counter() - start)
    ratios = [s / p for s, p in zip(serial, pooled, strict=True)]
    start = time.perf_counter()
    _sweep(
        f"{root}/spawn",
        sleepy_mlp,
        strategy="random",
        n_trials=n,
        seed=0,
        config=config,
        workers=2,
        start_method="spawn",
    )
    spawned = time.perf_counter() - start
    return [
        row(
            f"{n} x {seconds:g} s trials, 2 workers (default start method) vs serial "
            f"(median of {pairs} pairs) {_spread(ratios)}",
            statistics.median(pooled),
            statistics.median(serial),
            ">= 1.7x faster",
        ),
        row(
            "  context: start_method='spawn' (one run) vs serial",
            spawned,
            statistics.median(serial),
            "",
        ),
    ]


FIGURES = ("tpe", "asha", "optuna", "overhead", "raytune", "start")


def main() -> int:
    parser = standard_options(__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=None, help="seeds per figure (default 5)")
    parser.add_argument("--only", default=",".join(FIGURES), help="figures: " + ",".join(FIGURES))
    options = parser.parse_args()
    seeds = options.seeds or 5
    pairs = options.repeat or (3 if options.quick else 5)
    chosen = set(options.only.split(","))
    import torch

    torch.set_num_threads(1)  # as in each worker: every trial does the same work everywhere
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at the start")
    root = tempfile.mkdtemp(prefix="bench-learning-")
    rows: list[Row] = []
    try:
        if "tpe" in chosen:
            rows += tpe_vs_random(f"{root}/tpe", seeds)
        if "asha" in chosen:
            rows += asha(f"{root}/asha", seeds)
        if "optuna" in chosen:
            rows += against_optuna(f"{root}/optuna", pairs, 16)
        if "overhead" in chosen:
            rows += scheduling_cost(f"{root}/overhead", 100)
        if "raytune" in chosen:
            rows += against_ray_tune(f"{root}/raytune", pairs, 16)
        if "start" in chosen:
            rows += start_method(f"{root}/start", pairs, 16, 0.5 if options.quick else 1.0)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    table(rows, title="sweeps that learn and stop early (issue 13)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
