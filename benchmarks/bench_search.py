"""Benchmark of search and sweeps (issue 5): parallel trials, scheduling cost, trial generation.

Figures (the issue's sizes by default; ``--trials`` and ``--trial-seconds`` make a quick run):

- 16 trials of about 1 s each (a small MLP, random search over the learning rate), run serially
  in this process, then with ``workers=2`` on the process backend (spawned workers, reused across
  trials, one torch thread each), then with optuna's ``study.optimize(n_jobs=2)`` (threads) on
  the same objective. This process also uses one torch thread (``--serial-threads``), so every
  trial does the same work everywhere: with torch's default on a busy machine, the serial run's
  OpenMP threads can slow the small MLP down tenfold, which would flatter the pool. The pool's
  time includes starting its workers, each of which imports torch;
- the sweep's own cost per trial (journal, dispatch, results), serially and through the pool,
  measured with trials that do nothing;
- generating 100,000 random trials from a 6-parameter space.

Run: ``python benchmarks/bench_search.py [--trials 16] [--trial-seconds 1.0] [--quick]``.
The trial function lives in this file, so the spawned workers import it the way they import a
user's script.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, row, standard_options, table, time_process

import hypertuner
from hypertuner.search import choice, generate, irange, loguniform, uniform

# ---------------------------------------------------------------------------------------------
# The objective: a small MLP trained for a fixed number of steps


def train_mlp(lr: float, layers: int, steps: int) -> float:
    """Train a 32-128-...-1 MLP on fixed random data for ``steps`` SGD steps; return the loss."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = torch.randn(256, 32)
    y = torch.randn(256, 1)
    blocks: list[nn.Module] = []
    size = 32
    for _ in range(layers):
        blocks += [nn.Linear(size, 128), nn.ReLU()]
        size = 128
    model = nn.Sequential(*blocks, nn.Linear(size, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.item())


def trial(args: hypertuner.Args) -> float:
    """One sweep trial (hypertuner's side)."""
    return train_mlp(args.lr, args.layers, args.steps)


def noop(args: hypertuner.Args) -> int:
    """A trial that does nothing: what is left is the sweep's own cost."""
    return int(args.x)


def calibrate(trial_seconds: float) -> int:
    """The number of steps one trial takes for about ``trial_seconds`` here (serially)."""
    train_mlp(0.01, 2, 20)  # warm-up: first calls allocate
    steps = 50
    while True:
        start = time.perf_counter()
        train_mlp(0.01, 2, steps)
        elapsed = time.perf_counter() - start
        if elapsed > 0.2:
            return max(1, round(steps * trial_seconds / elapsed))
        steps *= 2


# ---------------------------------------------------------------------------------------------
# Measurements


def timed_sweep(storage: str, n_trials: int, steps: int, **options: Any) -> float:
    start = time.perf_counter()
    results = hypertuner.sweep(
        trial,
        {"lr": loguniform(1e-4, 1e-1)},
        strategy="random",
        n_trials=n_trials,
        seed=0,
        config={"layers": 2, "steps": steps},
        storage=storage,
        progress=False,
        **options,
    )
    elapsed = time.perf_counter() - start
    failed = [t for t in results if t.status != "finished"]
    if failed:
        msg = f"{len(failed)} trials failed, e.g. {failed[0].error}"
        raise RuntimeError(msg)
    return elapsed


def steady_state(storage: str, workers: int) -> tuple[float, int]:
    """(seconds, trials) of the pool once every worker finished its first trial.

    A worker's first trial also pays for the worker's start: spawning, importing torch and
    torch's first-call warm-up. What follows is the pool's steady state.
    """
    ends = sorted(
        dt.datetime.fromisoformat(x["time"]) for x in _journal(storage) if x["status"] == "finished"
    )
    if len(ends) <= workers:
        return 0.0, 0
    return (ends[-1] - ends[workers - 1]).total_seconds(), len(ends) - workers


def timed_optuna(n_trials: int, steps: int, jobs: int) -> float | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(t: Any) -> float:
        return train_mlp(t.suggest_float("lr", 1e-4, 1e-1, log=True), 2, steps)

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials, n_jobs=jobs)
    return time.perf_counter() - start


def _journal(storage: str) -> list[dict[str, Any]]:
    folder = next(p for p in Path(storage).iterdir() if (p / "trials.jsonl").exists())
    return [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]


def sweep_overhead(storage: str, n_trials: int, workers: int, backend: str) -> tuple[float, float]:
    """(seconds of sweep cost per trial, seconds until the first trial started) for no-op trials.

    The cost is the wall time not spent inside the trials' own run (start_run, the function,
    finish), per trial slot: journal writes, dispatch, the worker round trip, progress. One
    worker measures the round trip itself, free of the two workers' competition for the CPUs.
    """
    start_wall = dt.datetime.now(dt.timezone.utc)
    start = time.perf_counter()
    hypertuner.sweep(
        noop,
        {"x": irange(0, n_trials)},
        storage=storage,
        workers=workers,
        backend=backend,
        progress=False,
        threads_per_worker=None,
    )
    wall = time.perf_counter() - start
    lines = _journal(storage)
    first = min(dt.datetime.fromisoformat(x["time"]) for x in lines if x["status"] == "running")
    startup = max(0.0, (first - start_wall).total_seconds())
    inside = sum(x["duration_s"] for x in lines if x["status"] == "finished")
    per_trial = ((wall - startup) * workers - inside) / n_trials
    return max(per_trial, 0.0), startup


