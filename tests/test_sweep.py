"""hypertuner.sweep and `hypertuner sweep`: runs, journal, resume, workers, GPUs, Ctrl-C."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import auto_param, choice, cli, irange, loguniform
from hypertuner._layout import list_runs
from hypertuner._sweeprecord import JOURNAL, SWEEP_FILE, Progress, Trial, trial_id
from hypertuner.errors import MissingDependencyError, SearchSpecError

REPO = Path(__file__).resolve().parents[1]


def _journal(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / JOURNAL).read_text().splitlines()]


def _script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def _python(
    *argv: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYPERTUNER_STORAGE", None)
    return subprocess.run(
        [sys.executable, *map(str, argv)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ---------------------------------------------------------------------------------------------
# The function form, serial


@auto_param
def _width(size: int = 1) -> int:
    return size


def _train(args: hypertuner.Args) -> dict[str, float]:
    run = hypertuner.current_run()
    assert run is not None
    hypertuner.log({"loss": args.lr * _width()}, step=0)
    return {"loss": args.lr * _width(), "run": run.name}  # type: ignore[dict-item]


def test_each_trial_is_an_ordinary_run_named_after_the_sweep(storage: Path) -> None:
    results = hypertuner.sweep(
        _train,
        {"lr": choice(0.1, 0.2), "_width.size": choice(1, 3)},
        name="grid",
        metric="loss",
        progress=False,
    )
    assert [t.name for t in results] == ["grid-0", "grid-1", "grid-2", "grid-3"]
    assert list_runs(storage) == [
        "grid-0",
        "grid-1",
        "grid-2",
        "grid-3",
    ]  # the sweep folder is no run
    config = json.loads((storage / "grid-1" / "config.json").read_text())
    assert config == {"lr": 0.1, "_width": {"size": 3}}
    meta = json.loads((storage / "grid-1" / "meta.json").read_text())
    assert (meta["status"], meta["sweep"], meta["trial"], meta["result"]["loss"]) == (
        "finished",
        "grid",
        1,
        0.30000000000000004,
    )
    assert results.best is not None
    assert results.best.name == "grid-0"


def test_storage_given_as_a_url_mirrors_every_trial_there(storage: Path, tmp_path: Path) -> None:
    """Trials run in the local storage folder and land in <URL>/<trial>/ (how Ray nodes share)."""
    remote = tmp_path / "bucket"
    results = hypertuner.sweep(
        _train,
        {"lr": choice(0.1, 0.2)},
        name="far",
        storage=f"file://{remote}",
        progress=False,
    )
    assert [t.status for t in results] == ["finished", "finished"]
    assert list_runs(storage) == ["far-0", "far-1"]
    for name in ("far-0", "far-1"):
        assert json.loads((remote / name / "config.json").read_text())["lr"] in (0.1, 0.2)
        assert json.loads((remote / name / "meta.json").read_text())["status"] == "finished"
        assert (remote / name / "summary.json").is_file()


def test_the_trial_function_runs_inside_its_run_with_its_config_as_the_scope(storage: Path) -> None:
    results = hypertuner.sweep(
        _train, {"lr": [0.5], "_width.size": [4]}, name="scoped", progress=False
    )
    trial = results[0]
    assert trial.result == {
        "loss": 2.0,
        "run": "scoped-0",
    }  # current_run() and @auto_param saw the trial
    summary = json.loads((storage / "scoped-0" / "summary.json").read_text())
    assert summary["metrics"]["loss"]["last"] == 2.0  # hypertuner.log wrote into the trial's folder
    assert hypertuner.current_run() is None


def test_base_config_is_merged_under_the_trial_values(storage: Path) -> None:
    def read_all(args: hypertuner.Args) -> int:
        return args.model.layers + args.model.width + args.steps

    results = hypertuner.sweep(
        read_all,
        {"model.layers": irange(1, 3)},
        config={"steps": 10, "model": {"width": 100, "layers": 0}},
        progress=False,
    )
    assert [t.result for t in results] == [111, 112]
    assert results[1].config == {"steps": 10, "model": {"width": 100, "layers": 2}}


def _fails_on_two(args: hypertuner.Args) -> float:
    if args.x == 2 and not Path("fixed").exists():
        msg = "x=2 is not allowed"
        raise ValueError(msg)
    return float(args.x)


def test_a_failing_trial_is_recorded_with_its_error_and_the_sweep_goes_on(storage: Path) -> None:
    results = hypertuner.sweep(_fails_on_two, {"x": [1, 2, 3]}, name="flaky", progress=False)
    assert [t.status for t in results] == ["finished", "failed", "finished"]
    assert results[1].error is not None
    assert results[1].error.startswith("ValueError: x=2 is not allowed")
    assert json.loads((storage / "flaky-1" / "meta.json").read_text())["status"] == "failed"
    assert json.loads((storage / "flaky" / SWEEP_FILE).read_text())["counts"] == {
        "finished": 2,
        "failed": 1,
    }


def test_running_the_same_sweep_again_skips_finished_trials_and_reruns_failed_ones(
    storage: Path,
) -> None:
    hypertuner.sweep(_fails_on_two, {"x": [1, 2, 3]}, progress=False)
    Path("fixed").touch()
    again = hypertuner.sweep(_fails_on_two, {"x": [1, 2, 3]}, progress=False)
    assert [(t.status, t.resumed) for t in again] == [
        ("finished", True),
        ("finished", False),
        ("finished", True),
    ]
    sweeps = [p for p in storage.iterdir() if (p / SWEEP_FILE).exists()]
    assert len(sweeps) == 1  # the default name is stable for the same definition
    statuses = [(r["index"], r["status"]) for r in _journal(sweeps[0])]
    assert statuses.count((1, "running")) == 2
    assert statuses.count((0, "running")) == 1
    meta = json.loads((storage / f"{sweeps[0].name}-1" / "meta.json").read_text())
    assert meta["status"] == "finished"
    assert len(meta["starts"]) == 2


def test_a_value_listed_twice_resumes_as_two_trials_each_with_its_own_run(storage: Path) -> None:
    """Trials are known by index: the two x=2 trials share a config (and its hash), not a run."""
    Path("fixed").touch()
    first = hypertuner.sweep(_fails_on_two, {"x": [2, 2, 1]}, name="twice", progress=False)
    again = hypertuner.sweep(_fails_on_two, {"x": [2, 2, 1]}, name="twice", progress=False)
    assert [(t.name, t.status, t.resumed) for t in again] == [
        ("twice-0", "finished", True),
        ("twice-1", "finished", True),
        ("twice-2", "finished", True),
    ]
    assert [t.value for t in again] == [t.value for t in first]


def _logs_loss(args: hypertuner.Args) -> Any:
    """Logs its loss at two steps; returns what ``args.returns`` says, never the loss."""
    hypertuner.log({"loss": args.x + 1.0}, step=0)
    hypertuner.log({"loss": float(args.x)}, step=1)
    return {"acc": 0.5} if args.returns == "dict" else None


@pytest.mark.parametrize("returns", ["none", "dict"], ids=["returns-none", "dict-without-it"])
def test_a_trial_whose_result_holds_no_metric_is_ranked_by_its_last_logged_value(
    storage: Path, returns: str
) -> None:
    results = hypertuner.sweep(
        _logs_loss, {"x": [3, 2]}, config={"returns": returns}, metric="loss", progress=False
    )
    assert [t.value for t in results] == [3.0, 2.0]
    assert results.best is not None
    assert results.best.config["x"] == 2
    expected = [3.0, 2.0] if returns == "none" else [{"acc": 0.5}] * 2
    assert [t.result for t in results] == expected  # a dict result stays what was returned


def test_a_trial_run_again_is_ranked_by_what_it_logged_this_time(
    storage: Path, tmp_path: Path
) -> None:
    """Not by the value its failed attempt left in the run's summary.json."""
    attempts = tmp_path / "attempts"

    def trial(args: hypertuner.Args) -> None:
        with attempts.open("a") as out:
            out.write("x")
        if len(attempts.read_text()) == 1:
            hypertuner.log({"loss": 100.0 * args.x}, step=0)
            msg = "first attempt"
            raise RuntimeError(msg)
        hypertuner.log({"loss": 200.0 * args.x}, step=0)

    first = hypertuner.sweep(trial, {"x": [1]}, metric="loss", name="again", progress=False)
    assert first[0].status == "failed"
    again = hypertuner.sweep(trial, {"x": [1]}, metric="loss", name="again", progress=False)
    assert (again[0].status, again[0].value) == ("finished", 200.0)
    assert _journal(storage / "again")[-1]["value"] == 200.0


