"""The page's new API without a browser: sweeps in the runs table, a run's page (provenance,
checkpoints, log), curves, and plotly.js served from the installed package; each also with
hostile storage: tampered meta.json/saves.json/sweep.json/journal, huge files, FIFOs and links
leading out of the storage folder. A real server answers on a free loopback port.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner.config import resolve
from hypertuner.ui import provenance as provenance_module
from hypertuner.ui import server as server_module
from hypertuner.ui.server import UIServer

SCRIPT = """\
import hypertuner
args = hypertuner.parse(defaults={"lr": 0.1, "model": {"layers": 2, "width": 8}, "epochs": 3})
for step in range(args.epochs):
    hypertuner.log({"loss": args.lr * (3 - step), "acc": step / 3}, step=step)
print("trained", args.lr)
"""


@pytest.fixture
def server(storage: Path) -> Iterator[UIServer]:
    with UIServer(storage, port=0) as ui:
        ui.start()
        yield ui
        for started in ui.launcher.launches.values():
            started.process.wait(timeout=60)


def get(ui: UIServer, path: str, *, token: bool = True) -> tuple[int, Any, dict[str, str]]:
    """GET ``path``; return (status, decoded JSON or bytes, headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=30)
    headers = {"Host": f"127.0.0.1:{ui.port}"}
    if token:
        headers["X-Hypertuner-Token"] = ui.token
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    kind = response.getheader("Content-Type", "")
    body = json.loads(raw) if kind.startswith("application/json") else raw
    return response.status, body, dict(response.getheaders())


def made(storage: Path, name: str, config: dict[str, Any], losses: list[float]) -> Path:
    with hypertuner.start_run(config, name=name, storage=storage) as run:
        for step, loss in enumerate(losses):
            hypertuner.log({"loss": loss}, step=step)
    return run.directory


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "cfg").mkdir(parents=True)
    (folder / "train.py").write_text(SCRIPT)
    (folder / "cfg" / "a.json").write_text('{\n  "model": {\n    "width": 16\n  }\n}\n')
    return folder


@pytest.fixture
def script_run(storage: Path, project: Path) -> Path:
    """Run 'p' of a real script: a config file, an override and defaults set its keys."""
    subprocess.run(
        [sys.executable, "train.py", "--config", "cfg/a.json", "lr=0.2", "--name=p",
         f"--storage={storage}"],
        cwd=project, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return storage / "p"


def tamper_meta(run: Path, **fields: Any) -> None:
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, **fields}))


# --- sweeps in the runs table ---------------------------------------------------------------------


def test_runs_table_groups_a_sweeps_trials_with_their_best(server: UIServer, storage: Path) -> None:
    hypertuner.sweep(
        lambda args: args.x**2, {"x": [3, -1, 2]}, name="sq", storage=storage, progress=False
    )
    made(storage, "sq-9", {"x": 5}, [1.0])  # named like a trial, but not in the journal
    code, data, _ = get(server, "/api/runs")
    assert code == 200
    (sweep,) = data["sweeps"]
    assert (sweep["name"], sweep["mode"], sweep["n_trials"]) == ("sq", "min", 3)
    assert sweep["best"] == {"run": "sq-1", "index": 1, "value": 1.0}
    assert sorted(sweep["trials"]) == ["sq-0", "sq-1", "sq-2"]
    rows = {row["name"]: row for row in data["runs"]}
    assert (rows["sq-2"]["sweep"], rows["sq-2"]["trial"], rows["sq-2"]["trial_value"]) == (
        "sq",
        2,
        4.0,
    )
    assert "sweep" not in rows["sq-9"]
    assert data["charts"]["available"] is (server_module._plotly_file() is not None)


def test_a_sweep_that_ran_one_config_at_two_indices_shows_both_trials(
    server: UIServer, storage: Path
) -> None:
    hypertuner.sweep(
        lambda args: args.x, {"x": [2, 2, 1]}, name="tw", storage=storage, progress=False
    )
    code, data, _ = get(server, "/api/runs")
    assert code == 200
    (sweep,) = data["sweeps"]
    assert sorted(sweep["trials"]) == ["tw-0", "tw-1", "tw-2"]
    assert [sweep["trials"][f"tw-{i}"]["index"] for i in range(3)] == [0, 1, 2]
    assert sweep["best"] == {"run": "tw-2", "index": 2, "value": 1.0}