def random_generation(n_trials: int, repeat: int) -> float:
    space = {
        "lr": loguniform(1e-5, 1e-1),
        "momentum": uniform(0.5, 0.99),
        "layers": choice(2, 4, 8),
        "width": irange(16, 1024, 16),
        "activation": choice("relu", "tanh", "gelu"),
        "dropout": uniform(0.0, 0.5),
    }
    best = float("inf")
    for seed in range(repeat):
        start = time.perf_counter()
        trials = generate(space, "random", n_trials, seed=seed)
        best = min(best, time.perf_counter() - start)
        assert len(trials) == n_trials
    return best


def main() -> int:
    parser = standard_options(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=None, help="trials per sweep (default 16)")
    parser.add_argument(
        "--trial-seconds", type=float, default=None, help="length of one trial (default 1.0)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--random-trials", type=int, default=100_000)
    parser.add_argument(
        "--serial-threads",
        type=int,
        default=1,
        help="torch threads in this process, for the serial and optuna runs (default 1, as in "
        "each worker, so every trial does the same work; 0 keeps torch's default)",
    )
    options = parser.parse_args()
    n_trials = options.trials or (8 if options.quick else 16)
    seconds = options.trial_seconds or (0.5 if options.quick else 1.0)
    repeat = options.repeat or (3 if options.quick else 7)
    workers = options.workers

    root = tempfile.mkdtemp(prefix="bench-search-")
    rows: list[Row] = []
    try:
        if options.serial_threads:
            import torch

            torch.set_num_threads(options.serial_threads)
        steps = calibrate(seconds)
        print(
            f"calibrated: {steps} steps of a small MLP take about {seconds:g} s here "
            f"(torch threads in this process: {_torch_threads()}); {n_trials} trials; "
            f"{os.cpu_count()} CPUs"
        )
        serial = timed_sweep(f"{root}/serial", n_trials, steps, backend="serial")
        pool = timed_sweep(f"{root}/pool", n_trials, steps, workers=workers, backend="process")
        forked = timed_sweep(
            f"{root}/forked",
            n_trials,
            steps,
            workers=workers,
            backend="process",
            start_method="fork",
        )
        optuna_time = timed_optuna(n_trials, steps, workers)
        label = f"{n_trials} trials x {seconds:g} s"
        rows.append(row(f"{label}, serial (in process)", serial, None, ""))
        steady, counted = steady_state(f"{root}/pool", workers)
        if counted:
            rows.append(
                row(
                    f"  context: pool after each worker's first trial ({counted} trials)",
                    steady,
                    serial * counted / n_trials,
                    "",
                )
            )
        rows.append(
            row(
                f"{label}, process backend, {workers} workers vs serial",
                pool,
                serial,
                ">= 1.8x faster",
            )
        )
        rows.append(
            row(
                f"  opt-in start_method='fork', {workers} workers vs serial",
                forked,
                serial,
                ">= 1.8x faster",
            )
        )
        if optuna_time is not None:
            rows.append(
                row(
                    f"  opt-in start_method='fork' vs optuna n_jobs={workers}",
                    forked,
                    optuna_time,
                    ">= 2.5x faster",
                )
            )
        if optuna_time is None:
            print(
                "note: optuna is not installed; the optuna figure is not measured "
                "(pip install -r benchmarks/requirements.txt)."
            )
            rows.append(row(f"{label}, process backend vs optuna n_jobs={workers}", pool, None, ""))
        else:
            rows.append(
                row(
                    f"{label}, process backend vs optuna n_jobs={workers}",
                    pool,
                    optuna_time,
                    ">= 2.5x faster",
                )
            )
            rows.append(
                row(
                    f"{label}, optuna n_jobs={workers} (context: / serial)", optuna_time, serial, ""
                )
            )
        serial_cost, _ = sweep_overhead(f"{root}/noop-serial", 100, 1, "serial")
        pool_cost, startup = sweep_overhead(f"{root}/noop-pool", 100, 1, "process")
        rows.append(
            row("sweep cost per trial, serial (100 no-op trials)", serial_cost, None, "<= 10 ms")
        )
        rows.append(
            row(
                "scheduling per trial, process backend (100 no-op trials)",
                pool_cost,
                None,
                "<= 10 ms",
            )
        )
        rows.append(row("worker start (spawn, import hypertuner; no torch)", startup, None, ""))
        cold = time_process([sys.executable, "-c", "import torch, hypertuner"], repeat=3)
        rows.append(row("a fresh process importing torch and hypertuner", cold, None, ""))
        generation = random_generation(options.random_trials, repeat)
        rows.append(
            row(
                f"generate {options.random_trials:,} random trials, 6 parameters",
                generation,
                None,
                "<= 1 s",
            )
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table(rows, title="search and sweeps (issue 5)")
    return 0


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    raise SystemExit(main())
