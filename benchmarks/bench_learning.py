"""Benchmark of sweeps that learn and stop early (issue 13), each figure side by side in one run.

The objective is real: a small torch MLP (``width`` hidden units, 1-3 layers) trained with SGD
on a fixed synthetic regression set (a random teacher network, 512 training and 256 validation
points, seed 0), over four hyperparameters: ``lr`` (log scale), ``width``, ``layers`` and
``momentum``. A trial logs its validation loss after every epoch with ``hypertuner.log``. Torch
runs one thread everywhere (here and in each worker), so every trial does the same work.

Figures (the method of ``_common.py``: the contenders of a figure run in rotation, round by round,
after one untimed warm-up round; a figure is the median of the per-round ratios, printed with
their spread):

- TPE vs random: over ``--seeds`` seeds, the median number of TPE trials that reach the median
  (over seeds) best value of 40 random trials; at most 20 (0.5x of 40).
- ASHA: the training epochs of a random sweep with ``pruner="asha"`` against the same sweep (same
  seed, same trials) without pruning (at most 0.4x), and the best value of each (within 2%).
- Against Optuna: ``study.optimize(n_jobs=2)`` (threads) with the same sampler (TPE) and pruner
  (successive halving) against ``hypertuner.sweep(workers=2)`` (the default process pool), on the
  torch objective (at most 1.0x) and on a pure-Python objective that holds the GIL (0.6x).
- Scheduling per trial (at most 2 ms): 100 no-op TPE trials, serially and on a one-worker pool.
  The window runs from the first trial's start to the sweep's return (its last journal line, the
  study's and journal's last fsync, the workers' stop); from it go the trials' own windows (each
  an ordinary run: ``start_run`` with its files, the function, the run's end) and Optuna's own
  ask and tell for as many trials (same sampler, in-memory storage, the same round). What is left
  is the driver's and the backend's: the journal and study file, the sampler per trial, sending
  the trial and its outcome, progress. The sweep's start-up (before the first trial) and a trial's
  own run are printed as their own rows, so the whole sweep is accounted for.
- Against Ray Tune: the same search (Optuna's TPE as search algorithm, the ASHA scheduler, 2 CPUs)
  against hypertuner's Ray backend with 2 workers, on the same Ray instance (at most 0.7x).
- Default start method: 16 one-second trials (the MLP, one torch thread) on 2 workers with the
  default start method against the same trials serially in this process (at least 1.7x faster);
  ``start_method="spawn"`` in the same rounds, for context.

Run: ``python benchmarks/bench_learning.py [--quick] [--seeds 5] [--only tpe,asha,...]``. The
trial functions live in this file, so worker processes import them as they import a user's
script. The machine is usually shared and busy: compare ratios, rerun a near miss.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import io
import itertools
import json
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Paired, Row, interleave, load_text, row, standard_options, table, versions

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


def python_loss(lr: float, width: int, layers: int, momentum: float, epoch: int) -> float:
    """The pure-Python objective's loss after ``epoch``: best near lr=0.03, falling per epoch."""
    loss = (math.log10(lr) + 1.5) ** 2 + momentum / (epoch + 1) + layers * 0.01
    return loss + width * 1e-4


def python_trial(args: hypertuner.Args) -> float:
    """A pure-Python trial of the same shape: a loss per epoch, each epoch a GIL-bound loop."""
    loss = 0.0
    for epoch in range(args.epochs):
        python_work(args.work)
        loss = python_loss(args.lr, args.width, args.layers, args.momentum, epoch)
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
# Helpers


@dataclasses.dataclass
class _CountRow(Row):
    """A row of counts or values (trials, epochs, a loss), not of times."""

    unit: str = ""

    def cells(self) -> list[str]:
        cells = super().cells()
        cells[1] = f"{self.ours:.4g} {self.unit}".strip()
        cells[2] = "-" if self.reference is None else f"{self.reference:.4g} {self.unit}".strip()
        return cells


def count_row(figure: str, paired: Paired, target: str, unit: str) -> Row:
    """:func:`row` for a figure whose samples are counts or values (a ``<= Nx`` target)."""
    return _CountRow(**dataclasses.asdict(row(figure, paired, target)), unit=unit)


