"""Runs: the run folder, meta.json, statuses, recall, locking, ranks, atomic files."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hypertuner
from hypertuner import _files
from hypertuner._layout import list_runs, resolve_run
from hypertuner.errors import (
    ConfigError,
    HypertunerWarning,
    OutsideStorageError,
    RunInUseError,
    RunNameError,
    RunNotFoundError,
    UnknownKeyError,
)
from hypertuner.run import start_run
from tests.conftest import write

# These tests are about folders and statuses, not about which keys the code read.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Run .* never read:hypertuner.errors.HypertunerWarning"
)

SCRIPT = """
import sys, time
import hypertuner
args = hypertuner.parse()
mode = args.get("mode", "ok")
print(hypertuner.current_run().name, flush=True)
if mode == "raise":
    raise RuntimeError("boom")
if mode == "sleep":
    # Short naps: a signal that lands just as a long sleep starts is only seen when it ends.
    deadline = time.monotonic() + float(args.get("seconds", 30))
    while time.monotonic() < deadline:
        time.sleep(0.05)
if mode == "interrupt":
    raise KeyboardInterrupt
"""


def run_script(
    tmp_path: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = write(tmp_path / "train.py", SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def meta_of(storage: Path, name: str) -> dict:
    return json.loads((storage / name / "meta.json").read_text())


def test_parse_creates_config_and_meta(storage: Path) -> None:
    write("c.json", '{"lr": 0.1, "model": {"layers": 2}}')
    hypertuner.parse(["--config=c.json", "model.layers=4", "--name=first"])
    folder = storage / "first"
    assert json.loads((folder / "config.json").read_text()) == {"lr": 0.1, "model": {"layers": 4}}
    meta = meta_of(storage, "first")
    assert meta["status"] == "running"
    assert meta["name"] == "first"
    assert meta["cwd"] == os.getcwd()
    assert meta["host"]
    assert meta["pid"] == os.getpid()
    assert meta["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert meta["versions"]["omegaconf"]
    assert ("torch" in meta["versions"]) == (importlib.util.find_spec("torch") is not None)
    assert meta["start_time"]
    assert meta["end_time"] is None
    assert isinstance(meta["argv"], list)


def test_clean_exit_marks_the_run_finished(tmp_path: Path, storage: Path) -> None:
    done = run_script(tmp_path, "--name=ok", f"--storage={storage}")
    assert done.returncode == 0, done.stderr
    meta = meta_of(storage, "ok")
    assert meta["status"] == "finished"
    assert meta["end_time"] >= meta["start_time"]
    assert meta["argv"][1:] == ["--name=ok", f"--storage={storage}"]


def test_uncaught_exception_marks_the_run_failed(tmp_path: Path, storage: Path) -> None:
    done = run_script(tmp_path, "--name=bad", f"--storage={storage}", "+mode=raise")
    assert done.returncode == 1
    assert "RuntimeError: boom" in done.stderr  # the user's traceback is kept
    meta = meta_of(storage, "bad")
    assert meta["status"] == "failed"
    assert meta["error"] == "RuntimeError: boom"


def test_keyboard_interrupt_marks_the_run_interrupted(tmp_path: Path, storage: Path) -> None:
    run_script(tmp_path, "--name=ctrlc", f"--storage={storage}", "+mode=interrupt")
    assert meta_of(storage, "ctrlc")["status"] == "interrupted"


def test_sigterm_marks_the_run_interrupted(tmp_path: Path, storage: Path) -> None:
    script = write(tmp_path / "train.py", SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), "--name=term", f"--storage={storage}", "+mode=sleep"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "term"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    proc.stdout.close()
    meta = meta_of(storage, "term")
    assert meta["status"] == "interrupted"
    assert meta["error"] == "SIGTERM"


@pytest.mark.slow
def test_sigterm_ends_the_process_even_when_the_script_swallows_the_exit(
    tmp_path: Path, storage: Path
) -> None:
    script = write(
        tmp_path / "stubborn.py",
        "import time, hypertuner\n"
        "hypertuner.parse()\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    try:\n"
        "        time.sleep(0.05)\n"
        "    except BaseException:\n"
        "        pass\n",
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), "--name=stubborn", f"--storage={storage}"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "HYPERTUNER_SIGTERM_GRACE": "0.5"},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    proc.stdout.close()
    assert meta_of(storage, "stubborn")["status"] == "interrupted"


def test_generated_name_comes_from_script_and_start_time(tmp_path: Path, storage: Path) -> None:
    done = run_script(tmp_path, f"--storage={storage}")
    name = done.stdout.strip()
    assert re.fullmatch(r"train-\d{8}-\d{6}", name), name
    assert (storage / name / "config.json").is_file()


def test_generated_names_never_collide(storage: Path) -> None:
    first = start_run({}, storage=storage, current=False)
    second = start_run({}, storage=storage, current=False)
    assert first.name != second.name
    assert second.name.startswith(first.name.rsplit("-", 1)[0])
    first.finish()
    second.finish()


def test_reused_name_recalls_the_saved_config(storage: Path) -> None:
    write("c.json", '{"lr": 0.1, "epochs": 3}')
    hypertuner.parse(["--config=c.json", "--name=again"]).lr  # noqa: B018
    hypertuner.current_run().finish()
    args = hypertuner.parse(["--name=again"], defaults={"lr": 0.5, "epochs": 1})
    run = hypertuner.current_run()
    assert run.recalled
    assert args.to_dict() == {"lr": 0.1, "epochs": 3}
    meta = meta_of(storage, "again")
    assert meta["status"] == "running"
    assert len(meta["starts"]) == 2


def test_a_recalled_run_says_so_in_one_line_and_records_every_session(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("c.json", '{"lr": 0.1}')
    hypertuner.parse(["--config=c.json", "--name=twice"]).lr  # noqa: B018
    hypertuner.current_run().finish()
    first = meta_of(storage, "twice")
    assert capsys.readouterr().err == ""
    time.sleep(0.01)
    hypertuner.parse(["--name=twice"]).lr  # noqa: B018
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "hypertuner: run 'twice' exists: recalled with its saved config (session 2"
    )
    hypertuner.current_run().finish()
    meta = meta_of(storage, "twice")
    sessions = meta["sessions"]
    assert [s["status"] for s in sessions] == ["finished", "finished"]
    assert sessions[0]["start_time"] == first["start_time"]
    # start_time and duration_s are the latest session's, shown together by every reader
    assert meta["start_time"] == sessions[1]["start_time"] > sessions[0]["start_time"]
    assert meta["duration_s"] == sessions[1]["duration_s"]
    from hypertuner.compare import runs_table

    row = next(r for r in runs_table(storage) if r["name"] == "twice")
    assert row["start_time"] == sessions[1]["start_time"]


def test_recall_refuses_a_command_line_that_changes_saved_values(storage: Path) -> None:
    write("c.json", '{"lr": 0.1, "epochs": 3}')
    hypertuner.parse(["--config=c.json", "--name=again"])
    hypertuner.current_run().finish()
    before = (storage / "again" / "meta.json").read_bytes()
    with pytest.raises(ConfigError) as info:
        hypertuner.parse(["--config=c.json", "--name=again", "lr=0.2", "+extra=1"])
    assert "lr: 0.1 -> 0.2" in str(info.value)
    assert "extra: <absent> -> 1" in str(info.value)
    assert info.value.changes == ["lr: 0.1 -> 0.2", "extra: <absent> -> 1"]
    assert (storage / "again" / "meta.json").read_bytes() == before


def test_a_run_that_failed_at_once_says_how_to_reuse_its_name(storage: Path) -> None:
    """Forgetting --config once: the run fails on an empty config, and the corrected command
    is refused (it changes saved values); the refusal says the earlier session failed and
    that deleting its folder frees the name."""
    args = hypertuner.parse(["--name=bare"])
    with pytest.raises(UnknownKeyError, match=r"The config is empty: was a --config file"):
        _ = args.seed
    hypertuner.current_run().finish("failed")
    write("c.json", '{"seed": 1}')
    with pytest.raises(ConfigError, match=r"its last session ended failed; if it holds nothing "
                       r"worth keeping, delete '.*bare' to reuse the name"):  # fmt: skip
        hypertuner.parse(["--config=c.json", "--name=bare"])


def test_recall_accepts_the_same_values_again(storage: Path) -> None:
    write("c.json", '{"lr": 0.1}')
    hypertuner.parse(["--config=c.json", "--name=same", "lr=0.1"])
    hypertuner.current_run().finish()
    assert hypertuner.parse(["--config=c.json", "--name=same", "lr=0.1"]).lr == 0.1


def test_resume_refuse_rejects_an_existing_name(storage: Path) -> None:
    hypertuner.parse(["--name=taken"])
    hypertuner.current_run().finish()
    with pytest.raises(
        RunInUseError, match=r"Run 'taken' exists already .* run.resume is 'refuse'"
    ):
        hypertuner.parse(["--name=taken", "run.resume=refuse"])


def test_resume_new_starts_a_suffixed_run(storage: Path) -> None:
    hypertuner.parse(["+lr=1", "--name=exp"])
    hypertuner.current_run().finish()
    args = hypertuner.parse(["+lr=2", "--name=exp", "run.resume=new"])
    assert hypertuner.current_run().name == "exp-2"
    assert args.lr == 2
    assert json.loads((storage / "exp" / "config.json").read_text()) == {"lr": 1}


@pytest.mark.slow
def test_two_processes_never_share_a_new_run_name(tmp_path: Path, storage: Path) -> None:
    script = write(tmp_path / "train.py", SCRIPT)
    argv = [
        sys.executable,
        str(script),
        "--name=race",
        f"--storage={storage}",
        "+mode=sleep",
        "+seconds=3",
    ]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], results
    loser_err = next(err for p, (_, err) in zip(procs, results, strict=True) if p.returncode == 2)
    assert "Run 'race' is in use by another process" in loser_err
    assert list_runs(storage) == ["race"]
    assert meta_of(storage, "race")["status"] == "finished"


def test_name_in_use_in_this_process_is_refused(storage: Path) -> None:
    run = start_run({}, name="busy", storage=storage, current=False)
    with pytest.raises(RunInUseError):
        start_run({}, name="busy", storage=storage, current=False)
    run.finish()


def test_half_created_run_folder_is_taken_over(storage: Path) -> None:
    (storage / "crashed").mkdir(parents=True)
    run = start_run({"a": 1}, name="crashed", storage=storage)
    assert not run.recalled
    assert json.loads((storage / "crashed" / "config.json").read_text()) == {"a": 1}


@pytest.mark.slow
def test_torchrun_ranks_agree_on_one_run_and_only_rank_zero_writes(
    tmp_path: Path, storage: Path
) -> None:
    pytest.importorskip("torch", reason="torchrun comes with torch")
    script = write(
        tmp_path / "ddp.py",
        "import hypertuner\n"
        "hypertuner.parse()\n"
        "run = hypertuner.current_run()\n"
        "print(f'rank={run.rank} name={run.name} writer={run.is_writer}', flush=True)\n",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            f"--storage={storage}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = sorted(line for line in done.stdout.splitlines() if line.startswith("rank="))
    assert len(lines) == 2
    names = {line.split()[1] for line in lines}
    assert len(names) == 1
    assert lines[0].endswith("writer=True")
    assert lines[1].endswith("writer=False")
    assert list_runs(storage) == [names.pop().removeprefix("name=")]


def test_non_zero_rank_joins_the_handed_over_run_without_writing(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("HYPERTUNER_RUN_NAME", "shared")
    monkeypatch.setenv("HYPERTUNER_RUN_PID", str(os.getppid()))
    hypertuner.parse(["+lr=1"])
    run = hypertuner.current_run()
    assert (run.name, run.rank, run.is_writer) == ("shared", 1, False)
    assert not storage.exists()


@pytest.mark.parametrize(
    "planted",
    [
        pytest.param('{"name": "victim", "time": 1e999}', id="time-infinite"),
        pytest.param('{"name": "victim", "time": 1' + "0" * 400 + "}", id="time-huge-int"),
        pytest.param('{"name": "victim", "time": "soon"}', id="time-text"),
        pytest.param('{"name": ["victim"], "time": 0}', id="name-not-text"),
    ],
)
def test_a_planted_hand_over_file_is_never_taken(
    storage: Path, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    """A hand-over file that no rank zero just wrote (from the future, not a number, a name
    that is no text) is waited past, not taken and not a traceback."""
    from hypertuner import run as run_module

    monkeypatch.setenv("MASTER_PORT", "29511")
    path = run_module._handoff_path(storage)
    assert path is not None
    write(path, planted)
    with pytest.raises(RunInUseError, match="did not create the run within 0 s"):
        run_module._await_handoff(storage, timeout=0.3)


def test_rank_zero_hands_the_name_to_the_processes_it_launches(storage: Path) -> None:
    hypertuner.parse(["--name=parent"])
    assert os.environ["HYPERTUNER_RUN_NAME"] == "parent"
    assert os.environ["HYPERTUNER_RUN_PID"] == str(os.getpid())


def test_parse_never_changes_the_working_directory(storage: Path) -> None:
    before = os.getcwd()
    hypertuner.parse(["--name=cwd", f"--storage={storage}"])
    assert os.getcwd() == before


def test_meta_records_git_commit_and_dirty_flag(tmp_path: Path, storage: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    write(repo / "train.py", SCRIPT)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        [sys.executable, str(repo / "train.py"), "--name=clean", f"--storage={storage}"],
        check=True,
        capture_output=True,
    )
    (repo / "train.py").write_text(SCRIPT + "\n# edited\n")
    subprocess.run(
        [sys.executable, str(repo / "train.py"), "--name=dirty", f"--storage={storage}"],
        check=True,
        capture_output=True,
    )
    assert meta_of(storage, "clean")["git"] == {"commit": commit, "dirty": False}
    assert meta_of(storage, "dirty")["git"] == {"commit": commit, "dirty": True}


def test_run_as_context_manager_marks_failure(storage: Path) -> None:
    seen = []

    def fail() -> None:
        with start_run({}, name="ctx", storage=storage, current=False) as run:
            seen.append(hypertuner.current_run() is run)
            msg = "x"
            raise ValueError(msg)

    with pytest.raises(ValueError, match="x"):
        fail()
    assert seen == [True]
    assert meta_of(storage, "ctx")["status"] == "failed"
    assert hypertuner.current_run() is None


def test_resolve_run_lists_nearest_names(storage: Path) -> None:
    for name in ("big-lr01", "small-lr1"):
        start_run({}, name=name, storage=storage, current=False).finish()
    with pytest.raises(RunNotFoundError, match=r"Did you mean 'big-lr01'\?") as info:
        resolve_run("big-lr1", storage)
    assert info.value.suggestions == ["big-lr01", "small-lr1"][: len(info.value.suggestions)]
    assert resolve_run("small-lr1", storage) == storage / "small-lr1"


def test_atomic_write_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    _files.write_json(target, {"a": 1})
    before = target.read_bytes()
    with pytest.raises(ValueError, match="Out of range float"):
        _files.write_json(target, {"a": float("nan")})
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "work"]


def test_atomic_write_gives_normal_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        _files.write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o644


def test_stale_temporaries_of_dead_writers_are_removed_at_start(storage: Path) -> None:
    start_run({}, name="stale", storage=storage, current=False).finish()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = storage / "stale" / f"{_files.TEMP_MARK}model.pt.{dead.pid}.1"
    stale.write_bytes(b"partial")
    start_run({}, name="stale", storage=storage, current=False).finish()
    assert not stale.exists()


def test_finished_run_is_no_longer_current(storage: Path) -> None:
    hypertuner.parse(["--name=done"])
    run = hypertuner.current_run()
    run.finish()
    assert hypertuner.current_run() is None
    assert run.status == "finished"
    time.sleep(0)


def test_a_killed_run_reads_as_crashed(tmp_path: Path, storage: Path) -> None:
    from hypertuner.compare import read_run, runs_table

    script = write(tmp_path / "train.py", SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), "--name=killed", f"--storage={storage}", "+mode=sleep"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "killed"
    proc.kill()
    proc.wait(30)
    proc.stdout.close()
    assert meta_of(storage, "killed")["status"] == "running"  # nothing could write more
    assert runs_table(storage)[0]["status"] == "crashed"
    assert read_run("killed", storage)["meta"]["status"] == "crashed"


def test_a_run_folder_that_links_out_of_storage_is_skipped_with_a_warning(
    storage: Path, tmp_path: Path
) -> None:
    start_run({"lr": 0.1}, name="inside", storage=storage).finish()
    elsewhere = tmp_path / "elsewhere"
    start_run({"lr": 0.2}, name="far", storage=elsewhere).finish()
    (storage / "far").symlink_to(elsewhere / "far")
    with pytest.warns(
        HypertunerWarning, match=r"Skipped 1 run folder.*links leading outside.*'far'"
    ):
        assert list_runs(storage) == ["inside"]
    skipped: list[str] = []
    assert list_runs(storage, skipped=skipped) == ["inside"]
    assert skipped == ["far"]
    with pytest.raises(OutsideStorageError, match="leads outside the storage folder"):
        resolve_run("far", storage)


def test_a_recalled_run_declares_its_keys_for_overrides(storage: Path) -> None:
    """Seed 003: 'train.py --config=cfg.json --name=exp', then 'train.py --name=exp lr=0.1'
    (keys only in the recalled config.json): the same value is accepted, a change refused."""
    write("cfg.json", '{"lr": 0.1, "model": {"layers": 2}}')
    hypertuner.parse(["--config=cfg.json", "--name=exp"]).to_dict()
    hypertuner.current_run().finish()
    args = hypertuner.parse(["--name=exp", "lr=0.1", "model.layers=2"])
    assert hypertuner.current_run().recalled
    assert args.to_dict() == {"lr": 0.1, "model": {"layers": 2}}
    hypertuner.current_run().finish()
    with pytest.raises(ConfigError, match=r"changes saved values: lr: 0.1 -> 0.2\.") as info:
        hypertuner.parse(["--name=exp", "lr=0.2"])
    assert info.value.changes == ["lr: 0.1 -> 0.2"]
    with pytest.raises(UnknownKeyError, match=r"Unknown key 'lrr'.*Did you mean 'lr'"):
        hypertuner.parse(["--name=exp", "lrr=0.1"])
    with pytest.raises(UnknownKeyError, match=r"Unknown key 'lr'"):
        hypertuner.parse(["--name=exp", "run.resume=new", "lr=0.1"])  # a new run recalls nothing


@pytest.mark.slow
def test_a_script_recalled_by_name_takes_an_override_of_a_saved_key(tmp_path: Path) -> None:
    script = write(tmp_path / "train.py", "import hypertuner\nprint(hypertuner.parse().lr)\n")
    write(tmp_path / "cfg.json", '{"lr": 0.1}')

    def train(*argv: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "HYPERTUNER_STORAGE"}
        return subprocess.run(
            [sys.executable, str(script), *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env=env,
        )

    assert train("--config=cfg.json", "--name=exp").stdout == "0.1\n"
    same = train("--name=exp", "lr=0.1")
    assert (same.returncode, same.stdout) == (0, "0.1\n"), same.stderr
    changed = train("--name=exp", "lr=0.2")
    assert changed.returncode == 2
    assert "lr: 0.1 -> 0.2" in changed.stderr
    assert changed.stderr.count("\n") == 1


def test_fields_given_at_the_start_are_in_the_first_meta_json(storage: Path) -> None:
    run = start_run({}, name="tagged", meta={"sweep": "s", "trial": 3})
    assert meta_of(storage, "tagged")["sweep"] == "s"  # before anything else is written
    run.finish()
    assert meta_of(storage, "tagged")["trial"] == 3


# ---------------------------------------------------------------------------------------------
# A storage folder that cannot hold runs, a name that a sweep holds


@pytest.mark.parametrize(
    ("where", "why"),
    [
        pytest.param("afile", "is a file, not a folder", id="a-file"),
        pytest.param("afile/runs", "is a file, not a folder", id="below-a-file"),
        pytest.param("/proc/no-such/runs", "cannot be created", id="cannot-create"),
    ],
)
def test_a_storage_folder_that_cannot_hold_runs_is_one_line_and_exit_2(
    tmp_path: Path, where: str, why: str
) -> None:
    write(tmp_path / "afile", "not a folder")
    script = write(tmp_path / "train.py", "import hypertuner\nhypertuner.parse(defaults={})\n")
    done = subprocess.run(
        [sys.executable, str(script), f"--storage={where}", "--name=q"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("train.py: error: Storage folder ")
    assert why in line
    listed = subprocess.run(
        [sys.executable, "-m", "hypertuner", "runs"], capture_output=True, text=True,
        check=False, cwd=tmp_path, env={**os.environ, "HYPERTUNER_STORAGE": "afile"},
    )  # fmt: skip
    assert listed.returncode == 2
    assert listed.stderr.strip().splitlines() == [
        f"hypertuner: error: Storage folder '{tmp_path / 'afile'}' cannot be used: it (or a "
        "folder above it) is a file, not a folder. Choose another with --storage."
    ]


def test_a_run_may_not_take_the_folder_of_a_sweep(storage: Path) -> None:
    hypertuner.sweep(lambda args: 0.0, {"x": [1]}, name="grid", storage=storage, progress=False)
    before = sorted(p.name for p in (storage / "grid").iterdir())
    with pytest.raises(RunNameError, match=r"Run name 'grid' is taken by a sweep"):
        start_run({}, name="grid", storage=storage, current=False)
    assert sorted(p.name for p in (storage / "grid").iterdir()) == before  # nothing written
    run = start_run({}, name="grid", storage=storage, resume="new", current=False)
    assert run.name == "grid-2"
    run.finish()
    assert (
        hypertuner.sweep(  # and the sweep still resumes
            lambda args: 0.0, {"x": [1]}, name="grid", storage=storage, progress=False
        )[0].status
        == "finished"
    )
