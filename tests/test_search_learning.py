"""Sweeps that learn (tpe, gp, cmaes) and stop trials early (asha, hyperband, median): the
samplers on each backend, the pruners, TrialPruned, the Lightning path, the `pruned` status
everywhere, the study journal and resume, streamed values, the CLI and bad input."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import choice, cli, irange, loguniform, uniform
from hypertuner._layout import list_runs
from hypertuner._study import STUDY_LOG, StudyLog
from hypertuner._sweeprecord import JOURNAL, SWEEP_FILE, Journal
from hypertuner.errors import MissingDependencyError, SearchSpecError
from hypertuner.tracking import read_summary

optuna = pytest.importorskip("optuna")

REPO = Path(__file__).resolve().parents[1]
SPACE = {
    "lr": loguniform(1e-4, 1e-1),
    "model.width": choice(32, 64, 128),
    "model.act": choice("relu", "tanh"),
    "momentum": uniform(0.0, 0.9),
    "layers": irange(1, 5),
}


def _journal(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / JOURNAL).read_text().splitlines()]


def _latest(directory: Path) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for line in _journal(directory):
        out.setdefault(line["index"], {}).update(line)
    return out


def _objective(args: hypertuner.Args) -> float:
    """A smooth function of every kind of dimension, best near lr=1e-2, width 64, tanh."""
    value = (math.log10(args.lr) + 2) ** 2 + abs(args.model.width - 64) / 64
    value += 0.3 * (args.model.act == "relu") + (args.momentum - 0.5) ** 2 + 0.1 * args.layers
    return value


def _curve(args: hypertuner.Args) -> float:
    """Logs a decreasing loss per step whose level is the objective: what a pruner watches."""
    level = _objective(args)
    for step in range(6):
        hypertuner.log({"loss": level + 1.0 / (step + 1)}, step=step)
    return level


def _python(script: Path, *argv: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess[str]:  # fmt: skip
    full = {**os.environ, **(env or {})}
    full.pop("HYPERTUNER_STORAGE", None)
    full.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [sys.executable, str(script), *argv],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


# ---------------------------------------------------------------------------------------------
# Samplers, serially, on every dimension type and nested keys


@pytest.mark.parametrize("strategy", ["tpe", "gp", "cmaes"])
def test_each_model_based_strategy_searches_every_dimension_type_and_nested_keys(
    storage: Path, strategy: str
) -> None:
    n = 12 if strategy != "gp" else 6  # GP fits a model per ask: a few trials say enough
    results = hypertuner.sweep(
        _objective, SPACE, strategy=strategy, n_trials=n, seed=3, name=strategy, progress=False
    )
    assert [t.status for t in results] == ["finished"] * n, [t.error for t in results]
    for trial in results:
        config = trial.config
        assert 1e-4 <= config["lr"] <= 1e-1
        assert config["model"]["width"] in (32, 64, 128)
        assert config["model"]["act"] in ("relu", "tanh")
        assert 0.0 <= config["momentum"] <= 0.9
        assert config["layers"] in range(1, 5)
        assert isinstance(config["layers"], int)
    assert list_runs(storage) == sorted(f"{strategy}-{i}" for i in range(n))
    sweep_file = json.loads((storage / strategy / SWEEP_FILE).read_text())
    assert (sweep_file["strategy"], sweep_file["seed"]) == (strategy, 3)
    # The study journal holds every ask and tell, in Optuna's own journal format.
    study = optuna.load_study(
        study_name="sweep",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(storage / strategy / STUDY_LOG))
        ),
    )
    assert len(study.trials) == n
    assert study.best_value == pytest.approx(results.best.value)


def test_the_same_seed_gives_the_same_trials_and_another_seed_others(storage: Path) -> None:
    def values(seed: int, name: str) -> list[float]:
        results = hypertuner.sweep(
            _objective, SPACE, strategy="tpe", n_trials=12, seed=seed, name=name, progress=False
        )
        return [t.config["lr"] for t in results]

    assert values(1, "a") == values(1, "b")
    assert values(1, "a") != values(2, "c")


def test_optuna_is_quiet_while_the_sweep_runs_and_as_it_was_after(storage: Path) -> None:
    """Optuna's INFO line per tell would repeat the sweep's own progress."""
    seen = []

    def trial(args: hypertuner.Args) -> float:
        seen.append(optuna.logging.get_verbosity())
        return float(args.x)

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        hypertuner.sweep(trial, {"x": uniform(0, 1)}, strategy="tpe", n_trials=2, progress=False)
        assert seen == [optuna.logging.WARNING] * 2
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(before)


def test_tpe_learns_from_the_results_so_far(storage: Path) -> None:
    """After its random start-up trials, TPE's trials are better than random ones on average."""
    space = {"x": uniform(-10.0, 10.0), "y": uniform(-10.0, 10.0)}

    def bowl(args: hypertuner.Args) -> float:
        return float(args.x**2 + args.y**2)

    tpe = hypertuner.sweep(bowl, space, strategy="tpe", n_trials=40, seed=0, progress=False)
    rnd = hypertuner.sweep(bowl, space, strategy="random", n_trials=40, seed=0, progress=False)
    late_tpe = sorted(t.value for t in tpe[20:])  # type: ignore[type-var]
    late_random = sorted(t.value for t in rnd[20:])  # type: ignore[type-var]
    assert late_tpe[len(late_tpe) // 2] < late_random[len(late_random) // 2] / 2


# ---------------------------------------------------------------------------------------------
# Pruners and TrialPruned


def _stepwise(args: hypertuner.Args) -> float:
    """A trial whose loss at every step is its x: the pruners see the bad ones at once. The
    TrialPruned comes from the log call that sent the value the pruner judged."""
    for step in range(8):
        try:
            hypertuner.log({"loss": args.x + 1.0 / (step + 1)}, step=step)
        except hypertuner.TrialPruned as exc:
            if (exc.step, exc.metric) != (step, "loss"):
                msg = f"pruned at step {step} for step {exc.step} of {exc.metric!r}"
                raise RuntimeError(msg) from exc
            raise
    return float(args.x)


@pytest.mark.parametrize("pruner", ["asha", "hyperband", "median"])
def test_each_pruner_stops_hopeless_trials_which_end_pruned(storage: Path, pruner: str) -> None:
    xs = [1, 2, 3, 4, 5, 0.5, 9, 10, 8, 7, 9.5, 6]
    results = hypertuner.sweep(
        _stepwise,
        {"x": choice(*xs)},
        pruner=pruner,
        metric="loss",
        name=pruner,
        progress=False,
    )
    statuses = {t.config["x"]: t.status for t in results}
    assert set(statuses.values()) <= {"finished", "pruned"}
    pruned = [x for x, s in statuses.items() if s == "pruned"]
    assert pruned, statuses
    assert min(pruned) > 0.5  # the best trial is never the one stopped
    assert results.best is not None
    assert results.best.config["x"] == 0.5
    for trial in results:
        meta = json.loads((storage / trial.name / "meta.json").read_text())
        assert meta["status"] == trial.status
        if trial.status == "pruned":
            assert "Trial pruned at step" in meta["error"]
            summary = json.loads((storage / trial.name / "summary.json").read_text())
            assert summary["metrics"]["loss"]["count"] < 8  # it stopped where it stood
    sweep_file = json.loads((storage / pruner / SWEEP_FILE).read_text())
    assert sweep_file["pruner"] == pruner
    assert sweep_file["counts"]["pruned"] == len(pruned)
    assert {line["status"] for line in _journal(storage / pruner)} == {
        "running",
        "finished",
        "pruned",
    }


def _condemned(args: hypertuner.Args) -> float:
    """Records each step it trains past its loss's log call (a module function: pool workers)."""
    done = Path(args.record)
    for step in range(5):
        hypertuner.log({"acc": 0.5}, step=step)  # another metric: not judged
        hypertuner.log({"loss": float(args.x)}, step=step)
        with done.open("a") as out:
            out.write(f"{args.x} {step}\n")  # not reached once this step's loss is condemned
    return float(args.x)


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_the_log_call_that_sends_a_condemned_value_raises_trial_pruned(
    storage: Path, tmp_path: Path, workers: int
) -> None:
    record = tmp_path / "steps.txt"
    record.touch()
    results = hypertuner.sweep(
        _condemned,
        {"x": [1, 2, 3, 4, 5, 9]},
        pruner="median",
        metric="loss",
        progress=False,
        workers=workers,
        config={"record": str(record)},
    )
    steps: dict[float, list[int]] = {}
    for line in record.read_text().splitlines():
        x, step = line.split()
        steps.setdefault(float(x), []).append(int(step))
    if workers == 1:
        # The sixth trial's first loss (step 0) is judged hopeless by the log call that sent
        # it: not one more step of training, as with Optuna's report + should_prune.
        assert 9.0 not in steps
        assert all(steps[x] == [0, 1, 2, 3, 4] for x in (1.0, 2.0, 3.0, 4.0, 5.0))
    pruned = [t for t in results if t.status == "pruned"]
    assert pruned or workers == 2  # two at a time, the median may have too little to judge by
    for trial in pruned:  # on either backend: stopped by the call whose value was judged
        losses = read_summary(trial.directory)["loss"]["count"]
        assert len(steps.get(float(trial.config["x"]), [])) == losses - 1, trial


class _SlowDriver:
    """An upstream whose verdict arrives only at the second asking (the driver was busy)."""

    def __init__(self) -> None:
        self.asked: list[float | None] = []

    def send(self, step: int, value: float) -> None:
        self.value = value

    def verdict(self, wait: float | None = None) -> bool | None:
        self.asked.append(wait)
        return None if wait is not None else self.value > 1.0


def test_a_verdict_slower_than_the_prompt_wait_is_heard_at_the_next_log_call() -> None:
    from hypertuner._report import PROMPT_S, Watch

    upstream = _SlowDriver()
    watch = Watch("loss", upstream, waits=True)
    watch({"loss": 2.0}, 0)  # no verdict within PROMPT_S: training goes on
    assert upstream.asked == [PROMPT_S]
    with pytest.raises(hypertuner.TrialPruned, match="at step 0"):
        watch({"acc": 0.1}, 1)  # the next call waits for it, and stops the trial
    assert upstream.asked == [PROMPT_S, None]


def test_a_trial_may_raise_trial_pruned_itself(storage: Path) -> None:
    def trial(args: hypertuner.Args) -> float:
        if args.x > 1:
            raise hypertuner.TrialPruned(step=0)
        return 1.0

    results = hypertuner.sweep(trial, {"x": [1, 2]}, progress=False)
    assert [t.status for t in results] == ["finished", "pruned"]
    assert results[1].error == "Trial pruned at step 0."


# ---------------------------------------------------------------------------------------------
# The pruned status everywhere a status is shown


def test_a_pruned_trial_is_pruned_in_runs_compare_the_page_and_tensorboard(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hypertuner import compare
    from hypertuner.ui.server import UIServer
    from tests.test_tracking import hparams_of
    from tests.test_ui import call

    results = hypertuner.sweep(
        _stepwise, {"x": [1, 2, 3, 4, 5, 9]}, pruner="median", metric="loss", name="p",
        progress=False,
    )  # fmt: skip
    assert results[-1].status == "pruned"
    name = results[-1].name
    rows = {row["name"]: row for row in compare.runs_table(storage)}
    assert rows[name]["status"] == "pruned"
    assert cli.main(["runs", "--json", "--storage", str(storage)]) == 0
    listed = {row["name"]: row["status"] for row in json.loads(capsys.readouterr().out)}
    assert listed[name] == "pruned"
    assert cli.main(["runs", "--storage", str(storage)]) == 0
    assert any(
        line.split()[:2] == [name, "pruned"] for line in capsys.readouterr().out.splitlines()
    )
    assert cli.main(["compare", "--metric", "loss", "--json", "--storage", str(storage)]) == 0
    ranked = {row["name"]: row["status"] for row in json.loads(capsys.readouterr().out)}
    assert ranked[name] == "pruned"
    with UIServer(storage, port=0) as ui:
        ui.start()
        code, data = call(ui, "GET", "/api/runs")
        assert code == 200
        assert {row["name"]: row["status"] for row in data["runs"]}[name] == "pruned"
        code, data = call(ui, "GET", f"/api/runs/{name}")
        assert data["meta"]["status"] == "pruned"
    # TensorBoard's HParams plugin has no "pruned": the run shows as UNKNOWN, like interrupted.
    from tensorboard.plugins.hparams import api_pb2

    _, end = hparams_of(storage / name)
    assert api_pb2.Status.Name(end.status) == "STATUS_UNKNOWN"
    _, finished_end = hparams_of(storage / results[0].name)
    assert api_pb2.Status.Name(finished_end.status) == "STATUS_SUCCESS"


# ---------------------------------------------------------------------------------------------
# The study journal: resume, interrupted twice, a crashed driver


class _Interrupts:
    """A trial function that presses Ctrl-C in the middle of given trials, once each."""

    def __init__(self, at: set[int]) -> None:
        self.at = at

    def __call__(self, args: hypertuner.Args) -> float:
        level = _objective(args)
        run = hypertuner.current_run()
        assert run is not None
        index = int(run.name.rsplit("-", 1)[1])
        for step in range(6):
            hypertuner.log({"loss": level + 1.0 / (step + 1)}, step=step)
            if step == 2 and index in self.at:
                self.at.discard(index)
                raise KeyboardInterrupt
        return level


def test_a_sweep_interrupted_twice_and_run_again_ends_like_an_uninterrupted_one(
    storage: Path,
) -> None:
    options: dict[str, Any] = {
        "strategy": "tpe", "pruner": "median", "metric": "loss", "n_trials": 16, "seed": 7,
        "progress": False,
    }  # fmt: skip
    whole = hypertuner.sweep(_Interrupts(set()), SPACE, name="whole", **options)
    cut = _Interrupts({5, 11})
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            hypertuner.sweep(cut, SPACE, name="cut", **options)
    again = hypertuner.sweep(cut, SPACE, name="cut", **options)
    assert whole.best is not None
    assert again.best is not None
    assert (again.best.index, again.best.config, again.best.value) == (
        whole.best.index,
        whole.best.config,
        whole.best.value,
    )
    assert [t.status for t in again] == [t.status for t in whole]
    assert [t.config for t in again] == [t.config for t in whole]
    # Trials that ended were never run again; the two cut short ran twice.
    starts: dict[int, int] = {}
    for line in _journal(storage / "cut"):
        if line["status"] == "running":
            starts[line["index"]] = starts.get(line["index"], 0) + 1
    assert {i: n for i, n in starts.items() if n > 1} == {5: 2, 11: 2}
    assert sum(t.resumed for t in again) == 11  # 0-10 ended before the last session
    assert json.loads((storage / "cut" / SWEEP_FILE).read_text())["status"] == "finished"


def test_a_failed_trial_runs_again_with_its_values_when_the_sweep_runs_again(
    storage: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "fail"
    flag.write_text("")

    def trial(args: hypertuner.Args) -> float:
        if args.layers == 2 and flag.exists():
            msg = "boom"
            raise ValueError(msg)
        return _objective(args)

    first = hypertuner.sweep(trial, SPACE, strategy="tpe", n_trials=8, seed=1, progress=False)
    failed = [t for t in first if t.status == "failed"]
    assert failed
    flag.unlink()
    second = hypertuner.sweep(trial, SPACE, strategy="tpe", n_trials=8, seed=1, progress=False)
    assert [t.status for t in second] == ["finished"] * 8
    for trial_before in failed:
        assert second[trial_before.index].config == trial_before.config


@pytest.mark.parametrize(
    ("space", "options"),
    [
        pytest.param({"x": uniform(0.0, 1.0)}, {"strategy": "tpe", "n_trials": 2}, id="tpe"),
        pytest.param({"x": [0.2, 0.7]}, {"pruner": "median"}, id="pruner"),
    ],
)
def test_a_trial_that_finishes_without_a_value_is_failed_and_runs_again(
    storage: Path, tmp_path: Path, space: dict[str, Any], options: dict[str, Any]
) -> None:
    """The study can learn nothing from it: failed in journal and study alike, with an error
    saying how to give a value, and run again (with its values) when the sweep runs again."""
    silent = tmp_path / "silent"
    silent.write_text("")

    def trial(args: hypertuner.Args) -> None:
        loss = args.x
        if not silent.exists():
            hypertuner.log({"loss": loss}, step=0)

    options.update(seed=0, metric="loss", name="quiet", progress=False)
    first = hypertuner.sweep(trial, space, **options)
    assert [t.status for t in first] == ["failed", "failed"]
    assert first[0].error == (
        "Trial finished without a value of 'loss': return it, return a dict holding it, or log "
        "it with hypertuner.log."
    )
    assert [line["status"] for line in _latest(storage / "quiet").values()] == ["failed"] * 2
    for trial_result in first:  # the run folder says so too, as runs and the page show it
        meta = json.loads((trial_result.directory / "meta.json").read_text())
        assert meta["status"] == "failed"
        assert "Trial finished without a value of 'loss'" in meta["error"]
    failed = optuna.trial.TrialState.FAIL
    assert [t.state for t in _study_trials(storage / "quiet")] == [failed, failed]
    silent.unlink()
    again = hypertuner.sweep(trial, space, **options)
    assert [(t.status, t.resumed) for t in again] == [("finished", False)] * 2
    assert [t.value for t in again] == [t.config["x"] for t in first]
    assert _starts(storage / "quiet") == {0: 2, 1: 2}


def test_without_a_metric_a_trial_must_return_a_number_to_be_ranked(storage: Path) -> None:
    def trial(args: hypertuner.Args) -> str:
        return f"x is {args.x}"

    results = hypertuner.sweep(
        trial, {"x": uniform(0.0, 1.0)}, strategy="tpe", n_trials=1, seed=0, progress=False
    )
    assert results[0].status == "failed"
    assert results[0].error == (
        "Trial finished without a value to rank it by: return a number, or log one with "
        "hypertuner.log and name it with metric=."
    )


QUIET_SCRIPT = """
import pathlib
import hypertuner

args = hypertuner.parse(defaults={"x": 0.5})
attempts = pathlib.Path("attempts")
attempts.write_text(attempts.read_text() + "x" if attempts.exists() else "x")
attempt = len(attempts.read_text())
if attempt == 1:
    hypertuner.log({"loss": 100.0}, step=0)
    raise SystemExit("the first attempt fails after logging")
if attempt == 3:
    hypertuner.log({"loss": 300.0}, step=0)
print({"attempt": attempt})  # the second logs nothing
"""


@pytest.mark.slow
def test_a_script_trial_is_ranked_by_what_it_logged_in_this_attempt_only(
    tmp_path: Path, storage: Path
) -> None:
    """A script's second attempt that logs nothing does not take the value its failed first
    attempt left in summary.json: it finished without a value, so it failed; the third logs."""
    script = _script(tmp_path, "quiet.py", QUIET_SCRIPT)
    argv = [
        "sweep", str(script), "x=uniform(0,1)", "--strategy", "tpe", "--trials", "1",
        "--metric", "loss", "--name", "quiet", "--no-progress", "--storage", str(storage),
    ]  # fmt: skip
    ends = []
    for _ in range(3):
        cli.main(argv)
        line = _journal(storage / "quiet")[-1]
        ends.append((line["status"], line["value"], line["error"]))
    assert ends[0][:2] == ("failed", None)
    assert ends[1] == (
        "failed",
        None,
        "Trial finished without a value of 'loss': log it with hypertuner.log.",
    )
    assert ends[2] == ("finished", 300.0, None)


def _study_trials(folder: Path) -> list[Any]:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / STUDY_LOG))
    )
    return optuna.load_study(study_name="sweep", storage=storage).get_trials()


