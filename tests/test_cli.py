"""The `hypertuner` command: runs, show, diff, compare (and the console script itself)."""

from __future__ import annotations

import errno
import io
import json
import math
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import cli
from hypertuner.errors import UsageError

pytestmark = pytest.mark.filterwarnings(
    "ignore:Run .* never read:hypertuner.errors.HypertunerWarning"
)


def make_run(name: str, config: dict[str, Any], metrics: dict[str, list[float]]) -> None:
    with hypertuner.start_run(config, name=name):
        for step in range(max((len(v) for v in metrics.values()), default=0)):
            hypertuner.log({k: v[step] for k, v in metrics.items() if step < len(v)}, step=step)


@pytest.fixture
def two_runs(storage: Path) -> Path:
    make_run(
        "big-lr01",
        {"lr": 0.1, "model": {"layers": 8, "act": "relu"}},
        {"val_loss": [0.9, 0.4, 0.5], "acc": [0.1, 0.8, 0.7]},
    )
    make_run(
        "small-lr1",
        {"lr": 1.0, "model": {"layers": 2, "act": "relu"}},
        {"val_loss": [0.8, 0.6], "acc": [0.2, 0.5]},
    )
    return storage


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_lists_every_run_with_status_and_last_metrics(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0
    header, first, second = out.splitlines()
    assert header.split() == ["name", "status", "start", "duration", "acc", "val_loss"]
    assert first.split()[:2] == ["big-lr01", "finished"]
    assert first.split()[-2:] == ["0.7", "0.5"]
    assert second.split()[-2:] == ["0.5", "0.6"]


def test_runs_table_fits_80_columns_with_long_names_and_many_metrics(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = {f"validation/metric_number_{i}": [float(i)] for i in range(12)}
    make_run("a-really-long-run-name-that-goes-on-and-on-and-on", {}, metrics)
    make_run("short", {}, metrics)
    for argv in (
        ["runs"],
        ["runs", "-m", "validation/metric_number_1", "-m", "validation/metric_number_2"],
    ):
        code, out, _ = run_cli(capsys, *argv)
        assert code == 0
        assert max(len(line) for line in out.splitlines()) <= 80
    assert "validation/metric_number_2"[:5] in out


def test_runs_json_is_the_plain_table(two_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "runs", "--json")
    rows = json.loads(out)
    assert code == 0
    assert [r["name"] for r in rows] == ["big-lr01", "small-lr1"]
    assert rows[0]["config"]["model.layers"] == 8
    assert rows[1]["metrics"]["val_loss"] == {
        "last": 0.6,
        "min": 0.6,
        "max": 0.8,
        "step": 1,
        "count": 2,
    }


def test_show_prints_config_meta_and_metric_summary(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "show", "big-lr01")
    assert code == 0
    assert "status    finished" in out
    assert any(line.split() == ["model.layers", "8"] for line in out.splitlines())
    assert any(line.split() == ["val_loss", "0.5", "0.4", "0.9", "2"] for line in out.splitlines())
    # the tables fit 80 columns; the folder, command and cwd lines are printed whole
    whole = ("folder", "command", "cwd")
    tables = [line for line in out.splitlines() if not line.startswith(whole)]
    assert max(len(line) for line in tables) <= 80


def test_show_json_holds_config_meta_and_metrics(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "show", "small-lr1", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["config"] == {"lr": 1.0, "model": {"layers": 2, "act": "relu"}}
    assert data["meta"]["status"] == "finished"
    assert data["metrics"]["acc"]["last"] == 0.5


def test_diff_shows_differing_keys_side_by_side(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "diff", "big-lr01", "small-lr1")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["key", "big-lr01", "small-lr1"],
        ["lr", "0.1", "1.0"],  # config values exact, as written on a command line
        ["model.layers", "8", "2"],
    ]


def test_diff_of_identical_configs_says_so(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_run("p", {"lr": 0.1}, {"l": [1.0]})
    make_run("q", {"lr": 0.1}, {"l": [2.0]})
    code, out, _ = run_cli(capsys, "diff", "p", "q")
    assert code == 0
    assert out.strip() == "The configs of p, q are the same."


def test_compare_ranks_runs_by_the_best_value(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "compare", "--metric", "val_loss", "--mode", "min")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["rank", "name", "best", "(min)", "last", "step", "status"]
    assert lines[1] == ["1", "big-lr01", "0.4", "0.5", "2", "finished"]
    assert lines[2] == ["2", "small-lr1", "0.6", "0.6", "1", "finished"]


def test_compare_leaves_out_runs_without_the_metric_and_says_how_many(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_run("no-val", {"lr": 0.5}, {"acc": [0.3]})
    make_run("nothing", {"lr": 0.7}, {})
    code, out, _ = run_cli(capsys, "compare", "--metric", "val_loss")
    assert code == 0
    names = [line.split()[1] for line in out.splitlines()[1:-1]]
    assert names == ["big-lr01", "small-lr1"]
    assert out.splitlines()[-1] == "2 runs never logged 'val_loss' and are not listed."
    code, out, err = run_cli(capsys, "compare", "--metric", "val_loss", "--json")
    assert [row["name"] for row in json.loads(out)] == ["big-lr01", "small-lr1"]
    assert err == "2 runs never logged 'val_loss' and are not listed.\n"


def test_compare_json_by_max_of_chosen_runs(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys, "compare", "small-lr1", "big-lr01", "--metric", "acc", "--mode", "max", "--json"
    )
    ranked = json.loads(out)
    assert code == 0
    assert [(r["rank"], r["name"], r["score"]) for r in ranked] == [
        (1, "big-lr01", 0.8),
        (2, "small-lr1", 0.5),
    ]


def test_compare_plot_draws_the_curves_to_a_png(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "curves.png"
    code, out, _ = run_cli(capsys, "compare", "--metric", "val_loss", "--plot", str(target))
    assert code == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Plot written to {target}." in out


def test_compare_plot_without_a_suffix_names_the_png_it_wrote(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "curves.png").write_bytes(b"old")
    code, out, _ = run_cli(
        capsys, "compare", "--metric", "val_loss", "--plot", f"{tmp_path}/curves"
    )
    assert code == 0
    assert f"Plot written to {tmp_path / 'curves.png'}." in out
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(("curves", "."))] == [
        "curves.png"
    ]


def _plot_folder(tmp_path: Path) -> str:
    (tmp_path / "out.png").mkdir()
    return str(tmp_path / "out.png")


def _plot_fifo(tmp_path: Path) -> str:
    os.mkfifo(tmp_path / "out.png")
    return str(tmp_path / "out.png")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "match"),
    [
        pytest.param(
            lambda t: str(t / "out.xyz"),
            r"does not write 'xyz' files. End the path in one of: .*png",
            id="unknown-format",
        ),
        pytest.param(_plot_folder, "it is a folder, a link or not a regular file", id="folder"),
        pytest.param(_plot_fifo, "it is a folder, a link or not a regular file", id="fifo"),
    ],
)
def test_compare_plot_to_a_path_it_cannot_write_is_one_error_line(
    two_runs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Any,
    match: str,
) -> None:
    pytest.importorskip("matplotlib")
    path = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli(capsys, "compare", "--metric", "val_loss", "--plot", path)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("hypertuner: error: ")
    assert "Traceback" not in err
    import re

    assert re.search(match, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_board_on_a_port_another_program_serves_is_one_error_line(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run_cli(capsys, "board", "--port", str(port))
    assert code == 2
    assert out == ""
    assert err.startswith("hypertuner: error: ")
    assert len(err.strip().splitlines()) == 1
    assert f"Port {port} on 127.0.0.1 is not free" in err


def test_board_whose_tensorboard_fails_on_its_own_says_why(tmp_path: Path) -> None:
    """TensorBoard exits by itself (a port taken between the check and its start): its last
    stderr line is the error, not a bare exit status 255."""
    from hypertuner._runs_cli import _serve_board

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        fails = "import sys, time; time.sleep(0.5); sys.exit('Could not bind to the port.')"
        process = subprocess.Popen(
            [sys.executable, "-c", fails],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        with pytest.raises(UsageError, match="Could not bind to the port") as info:
            _serve_board(process, tmp_path, port)
    assert info.value.option == "--port"


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        pytest.param(
            ["show", "big-lr1"],
            "No run 'big-lr1' in .*Did you mean 'big-lr01'",
            id="show-unknown-run",
        ),
        pytest.param(
            ["diff", "big-lr01", "smal-lr1"], "Did you mean 'small-lr1'", id="diff-unknown-run"
        ),
        pytest.param(["diff", "big-lr01"], "needs two or more run names", id="diff-one-name"),
        pytest.param(
            ["compare", "bigg-lr01", "--metric", "acc"],
            "Did you mean 'big-lr01'",
            id="compare-unknown-run",
        ),
        pytest.param(
            ["compare", "--metric", "val_los"],
            "No run logged metric 'val_los'. Did you mean 'val_loss'",
            id="compare-unknown-metric",
        ),
        pytest.param(
            ["compare", "--metric", "acc", "--mode", "best"],
            "invalid choice: 'best'",
            id="compare-bad-mode",
        ),
        pytest.param(
            ["compare"],
            "(?i)the following arguments are required: --metric",
            id="compare-no-metric",
        ),
        pytest.param(
            ["bord"], "invalid choice: 'bord'.*Did you mean 'board'\\?$", id="misspelt-command"
        ),
        pytest.param(
            ["runs", "--jsn"],
            "Unrecognized arguments: --jsn. Did you mean '--json'\\?$",
            id="misspelt-option",
        ),
        pytest.param(
            ["show", "../etc"], "Run name '../etc' is not allowed", id="show-escaping-name"
        ),
        pytest.param(
            ["board", "--port", "70000"], "Port 70000 is not a TCP port", id="board-bad-port"
        ),
        pytest.param(
            ["compare", "--metric", "acc", "--plot", "no/such/dir/x.png"],
            "folder 'no/such/dir' does not exist",
            id="plot-missing-folder",
        ),
    ],
)
def test_bad_command_lines_print_one_error_line_and_exit_2(
    two_runs: Path, capsys: pytest.CaptureFixture[str], argv: list[str], match: str
) -> None:
    if "--plot" in argv:
        pytest.importorskip("matplotlib")
    before = sorted(p.name for p in two_runs.iterdir())
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("hypertuner: error: ")
    import re

    assert re.search(match, err), err
    assert sorted(p.name for p in two_runs.iterdir()) == before


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["runs"], id="runs"),
        pytest.param(["show", "x"], id="show"),
        pytest.param(["diff", "x", "y"], id="diff"),
        pytest.param(["compare", "--metric", "loss"], id="compare"),
        pytest.param(["board"], id="board"),
    ],
)
def test_empty_or_missing_storage_says_so_and_how_to_create_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    for folder, state in ((tmp_path / "missing", "does not exist"), (tmp_path, "has no runs")):
        code, _, err = run_cli(capsys, *argv, "--storage", str(folder))
        assert code == 2
        assert state in err or "has no runs yet" in err
        assert "hypertuner.parse()" in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "missing").exists()