def _torn_journal(folder: Path) -> None:
    good = json.loads((folder / "trials.jsonl").read_text().splitlines()[-1])
    lines = [
        "not json",
        "[1, 2]",
        json.dumps({**good, "run": "../escape", "index": 0}),
        json.dumps({**good, "trial": "t1", "run": "other-1", "index": 1}),
        json.dumps({**good, "trial": "t2", "run": "sq-0", "index": 7}),
        json.dumps({**good, "trial": "t3", "run": "sq-0", "index": 0, "value": "1e9"}),
        '{"trial": "t4", "run": "sq-1", "index": 1, "status": "finished", "value": 1e999}',
    ]
    (folder / "trials.jsonl").write_text("\n".join(lines) + "\n")


def _huge_value_journal(folder: Path) -> None:
    """A trial value too big for a float (float() raises OverflowError)."""
    good = json.loads((folder / "trials.jsonl").read_text().splitlines()[-1])
    line = json.dumps({**good, "value": 0}).replace('"value": 0', '"value": ' + "9" * 400)
    with (folder / "trials.jsonl").open("a") as handle:
        handle.write(line + "\n")


@pytest.mark.parametrize(
    ("damage", "grouped", "problem"),
    [
        pytest.param(
            lambda f: (f / "sweep.json").write_text("{oops"), False, None, id="sweep-json-broken"
        ),
        pytest.param(
            lambda f: (f / "sweep.json").write_text("[]"), False, None, id="sweep-json-a-list"
        ),
        pytest.param(_torn_journal, True, None, id="journal-hostile-lines"),
        pytest.param(_huge_value_journal, True, None, id="journal-huge-integer-value"),
        pytest.param(
            lambda f: os.truncate(f / "trials.jsonl", 65 * 1024 * 1024),
            True,
            "more than",
            id="journal-huge",
        ),
        pytest.param(
            lambda f: (os.unlink(f / "trials.jsonl"), os.mkfifo(f / "trials.jsonl")),
            True,
            "not a regular file",
            id="journal-fifo",
        ),
    ],
)
def test_a_tampered_sweep_record_leaves_the_runs_table_answering(
    server: UIServer, storage: Path, damage: Any, grouped: bool, problem: str | None
) -> None:
    hypertuner.sweep(lambda args: args.x, {"x": [1, 2]}, name="sq", storage=storage, progress=False)
    damage(storage / "sq")
    started = time.monotonic()
    code, data, _ = get(server, "/api/runs")
    assert code == 200
    assert time.monotonic() - started < 5
    assert sorted(r["name"] for r in data["runs"]) == ["sq-0", "sq-1"]
    assert bool(data["sweeps"]) is grouped
    if grouped:
        (sweep,) = data["sweeps"]
        assert all(isinstance(t["value"], float | type(None)) for t in sweep["trials"].values())
        assert set(sweep["trials"]) <= {"sq-0", "sq-1"}
        if problem:
            assert problem in " ".join(sweep["problems"])