def _sweep(storage: str, fn: Callable[..., Any], **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hypertuner.sweep(fn, SPACE, storage=storage, progress=False, **options)


def _timed_tpe_asha(
    storage: str, fn: Callable[..., Any], n: int, seed: int, config: dict[str, Any], **options: Any
) -> float:
    """Seconds of one TPE + ASHA sweep of ``n`` trials ranked by ``val_loss``."""
    start = time.perf_counter()
    _sweep(storage, fn, strategy="tpe", pruner="asha", metric="val_loss", n_trials=n, seed=seed,
           config=config, **options)  # fmt: skip
    return time.perf_counter() - start


def _epochs(results: Any) -> int:
    total = 0
    for trial in results:
        summary = read_summary(trial.directory)
        total += int(summary.get("val_loss", {}).get("count", 0))
    return total


def _journal(directory: Path) -> list[dict[str, Any]]:
    text = (directory / "trials.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _distributions() -> dict[str, Any]:
    import optuna

    return {
        "lr": optuna.distributions.FloatDistribution(1e-3, 1.0, log=True),
        "width": optuna.distributions.CategoricalDistribution((8, 16, 32, 64)),
        "layers": optuna.distributions.IntDistribution(1, 3),
        "momentum": optuna.distributions.FloatDistribution(0.0, 0.95),
    }


# ---------------------------------------------------------------------------------------------
# TPE vs random, ASHA


def tpe_vs_random(root: str, seeds: int) -> tuple[list[Row], list[str]]:
    config = {"epochs": 9}
    best: dict[str, list[float]] = {"random": [], "tpe": []}
    curves: list[list[float]] = []
    seed_of = {"random": itertools.count(), "tpe": itertools.count()}

    def search(strategy: str) -> Callable[[], float]:
        def sample() -> float:
            seed = next(seed_of[strategy])
            start = time.perf_counter()
            results = _sweep(
                f"{root}/{strategy}{seed}",
                mlp_trial,
                strategy=strategy,
                n_trials=40,
                seed=seed,
                config=config,
                metric="val_loss",
            )
            values = [t.value if t.value is not None else math.inf for t in results]
            best[strategy].append(min(values))
            if strategy == "tpe":
                curves.append(values)
            return time.perf_counter() - start

        return sample

    # The warm-up round is seed 0 too: its results count (they are values, not times).
    interleave([search("random"), search("tpe")], seeds - 1)
    target = statistics.median(best["random"])
    reached = []
    for curve in curves:
        running = list(itertools.accumulate(curve, min))
        reached.append(next((i for i, v in enumerate(running, 1) if v <= target), len(curve) + 1))
    rows = [
        count_row(
            f"TPE: trials to reach random-40's median best {target:.4g} ({seeds} seeds: {reached})",
            Paired([float(r) for r in reached], [40.0] * len(reached)),
            "<= 0.5x",
            "trials",
        ),
        count_row(
            "  context: best of TPE's first 20 trials vs best of 40 random, per seed",
            Paired([min(c[:20]) for c in curves], best["random"]),
            "",
            "loss",
        ),
    ]
    note = (
        f"TPE vs random: {seeds} seeds, 40 trials each of the MLP for 9 epochs, serially; TPE is "
        "Optuna's TPESampler (multivariate), seeded per trial by the sweep"
    )
    return rows, [note]


def asha(root: str, seeds: int) -> tuple[list[Row], list[str]]:
    config = {"epochs": EPOCHS}
    epochs: dict[str, list[float]] = {"whole": [], "asha": []}
    best: dict[str, list[float]] = {"whole": [], "asha": []}
    seed_of = {"whole": itertools.count(), "asha": itertools.count()}

    def search(kind: str) -> Callable[[], float]:
        def sample() -> float:
            seed = next(seed_of[kind])
            start = time.perf_counter()
            results = _sweep(
                f"{root}/{kind}{seed}",
                mlp_trial,
                strategy="random",
                n_trials=32,
                seed=seed,
                config=config,
                metric="val_loss",
                pruner="asha" if kind == "asha" else None,
            )
            epochs[kind].append(float(_epochs(results)))
            best[kind].append(results.best.value)
            return time.perf_counter() - start

        return sample

    interleave([search("whole"), search("asha")], seeds - 1)
    rows = [
        count_row(
            f"ASHA: training epochs vs no pruning, 32 random trials x {EPOCHS} epochs "
            f"({seeds} seeds)",
            Paired(epochs["asha"], epochs["whole"]),
            "<= 0.4x",
            "epochs",
        ),
        count_row(
            "ASHA: best value vs no pruning, the same trials",
            Paired(best["asha"], best["whole"]),
            "<= 1.02x",
            "loss",
        ),
    ]
    note = (
        "ASHA: Optuna's SuccessiveHalvingPruner with its defaults, fed each epoch's val_loss; "
        "the same seeded random trials with and without it, serially"
    )
    return rows, [note]


# ---------------------------------------------------------------------------------------------
# Against Optuna: the whole sweep, and the scheduling cost per trial


def _optuna_objective(fn: Callable[..., float], config: dict[str, Any]) -> Callable[..., float]:
    import optuna

    def objective(trial: Any) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        width = trial.suggest_categorical("width", (8, 16, 32, 64))
        layers = trial.suggest_int("layers", 1, 3)
        momentum = trial.suggest_float("momentum", 0.0, 0.95)

        def report(epoch: int, loss: float) -> None:
            trial.report(loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned

        if fn is mlp_trial:
            return train_mlp(lr, width, layers, momentum, config["epochs"], report)
        loss = 0.0
        for epoch in range(config["epochs"]):
            python_work(config["work"])
            loss = python_loss(lr, width, layers, momentum, epoch)
            report(epoch, loss)
        return loss

    return objective


def _optuna_sweep(fn: Callable[..., float], config: dict[str, Any], n: int, seed: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(),
    )
    study.optimize(_optuna_objective(fn, config), n_trials=n, n_jobs=2)


def _optuna_pair(
    root: str, fn: Callable[..., Any], config: dict[str, Any], n: int
) -> list[Callable[[], float]]:
    """The two samplers of a figure against Optuna: our sweep and Optuna's, seed by seed."""
    seeds = {"ours": itertools.count(), "optuna": itertools.count()}

    def ours() -> float:
        seed = next(seeds["ours"])
        storage = f"{root}/{fn.__name__}{config.get('work', '')}-{seed}"
        return _timed_tpe_asha(storage, fn, n, seed, config, workers=2)

    def theirs() -> float:
        seed = next(seeds["optuna"])
        start = time.perf_counter()
        _optuna_sweep(fn, config, n, seed)
        return time.perf_counter() - start

    return [ours, theirs]


def against_optuna(root: str, rounds: int, n: int) -> tuple[list[Row], list[str]]:
    rows = []
    for label, fn, config, target in (
        ("torch MLP", mlp_trial, {"epochs": EPOCHS}, "<= 1.0x"),
        ("pure Python (GIL)", python_trial, {"epochs": 9, "work": 60_000}, "<= 0.6x"),
        # context: the same with longer epochs, where a trial's fixed cost (its run) weighs less
        ("  context: pure Python, 10x the work per epoch", python_trial,
         {"epochs": 9, "work": 600_000}, ""),
    ):  # fmt: skip
        mine, reference = interleave(_optuna_pair(root, fn, config, n), rounds)
        what = f": {n} trials TPE+ASHA, 2 workers vs optuna n_jobs=2"
        what = "" if label.startswith(" ") else what
        rows.append(row(f"{label}{what}", Paired(mine, reference), target))
    note = (
        f"{versions('optuna')}: create_study(sampler=TPESampler(seed), pruner="
        f"SuccessiveHalvingPruner()), optimize(objective, n_trials={n}, n_jobs=2): two threads "
        "of this process, in-memory storage, trial.report + should_prune each epoch; hypertuner: "
        "sweep(strategy='tpe', pruner='asha', workers=2): the default process pool (warm "
        "forkserver), every trial a run folder, the study journalled to study.jsonl. The torch "
        f"objective: {EPOCHS} epochs of the MLP; the Python one: 9 epochs of a 60,000-step loop"
    )
    return rows, [note]


def _steady(results: Any, started: dt.datetime, wall: float) -> tuple[float, float, float]:
    """(seconds before the first trial started, seconds after it, seconds inside the trials)."""
    lines = _journal(results.directory)
    first = min(dt.datetime.fromisoformat(x["time"]) for x in lines if x["status"] == "running")
    startup = max(0.0, (first - started).total_seconds())
    inside = sum(x["duration_s"] for x in lines if x["status"] != "running")
    return startup, wall - startup, inside


def scheduling_cost(root: str, rounds: int, n: int) -> tuple[list[Row], list[str]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds = {name: itertools.count() for name in ("serial", "process", "optuna")}
    found: dict[str, dict[str, list[float]]] = {
        name: {"startup": [], "after": [], "inside": []} for name in ("serial", "process")
    }
    asked: list[float] = []

    def sweep(backend: str) -> Callable[[], float]:
        def sample() -> float:
            seed = next(seeds[backend])
            started = dt.datetime.now(dt.timezone.utc)
            start = time.perf_counter()
            results = _sweep(
                f"{root}/{backend}{seed}",
                noop,
                strategy="tpe",
                n_trials=n,
                seed=seed,
                backend=backend,
                workers=1,
                threads_per_worker=None,
            )
            wall = time.perf_counter() - start
            startup, after, inside = _steady(results, started, wall)
            for key, value in (("startup", startup), ("after", after), ("inside", inside)):
                found[backend][key].append(value)
            shutil.rmtree(results.directory.parent, ignore_errors=True)
            return wall

        return sample

    def optuna_alone() -> float:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=next(seeds["optuna"])))
        distributions = _distributions()
        start = time.perf_counter()
        for _ in range(n):
            trial = study.ask(distributions)
            study.tell(trial, trial.params["lr"])
        asked.append((time.perf_counter() - start) / n)
        return asked[-1]

    interleave([sweep("serial"), sweep("process"), optuna_alone], rounds)
    reference = asked[-rounds:]
    rows = []
    for backend, label in (("serial", "serial"), ("process", "process pool, 1 worker")):
        taken = {key: values[-rounds:] for key, values in found[backend].items()}
        costs = [
            (after - inside) / n - optuna_seconds
            for after, inside, optuna_seconds in zip(
                taken["after"], taken["inside"], reference, strict=True
            )
        ]
        rows.append(
            row(
                f"scheduling per trial beyond optuna's ask+tell, {label}, {n} no-op TPE trials",
                Paired(costs),
                "<= 2 ms",
            )
        )
        rows.append(row(f"  context: the sweep's start-up, {label}", Paired(taken["startup"]), ""))
        rows.append(
            row(
                f"  context: a no-op trial's own run (start_run, its files, its end), {label}",
                Paired([inside / n for inside in taken["inside"]]),
                "",
            )
        )
    rows.append(
        row(f"  context: optuna's own ask+tell per trial ({n} trials)", Paired(reference), "")
    )
    rows.append(
        row(
            "  context: a process's first pool sweep: the forkserver's start (torch preloaded)",
            Paired(_cold_starts(root, rounds)),
            "",
        )
    )
    note = (
        "scheduling per trial: from the first trial's start to the sweep's return, less the "
        "trials' own windows (each an ordinary run: start_run with config.json and meta.json "
        "fsynced, git, the function, the run's end) and less optuna's ask+tell on in-memory "
        "storage with TPESampler(seed) for as many trials, in the same round; per trial. It "
        "keeps the journal and study.jsonl (Optuna's journal storage, fsynced in a thread), a "
        "sampler seeded per trial, the job and outcome over the worker's pipe; the start-up rows "
        "(lock, study, workers) are once per sweep, the forkserver's start once per process"
    )
    return rows, [note]


def _cold_starts(root: str, rounds: int) -> list[float]:
    """The start-up of a one-trial pool sweep in a fresh process that has imported torch: the
    warm forkserver's start (once per process) and the worker's, ``rounds`` times."""
    env = {k: v for k, v in os.environ.items() if k != "HYPERTUNER_STORAGE"}
    out = []
    for i in range(rounds):
        done = subprocess.run(
            [sys.executable, __file__, "--cold-start", f"{root}/cold{i}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def cold_start(storage: str) -> None:
    """Print the start-up of a one-trial pool sweep in this (fresh) process."""
    import torch

    torch.set_num_threads(1)
    started = dt.datetime.now(dt.timezone.utc)
    start = time.perf_counter()
    results = _sweep(
        storage, noop, strategy="tpe", n_trials=1, seed=0, backend="process", workers=1
    )
    startup, _, _ = _steady(results, started, time.perf_counter() - start)
    print(startup)


# ---------------------------------------------------------------------------------------------
# Against Ray Tune


def against_ray_tune(root: str, rounds: int, n: int) -> tuple[list[Row], list[str]]:
    try:
        import optuna
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search.optuna import OptunaSearch
    except ImportError as exc:
        print(
            f"note: Ray Tune is not installed ({exc}); pip install -r benchmarks/requirements.txt"
        )
        return [], []
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
    seeds = {"ours": itertools.count(), "tune": itertools.count()}

    def ours() -> float:
        seed = next(seeds["ours"])
        return _timed_tpe_asha(
            f"{root}/ray{seed}", mlp_trial, n, seed, config, backend="ray", workers=2
        )

    def theirs() -> float:
        seed = next(seeds["tune"])
        tuner = tune.Tuner(
            tune.with_resources(tune_trial, {"cpu": 1}),
            param_space=param_space,
            tune_config=tune.TuneConfig(
                metric="val_loss",
                mode="min",
                search_alg=OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed)),
                scheduler=ASHAScheduler(max_t=EPOCHS),
                num_samples=n,
                max_concurrent_trials=2,
            ),
            run_config=tune.RunConfig(
                storage_path=f"{root}/tune{seed}", verbose=0, log_to_file=False
            ),
        )
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            tuner.fit()
        return time.perf_counter() - start

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("ray.tune").setLevel(logging.WARNING)  # a line per fit on stderr
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        mine, reference = interleave([ours, theirs], rounds)
    finally:
        ray.shutdown()
    rows = [
        row(
            f"Ray backend vs Ray Tune (OptunaSearch TPE + ASHA, 2 CPUs), {n} trials",
            Paired(mine, reference),
            "<= 0.7x",
        )
    ]
    note = (
        f"{versions('ray')}: Tuner(with_resources(trainable, cpu=1), TuneConfig(search_alg="
        "OptunaSearch(TPESampler(seed)), scheduler=ASHAScheduler(max_t=27), "
        "max_concurrent_trials=2)), tune.report each epoch; hypertuner: sweep(backend='ray', "
        "workers=2, strategy='tpe', pruner='asha'); both on one ray.init(num_cpus=2)"
    )
    return rows, [note]


# ---------------------------------------------------------------------------------------------
# The default start method


def start_method(root: str, rounds: int, n: int, seconds: float) -> tuple[list[Row], list[str]]:
    import torch

    train_mlp(0.1, 64, 2, 0.5, 2)  # warm-up
    start = time.perf_counter()
    train_mlp(0.1, 64, 2, 0.5, 20)
    epochs = max(1, round(20 * seconds / (time.perf_counter() - start)))
    config = {"epochs": epochs}
    folders = itertools.count()

    def sweep(**options: Any) -> Callable[[], float]:
        def sample() -> float:
            folder = f"{root}/s{next(folders)}"
            start = time.perf_counter()
            _sweep(folder, sleepy_mlp, strategy="random", n_trials=n, seed=0, config=config,
                   **options)  # fmt: skip
            elapsed = time.perf_counter() - start
            shutil.rmtree(folder, ignore_errors=True)
            return elapsed

        return sample

    serial, pooled, spawned = interleave(
        [sweep(), sweep(workers=2), sweep(workers=2, start_method="spawn")], rounds
    )
    rows = [
        row(
            f"{n} x {seconds:g} s trials, 2 workers (default start method) vs serial",
            Paired(pooled, serial),
            ">= 1.7x faster",
        ),
        row("  context: start_method='spawn' vs serial", Paired(spawned, serial), ""),
    ]
    note = (
        f"start method: {epochs} epochs of the MLP (64 wide, 2 layers) per trial, calibrated here "
        f"to {seconds:g} s with {torch.get_num_threads()} torch thread; serial: "
        "sweep(backend='serial') in this process; 2 workers: the default process pool (forkserver "
        "warmed with torch and this file), one torch thread per worker"
    )
    return rows, [note]


FIGURES = ("tpe", "asha", "optuna", "overhead", "raytune", "start")


def main() -> int:
    parser = standard_options(__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=None, help="seeds per figure (default 5)")
    parser.add_argument("--only", default=",".join(FIGURES), help="figures: " + ",".join(FIGURES))
    parser.add_argument("--cold-start", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.cold_start:
        cold_start(options.cold_start)
        return 0
    seeds = max(options.seeds or 5, 2)
    rounds = options.repeat or (3 if options.quick else 5)
    chosen = set(options.only.split(","))
    import torch

    torch.set_num_threads(1)  # as in each worker: every trial does the same work everywhere
    print(f"{load_text()} at the start")
    root = tempfile.mkdtemp(prefix="bench-learning-")
    rows: list[Row] = []
    notes: list[str] = []
    steps: list[tuple[str, Callable[[], tuple[list[Row], list[str]]]]] = [
        ("tpe", lambda: tpe_vs_random(f"{root}/tpe", seeds)),
        ("asha", lambda: asha(f"{root}/asha", seeds)),
        ("optuna", lambda: against_optuna(f"{root}/optuna", rounds, 16)),
        ("overhead", lambda: scheduling_cost(f"{root}/overhead", rounds, 100)),
        ("raytune", lambda: against_ray_tune(f"{root}/raytune", rounds, 16)),
        ("start", lambda: start_method(f"{root}/start", rounds, 16, 0.5 if options.quick else 1)),
    ]
    try:
        for name, step in steps:
            if name in chosen:
                began = time.perf_counter()
                more, more_notes = step()
                rows += more
                notes += more_notes
                print(f"{name}: {time.perf_counter() - began:.0f} s; {load_text()}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    notes.append(
        f"timings: {rounds} rounds after a warm-up round, the contenders in rotation; "
        f"torch {torch.__version__}, one thread; {load_text()} at the end"
    )
    table(rows, title="sweeps that learn and stop early (issue 13)", references=notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