def test_runs_json_of_an_empty_storage_is_an_empty_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "runs", "--json", "--storage", str(tmp_path / "none"))
    assert (code, json.loads(out)) == (0, [])


def test_storage_comes_from_the_environment(
    two_runs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYPERTUNER_STORAGE", str(two_runs))
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0
    assert "big-lr01" in out


def test_storage_may_come_before_the_command(
    two_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "--storage", str(two_runs), "runs")
    assert code == 0
    assert "big-lr01" in out
    code, out, _ = run_cli(capsys, "--storage", "elsewhere", "runs", "--storage", str(two_runs))
    assert code == 0  # after the command wins
    assert "big-lr01" in out
    code, _, err = run_cli(capsys, "--storage", str(two_runs), "explain", "+a=1")
    assert code == 2
    assert err.strip() == "hypertuner: error: 'hypertuner explain' does not use --storage."


def test_console_script_lists_runs(two_runs: Path) -> None:
    script = Path(sys.executable).with_name("hypertuner")
    if not script.exists():
        pytest.skip(f"the hypertuner console script is not installed beside {sys.executable}")
    done = subprocess.run(
        [str(script), "runs"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "HYPERTUNER_STORAGE": str(two_runs), "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()] == [
        "name",
        "big-lr01",
        "small-lr1",
    ]
    missing = subprocess.run(
        [str(script), "show", "nope", "--storage", str(two_runs)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("hypertuner: error: No run 'nope'")
    assert "Traceback" not in missing.stderr


def _many_runs(storage: Path, count: int) -> None:
    """``count`` finished runs written directly (a real run start per row would be slow)."""
    for index in range(count):
        folder = storage / f"run-{index:05d}"
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(
            json.dumps({"status": "finished", "start_time": f"2026-01-01T00:00:{index % 60:02d}"})
        )
        (folder / "config.json").write_text(json.dumps({"lr": index / count, "pad": "x" * 40}))


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [pytest.param(["runs"], id="runs"), pytest.param(["runs", "--json"], id="runs-json")],
)
def test_output_into_a_pipe_closed_early_ends_quietly(tmp_path: Path, command: list[str]) -> None:
    """`hypertuner runs | head -n 2`: no BrokenPipeError traceback, the status SIGPIPE gives."""
    storage = tmp_path / "storage"
    _many_runs(storage, 3000)  # well over a pipe's 64 KiB, so the writer meets the closed end
    process = subprocess.Popen(
        [sys.executable, "-m", "hypertuner", *command, "--storage", str(storage)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    first = [process.stdout.readline(), process.stdout.readline()]
    process.stdout.close()  # what head does after two lines
    _, errors = process.communicate(timeout=60)
    assert all(first)
    assert errors.decode() == ""
    assert process.returncode == 141


class _FullDisk(io.StringIO):
    """A stdout on a full disk (as '> /dev/full' gives)."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["runs"], id="runs"),
        pytest.param(["runs", "--json"], id="runs-json"),
        pytest.param(["show", "big-lr01"], id="show"),
        pytest.param(["compare", "--metric", "acc"], id="compare"),
    ],
)
def test_output_that_cannot_be_written_is_one_line_and_exit_1(
    two_runs: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err == "hypertuner: error: Cannot write the output to stdout: No space left on device.\n"


def test_an_os_error_that_is_not_the_output_keeps_its_traceback(
    two_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a failed write of the output is reported in one line; anything else is a bug."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(hypertuner.compare, "runs_table", broken)
    with pytest.raises(OSError, match="Input/output error"):
        cli.main(["runs"])


def test_show_prints_the_whole_command_line_the_run_was_started_with(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_argv = ["train.py", "--config=configs/base.json", *(f"+key{i}={i}" for i in range(20))]
    with hypertuner.start_run({}, name="long") as run:
        run.update_meta(
            argv=long_argv, executable="/usr/bin/python3", cwd="/home/me/project", module=None
        )
    code, out, _ = run_cli(capsys, "show", "long")
    assert code == 0
    command = next(line for line in out.splitlines() if line.startswith("command"))
    assert command.split(None, 1)[1] == "/usr/bin/python3 " + " ".join(long_argv)
    assert "cwd       /home/me/project" in out


def test_explain_show_and_runs_write_values_the_same_way(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One value format: as the value would be written on the command line."""
    write_config = storage.parent / "v.json"
    write_config.write_text('{"act": "relu", "code": "4", "lr": 0.0225, "tags": ["a", 1]}')
    code, out, _ = run_cli(capsys, "explain", f"--config={write_config}")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    with hypertuner.start_run(json.loads(write_config.read_text()), name="fmt"):
        pass
    _, shown, _ = run_cli(capsys, "show", "fmt")
    for key, value in {"act": "relu", "code": "'4'", "lr": "0.0225", "tags": '["a",'}.items():
        assert rows[key] == value
        assert any(line.split()[:2] == [key, value] for line in shown.splitlines()), key


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"hypertuner {hypertuner.__version__}\n"


# --- a tampered run folder: every command still answers -----------------------------------------


def _fifo(name: str) -> Callable[[Path], None]:
    def tamper(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        os.mkfifo(run / name)  # opening it for reading would wait for a writer forever

    return tamper


def _summary(entry: dict[str, Any]) -> Callable[[Path], None]:
    def tamper(run: Path) -> None:
        good = {"last": 0.5, "min": 0.4, "max": 0.9, "step": 2, "count": 3}
        metrics = {"val_loss": {**good, **entry}, "acc": good}
        (run / "summary.json").write_text(json.dumps({"version": 1, "metrics": metrics}))

    return tamper


def _meta(fields: dict[str, Any]) -> Callable[[Path], None]:
    def tamper(run: Path) -> None:
        meta = json.loads((run / "meta.json").read_text())
        # json.dumps writes NaN and Infinity, as a tampered file may hold them
        (run / "meta.json").write_text(json.dumps({**meta, **fields}))

    return tamper


TAMPERED_RUN_FILES = [
    pytest.param(_meta({"duration_s": math.nan}), id="meta-duration-nan"),
    pytest.param(_meta({"duration_s": math.inf}), id="meta-duration-infinite"),
    pytest.param(_meta({"duration_s": 1e308}), id="meta-duration-1e308"),
    pytest.param(_meta({"duration_s": 10**4000}), id="meta-duration-4000-digits"),
    pytest.param(_meta({"duration_s": -5}), id="meta-duration-negative"),
    pytest.param(_fifo("meta.json"), id="meta-json-fifo"),
    pytest.param(_fifo("summary.json"), id="summary-json-fifo"),
    pytest.param(_summary({"last": "abc"}), id="summary-last-not-a-number"),
    pytest.param(_summary({"min": [1]}), id="summary-min-a-list"),
    pytest.param(_summary({"max": True}), id="summary-max-a-boolean"),
    pytest.param(_summary({"last": 10**400}), id="summary-last-too-big-for-a-float"),
    pytest.param(_summary({"step": "2"}), id="summary-step-text"),
    pytest.param(_summary({"count": 10**4000}), id="summary-count-of-4000-digits"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("tamper", TAMPERED_RUN_FILES)
def test_every_command_lists_a_run_whose_files_were_tampered_with(
    two_runs: Path, capsys: pytest.CaptureFixture[str], tamper: Callable[[Path], None]
) -> None:
    """A shared storage folder can hold anything: a bad file is read as unreadable."""
    tamper(two_runs / "big-lr01")
    for argv in (
        ["runs"],
        ["runs", "--json"],
        ["show", "big-lr01"],
        ["show", "big-lr01", "--json"],
    ):
        code, out, err = run_cli(capsys, *argv)
        assert (code, err) == (0, ""), argv
        assert "big-lr01" in out
        if "--json" not in argv:  # the tables show no value of hundreds of digits
            whole = ("folder", "command", "cwd")  # show prints these lines whole
            lines = [line for line in out.splitlines() if not line.startswith(whole)]
            assert max(len(line) for line in lines) <= 200
    for argv in (["compare", "--metric", "val_loss"], ["diff", "big-lr01", "small-lr1"]):
        code, out, err = run_cli(capsys, *argv)
        assert (code, err) == (0, ""), argv
        assert "small-lr1" in out
