"""`hypertuner ui` without a browser: the JSON API, its safety checks, launching and the command.

A real server runs on a free loopback port for each test; requests go through http.client so the
tests choose every header (Host, Origin, token) themselves.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import cli, compare
from hypertuner.errors import ConfigError
from hypertuner.ui.edit import check_config, launch_command
from hypertuner.ui.server import UIServer

SCRIPT = """\
import hypertuner
args = hypertuner.parse(defaults={"lr": 0.1, "model": {"layers": 2, "act": "relu"},
                                  "epochs": 3, "sizes": [8, 4], "augment": False})
for step in range(args.epochs):
    hypertuner.log({"loss": args.lr * (3 - step)}, step=step)
"""

CONFIG = {
    "lr": 0.1,
    "model": {"layers": 2, "act": "relu"},
    "epochs": 3,
    "sizes": [8, 4],
    "augment": False,
}


def _made_run(storage: Path, name: str, config: dict[str, Any], losses: list[float]) -> None:
    with hypertuner.start_run(config, name=name, storage=storage):
        for step, loss in enumerate(losses):
            hypertuner.log({"loss": loss}, step=step)


@pytest.fixture
def runs(storage: Path) -> Path:
    """Two finished runs, made in this process (fast; their script is pytest's, not launchable)."""
    _made_run(storage, "small", CONFIG, [0.3, 0.2, 0.1])
    _made_run(
        storage, "big", {**CONFIG, "lr": 0.2, "model": {"layers": 4, "act": "relu"}}, [0.5, 0.25]
    )
    return storage


@pytest.fixture
def script_runs(storage: Path, tmp_path: Path) -> Path:
    """Two runs made by a real script, as a user would: `python train.py [lr=0.2] --name=...`."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    for extra in (["--name=small"], ["lr=0.2", "--name=big", "model.layers=4"]):
        subprocess.run(
            [sys.executable, str(script), *extra, f"--storage={storage}"],
            check=True,
            capture_output=True,
            timeout=60,
            cwd=tmp_path,
        )
    return storage


@pytest.fixture
def server(storage: Path) -> Iterator[UIServer]:
    with UIServer(storage, port=0) as ui:
        ui.start()
        yield ui
        for started in ui.launcher.launches.values():
            started.process.wait(timeout=60)  # launched runs outlive the page: reap them here


def call(
    ui: UIServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = "",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send one request with exactly these headers; return (status, decoded JSON or text)."""
    connection = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=30)
    sent = {"Host": f"127.0.0.1:{ui.port}"}
    if token is not None:
        sent["X-Hypertuner-Token"] = token or ui.token
    sent.update(headers or {})
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    connection.request(method, path, body=data, headers=sent)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    if response.getheader("Content-Type", "").startswith("application/json"):
        return response.status, json.loads(raw)
    return response.status, raw.decode()


def launch(ui: UIServer, source: str, config: Any, name: str) -> tuple[int, Any]:
    """Launch as the page does: ask for the exact command, then send it back with the launch."""
    code, shown = call(ui, "POST", f"/api/runs/{source}/command", {"config": config, "name": name})
    if code != 200:
        return code, shown
    body = {"config": config, "name": name, "command": shown["command"], "cwd": shown["cwd"]}
    return call(ui, "POST", f"/api/runs/{source}/launch", body)