def test_random_search_resumes_with_the_same_draws_when_no_seed_was_given(storage: Path) -> None:
    space = {"lr": loguniform(1e-4, 1e-1), "layers": choice(2, 4, 8)}

    def objective(args: hypertuner.Args) -> float:
        return args.lr * args.layers

    first = hypertuner.sweep(
        objective, space, strategy="random", n_trials=3, name="rs", progress=False
    )
    longer = hypertuner.sweep(
        objective, space, strategy="random", n_trials=5, name="rs", progress=False
    )
    assert [t.config for t in longer[:3]] == [t.config for t in first]
    assert [t.resumed for t in longer] == [True, True, True, False, False]


def test_the_sweep_folder_holds_plain_json_with_space_strategy_and_a_journal(storage: Path) -> None:
    hypertuner.sweep(
        _train,
        {"lr": [0.1], "_width.size": irange(1, 3)},
        name="layout",
        metric="loss",
        progress=False,
    )
    folder = storage / "layout"
    record = json.loads((folder / SWEEP_FILE).read_text())
    assert record["space"] == {
        "lr": {"type": "choice", "options": [0.1]},
        "_width.size": {"type": "irange", "start": 1, "stop": 3, "step": 1},
    }
    assert (record["strategy"], record["status"], record["best"]["run"]) == (
        "grid",
        "finished",
        "layout-0",
    )
    lines = _journal(folder)
    assert [line["status"] for line in lines] == ["running", "finished", "running", "finished"]
    config = {"lr": 0.1, "_width": {"size": 2}}
    assert lines[2]["trial"] == trial_id(config)
    assert lines[2]["config"] == config
    assert lines[3]["run"] == "layout-1"
    assert lines[3]["value"] == 0.2