def test_a_sweep_folder_linked_out_of_storage_is_not_read(
    server: UIServer, storage: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    hypertuner.sweep(lambda args: args.x, {"x": [1]}, name="sq", storage=elsewhere, progress=False)
    made(storage, "sq-0", {"x": 1}, [1.0])
    (storage / "sq").symlink_to(elsewhere / "sq")
    code, data, _ = get(server, "/api/runs")
    assert code == 200
    assert data["sweeps"] == []


# --- a run's page: provenance ---------------------------------------------------------------------


def test_run_page_says_which_layer_set_each_key(server: UIServer, script_run: Path) -> None:
    code, data, _ = get(server, "/api/runs/p")
    assert code == 200
    keys = data["provenance"]["keys"]
    assert keys["lr"] == {
        "origin": "command line 'lr=0.2'",
        "kind": "command line",
        "changed": False,
    }
    assert keys["model.width"]["origin"] == "cfg/a.json:3"
    assert keys["model.layers"]["origin"] == "defaults"
    assert data["provenance"]["notes"] == []
    meta = json.loads((script_run / "meta.json").read_text())
    assert data["command"] == " ".join([meta["executable"], *meta["argv"]])
    assert data["log"]["path"] is None  # started outside the page: no log kept


def test_a_config_file_changed_since_the_run_is_flagged_not_shown(
    server: UIServer, script_run: Path, project: Path
) -> None:
    (project / "cfg" / "a.json").write_text('{"model": {"width": 99}}')
    _, data, _ = get(server, "/api/runs/p")
    width = data["provenance"]["keys"]["model.width"]
    assert width["changed"] is True
    assert "99" not in json.dumps(data["provenance"])  # the file's value is never sent


@pytest.mark.timeout(20)
def test_a_slow_cfg_file_is_refused_at_once_and_a_second_view_resolves_nothing(
    server: UIServer, script_run: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tampered meta names a .cfg whose values took minutes to evaluate on every view."""
    each = ", ".join(["len([[0] * 999] * 999)"] * 20)
    values = "".join(f"x{i} = [{each}]\n" for i in range(20))
    (project / "cfg" / "slow.cfg").write_text(f"[model]\n{values}")
    meta = json.loads((script_run / "meta.json").read_text())
    tamper_meta(script_run, argv=[meta["argv"][0], "--config=cfg/slow.cfg", "lr=0.2"])
    monkeypatch.setattr(provenance_module, "_KEPT", {})
    calls: list[list[str]] = []

    def counted(argv: list[str], **kwargs: Any) -> Any:
        calls.append(argv)
        return resolve(argv, **kwargs)

    monkeypatch.setattr(provenance_module, "resolve", counted)
    started = time.monotonic()
    code, data, _ = get(server, "/api/runs/p")
    assert code == 200
    assert time.monotonic() - started < 5
    (note,) = data["provenance"]["notes"]
    assert "Value of 'model.x0' in config file 'cfg/slow.cfg' (line 2) is refused" in note
    assert "values together take more than 4,000,000 steps" in note
    assert data["provenance"]["keys"]["lr"]["origin"] == "command line 'lr=0.2'"
    resolved = len(calls)
    assert get(server, "/api/runs/p")[1]["provenance"] == data["provenance"]
    assert len(calls) == resolved


def test_a_config_file_is_resolved_again_once_it_changes(
    server: UIServer, script_run: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provenance_module, "_KEPT", {})
    assert get(server, "/api/runs/p")[1]["provenance"]["keys"]["model.width"]["changed"] is False
    (project / "cfg" / "a.json").write_text('{"model": {"width": 99}}')
    assert get(server, "/api/runs/p")[1]["provenance"]["keys"]["model.width"]["changed"] is True


def _outside(project: Path, run: Path) -> str:
    secret = project.parent / "outside" / "secret.json"
    secret.parent.mkdir()
    secret.write_text('{"model": {"width": 1}}')
    return str(secret)


def _linked(project: Path, run: Path) -> str:
    target = Path(_outside(project, run))
    (project / "cfg" / "link.json").symlink_to(target)
    return "cfg/link.json"


def _fifo(project: Path, run: Path) -> str:
    os.mkfifo(project / "cfg" / "pipe.json")
    return "cfg/pipe.json"


def _huge(project: Path, run: Path) -> str:
    with open(project / "cfg" / "huge.json", "wb") as handle:
        handle.truncate(5 * 1024 * 1024)
    return "cfg/huge.json"


def _text(project: Path, run: Path) -> str:
    (project / "cfg" / "notes.txt").write_text("{}")
    return "cfg/notes.txt"


def _root_cwd(project: Path, run: Path) -> str:
    tamper_meta(run, cwd="/", script="/train.py")
    return str(project / "cfg" / "a.json")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(_outside, "lies outside the run's working folder", id="outside"),
        pytest.param(_linked, "lies outside the run's working folder", id="link-out"),
        pytest.param(_fifo, "not a regular file", id="fifo"),
        pytest.param(_huge, "more than 4,194,304 bytes", id="huge"),
        pytest.param(_text, "not a config format", id="not-a-config"),
        pytest.param(_root_cwd, "lies outside the run's working folder", id="cwd-is-root"),
    ],
)
def test_config_files_a_tampered_meta_names_are_not_read(
    server: UIServer, script_run: Path, project: Path, make: Any, reason: str
) -> None:
    path = make(project, script_run)
    meta = json.loads((script_run / "meta.json").read_text())
    tamper_meta(script_run, argv=[meta["argv"][0], f"--config={path}", "lr=0.2"])
    started = time.monotonic()
    code, data, _ = get(server, "/api/runs/p")
    assert code == 200
    assert time.monotonic() - started < 5  # a FIFO never blocks the page
    (note,) = data["provenance"]["notes"]
    assert note.startswith(f"Config file {path!r} was not read: ")
    assert reason in note
    keys = data["provenance"]["keys"]
    assert keys["model.width"]["origin"] == "a config file that was not read, or defaults"
    assert keys["lr"]["origin"] == "command line 'lr=0.2'"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"argv": "python x.py"}, "not recorded", id="argv-not-a-list"),
        pytest.param({"argv": [1, 2]}, "not recorded", id="argv-not-text"),
        pytest.param({"argv": ["t.py", "lr=[oops"]}, "not known", id="argv-unparsable"),
    ],
)
def test_a_tampered_command_line_gives_unknown_origins(
    server: UIServer, script_run: Path, fields: dict[str, Any], expected: str
) -> None:
    tamper_meta(script_run, **fields)
    code, data, _ = get(server, "/api/runs/p")
    assert code == 200
    assert {k["origin"] for k in data["provenance"]["keys"].values()} == {expected}
    assert data["provenance"]["notes"]


def test_a_function_sweeps_trial_names_its_sweep_as_the_layer(
    server: UIServer, storage: Path
) -> None:
    hypertuner.sweep(
        lambda args: args.x, {"x": [1, 2]}, name="sq", storage=storage, progress=False,
        config={"x": 0, "y": 5},
    )  # fmt: skip
    _, data, _ = get(server, "/api/runs/sq-1")
    keys = data["provenance"]["keys"]
    assert keys["x"]["origin"] == "sweep 'sq' trial 1 (searched)"
    assert keys["y"]["origin"] == "sweep 'sq' base config"
    assert data["sweep"]["name"] == "sq"
    assert data["sweep"]["index"] == 1
    # Its recorded command is the sweep's script, which would run the whole sweep again.
    assert data["launchable"] is False
    assert "trial of sweep 'sq'" in data["launch_reason"]


# --- a run's page: checkpoints and log ------------------------------------------------------------


def test_run_page_lists_the_saved_checkpoints_with_the_best_marked(
    server: UIServer, storage: Path
) -> None:
    torch = pytest.importorskip("torch")
    with hypertuner.start_run({"lr": 0.1}, name="c", storage=storage):
        saver = hypertuner.Saver(torch.nn.Linear(2, 1), monitor="loss", keep=2)
        for step, loss in enumerate([0.5, 0.2, 0.4, 0.3]):
            saver.save(step=step, metrics={"loss": loss})
    _, data, _ = get(server, "/api/runs/c")
    info = data["checkpoints"]
    assert (info["monitor"], info["mode"], info["problem"]) == ("loss", "min", None)
    rows = [(e["file"], e["step"], e["best"], e["present"]) for e in info["checkpoints"]]
    assert rows == [
        ("checkpoints/step-00000001.pt", 1, True, True),
        ("checkpoints/step-00000003.pt", 3, False, True),
    ]
    assert info["checkpoints"][0]["metrics"] == {"loss": 0.2}
    assert info["checkpoints"][0]["size"] > 0
    assert info["model"]["source"] == "checkpoints/step-00000001.pt"


def _write(text: str) -> Any:
    return lambda run, outside: (run / "saves.json").write_text(text)


def _ledger_link(run: Path, outside: Path) -> None:
    (outside / "saves.json").write_text('{"checkpoints": []}')
    (run / "saves.json").symlink_to(outside / "saves.json")


def _ledger_huge(run: Path, outside: Path) -> None:
    with open(run / "saves.json", "wb") as handle:
        handle.truncate(5 * 1024 * 1024)


LEDGER_OUT = json.dumps(
    {
        "checkpoints": [
            {"file": "../../../outside/secret", "size": 5, "step": 1},
            {"file": "/etc/hostname", "step": 2},
            {"file": "checkpoints/step-1.pt", "size": "big", "step": "x", "metrics": [1]},
        ],
        "model": {"source": "checkpoints/step-1.pt", "size": -1},
        "mode": "sideways",
    }
)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        pytest.param(_write("{not json"), "is not valid JSON", id="not-json"),
        pytest.param(_write("[1, 2]"), "is not a JSON object", id="a-list"),
        pytest.param(_write(LEDGER_OUT), "2 ledger entries name no file", id="paths-out"),
        pytest.param(_ledger_link, "leads outside the storage folder", id="link-out"),
        pytest.param(_ledger_huge, "more than the 4,194,304", id="huge"),
        pytest.param(
            lambda run, outside: os.mkfifo(run / "saves.json"), "not a regular", id="fifo"
        ),
    ],
)
def test_a_tampered_ledger_is_reported_not_followed(
    server: UIServer, storage: Path, tmp_path: Path, damage: Any, problem: str
) -> None:
    run = made(storage, "c", {"lr": 0.1}, [1.0])
    outside = tmp_path / "outside"
    outside.mkdir()
    damage(run, outside)
    code, data, _ = get(server, "/api/runs/c")
    assert code == 200
    info = data["checkpoints"]
    assert problem in info["problem"]
    for entry in info["checkpoints"]:
        assert entry["file"].startswith("checkpoints/")
        assert entry["step"] is None or isinstance(entry["step"], int)
        assert entry["size"] is None or isinstance(entry["size"], int)
        assert entry["metrics"] == {}
    assert info["mode"] in (None, "min", "max")


def test_run_page_shows_the_tail_of_a_launched_runs_log(
    server: UIServer, storage: Path, tmp_path: Path
) -> None:
    made(storage, "a", {"lr": 0.1}, [1.0])
    logs = storage / ".hypertuner" / "logs"
    logs.mkdir(parents=True)
    (logs / "a.log").write_text("x" * 100_000 + "\nthe last line\n")
    _, data, _ = get(server, "/api/runs/a")
    assert data["log"]["truncated"] is True
    assert data["log"]["tail"].endswith("the last line\n")
    assert len(data["log"]["tail"]) <= 64 * 1024
    (logs / "a.log").unlink()
    (tmp_path / "secret.log").write_text("secret")
    (logs / "a.log").symlink_to(tmp_path / "secret.log")
    _, data, _ = get(server, "/api/runs/a")
    assert data["log"]["tail"] is None
    assert "leads outside the storage folder" in data["log"]["problem"]
    (logs / "a.log").unlink()
    os.mkfifo(logs / "a.log")
    _, data, _ = get(server, "/api/runs/a")
    assert "not a regular file" in data["log"]["problem"]


# --- curves ---------------------------------------------------------------------------------------


def test_curves_give_every_metric_or_the_tags_asked(server: UIServer, storage: Path) -> None:
    with hypertuner.start_run({}, name="a", storage=storage):
        for step in range(3000):
            hypertuner.log({"loss": 1 / (step + 1), "acc": step / 3000}, step=step)
    code, data, _ = get(server, "/api/runs/a/curves")
    assert code == 200
    assert sorted(data["curves"]) == ["acc", "loss"]
    loss = data["curves"]["loss"]
    assert len(loss["steps"]) == 2000  # at most a chart's worth of points
    assert (loss["steps"][0], loss["steps"][-1], loss["values"][0]) == (0, 2999, 1.0)
    _, data, _ = get(server, "/api/runs/a/curves?tag=acc")
    assert list(data["curves"]) == ["acc"]
    code, data, _ = get(server, "/api/runs/nope/curves")
    assert code == 404


def test_an_event_file_that_is_a_link_is_not_read(
    server: UIServer, storage: Path, tmp_path: Path
) -> None:
    run = made(storage, "a", {}, [1.0, 0.5])
    (event,) = run.glob("events.out.tfevents.*")
    moved = tmp_path / event.name
    event.rename(moved)
    event.symlink_to(moved)
    _, data, _ = get(server, "/api/runs/a/curves")
    assert data["curves"] == {}
    assert "is a link" in data["warnings"][0]
    made(storage, "b", {}, [1.0])
    _, data, _ = get(server, "/api/compare?run=a&run=b&metric=loss")
    assert data["series"]["a"] == {"steps": [], "values": []}
    assert "is a link" in " ".join(data["warnings"])


# --- plotly.js and the page's policy --------------------------------------------------------------


def test_plotly_is_served_from_the_installed_package(server: UIServer) -> None:
    if server_module._plotly_file() is None:
        pytest.skip("plotly is not installed: pip install 'hypertuner[ui]'")
    code, body, headers = get(server, server_module.PLOTLY_PATH, token=False)
    assert code == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert body.startswith(b"/**\n* plotly.js v")
    assert body == server_module._plotly_file().read_bytes()  # type: ignore[union-attr]


def test_without_plotly_the_page_says_which_extra_to_install(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "_plotly_file", lambda: None)
    with UIServer(storage, port=0) as ui:
        ui.start()
        code, body, _ = get(ui, server_module.PLOTLY_PATH, token=False)
        assert code == 404
        assert "pip install 'hypertuner[ui]'" in body["error"]
        _, data, _ = get(ui, "/api/runs")
        assert data["charts"]["available"] is False
        assert data["charts"]["install"] == "pip install 'hypertuner[ui]'"


def test_the_page_policy_allows_scripts_from_the_server_only(server: UIServer) -> None:
    _, _, headers = get(server, "/", token=False)
    policy = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self' 'unsafe-eval'"  # plotly's WebGL shaders; no inline
    assert policy["connect-src"] == "'self'"
    assert "http" not in headers["Content-Security-Policy"]


def test_a_variation_of_a_trial_gets_a_name_outside_the_sweeps(
    server: UIServer, storage: Path
) -> None:
    hypertuner.sweep(lambda args: args.x, {"x": [1, 2]}, name="sq", storage=storage, progress=False)
    assert server.launcher.free_name("sq-1") == "sq-1-v2"
    made(storage, "other-1", {"x": 1}, [1.0])
    assert server.launcher.free_name("other-1") == "other-2"