def wait_for_status(ui: UIServer, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, data = call(ui, "GET", "/api/runs")
        row = next((r for r in data["runs"] if r["name"] == name), None)
        if row is not None and row["status"] not in ("running", "starting"):
            return row
        time.sleep(0.2)
    msg = f"run {name!r} did not finish within {timeout} s"
    raise AssertionError(msg)


def listing(storage: Path) -> list[str]:
    return sorted(p.relative_to(storage).as_posix() for p in storage.rglob("*"))


# --- the page and the token ---------------------------------------------------------------------


def test_page_is_served_with_a_strict_content_security_policy(server: UIServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/", headers={"Host": f"127.0.0.1:{server.port}"})
    response = connection.getresponse()
    page = response.read().decode()
    assert response.status == 200
    assert '<script src="app.js"' in page
    assert "http" not in page.split("<body>")[0]
    assert "script-src 'self'" in response.getheader("Content-Security-Policy", "")
    for asset, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        connection.request("GET", asset, headers={"Host": f"localhost:{server.port}"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Content-Type").startswith(kind)
    connection.close()


@pytest.mark.parametrize(
    ("token", "query", "status"),
    [
        pytest.param(None, "", 403, id="no-token"),
        pytest.param("wrong", "", 403, id="wrong-token"),
        pytest.param(None, "?token=wrong", 403, id="wrong-query-token"),
        pytest.param("", "", 200, id="header-token"),
        pytest.param(None, "?token={token}", 200, id="query-token"),
    ],
)
def test_api_answers_only_requests_that_carry_the_token(
    server: UIServer, runs: Path, token: str | None, query: str, status: int
) -> None:
    code, data = call(server, "GET", "/api/runs" + query.format(token=server.token), token=token)
    assert code == status
    if status == 403:
        assert "token" in data["error"]
        assert "runs" not in data


@pytest.mark.parametrize(
    ("headers", "status", "match"),
    [
        pytest.param({"Host": "evil.example:{port}"}, 403, "Host 'evil.example", id="rebound-host"),
        pytest.param({"Host": "127.0.0.1:1"}, 403, "not this server's address", id="other-port"),
        pytest.param({"Host": ""}, 403, "Host ''", id="empty-host"),
        pytest.param({"Origin": "http://evil.example"}, 403, "origin", id="foreign-origin"),
        pytest.param({"Origin": "null"}, 403, "origin", id="null-origin"),
        pytest.param({"Host": "localhost:{port}"}, 200, None, id="localhost-host"),
        pytest.param({"Origin": "http://127.0.0.1:{port}"}, 200, None, id="own-origin"),
    ],
)
def test_requests_for_another_host_or_from_another_origin_are_refused(
    server: UIServer, runs: Path, headers: dict[str, str], status: int, match: str | None
) -> None:
    sent = {k: v.format(port=server.port) for k, v in headers.items()}
    code, data = call(server, "GET", "/api/runs", headers=sent)
    assert code == status
    if match:
        assert match in data["error"]


def test_page_itself_is_refused_under_a_rebound_host_name(server: UIServer) -> None:
    code, data = call(
        server, "GET", "/", token=None, headers={"Host": f"attacker.test:{server.port}"}
    )
    assert code == 403
    assert "DNS rebinding" in data["error"]


def test_binding_beyond_loopback_needs_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ui", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--allow-remote" in err


@pytest.mark.parametrize(
    ("host", "why"),
    [
        pytest.param("nosuchhost.invalid", "", id="unresolvable"),
        pytest.param("192.0.2.1", "Cannot assign requested address", id="not-this-machine"),
    ],
)
def test_a_host_that_cannot_be_served_on_is_one_line(
    capsys: pytest.CaptureFixture[str], host: str, why: str
) -> None:
    assert cli.main(["ui", "--host", host, "--allow-remote", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # no warning about serving, since nothing is served
    assert err.startswith(f"hypertuner: error: Cannot serve on host {host!r} (")
    assert why in err


# --- reading runs -------------------------------------------------------------------------------


def test_runs_table_is_the_cli_readers_table(server: UIServer, runs: Path) -> None:
    code, data = call(server, "GET", "/api/runs")
    assert code == 200
    assert data["storage"] == str(runs)
    assert data["launch"] is True
    assert data["runs"] == json.loads(json.dumps(compare.runs_table(runs)))
    assert [r["name"] for r in data["runs"]] == ["small", "big"]


def test_run_detail_gives_nested_config_types_and_a_free_name(server: UIServer, runs: Path) -> None:
    code, data = call(server, "GET", "/api/runs/big")
    assert code == 200
    assert data["config"]["model"] == {"layers": 4, "act": "relu"}
    assert data["types"] == {
        "lr": "float",
        "model": "section",
        "model.layers": "int",
        "model.act": "str",
        "epochs": "int",
        "sizes": "list[int]",
        "augment": "bool",
    }
    assert data["suggested_name"] == "big-2"


def test_compare_gives_differing_keys_and_each_runs_curve(server: UIServer, runs: Path) -> None:
    code, data = call(server, "GET", "/api/compare?run=small&run=big")
    assert code == 200
    assert data["diff"] == [["lr", [0.1, 0.2]], ["model.layers", [2, 4]]]
    assert data["metric"] == "loss"
    assert data["metrics"] == ["loss"]
    assert data["series"]["small"]["steps"] == [0, 1, 2]
    assert data["series"]["big"]["values"] == pytest.approx([0.5, 0.25])
    assert "hypertuner board" in data["board"]["command"]
    assert data["board"]["regex"] == "^(small|big)$"


# --- bad input: one table -----------------------------------------------------------------------

EDITED = {**CONFIG, "lr": 0.5}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "match"),
    [
        pytest.param(
            "GET", "/api/runs/..%2F..%2Fetc", None, 400, "not allowed", id="traversal-run"
        ),
        pytest.param("GET", "/api/runs/.hypertuner", None, 400, "not allowed", id="dot-run"),
        pytest.param("GET", "/api/runs/smal", None, 404, "Did you mean 'small'", id="unknown-run"),
        pytest.param(
            "GET",
            "/api/configs/..%2F..%2Fsmall%2Fmeta.json",
            None,
            400,
            "not allowed",
            id="traversal-download",
        ),
        pytest.param("GET", "/api/compare?run=small", None, 400, "at least two", id="compare-one"),
        pytest.param(
            "GET",
            "/api/compare?run=small&run=../x",
            None,
            400,
            "not allowed",
            id="compare-traversal",
        ),
        pytest.param("GET", "/../../etc/passwd", None, 404, "Nothing at", id="static-traversal"),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": EDITED, "name": "../evil"},
            400,
            "not allowed",
            id="traversal-new-name",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": EDITED, "name": "/tmp/x"},
            400,
            "not allowed",
            id="absolute-new-name",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/save",
            {"config": EDITED, "filename": "../../x"},
            400,
            "Config file name",
            id="traversal-config-file",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": {**CONFIG, "lr": "fast"}, "name": "n"},
            400,
            "Key 'lr' must be a number",
            id="wrong-type-float",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": {**CONFIG, "lr": 10**400}, "name": "n"},
            400,
            "Key 'lr' must be a number a float can hold",
            id="float-overflow",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": {**CONFIG, "model": {"layers": 2.5, "act": "relu"}}, "name": "n"},
            400,
            "Key 'model.layers' must be an integer",
            id="wrong-type-int",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": {**CONFIG, "augment": "yes"}, "name": "n"},
            400,
            "Key 'augment' must be a boolean",
            id="wrong-type-bool",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": {**CONFIG, "sizes": [8, "a"]}, "name": "n"},
            400,
            r"Key 'sizes\[1\]' must be an integer",
            id="wrong-type-list-item",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/save",
            {"config": {**CONFIG, "epochs": "3"}, "filename": "f"},
            400,
            "Key 'epochs' must be an integer",
            id="wrong-type-save",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": {**CONFIG, "extra": 1}, "name": "n"},
            400,
            "Key 'extra' is not in the run's config",
            id="added-key",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": {"lr": 0.1}, "name": "n"},
            400,
            "Key 'model' is missing",
            id="missing-key",
        ),
        pytest.param(
            "POST",
            "/api/runs/small/launch",
            {"config": EDITED, "name": "big"},
            409,
            "exists already",
            id="existing-name",
        ),
        pytest.param(
            "POST", "/api/runs/small/launch", b"{not json", 400, "not valid JSON", id="bad-json"
        ),
        pytest.param("PUT", "/api/runs/small", {}, 405, "No API endpoint", id="wrong-method"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    server: UIServer, runs: Path, method: str, path: str, body: Any, status: int, match: str
) -> None:
    before = listing(runs)
    code, data = call(server, method, path, body)
    assert code == status, data
    assert re.search(match, data["error"]), data["error"]
    assert listing(runs) == before
    assert not server.launcher.launches


def test_wrong_type_names_the_key_in_the_error_payload(server: UIServer, runs: Path) -> None:
    bad = {**CONFIG, "model": {"layers": "four", "act": "relu"}}
    code, data = call(server, "POST", "/api/runs/small/launch", {"config": bad, "name": "n"})
    assert code == 400
    assert data["key"] == "model.layers"


@pytest.mark.parametrize(
    ("saved", "edited", "expected"),
    [
        pytest.param({"lr": 0.1}, {"lr": 1}, {"lr": 1.0}, id="int-into-float"),
        pytest.param({"n": 3}, {"n": 4.0}, {"n": 4}, id="whole-float-into-int"),
        pytest.param({"xs": [0.5, 1]}, {"xs": [2, 3.5]}, {"xs": [2.0, 3.5]}, id="number-list"),
        pytest.param({"x": None}, {"x": [1, "a"]}, {"x": [1, "a"]}, id="null-takes-any"),
        pytest.param({"d": {}}, {"d": {"k": 1}}, {"d": {"k": 1}}, id="empty-section-takes-any"),
    ],
)
def test_edited_values_keep_the_saved_types(saved: Any, edited: Any, expected: Any) -> None:
    result = check_config(saved, edited)
    assert result == expected
    assert [type(v) for v in result.values()] == [type(v) for v in expected.values()]


def test_check_config_refuses_a_section_replaced_by_a_value() -> None:
    with pytest.raises(ConfigError, match="Key 'model' must be a section") as err:
        check_config({"model": {"layers": 2}}, {"model": 3})
    assert err.value.key == "model"


# --- edit and launch ----------------------------------------------------------------------------


def test_launch_command_keeps_other_arguments_and_drops_config_name_storage_overrides() -> None:
    meta = {
        "executable": sys.executable,
        "script": __file__,
        "argv": [
            __file__,
            "--config",
            "a.json",
            "--name=old",
            "--storage",
            "s",
            "lr=0.1",
            "+new=1",
            "--epochs",
            "3",
            "--config=b.yaml",
            "--fast",
        ],
    }
    command = launch_command(
        meta, config_path="/s/.hypertuner/configs/n.json", name="n", storage="/s"
    )
    assert command == [
        sys.executable,
        __file__,
        "--epochs",
        "3",
        "--fast",
        "--config=/s/.hypertuner/configs/n.json",
        "--name=n",
        "--storage=/s",
    ]


@pytest.mark.slow
def test_launch_runs_the_recorded_script_with_the_edited_config(
    server: UIServer, script_runs: Path, tmp_path: Path
) -> None:
    source = json.loads((script_runs / "big" / "config.json").read_text())
    assert source["lr"] == 0.2  # set by the override 'lr=0.2', which the launch must not repeat
    code, data = launch(server, "big", {**source, "lr": 0.05}, "next")
    assert code == 200, data
    assert data["command"][:2] == [sys.executable, str(tmp_path / "train.py")]
    row = wait_for_status(server, "next")
    assert row["status"] == "finished", Path(data["log"]).read_text()
    config = json.loads((script_runs / "next" / "config.json").read_text())
    assert config == {**source, "lr": 0.05}
    meta = json.loads((script_runs / "next" / "meta.json").read_text())
    assert meta["cwd"] == str(tmp_path)
    assert meta["executable"] == sys.executable
    assert row["metrics"]["loss"]["last"] == pytest.approx(0.05)
    assert Path(data["config_path"]).parent == script_runs / ".hypertuner" / "configs"
    assert Path(data["log"]).parent == script_runs / ".hypertuner" / "logs"


@pytest.mark.slow
def test_launched_process_that_fails_early_shows_as_failed_with_its_output(
    server: UIServer, script_runs: Path, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text("raise SystemExit('broken before parse()')\n")
    source = json.loads((script_runs / "small" / "config.json").read_text())
    code, _ = launch(server, "small", source, "broken")
    assert code == 200
    row = wait_for_status(server, "broken")
    assert row["status"] == "failed"
    assert "exited with status 1" in row["error"]
    assert "broken before parse()" in row["launch"]["log_tail"]


@pytest.mark.slow
def test_launch_is_refused_when_the_script_no_longer_exists(
    server: UIServer, script_runs: Path, tmp_path: Path
) -> None:
    (tmp_path / "train.py").unlink()
    source = json.loads((script_runs / "small" / "config.json").read_text())
    _, detail = call(server, "GET", "/api/runs/small")
    assert detail["launchable"] is False
    assert "no longer exists" in detail["launch_reason"]
    code, data = call(server, "POST", "/api/runs/small/launch", {"config": source, "name": "again"})
    assert code == 409
    assert "no longer exists" in data["error"]
    assert not (script_runs / "again").exists()


def test_no_launch_server_refuses_to_start_runs_but_saves_configs(runs: Path) -> None:
    with UIServer(runs, port=0, launch=False) as ui:
        ui.start()
        _, runs_data = call(ui, "GET", "/api/runs")
        assert runs_data["launch"] is False
        code, data = call(ui, "POST", "/api/runs/small/launch", {"config": EDITED, "name": "n"})
        assert code == 409
        assert "--no-launch" in data["error"]
        code, data = call(
            ui, "POST", "/api/runs/small/save", {"config": EDITED, "filename": "fast"}
        )
        assert code == 200
    assert not (runs / "n").exists()
    assert json.loads((runs / ".hypertuner" / "configs" / "fast.json").read_text()) == EDITED


def test_saved_config_is_written_inside_storage_and_downloadable(
    server: UIServer, runs: Path
) -> None:
    code, data = call(
        server,
        "POST",
        "/api/runs/small/save",
        {"config": {**CONFIG, "lr": 1}, "filename": "mine.json"},
    )
    assert code == 200
    assert data["path"] == str(runs / ".hypertuner" / "configs" / "mine.json")
    assert data["config"]["lr"] == 1.0
    assert isinstance(data["config"]["lr"], float)
    code, saved = call(server, "GET", data["download"])
    assert code == 200
    assert saved == data["config"]
    assert "runs" not in [p.name for p in (runs / ".hypertuner").iterdir()]
    assert compare.runs_table(runs)[0]["name"] == "small"  # the configs folder is no run


# --- the command --------------------------------------------------------------------------------


def test_ui_command_prints_its_tokened_address_and_no_launch_turns_launching_off(
    runs: Path,
) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hypertuner",
            "ui",
            "--port",
            "0",
            "--no-launch",
            "--storage",
            str(runs),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        address = next(line.strip() for line in lines if "?token=" in line)
        assert address.startswith("http://127.0.0.1:")
        assert "launching turned off" in lines[0]
        port = int(address.split(":")[2].split("/")[0])
        token = address.split("?token=")[1]
        ui = UIServer.__new__(UIServer)
        ui.port, ui.token = port, token
        code, data = call(ui, "GET", "/api/runs")
        assert code == 200
        assert [r["name"] for r in data["runs"]] == ["small", "big"]
        code, data = call(ui, "POST", "/api/runs/small/launch", {"config": EDITED, "name": "n"})
        assert code == 409
        assert "turned off" in data["error"]
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_a_run_started_with_python_m_is_launched_with_python_m(tmp_path: Path) -> None:
    script = tmp_path / "pkg" / "train.py"
    script.parent.mkdir()
    script.write_text("")
    meta = {
        "executable": sys.executable,
        "script": str(script),
        "module": "pkg.train",
        "argv": [str(script), "lr=0.1", "--epochs", "3"],
    }
    command = launch_command(meta, config_path="/s/c.json", name="b", storage="/s")
    assert command[1:] == [
        "-m",
        "pkg.train",
        "--epochs",
        "3",
        "--config=/s/c.json",
        "--name=b",
        "--storage=/s",
    ]