def test_a_sweep_name_reused_with_another_space_is_refused(storage: Path) -> None:
    hypertuner.sweep(_fails_on_two, {"x": [1]}, name="fixed-name", progress=False)
    with pytest.raises(
        SearchSpecError, match=r"Sweep 'fixed-name' exists .* with another definition"
    ):
        hypertuner.sweep(_fails_on_two, {"x": [3]}, name="fixed-name", progress=False)


def test_progress_prints_plain_lines_with_count_best_and_eta_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hypertuner.sweep(_fails_on_two, {"x": [3, 1]}, name="plain", mode="min")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith(
        "sweep plain: 1/2 trial 0 finished, value 3 | best 3 (trial 0) | eta "
    )
    assert lines[1] == "sweep plain: 2/2 trial 1 finished, value 1 | best 1 (trial 1) | eta 0s"


def test_the_summary_gives_the_error_of_each_failed_trial_on_one_line(storage: Path) -> None:
    results = hypertuner.sweep(_fails_on_two, {"x": [1, 2, 3]}, name="why", progress=False)
    lines = results.summary().splitlines()
    assert re.fullmatch(
        r"trial 1 failed: ValueError: x=2 is not allowed \(test_sweep\.py:\d+\)", lines[4]
    )
    assert lines[5].startswith("sweep why: 2/3 finished, 1 failed;")


def test_the_summary_shows_the_first_three_errors_and_where_the_others_are(storage: Path) -> None:
    def fails(args: hypertuner.Args) -> None:
        msg = f"bad x={args.x}\nsecond line"
        raise ValueError(msg)

    results = hypertuner.sweep(fails, {"x": [1, 2, 3, 4, 5]}, name="many", progress=False)
    lines = results.summary().splitlines()[6:]
    assert lines[:3] == [f"trial {i} failed: ValueError: bad x={i + 1} ..." for i in range(3)]
    assert lines[3] == f"... and 2 more failed (errors in {storage / 'many' / JOURNAL})"
    assert lines[4].startswith("sweep many: 0/5 finished, 5 failed;")


def test_progress_draws_a_bar_on_a_terminal() -> None:
    pytest.importorskip("tqdm")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress("bar", 2, 0, "min", None, stream=stream)
    progress.update(Trial(0, "id", "bar-0", {}, "finished", value=0.5))
    progress.close()
    text = stream.getvalue()
    assert "sweep bar" in text
    assert "1/2" in text
    assert "best 0.5" in text


def test_the_ray_backend_without_ray_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hypertuner\[ray\]'"):
        hypertuner.sweep(_fails_on_two, {"x": [1]}, backend="ray", progress=False)


# ---------------------------------------------------------------------------------------------
# Backends as objects


class _ThreadBackend:
    """A backend written outside hypertuner, in one class: each trial in a thread of its own."""

    name = "threads"
    workers = 2

    def __init__(self) -> None:
        self.checked: list[Any] = []

    def check(self, target: Any) -> None:
        self.checked.append(target)

    def run(self, driver: Any) -> None:
        import threading

        from hypertuner._trial import execute

        jobs = []
        while (job := driver.next_job()) is not None:
            jobs.append(job)
        outcomes: dict[int, Any] = {}

        def work(job: Any) -> None:
            outcomes[job.index] = execute(job)

        threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
        for job, thread in zip(jobs, threads, strict=True):
            driver.started(job)
            thread.start()
        for job, thread in zip(jobs, threads, strict=True):
            thread.join()
            driver.finished(outcomes[job.index])


