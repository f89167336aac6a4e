"""Benchmark of search and sweeps (issue 5): parallel trials, scheduling cost, trial generation.

Figures (the issue's sizes by default; ``--trials`` and ``--trial-seconds`` make a quick run),
each the median over rounds in which every contender ran once, in rotating order, with its
spread:

- 16 trials of about 1 s each (a small MLP, random search over the learning rate), run serially
  in this process, with ``workers=2`` on the process backend (spawned workers, reused across
  trials, one torch thread each), the same with ``start_method="fork"``, and with optuna's
  ``study.optimize(n_jobs=2)`` (threads) on the same objective. This process also uses one
  torch thread (``--serial-threads``), so every trial does the same work everywhere: with
  torch's default on a busy machine, the serial run's OpenMP threads can slow the small MLP
  down tenfold, which would flatter the pool. The pool's time includes starting its workers,
  each of which imports torch;
- the sweep's own cost per trial (journal, dispatch, results), serially and through the pool,
  measured with trials that do nothing;
- generating 100,000 random trials from a 6-parameter space.

Run: ``python benchmarks/bench_search.py [--trials 16] [--trial-seconds 1.0] [--quick]``.
The trial function lives in this file, so the spawned workers import it the way they import a
user's script.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Paired,
    Row,
    interleave,
    load_text,
    pairs,
    private,
    process,
    python_env,
    row,
    standard_options,
    table,
    versions,
    window,
)

import hypertuner
from hypertuner import choice, irange, loguniform, uniform

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


def random_generation(n_trials: int) -> Callable[[], None]:
    generate = private("generate")
    space = {
        "lr": loguniform(1e-5, 1e-1),
        "momentum": uniform(0.5, 0.99),
        "layers": choice(2, 4, 8),
        "width": irange(16, 1024, 16),
        "activation": choice("relu", "tanh", "gelu"),
        "dropout": uniform(0.0, 0.5),
    }
    seeds = itertools.count()

    def once() -> None:
        trials = generate(space, "random", n_trials, seed=next(seeds))
        assert len(trials) == n_trials

    return once


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
    rounds = options.repeat or (3 if options.quick else 5)
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
            f"{load_text()}"
        )
        have_optuna = _available("optuna")
        folders = itertools.count()
        steady: list[tuple[float, int]] = []

        def sweep(**backend: object) -> Callable[[], float]:
            def sample() -> float:
                storage = f"{root}/sweep-{next(folders)}"
                elapsed = timed_sweep(storage, n_trials, steps, **backend)
                if backend.get("backend") == "process" and "start_method" not in backend:
                    steady.append(steady_state(storage, workers))
                shutil.rmtree(storage, ignore_errors=True)
                return elapsed

            return sample

        contenders = [
            sweep(backend="serial"),
            sweep(workers=workers, backend="process"),
            sweep(workers=workers, backend="process", start_method="fork"),
        ]
        if have_optuna:
            contenders.append(lambda: timed_optuna(n_trials, steps, workers) or 0.0)
        else:
            print(
                "note: optuna is not installed; the optuna figures are not measured "
                "(pip install -r benchmarks/requirements.txt)."
            )
        # No warm-up round: each sweep starts its own workers, the cost the figures include;
        # the calibration above warmed this process's torch.
        timed = interleave(contenders, rounds, warmup=0)
        serial, pool, forked = timed[:3]
        label = f"{n_trials} trials x {seconds:g} s"
        rows.append(row(f"{label}, serial (in process)", Paired(serial), ""))
        counted = min(c for _, c in steady)
        if counted:
            rows.append(
                row(
                    "  context: pool after each worker's first trial vs serial, same trials",
                    Paired(
                        [t for t, _ in steady],
                        [s * c / n_trials for s, (_, c) in zip(serial, steady, strict=True)],
                    ),
                    "",
                )
            )
        rows.append(
            row(
                f"{label}, process backend (spawn), {workers} workers vs serial",
                Paired(pool, serial),
                ">= 1.8x faster",
            )
        )
        rows.append(
            row(
                f"  opt-in start_method='fork', {workers} workers vs serial",
                Paired(forked, serial),
                ">= 1.8x faster",
            )
        )
        if have_optuna:
            optuna_time = timed[3]
            rows.append(
                row(
                    f"  opt-in start_method='fork' vs optuna n_jobs={workers}",
                    Paired(forked, optuna_time),
                    ">= 2.5x faster",
                )
            )
            rows.append(
                row(
                    f"{label}, process backend (spawn) vs optuna n_jobs={workers}",
                    Paired(pool, optuna_time),
                    ">= 2.5x faster",
                )
            )
            rows.append(
                row(
                    f"  context: optuna n_jobs={workers} vs serial",
                    Paired(optuna_time, serial),
                    "",
                )
            )
        costs: dict[str, list[float]] = {"serial": [], "process": []}
        startups: list[float] = []

        def noop_sweep(backend: str) -> Callable[[], float]:
            def sample() -> float:
                storage = f"{root}/noop-{next(folders)}"
                cost, startup = sweep_overhead(storage, 100, 1, backend)
                shutil.rmtree(storage, ignore_errors=True)
                costs[backend].append(cost)
                if backend == "process":
                    startups.append(startup)
                return cost

            return sample

        interleave([noop_sweep("serial"), noop_sweep("process")], rounds)
        rows.append(
            row(
                "sweep cost per trial, serial (100 no-op trials)",
                Paired(costs["serial"][-rounds:]),
                "<= 10 ms",
            )
        )
        rows.append(
            row(
                "scheduling per trial, process backend (100 no-op trials)",
                Paired(costs["process"][-rounds:]),
                "<= 10 ms",
            )
        )
        rows.append(
            row(
                "  context: worker start (spawn, import hypertuner; no torch)",
                Paired(startups[-rounds:]),
                "",
            )
        )
        env = python_env()
        rows.append(
            row(
                "  context: a fresh process importing torch and hypertuner vs torch alone",
                pairs(
                    process([sys.executable, "-c", "import torch, hypertuner"], env),
                    process([sys.executable, "-c", "import torch"], env),
                    repeat,
                ),
                "",
            )
        )
        rows.append(
            row(
                f"generate {options.random_trials:,} random trials, 6 parameters",
                pairs(window(random_generation(options.random_trials)), None, repeat),
                "<= 1 s",
            )
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    references = [
        f"{versions('optuna')}: create_study(sampler=RandomSampler(seed=0)), "
        f"study.optimize(objective, n_trials={n_trials}, n_jobs={workers}) (threads in this "
        "process) on the same MLP objective, log-uniform learning rate",
        f"serial: hypertuner.sweep(backend='serial') in this process; torch threads here: "
        f"{_torch_threads()}, in each pool worker: 1 (threads_per_worker default)",
    ]
    table(rows, title="search and sweeps (issue 5)", references=references)
    return 0


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    raise SystemExit(main())