def _starts(directory: Path) -> dict[int, int]:
    """How many times each trial index was started, from the journal's running lines."""
    starts: dict[int, int] = {}
    for line in _journal(directory):
        if line["status"] == "running":
            starts[line["index"]] = starts.get(line["index"], 0) + 1
    return starts


def test_a_config_drawn_at_several_indices_resumes_as_one_run_per_index(
    storage: Path, tmp_path: Path
) -> None:
    """TPE on four points draws some twice; a failed duplicate re-runs alone, and each index
    keeps its own run (the journal knows trials by index, not by the hash of their config)."""
    flag = tmp_path / "fail"
    flag.write_text("")

    def trial(args: hypertuner.Args) -> float:
        run = hypertuner.current_run()
        assert run is not None
        if run.name == "dup-11" and flag.exists():
            msg = "boom"
            raise ValueError(msg)
        return float((args.x - 1) ** 2)

    options: dict[str, Any] = {
        "strategy": "tpe", "n_trials": 12, "seed": 0, "name": "dup", "progress": False,
    }  # fmt: skip
    first = hypertuner.sweep(trial, {"x": irange(0, 4)}, **options)
    assert first[11].status == "failed"
    assert first[11].config in [t.config for t in first[:11]]  # a config drawn before
    flag.unlink()
    again = hypertuner.sweep(trial, {"x": irange(0, 4)}, **options)
    assert [t.status for t in again] == ["finished"] * 12
    assert [t.name for t in again] == [f"dup-{i}" for i in range(12)]
    assert [t.config for t in again] == [t.config for t in first]
    assert [t.resumed for t in again] == [True] * 11 + [False]
    assert _starts(storage / "dup") == {**{i: 1 for i in range(11)}, 11: 2}
    assert again.best is not None
    best = json.loads((storage / "dup" / SWEEP_FILE).read_text())["best"]
    assert (best["index"], best["run"]) == (again.best.index, f"dup-{again.best.index}")