def test_a_backend_written_elsewhere_runs_the_sweep_without_any_change_to_hypertuner(
    storage: Path,
) -> None:
    backend = _ThreadBackend()
    results = hypertuner.sweep(
        _fails_on_two, {"x": [1, 2, 3]}, backend=backend, name="own", progress=False
    )
    assert backend.checked == [_fails_on_two]
    assert [t.status for t in results] == ["finished", "failed", "finished"]
    sweep_file = json.loads((storage / "own" / SWEEP_FILE).read_text())
    assert (sweep_file["backend"], sweep_file["workers"]) == ("threads", 2)
    assert list_runs(storage) == ["own-0", "own-1", "own-2"]


def test_a_process_pool_object_is_the_same_as_its_shorthand_keywords(storage: Path) -> None:
    from hypertuner.backends import ProcessPool

    results = hypertuner.sweep(
        _pid_of_trial,
        {"x": [1, 2, 3, 4]},
        backend=ProcessPool(workers=2, start_method="fork"),
        name="object",
        progress=False,
    )
    assert [t.status for t in results] == ["finished"] * 4
    assert len({t.result for t in results}) == 2
    sweep_file = json.loads((storage / "object" / SWEEP_FILE).read_text())
    assert (sweep_file["backend"], sweep_file["workers"]) == ("process", 2)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param(
            {"backend": "__pool__", "workers": 2},
            r"give workers to it \(for example ProcessPool\(workers=2\)\), not to sweep\(\)",
            id="object-and-shorthand",
        ),
        pytest.param({"backend": object()}, r"has no run\(\) method", id="not-a-backend"),
        pytest.param(
            {"backend": "proces"},
            r"^Unknown backend 'proces': use one of 'serial', 'process', 'ray'\. "
            r"Did you mean 'process'\?$",
            id="misspelt-name",
        ),
        pytest.param(
            {"backend": "fast"},
            r"^Unknown backend 'fast': use one of 'serial', 'process', 'ray'\.$",
            id="unknown-name-listed-once",
        ),
        pytest.param(
            {"backend": "serial", "workers": 2}, r"backend='serial' runs one trial", id="serial-2"
        ),
        pytest.param({"workers": 0}, r"workers must be a positive integer", id="no-workers"),
        pytest.param(
            {"workers": 2, "start_method": "vfork"},
            r"start_method must be one of 'spawn', 'forkserver', 'fork'",
            id="start-method",
        ),
    ],
)
def test_a_bad_backend_is_refused_before_anything_is_written(
    storage: Path, options: dict[str, Any], match: str
) -> None:
    from hypertuner.backends import ProcessPool

    if options.get("backend") == "__pool__":
        options = {**options, "backend": ProcessPool(workers=2)}
    with pytest.raises(SearchSpecError, match=match):
        hypertuner.sweep(_fails_on_two, {"x": [1]}, name="bad", progress=False, **options)
    assert not storage.exists() or not any(storage.iterdir())


# ---------------------------------------------------------------------------------------------
# Worker processes (spawned): real scripts, run as a user runs them


USER_SCRIPT = """
import os, sys, time
import hypertuner

def train(args):
    time.sleep(args.sleep)
    return {"value": args.x * 10, "pid": os.getpid(), "threads": os.environ.get("OMP_NUM_THREADS")}

if __name__ == "__main__":
    results = hypertuner.sweep(train, {"x": [1, 2, 3, 4]}, config={"sleep": float(sys.argv[1])},
                               workers=2, name="pool", metric="value", mode="max", progress=False)
    print("PARENT", os.getpid())
    for t in results:
        print("TRIAL", t.index, t.status, t.result["value"], t.result["pid"], t.result["threads"])
"""


@pytest.mark.slow
def test_a_train_function_defined_in_the_users_script_runs_in_reused_worker_processes(
    tmp_path: Path,
) -> None:
    script = _script(tmp_path, "user_sweep.py", USER_SCRIPT)
    done = _python(script, "0.2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    parent = int(
        next(line for line in done.stdout.splitlines() if line.startswith("PARENT")).split()[1]
    )
    trials = [line.split() for line in done.stdout.splitlines() if line.startswith("TRIAL")]
    assert [(t[2], t[3]) for t in trials] == [
        ("finished", "10"),
        ("finished", "20"),
        ("finished", "30"),
        ("finished", "40"),
    ]
    pids = {int(t[4]) for t in trials}
    assert parent not in pids
    assert len(pids) == 2
    assert {t[5] for t in trials} == {"1"}  # one torch/OpenMP thread per worker by default
    assert list_runs(tmp_path / "storage") == ["pool-0", "pool-1", "pool-2", "pool-3"]


def _pid_of_trial(args: hypertuner.Args) -> int:
    assert args.x in (1, 2, 3, 4)
    time.sleep(0.3)  # long enough that both workers get trials, even on a busy machine
    return os.getpid()


def test_fork_start_method_runs_trials_in_forked_workers(storage: Path) -> None:
    """Opt-in fork: no import per worker, and a function of this module needs no re-import."""
    results = hypertuner.sweep(
        _pid_of_trial,
        {"x": choice(1, 2, 3, 4)},
        name="forked",
        workers=2,
        start_method="fork",
        progress=False,
    )
    assert [t.status for t in results] == ["finished"] * 4, [t.error for t in results]
    pids = {t.result for t in results}
    assert os.getpid() not in pids
    assert len(pids) == 2
    assert list_runs(storage) == ["forked-0", "forked-1", "forked-2", "forked-3"]


@pytest.mark.slow
def test_a_script_that_starts_the_sweep_without_a_main_guard_gets_a_clear_error(
    tmp_path: Path,
) -> None:
    script = _script(
        tmp_path,
        "unguarded.py",
        """
        import hypertuner

        def train(args):
            return args.x

        hypertuner.sweep(train, {"x": [1, 2]}, workers=2, progress=False)
    """,
    )
    done = _python(script, cwd=tmp_path)
    assert done.returncode != 0
    assert "if __name__ == '__main__':" in done.stderr.strip().splitlines()[-1]


UNGUARDED_TEST_TUBE_SCRIPT = """
import json, os
from hypertuner import HyperOptArgumentParser

print("SCRIPT RUNS", os.getpid(), flush=True)


def fit(trial):
    return [trial.nb_layers * 10, os.getpid()]


def fit_gpu(trial, gpu_ids):
    return [gpu_ids, os.environ.get("CUDA_VISIBLE_DEVICES"), os.getpid()]


parser = HyperOptArgumentParser(strategy="grid_search")
parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8])
hparams = parser.parse_args()
cpu = hparams.optimize_parallel_cpu(fit, nb_trials=3, nb_workers=2, progress=False)
gpu = hparams.optimize_parallel_gpu(fit_gpu, gpu_ids=["1", "2,3"], progress=False, name="gpu")
print(json.dumps({"cpu": [r for _, r in cpu], "gpu": [r for _, r in gpu]}))
"""