CRASH_SCRIPT = """
import sys, time
import hypertuner

def train(args):
    for step in range(3):
        hypertuner.log({"loss": args.x + 1.0 / (step + 1)}, step=step)
        time.sleep(float(sys.argv[1]))
    return args.x

if __name__ == "__main__":
    results = hypertuner.sweep(train, {"x": hypertuner.uniform(0.0, 1.0)}, strategy="tpe",
                               pruner="median", metric="loss", n_trials=8, seed=0,
                               name="crash", progress=False)
    print("DONE", sum(t.resumed for t in results))
"""


@pytest.mark.slow
def test_a_driver_killed_mid_sweep_loses_nothing_it_had_told(tmp_path: Path) -> None:
    script = _script(tmp_path, "crash.py", CRASH_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "HYPERTUNER_STORAGE"}
    process = subprocess.Popen(
        [sys.executable, str(script), "0.15"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    folder = tmp_path / "storage" / "crash"
    deadline = time.monotonic() + 120
    told: set[int] = set()
    while time.monotonic() < deadline:
        if (folder / JOURNAL).exists():
            told = {i for i, line in _latest(folder).items() if line["status"] != "running"}
            if len(told) >= 3:
                break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    told = {i for i, line in _latest(folder).items() if line["status"] != "running"}
    assert len(told) >= 3
    again = _python(script, "0", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"DONE {len(told)}" in again.stdout  # everything told before the kill was kept
    starts: dict[int, int] = {}
    for line in _journal(folder):
        if line["status"] == "running":
            starts[line["index"]] = starts.get(line["index"], 0) + 1
    assert all(starts[i] == 1 for i in told)
    assert {line["status"] for line in _latest(folder).values()} <= {"finished", "pruned"}
    assert len(_latest(folder)) == 8


def _check_pruned_once(folder: Path, trials: list[tuple[str, str, str | None]]) -> None:
    """The sixth trial (x=9) ended pruned without running again, in journal and study alike
    (``trials``: each trial's status, run and error, as the sweep run again returned them)."""
    assert [status for status, _, _ in trials] == ["finished"] * 5 + ["pruned"]
    assert trials[5][1:] == ("stop-5", "Trial pruned at step 0: its 'loss' of 10 is not promising.")
    assert _starts(folder) == dict.fromkeys(range(6), 1)
    assert _latest(folder)[5]["status"] == "pruned"
    trials = _study_trials(folder)
    assert len(trials) == 6  # not a second Optuna trial for the stopped one
    assert trials[5].state == optuna.trial.TrialState.PRUNED


def test_a_trial_interrupted_after_the_pruner_stopped_it_is_taken_as_pruned(
    storage: Path, tmp_path: Path
) -> None:
    """Ctrl-C between the pruner's verdict and the trial's end: run again, the sweep records
    the trial pruned (as the study has it) instead of running it again."""
    flag = tmp_path / "interrupt"
    flag.write_text("")

    def trial(args: hypertuner.Args) -> float:
        for step in range(3):
            try:
                hypertuner.log({"loss": args.x + 1.0 / (step + 1)}, step=step)
            except hypertuner.TrialPruned:
                if flag.exists():
                    flag.unlink()
                    raise KeyboardInterrupt from None
                raise
        return float(args.x)

    options: dict[str, Any] = {"pruner": "median", "metric": "loss", "name": "stop"}
    with pytest.raises(KeyboardInterrupt):
        hypertuner.sweep(trial, {"x": [1, 2, 3, 4, 5, 9]}, progress=False, **options)
    assert _latest(storage / "stop")[5]["status"] == "interrupted"
    again = hypertuner.sweep(trial, {"x": [1, 2, 3, 4, 5, 9]}, progress=False, **options)
    _check_pruned_once(storage / "stop", [(t.status, t.name, t.error) for t in again])
    assert again[5].resumed


KILLED_AFTER_VERDICT_SCRIPT = """
import json, os, signal
import hypertuner

def train(args):
    for step in range(3):
        try:
            hypertuner.log({"loss": args.x + 1.0 / (step + 1)}, step=step)
        except hypertuner.TrialPruned:
            if not os.path.exists("killed"):
                open("killed", "w").close()
                os.kill(os.getpid(), signal.SIGKILL)  # the sweep dies right after the verdict
            raise
    return args.x

if __name__ == "__main__":
    results = hypertuner.sweep(train, {"x": [1, 2, 3, 4, 5, 9]}, pruner="median",
                               metric="loss", name="stop", progress=False)
    print(json.dumps([[t.status, t.name, t.error] for t in results]))
"""


@pytest.mark.slow
def test_a_sweep_killed_after_the_pruner_stopped_a_trial_takes_it_as_pruned(
    tmp_path: Path,
) -> None:
    script = _script(tmp_path, "stop.py", KILLED_AFTER_VERDICT_SCRIPT)
    killed = _python(script, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    folder = tmp_path / "storage" / "stop"
    assert _latest(folder)[5]["status"] == "running"
    again = _python(script, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    _check_pruned_once(folder, [tuple(t) for t in json.loads(again.stdout)])


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[tuple[float, str]]:
    """(time, thread name) of each fsync of the file ``path`` from now on."""
    calls: list[tuple[float, str]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        real(fd)
        if os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve()):
            calls.append((time.monotonic(), threading.current_thread().name))

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def _journal_log(folder: Path) -> tuple[Path, Callable[[int], None], Callable[[], None]]:
    journal = Journal(folder)
    record = {"trial": "t", "index": 0, "run": "r-0", "status": "running"}
    return folder / JOURNAL, lambda i: journal.append(dict(record, index=i)), journal.close


def _study_log(folder: Path) -> tuple[Path, Callable[[int], None], Callable[[], None]]:
    log = StudyLog(folder / STUDY_LOG)
    return folder / STUDY_LOG, lambda i: log.append_logs([{"op_code": 0, "i": i}]), log.close


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
@pytest.mark.parametrize("opened", [_journal_log, _study_log], ids=["journal", "study"])
def test_a_line_told_is_fsynced_within_half_a_second_in_the_background_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: Any
) -> None:
    """Even with nothing written after it; the writer's thread never waits for the disk, and
    the fsyncs of a burst of lines are batched, one per half second at most."""
    path, write, close = opened(tmp_path)
    write(0)
    calls = _record_fsyncs(monkeypatch, path)
    write(1)  # the first line opened the file (its fsync may have come before the recording)
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls, "the line was never fsynced"
    burst = time.monotonic()
    while time.monotonic() - burst < 1.2:
        write(2)
        last = time.monotonic()
        time.sleep(0.005)
    time.sleep(0.7)  # nothing written: the last line is fsynced all the same
    close()
    background = [at for at, name in calls if name == "hypertuner-fsync"]
    assert {name for _, name in calls} <= {"hypertuner-fsync", "MainThread"}  # close(): the rest
    assert background[-1] > last
    gaps = [b - a for a, b in itertools.pairwise(background)]
    assert all(gap >= Journal.SYNC_EVERY_S - 0.01 for gap in gaps), gaps
    assert 2 <= len(calls) <= 7  # some 200 lines in 1.2 s: a handful of fsyncs


# ---------------------------------------------------------------------------------------------
# Worker processes: values streamed as they are logged, pruning, the warm default


def _waits_for_the_driver(args: hypertuner.Args) -> float:
    """Logs one value, then waits until the sweep's study file has it: the value went to the
    driver while the trial runs, not at its end."""
    run = hypertuner.current_run()
    assert run is not None
    study = run.storage / str(run.meta["sweep"]) / STUDY_LOG
    marker = 1000.0 + args.x
    hypertuner.log({"loss": marker}, step=0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if str(marker) in study.read_text():
            return float(args.x)
        time.sleep(0.02)
    msg = "the driver never heard the value"
    raise AssertionError(msg)


def test_values_logged_in_a_worker_process_reach_the_driver_while_the_trial_runs(
    storage: Path,
) -> None:
    results = hypertuner.sweep(
        _waits_for_the_driver, {"x": [1, 2, 3, 4]}, strategy="grid", pruner="median",
        metric="loss", workers=2, start_method="fork", name="stream", progress=False,
    )  # fmt: skip
    assert [t.status for t in results] == ["finished"] * 4, [t.error for t in results]


def test_tpe_and_a_pruner_on_the_process_pool(storage: Path) -> None:
    results = hypertuner.sweep(
        _stepwise, {"x": uniform(0.0, 10.0)}, strategy="tpe", pruner="median", metric="loss",
        n_trials=16, seed=0, workers=2, start_method="fork", name="pool", progress=False,
    )  # fmt: skip
    assert {t.status for t in results} <= {"finished", "pruned"}, [t.error for t in results]
    assert any(t.status == "pruned" for t in results)
    assert len({os.getpid()} | {t.result for t in results if t.result}) > 1


POOL_SCRIPT = """
import os, sys, time
import torch  # a heavy module of the sweep's process: the warm server has it too
import hypertuner

AT_IMPORT = "torch" in sys.modules

def train(args):
    # What torch's first optimizer imports (over 1 s), and a run's first hypertuner.log (0.3 s)
    dynamo = {"torch._dynamo", "tensorboard.plugins.hparams.metadata"} <= set(sys.modules)
    for step in range(6):
        hypertuner.log({"loss": args.x + 1.0 / (step + 1)}, step=step)
        time.sleep(0.02)
    return {"x": args.x, "pid": os.getpid(), "ppid": os.getppid(), "torch": AT_IMPORT,
            "dynamo": dynamo}

if __name__ == "__main__":
    results = hypertuner.sweep(train, {"x": hypertuner.uniform(0.0, 10.0)}, strategy=sys.argv[1],
                               pruner="asha", metric="x", n_trials=12, seed=0, workers=2,
                               name="warm", progress=False)
    print("PARENT", os.getpid())
    for t in results:
        r = t.result or {}
        print("TRIAL", t.index, t.status, r.get("pid"), r.get("ppid"), r.get("torch"),
              r.get("dynamo"))
"""


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["tpe", "cmaes"])
def test_the_default_pool_forks_workers_from_a_warm_server_and_learns(
    tmp_path: Path, strategy: str
) -> None:
    script = _script(tmp_path, "warm.py", POOL_SCRIPT)
    done = _python(script, strategy, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    parent = int(next(line for line in lines if line.startswith("PARENT")).split()[1])
    trials = [line.split() for line in lines if line.startswith("TRIAL")]
    assert {t[2] for t in trials} <= {"finished", "pruned"}
    finished = [t for t in trials if t[2] == "finished"]
    assert finished
    assert {int(t[3]) for t in finished}.isdisjoint({parent})
    assert {int(t[4]) for t in finished} != {parent}  # forked by the server, not this process
    assert {t[5] for t in finished} == {"True"}
    assert {t[6] for t in finished} == {"True"}  # the server imported it once, for every worker


# ---------------------------------------------------------------------------------------------
# Lightning: the pruner stops the trainer at the end of the batch, the last checkpoint is saved


def _lightning_trial(args: hypertuner.Args) -> float:
    import torch
    from pytorch_lightning import LightningModule, Trainer

    from hypertuner.integrations.lightning import HypertunerCallback

    class Line(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = (self.weight - 1.0) ** 2 + args.level
            self.log("loss", loss, on_step=True, prog_bar=False)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(torch.zeros(40, 1), batch_size=1)

    trainer = Trainer(
        max_steps=30, log_every_n_steps=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
        callbacks=[HypertunerCallback()],
    )  # fmt: skip
    trainer.fit(Line())
    return float(trainer.global_step)


@pytest.mark.slow
def test_the_lightning_callback_stops_a_pruned_trial_and_saves_its_last_checkpoint(
    storage: Path,
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice on workers and logging intervals
        results = hypertuner.sweep(
            _lightning_trial, {"level": [0.0, 0.1, 0.2, 0.3, 0.4, 5.0]}, pruner="median",
            metric="loss", name="pl", progress=False,
        )  # fmt: skip
    assert [t.status for t in results] == ["finished"] * 5 + ["pruned"], [t.error for t in results]
    assert [t.value for t in results[:5]] == [30.0] * 5
    pruned = storage / results[-1].name
    meta = json.loads((pruned / "meta.json").read_text())
    assert meta["status"] == "pruned"
    assert (pruned / "model.pt").is_file()  # its last checkpoint
    assert (pruned / "saves.json").is_file()
    summary = json.loads((pruned / "summary.json").read_text())
    assert summary["metrics"]["loss"]["count"] < 30  # stopped at the end of an early batch


# ---------------------------------------------------------------------------------------------
# The command line


SWEEP_SCRIPT = """
import hypertuner

args = hypertuner.parse()
level = (args.lr - 0.01) ** 2 * 1e4 + args.base
for epoch in range(args.epochs):
    hypertuner.log({"val_loss": level + 1.0 / (epoch + 1)}, step=epoch)
"""


@pytest.mark.slow
def test_the_sweep_command_runs_tpe_with_asha_on_a_script(
    tmp_path: Path, storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script(tmp_path, "train.py", SWEEP_SCRIPT)
    (tmp_path / "base.json").write_text(json.dumps({"lr": 0.1, "base": 1.0, "epochs": 9}))
    argv = [
        "sweep", str(script), f"--config={tmp_path / 'base.json'}", "lr=loguniform(1e-4,1e-1)",
        "--strategy", "tpe", "--pruner", "median", "--metric", "val_loss", "--trials", "8",
        "--seed", "0", "--name", "cli", "--no-progress",
    ]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "sweep cli: " in out
    latest = _latest(storage / "cli")
    assert len(latest) == 8
    assert {line["status"] for line in latest.values()} <= {"finished", "pruned"}
    for index, line in latest.items():
        meta = json.loads((storage / f"cli-{index}" / "meta.json").read_text())
        assert meta["status"] == line["status"]
    assert (storage / "cli" / STUDY_LOG).is_file()
    sweep_file = json.loads((storage / "cli" / SWEEP_FILE).read_text())
    assert (sweep_file["strategy"], sweep_file["pruner"], sweep_file["metric"]) == (
        "tpe",
        "median",
        "val_loss",
    )


# ---------------------------------------------------------------------------------------------
# test-tube's parser


def _tt_train(params: Any) -> float:
    return float((params.lr - 0.01) ** 2)


def test_the_testtube_parser_takes_the_model_based_strategies(storage: Path) -> None:
    parser = hypertuner.HyperOptArgumentParser(strategy="tpe", seed=0)
    parser.opt_range("--lr", default=0.1, type=float, tunable=True, low=1e-4, high=1e-1,
                     nb_samples=8, log_base=10)  # fmt: skip
    hparams = parser.parse_args([])
    out = hparams.optimize_parallel_cpu(_tt_train, nb_trials=6, nb_workers=1, progress=False)
    assert len(out) == 6
    with pytest.raises(SearchSpecError, match="exist only while a sweep runs them"):
        hparams.generate_trials(3)


def _tt_ranges(params: Any) -> float:
    return float((params.lr - 0.01) ** 2 + params.width * 1e-4 + (params.act == "tanh"))


@pytest.mark.parametrize("strategy", ["tpe", "gp", "cmaes"])
def test_the_testtube_parser_searches_opt_ranges_as_ranges_with_a_model(
    storage: Path, strategy: str
) -> None:
    """With a model, an opt_range is its whole range (CMA-ES needs numbers), not nb_samples
    drawn values; an opt_list stays a choice."""
    if strategy == "gp":
        pytest.importorskip("torch")
    parser = hypertuner.HyperOptArgumentParser(strategy=strategy, seed=0)
    parser.opt_range("--lr", default=0.1, type=float, tunable=True, low=1e-4, high=1e-1,
                     nb_samples=3, log_base=10)  # fmt: skip
    parser.opt_range("--width", default=8, type=int, tunable=True, low=4, high=64, nb_samples=2)
    parser.opt_list("--act", default="relu", options=["relu", "tanh"], tunable=True)
    drawn = set(parser._opt_args["lr"].values)
    hparams = parser.parse_args([])
    out = hparams.optimize_parallel_cpu(_tt_ranges, nb_trials=6, nb_workers=1, progress=False)
    lrs = [trial[0].lr for trial in out]
    widths = [trial[0].width for trial in out]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    assert not set(lrs) <= drawn  # values beyond the three drawn ones
    assert all(isinstance(w, int) and 4 <= w <= 64 for w in widths)
    assert {trial[0].act for trial in out} <= {"relu", "tanh"}


# ---------------------------------------------------------------------------------------------
# Bad input: one clear error, raised before anything is written


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param(
            {"strategy": "tpee", "n_trials": 4}, SearchSpecError, r"Did you mean 'tpe'\?",
            id="unknown-strategy",
        ),
        pytest.param(
            {"strategy": "cma", "n_trials": 4}, SearchSpecError, r"Did you mean 'cmaes'\?",
            id="misspelt-cmaes",
        ),
        pytest.param(
            {"pruner": "ashaa", "metric": "loss"}, SearchSpecError, r"Did you mean 'asha'\?",
            id="unknown-pruner",
        ),
        pytest.param(
            {"pruner": "asha"}, SearchSpecError, r"pruner='asha' needs metric", id="no-metric"
        ),
        pytest.param(
            {"pruner": 3, "metric": "loss"}, SearchSpecError, r"is not a pruner", id="not-pruner"
        ),
        pytest.param(
            {"strategy": "tpe"}, SearchSpecError, r"Strategy 'tpe' needs a trial count",
            id="no-n-trials",
        ),
        pytest.param(
            {"strategy": "cmaes", "n_trials": 4}, SearchSpecError,
            r"strategy='cmaes' models numeric parameters, but this space has none",
            id="cmaes-on-choices",
        ),
    ],
)  # fmt: skip
def test_bad_search_options_are_refused_before_anything_is_written(
    storage: Path, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        hypertuner.sweep(_objective, {"act": choice("relu", "tanh")}, progress=False, **options)
    key = getattr(info.value, "key", None)
    assert key in ("strategy", "pruner", "metric", "n_trials")
    assert not storage.exists() or not any(storage.iterdir())


def test_a_model_based_strategy_without_optuna_names_the_extra_to_install(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hypertuner\[search\]'"):
        hypertuner.sweep(_objective, SPACE, strategy="tpe", n_trials=4, progress=False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hypertuner\[search\]'"):
        hypertuner.sweep(_objective, {"x": [1]}, pruner="asha", metric="x", progress=False)
    assert not storage.exists()