@pytest.mark.slow
def test_a_test_tube_script_without_a_main_guard_runs_in_forked_workers(tmp_path: Path) -> None:
    """test-tube scripts start their sweep at the top level: the workers fork, as test-tube's
    did on Linux, so the script is never run again in them."""
    script = _script(tmp_path, "tt_unguarded.py", UNGUARDED_TEST_TUBE_SCRIPT)
    done = _python(script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("SCRIPT RUNS") == 1
    parent = int(done.stdout.split("SCRIPT RUNS")[1].split()[0])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert [value for value, _ in out["cpu"]] == [20, 40, 80]
    assert parent not in {pid for _, pid in out["cpu"]}
    assert len(out["gpu"]) == 3
    for entry, visible, pid in out["gpu"]:
        assert entry == visible
        assert entry in ("1", "2,3")
        assert pid != parent


GPU_SCRIPT = """
import json, os, sys, time
from hypertuner import HyperOptArgumentParser

AT_IMPORT = os.environ.get("CUDA_VISIBLE_DEVICES")

def train_main(trial_params, gpu_ids):
    start = time.time()
    time.sleep(0.3)
    return {"gpu_ids": gpu_ids, "env": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "at_import": AT_IMPORT,
            "torch_loaded": "torch" in sys.modules, "start": start, "end": time.time()}

if __name__ == "__main__":
    parser = HyperOptArgumentParser(strategy="grid_search")
    parser.add_argument("--learning_rate", default=0.002, type=float)
    parser.opt_list("--nb_layers", default=2, type=int, tunable=True, options=[2, 4, 8, 16, 32, 64])
    hparams = parser.parse_args()
    results = hparams.optimize_parallel_gpu(train_main, gpu_ids=["1", "0, 2"], progress=False)
    print(json.dumps([[vars(params), result] for params, result in results]))
"""


@pytest.mark.slow
def test_gpu_trials_see_one_gpu_ids_entry_set_before_import_and_never_shared(
    tmp_path: Path,
) -> None:
    script = _script(tmp_path, "gpu_sweep.py", GPU_SCRIPT)
    done = _python(script, cwd=tmp_path, env={"CUDA_VISIBLE_DEVICES": "7"})
    assert done.returncode == 0, done.stderr
    pairs = json.loads(done.stdout.strip().splitlines()[-1])
    assert [params["nb_layers"] for params, _ in pairs] == [2, 4, 8, 16, 32, 64]
    assert all(params["learning_rate"] == 0.002 for params, _ in pairs)
    for _, result in pairs:
        assert result["gpu_ids"] in ("1", "0, 2")
        assert (
            result["env"] == result["at_import"] == result["gpu_ids"]
        )  # set before the script ran
        assert not result["torch_loaded"]
    for entry in ("1", "0, 2"):
        spans = sorted((r["start"], r["end"]) for _, r in pairs if r["gpu_ids"] == entry)
        assert spans
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    journal = _journal(
        next(p for p in (tmp_path / "storage").iterdir() if (p / SWEEP_FILE).exists())
    )
    assert {line["gpu"] for line in journal if line["status"] == "running"} == {"1", "0, 2"}


CTRL_C_SCRIPT = """
import os, sys, time
import hypertuner

def train(args):
    time.sleep(0.05 if args.x <= 2 else float(os.environ["SLEEP"]))
    return args.x

if __name__ == "__main__":
    try:
        hypertuner.sweep(train, {"x": [1, 2, 3, 4, 5, 6]}, workers=2, name="stop", progress=False)
    except KeyboardInterrupt:
        print("INTERRUPTED")
        sys.exit(130)
    print("DONE")
"""


@pytest.mark.slow
def test_ctrl_c_stops_the_sweep_marks_unfinished_trials_and_a_rerun_resumes(tmp_path: Path) -> None:
    script = _script(tmp_path, "stop_sweep.py", CTRL_C_SCRIPT)
    env = {**os.environ, "SLEEP": "60"}
    env.pop("HYPERTUNER_STORAGE", None)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    folder = tmp_path / "storage" / "stop"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = _journal(folder) if (folder / JOURNAL).exists() else []
        finished = {line["index"] for line in lines if line["status"] == "finished"}
        started = all((folder.parent / f"stop-{i}" / "meta.json").exists() for i in (2, 3))
        if finished == {0, 1} and started:
            time.sleep(0.3)  # the trials are inside train() now
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "INTERRUPTED" in out
    latest: dict[int, str] = {}
    for line in _journal(folder):
        latest[line["index"]] = line["status"]
    assert "interrupted" in latest.values()
    assert "running" not in latest.values()
    assert json.loads((folder / SWEEP_FILE).read_text())["status"] == "interrupted"
    interrupted = [i for i, s in latest.items() if s == "interrupted"]
    assert (
        json.loads((tmp_path / "storage" / f"stop-{interrupted[0]}" / "meta.json").read_text())[
            "status"
        ]
        == "interrupted"
    )

    rerun = _python(script, cwd=tmp_path, env={"SLEEP": "0"})
    assert rerun.returncode == 0, rerun.stderr
    assert "DONE" in rerun.stdout
    statuses = {line["index"]: line["status"] for line in _journal(folder)}
    assert set(statuses) == set(range(6))
    assert set(statuses.values()) == {"finished"}
    finished_before = [i for i, s in latest.items() if s == "finished"]
    reruns = [line["index"] for line in _journal(folder) if line["status"] == "running"]
    assert all(reruns.count(i) == 1 for i in finished_before)  # finished trials were not run again


# ---------------------------------------------------------------------------------------------
# The command form: `hypertuner sweep SCRIPT ...`


TRAIN_SCRIPT = """
import sys
import hypertuner

args = hypertuner.parse()
if args.lr == 0.1 and args.model.layers == 6:
    print("diverged: loss is nan", file=sys.stderr)
    sys.exit(3)
hypertuner.log({"loss": args.lr * args.model.layers + args.bias}, step=0)
print("trained", hypertuner.current_run().name)
"""


@pytest.mark.slow
def test_the_sweep_command_runs_the_script_once_per_trial_with_its_overrides(
    tmp_path: Path, storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script(tmp_path, "train.py", TRAIN_SCRIPT)
    (Path.cwd() / "cfg.json").write_text('{"lr": 1.0, "bias": 0.0, "model": {"layers": 1}}')
    argv = [
        "sweep",
        str(script),
        "--config=cfg.json",
        "lr=choice(0.1,0.01)",
        "model.layers=range(2,8,2)",
        "bias=0.5",
        "--workers",
        "2",
        "--metric",
        "loss",
        "--name",
        "cmd",
        "--no-progress",
    ]
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert code == 1  # one trial failed
    assert list_runs(storage) == [f"cmd-{i}" for i in range(6)]
    config = json.loads((storage / "cmd-4" / "config.json").read_text())
    assert config == {"lr": 0.01, "bias": 0.5, "model": {"layers": 4}}
    lines = {
        line["index"]: line for line in _journal(storage / "cmd") if line["status"] != "running"
    }
    assert lines[2]["status"] == "failed"
    assert "exit code 3: diverged: loss is nan" in lines[2]["error"]
    assert lines[3]["value"] == pytest.approx(0.52)  # the last logged loss of the trial
    assert "trained cmd-4" in (storage / "cmd" / "logs" / "4.log").read_text()
    summary = "sweep cmd: 5/6 finished, 1 failed; best 0.52 (cmd-3: lr=0.01, model.layers=2)"
    assert summary in out
    assert "3      finished  0.52   cmd-3  lr=0.01, model.layers=2" in out.splitlines()

    assert cli.main(argv) == 1  # the trial still fails: same script, same values
    reran = [line["index"] for line in _journal(storage / "cmd") if line["status"] == "running"]
    assert reran.count(2) == 2
    assert reran.count(0) == 1


BAD_KEY_SCRIPT = """
import hypertuner

args = hypertuner.parse(defaults={"train": {"lr": 0.1}})
hypertuner.log({"loss": args.train.lr}, step=0)
"""


@pytest.mark.slow
@pytest.mark.parametrize("progress", [[], ["--no-progress"]], ids=["progress", "no-progress"])
def test_the_sweep_command_says_why_each_trial_failed_and_where_its_log_is(
    tmp_path: Path, storage: Path, capsys: pytest.CaptureFixture[str], progress: list[str]
) -> None:
    script = _script(tmp_path, "train.py", BAD_KEY_SCRIPT)
    argv = ["sweep", str(script), "train.lrr=choice(0.1,0.2)", "--name=badkey", *progress]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out.splitlines()
    for index, value in enumerate(["0.1", "0.2"]):
        assert out[3 + index] == (
            f"trial {index} failed: exit code 2: train.py: error: Unknown key 'train.lrr' in "
            f"override 'train.lrr={value}'. Did you mean 'train.lr'? Use "
            f"'+train.lrr={value}' to add it. (log: {storage / 'badkey' / 'logs'}/{index}.log)"
        )
    assert out[5].startswith("sweep badkey: 0/2 finished, 2 failed;")


# ---------------------------------------------------------------------------------------------
# The examples, as a new user runs them (tiny data)


@pytest.mark.slow
def test_the_testtube_style_example_runs_on_two_workers(tmp_path: Path) -> None:
    done = _python(
        REPO / "examples" / "search" / "testtube_style.py",
        "--nb_trials",
        "4",
        "--steps",
        "3",
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "learning_rate=0.01" in done.stdout  # from example.json
    assert "best loss" in done.stdout
    assert len(list_runs(tmp_path / "storage")) == 4


@pytest.mark.slow
def test_the_native_sweep_example_runs_and_resumes(tmp_path: Path) -> None:
    example = REPO / "examples" / "search" / "native_sweep.py"
    done = _python(example, "--trials", "3", "--steps", "3", cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.match(r"sweep \S+: 3/3 finished; best ", last)
    assert re.search(r"\(\S+-\d: lr=[0-9.e-]+, model\.layers=\d\)", last)  # as the CLI prints
    again = _python(
        example,
        "--trials",
        "3",
        "--steps",
        "3",
        "--backend",
        "serial",
        "--workers",
        "1",
        cwd=tmp_path,
        timeout=240,
    )
    assert again.returncode == 0
    assert "resuming, 3 of 3 trials already finished" in again.stderr


@pytest.mark.slow  # six sweeps with a study
@pytest.mark.parametrize("name", ["trials.jsonl", "sweep.json", "study.jsonl"])
@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_a_fifo_or_link_in_a_sweeps_folder_is_one_error_not_a_hang(
    storage: Path, tmp_path: Path, name: str, kind: str
) -> None:
    pytest.importorskip("optuna")

    def trial(args: hypertuner.Args) -> float:
        return float(args.x)

    options: dict[str, Any] = {"name": "s", "progress": False, "pruner": "median", "metric": "v"}
    hypertuner.sweep(trial, {"x": [1, 2]}, **options)
    target = storage / "s" / name
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    else:
        (tmp_path / "elsewhere").write_text("{}\n")
        target.symlink_to(tmp_path / "elsewhere")
    done: list[BaseException] = []

    def again() -> None:
        try:
            hypertuner.sweep(trial, {"x": [1, 2]}, **options)
        except BaseException as exc:  # the test looks at it
            done.append(exc)

    worker = threading.Thread(target=again, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the sweep waits on the FIFO"
    (error,) = done
    assert isinstance(error, SearchSpecError)
    assert "cannot be read as a plain file" in str(error)


def _tpe_trial(args: hypertuner.Args) -> float:
    return float(args.x)


@pytest.mark.parametrize(
    ("file", "line"),
    [
        pytest.param(JOURNAL, '{"trial": "t", "index": 0, "status": "finished", "value": "abc"}',
                     id="journal-value-text"),
        pytest.param(JOURNAL, '{"trial": "t", "index": 0, "run": ["x"], "status": "finished"}',
                     id="journal-run-not-text"),
        pytest.param(JOURNAL, '{"trial": "t", "index": 0, "run": "../../../etc", '
                     '"status": "finished", "value": 1}', id="journal-run-outside"),
        pytest.param(JOURNAL, "[" * 100_000, id="journal-deep-line"),
        pytest.param(JOURNAL, '{"trial": "t", "index": 0, "value": 1' + "0" * 400 + "}",
                     id="journal-value-huge"),
        pytest.param("study.jsonl", "[" * 100_000, id="study-deep-line"),
        pytest.param("study.jsonl", "[1, 2]", id="study-not-an-operation"),
    ],
)  # fmt: skip
def test_a_tampered_sweep_file_never_breaks_the_sweep_run_again(
    storage: Path, file: str, line: str
) -> None:
    """A line this code never writes is left out (its trial runs again) or the whole file is
    one clear error; never a traceback, a run outside storage, or a wrong best."""
    pytest.importorskip("optuna")
    options: dict[str, Any] = {"name": "t", "progress": False, "strategy": "tpe", "seed": 0}
    first = hypertuner.sweep(_tpe_trial, {"x": irange(0, 50)}, n_trials=3, **options)
    journal = (storage / "t" / JOURNAL).read_text().splitlines()
    real_id = json.loads(journal[0])["trial"]  # the line claims trial 0 for real
    with (storage / "t" / file).open("a") as out:
        out.write(line.replace('"trial": "t"', f'"trial": "{real_id}"') + "\n")
    again = hypertuner.sweep(_tpe_trial, {"x": irange(0, 50)}, n_trials=4, **options)
    assert [t.config for t in again][:3] == [t.config for t in first]
    for trial in again:
        assert trial.directory.resolve().is_relative_to(storage.resolve())
        assert trial.status == "finished"
    assert again.best is not None
    assert again.best.value == min(t.value for t in again)


def test_a_damaged_study_operation_is_one_clear_error(storage: Path) -> None:
    pytest.importorskip("optuna")
    options: dict[str, Any] = {"name": "d", "progress": False, "strategy": "tpe", "seed": 0}
    hypertuner.sweep(_tpe_trial, {"x": irange(0, 50)}, n_trials=2, **options)
    with (storage / "d" / "study.jsonl").open("a") as out:
        out.write('{"op_code": 5, "worker_id": "w"}\n')
    with pytest.raises(SearchSpecError, match=r"holds an operation this code never writes"):
        hypertuner.sweep(_tpe_trial, {"x": irange(0, 50)}, n_trials=3, **options)


def test_a_tampered_seed_in_sweep_json_is_one_clear_error(storage: Path) -> None:
    options: dict[str, Any] = {"name": "r", "progress": False, "strategy": "random"}
    hypertuner.sweep(_tpe_trial, {"x": irange(0, 50)}, n_trials=2, **options)
    path = storage / "r" / SWEEP_FILE
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "seed": [1]}))
    with pytest.raises(SearchSpecError, match=r"records the seed \[1\], which this code never"):
        hypertuner.sweep(_tpe_trial, {"x": irange(0, 50)}, n_trials=2, **options)
