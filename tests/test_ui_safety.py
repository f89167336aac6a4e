"""`hypertuner ui` against a tampered storage folder and hostile requests.

A storage folder may be shared (a pulled bucket, a network folder), so everything in it is
untrusted: a run's ``meta.json`` must not make Launch run anything but a checked Python command,
links must not lead the page out of the folder, and no request body or connection may crash or
hold the server.
"""

from __future__ import annotations

import cProfile
import json
import os
import pdb
import re
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import compare
from hypertuner.errors import HypertunerWarning, LaunchError, OutsideStorageError
from hypertuner.ui.edit import Plan, launch_command
from hypertuner.ui.server import UIServer
from tests.test_ui import call, launch, listing, wait_for_status

SCRIPT = """\
import hypertuner
args = hypertuner.parse(defaults={"lr": 0.1})
hypertuner.log({"loss": args.lr}, step=0)
"""
# What every injected command below tries to do: leave this file behind.
PWNED = "pwned.txt"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The user's project: train.py beside the storage folder (the tests' cwd is tmp_path/work)."""
    (tmp_path / "train.py").write_text(SCRIPT)
    return tmp_path


@pytest.fixture
def recorded(storage: Path, project: Path) -> dict[str, Any]:
    """A run 'src' whose meta.json records an honest `python train.py` started in the project."""
    hypertuner.start_run({"lr": 0.1}, name="src", storage=storage).finish()
    script = str(project / "train.py")
    honest = {
        "executable": sys.executable,
        "script": script,
        "module": None,
        "argv": [script, "--name=src", "lr=0.1"],
        "cwd": str(project),
    }
    tamper(storage, "src", honest)
    return honest


def tamper(storage: Path, name: str, fields: dict[str, Any]) -> None:
    path = storage / name / "meta.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


@pytest.fixture
def server(storage: Path) -> Iterator[UIServer]:
    with UIServer(storage, port=0) as ui:
        ui.start()
        yield ui
        for started in ui.launcher.launches.values():
            started.process.wait(timeout=60)


def pwned(root: Path) -> list[str]:
    time.sleep(0.2)  # an injected command, had one started, has had time to write
    return [str(p) for p in root.rglob(PWNED)]


# --- Launch runs nothing but a checked Python command -------------------------------------------


def _sh_module(project: Path, storage: Path) -> dict[str, Any]:
    return {"executable": "/bin/sh", "module": "-c", "argv": ["x", f"id > {PWNED}"]}


def _env_sh(project: Path, storage: Path) -> dict[str, Any]:
    return {"executable": "/usr/bin/env", "script": "/bin/sh", "argv": ["/bin/sh", "-c", "id"]}


def _python_module_c(project: Path, storage: Path) -> dict[str, Any]:
    return {"module": "-c", "argv": ["x", f"open({PWNED!r}, 'w')"]}


def _not_py_script(project: Path, storage: Path) -> dict[str, Any]:
    script = project / "train.sh"  # Python code under another name: still not a .py script
    script.write_text(f"open({PWNED!r}, 'w')\n")
    return {"script": str(script), "argv": [str(script)]}


def _smuggled_c(project: Path, storage: Path) -> dict[str, Any]:
    return {"argv": [str(project / "train.py"), "-c", f"open({PWNED!r}, 'w')"]}


def _smuggled_m(project: Path, storage: Path) -> dict[str, Any]:
    return {"argv": [str(project / "train.py"), "-m", "pwn"]}


def _interpreter_option(project: Path, storage: Path) -> dict[str, Any]:
    return {"argv": [str(project / "train.py"), "-X", "importtime"]}


def _module_of_another_file(project: Path, storage: Path) -> dict[str, Any]:
    (project / "pwn.py").write_text(f"open({PWNED!r}, 'w')\n")
    return {"module": "pwn"}


def _script_in_storage(project: Path, storage: Path) -> dict[str, Any]:
    script = storage / "src" / "evil.py"
    script.write_text(f"open({PWNED!r}, 'w')\n")
    return {"script": str(script), "argv": [str(script)]}


def _module_from_storage(project: Path, storage: Path) -> dict[str, Any]:
    (storage / "src" / "train.py").write_text(f"open({PWNED!r}, 'w')\n")
    return {"module": "train", "cwd": str(storage / "src")}


def _fake_python(folder: Path, mode: int) -> str:
    fake = folder / "python3"
    fake.write_text(f"#!/bin/sh\nid > {folder / PWNED}\necho cpython\n")
    fake.chmod(mode)
    return str(fake)


def _python_in_storage(project: Path, storage: Path) -> dict[str, Any]:
    return {"executable": _fake_python(storage / "src", 0o755)}


def _python_writable_by_all(project: Path, storage: Path) -> dict[str, Any]:
    return {"executable": _fake_python(project, 0o777)}


def _relative_python(project: Path, storage: Path) -> dict[str, Any]:
    return {"executable": "python3"}


def _pdb_running_a_shell(project: Path, storage: Path) -> dict[str, Any]:
    shell = f"--command=!__import__('os').system('id > {PWNED}')"
    train = str(project / "train.py")
    return {"script": pdb.__file__, "module": "pdb", "argv": ["x", shell, "--command=c", train]}


def _cprofile_running_storage_code(project: Path, storage: Path) -> dict[str, Any]:
    evil = storage / "src" / "evil.py"
    evil.write_text(f"open({PWNED!r}, 'w')\n")
    return {"script": cProfile.__file__, "module": "cProfile", "argv": ["x", str(evil)]}


def _stdlib_module_named_like_a_project_file(project: Path, storage: Path) -> dict[str, Any]:
    (project / "pdb.py").write_text("")  # the script exists, but '-m pdb' runs the standard one
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    argv = ["x", "--command=c", str(storage / "src" / "evil.py")]
    return {"script": str(project / "pdb.py"), "module": "pdb", "cwd": str(elsewhere), "argv": argv}


def _installed_module_named_like_a_project_file(project: Path, storage: Path) -> dict[str, Any]:
    script = project / "pytest" / "__main__.py"  # '-m pytest' runs the installed pytest
    script.parent.mkdir()
    script.write_text("")
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    return {"script": str(script), "module": "pytest", "cwd": str(elsewhere), "argv": ["x"]}


def _argument_in_storage(project: Path, storage: Path) -> dict[str, Any]:
    evil = storage / "src" / "evil.py"
    evil.write_text(f"open({PWNED!r}, 'w')\n")
    return {"argv": [str(project / "train.py"), str(evil)]}


def _flag_value_in_storage(project: Path, storage: Path) -> dict[str, Any]:
    relative = os.path.relpath(storage / "src" / "model.pt", project)  # from the recorded cwd
    return {"argv": [str(project / "train.py"), f"--resume={relative}"]}


def _module_cwd_links_the_script_beside_a_fake_hypertuner(
    project: Path, storage: Path
) -> dict[str, Any]:
    evil = project / "evil"
    evil.mkdir()
    (evil / "train.py").symlink_to(project / "train.py")
    (evil / "hypertuner.py").write_text(f"open({PWNED!r}, 'w')\n")
    return {"script": str(project / "train.py"), "module": "train", "cwd": str(evil)}


def _module_cwd_holds_only_bytecode(project: Path, storage: Path) -> dict[str, Any]:
    evil = project / "evil"
    evil.mkdir()
    (evil / "train.pyc").write_bytes(b"not really bytecode")
    return {"script": str(project / "train.py"), "module": "train", "cwd": str(evil)}


def _module_cwd_holds_an_extension(project: Path, storage: Path) -> dict[str, Any]:
    evil = project / "evil"
    evil.mkdir()
    (evil / "train.py").write_text(SCRIPT)
    (evil / "train.so").write_bytes(b"an extension module wins over train.py")
    return {"script": str(evil / "train.py"), "module": "train", "cwd": str(evil)}


def _script_beside_a_fake_hypertuner(project: Path, storage: Path) -> dict[str, Any]:
    (project / "hypertuner.py").write_text(f"open({PWNED!r}, 'w')\n")
    return {}


def _script_beside_a_stdlib_package(project: Path, storage: Path) -> dict[str, Any]:
    (project / "json").mkdir()
    (project / "json" / "__init__.py").write_text(f"open({PWNED!r}, 'w')\n")
    return {}


def _module_cwd_beside_bytecode_of_stdlib(project: Path, storage: Path) -> dict[str, Any]:
    (project / "os.pyc").write_bytes(b"not really bytecode")
    return {"module": "train"}


def _script_writable_by_group(project: Path, storage: Path) -> dict[str, Any]:
    (project / "train.py").chmod(0o664)
    return {}


def _script_folder_writable_by_others(project: Path, storage: Path) -> dict[str, Any]:
    folder = project / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    (folder / "train.py").write_text(SCRIPT)
    script = str(folder / "train.py")
    return {"script": script, "argv": [script], "cwd": str(folder)}


TAMPERED = [
    pytest.param(
        _module_cwd_links_the_script_beside_a_fake_hypertuner,
        "would run .*not a link",
        id="module-cwd-link-and-shadow",
    ),
    pytest.param(_module_cwd_holds_only_bytecode, "would run", id="module-cwd-pyc"),
    pytest.param(_module_cwd_holds_an_extension, r"would run .*train\.so", id="module-cwd-so"),
    pytest.param(
        _script_beside_a_fake_hypertuner,
        r"holds 'hypertuner\.py', which would replace the module 'hypertuner'",
        id="script-folder-shadows-hypertuner",
    ),
    pytest.param(
        _script_beside_a_stdlib_package, "holds 'json', which would replace", id="shadows-json"
    ),
    pytest.param(
        _module_cwd_beside_bytecode_of_stdlib,
        r"holds 'os\.pyc', which would replace",
        id="module-cwd-shadows-os",
    ),
    pytest.param(_script_writable_by_group, "may be changed by others", id="script-writable"),
    pytest.param(
        _script_folder_writable_by_others, "may be changed by others", id="script-folder-writable"
    ),
    pytest.param(_sh_module, "interpreter '/bin/sh' .* is not a Python", id="sh-with-module-c"),
    pytest.param(_env_sh, r"script '/bin/sh' is not a \.py file", id="env-running-sh"),
    pytest.param(_python_module_c, "module '-c' is not a dotted module name", id="module-c"),
    pytest.param(_not_py_script, r"train\.sh' is not a \.py file", id="script-not-py"),
    pytest.param(_smuggled_c, "argument '-c' is not accepted", id="argv-smuggles-c"),
    pytest.param(_smuggled_m, "argument '-m' is not accepted", id="argv-smuggles-m"),
    pytest.param(_interpreter_option, "argument '-X' is not accepted", id="argv-option"),
    pytest.param(_module_of_another_file, "module 'pwn' is not the module", id="other-module"),
    pytest.param(_script_in_storage, "inside the storage folder", id="script-in-storage"),
    pytest.param(_module_from_storage, "inside the storage folder", id="cwd-in-storage"),
    pytest.param(_python_in_storage, "inside the storage folder", id="python-in-storage"),
    pytest.param(_python_writable_by_all, "may be changed by others", id="python-writable"),
    pytest.param(_relative_python, "no interpreter path", id="python-not-absolute"),
    pytest.param(_pdb_running_a_shell, "standard library or installed", id="pdb-runs-a-shell"),
    pytest.param(
        _cprofile_running_storage_code, "standard library or installed", id="cprofile-storage"
    ),
    pytest.param(
        _stdlib_module_named_like_a_project_file,
        "module 'pdb' is a module of Python's standard library",
        id="module-pdb-shadowed",
    ),
    pytest.param(
        _installed_module_named_like_a_project_file,
        "module 'pytest' would be imported from the interpreter's installed packages",
        id="module-installed",
    ),
    pytest.param(
        _argument_in_storage, r"evil\.py' names a path inside the storage", id="argument-in-storage"
    ),
    pytest.param(
        _flag_value_in_storage, r"--resume=.* names a path inside the storage", id="flag-in-storage"
    ),
]


@pytest.mark.parametrize(("tampering", "match"), TAMPERED)
def test_tampered_meta_json_launches_nothing(
    server: UIServer,
    storage: Path,
    project: Path,
    recorded: dict[str, Any],
    tampering: Callable[[Path, Path], dict[str, Any]],
    match: str,
) -> None:
    """The page shows why, the command request and any launch request are refused, and the
    injected command never runs."""
    tamper(storage, "src", tampering(project, storage))
    before = listing(storage)
    _, detail = call(server, "GET", "/api/runs/src")
    assert detail["launchable"] is False
    assert re.search(match, detail["launch_reason"]), detail["launch_reason"]
    body = {"config": {"lr": 0.5}, "name": "next"}
    code, data = call(server, "POST", "/api/runs/src/command", body)
    assert code == 409, data
    assert "cannot be launched from the page" in data["error"]
    forged = {**body, "command": ["/bin/sh", "-c", f"id > {PWNED}"], "cwd": str(project)}
    code, data = call(server, "POST", "/api/runs/src/launch", forged)
    assert code == 409, data
    assert not server.launcher.launches
    assert listing(storage) == before
    assert pwned(project) == []


def test_honest_record_shows_the_exact_command_and_launches_it(
    server: UIServer, storage: Path, project: Path, recorded: dict[str, Any]
) -> None:
    config_path = storage / ".hypertuner" / "configs" / "next.json"
    code, shown = call(
        server, "POST", "/api/runs/src/command", {"config": {"lr": 0.5}, "name": "next"}
    )
    assert code == 200, shown
    assert shown["command"] == [
        sys.executable,
        str(project / "train.py"),
        f"--config={config_path}",
        "--name=next",
        f"--storage={storage}",
    ]
    assert shown["cwd"] == str(project)
    assert not (storage / ".hypertuner").exists()  # showing starts and writes nothing
    code, data = launch(server, "src", {"lr": 0.5}, "next")
    assert code == 200, data
    assert data["command"] == shown["command"]
    assert wait_for_status(server, "next")["status"] == "finished"


@pytest.mark.parametrize(
    ("change", "status", "match"),
    [
        pytest.param({"command": None}, 400, "must carry the exact command", id="no-command"),
        pytest.param({"cwd": None}, 400, "must carry the exact command", id="no-cwd"),
        pytest.param(
            {"command": ["/bin/sh", "-c", f"id > {PWNED}"]}, 409, "not the one shown", id="forged"
        ),
        pytest.param({"cwd": "/"}, 409, "not the one shown", id="other-cwd"),
        pytest.param({"command": "python train.py"}, 400, "a list of strings", id="not-a-list"),
    ],
)
def test_launch_request_must_carry_the_command_it_will_run(
    server: UIServer,
    storage: Path,
    project: Path,
    recorded: dict[str, Any],
    change: dict[str, Any],
    status: int,
    match: str,
) -> None:
    _, shown = call(
        server, "POST", "/api/runs/src/command", {"config": {"lr": 0.5}, "name": "next"}
    )
    body = {"config": {"lr": 0.5}, "name": "next", "command": shown["command"], "cwd": shown["cwd"]}
    body.update(change)
    code, data = call(server, "POST", "/api/runs/src/launch", {**body})
    assert code == status, data
    assert match in data["error"]
    assert not server.launcher.launches
    assert not (storage / ".hypertuner").exists()
    assert pwned(project) == []


def test_record_changed_after_the_command_was_shown_is_refused(
    server: UIServer, storage: Path, project: Path, recorded: dict[str, Any]
) -> None:
    body: dict[str, Any] = {"config": {"lr": 0.5}, "name": "next"}
    _, shown = call(server, "POST", "/api/runs/src/command", body)
    tamper(storage, "src", {"argv": [recorded["script"], "--evil"]})
    code, data = call(server, "POST", "/api/runs/src/launch", {**body, **shown, "name": "next"})
    assert code == 409, data
    assert "--evil" in data["error"]
    assert "Nothing was started" in data["error"]
    assert not server.launcher.launches


def test_a_run_the_page_launched_is_launched_again_with_a_new_config(
    storage: Path, project: Path
) -> None:
    """Its recorded --config (the page's saved config) and --storage, both in the storage folder,
    are replaced, not refused."""
    script = str(project / "train.py")
    saved = storage / ".hypertuner" / "configs" / "next.json"
    meta = {
        "executable": sys.executable,
        "script": script,
        "cwd": str(project),
        "argv": [script, f"--config={saved}", "--name=next", f"--storage={storage}", "--epochs=3"],
    }
    command = launch_command(meta, config_path=saved.with_name("b.json"), name="b", storage=storage)
    assert command[2:] == [
        "--epochs=3",
        f"--config={saved.with_name('b.json')}",
        "--name=b",
        f"--storage={storage}",
    ]
    meta["argv"] = [script, "--config", str(saved), "--storage", str(storage)]
    assert (
        launch_command(meta, config_path=saved, name="b", storage=storage)[2] == f"--config={saved}"
    )


def test_launch_command_refuses_a_smuggled_c_even_for_python() -> None:
    meta = {"executable": sys.executable, "script": __file__, "argv": [__file__, "-c", "x"]}
    with pytest.raises(LaunchError, match="argument '-c' is not accepted") as info:
        launch_command(meta, config_path="/s/c.json", name="b", storage="/s")
    assert info.value.value == "-c"


def test_no_launch_is_absolute(storage: Path, project: Path, recorded: dict[str, Any]) -> None:
    """With --no-launch nothing starts, whatever the request, and it cannot be switched back on."""
    config_path = storage / ".hypertuner" / "configs" / "next.json"
    command = launch_command(
        {**recorded, "name": "src"}, config_path=config_path, name="next", storage=storage
    )
    with UIServer(storage, port=0, launch=False) as ui:
        ui.start()
        body = {"config": {"lr": 0.5}, "name": "next"}
        for action, extra in (
            ("command", {}),
            ("launch", {"command": command, "cwd": str(project)}),
        ):
            code, data = call(ui, "POST", f"/api/runs/src/{action}", {**body, **extra})
            assert code == 409, data
            assert "--no-launch" in data["error"]
        with pytest.raises(AttributeError):
            ui.launcher.enabled = True  # type: ignore[misc]
        plan = Plan("src", "next", command, str(project), {"lr": 0.5}, config_path)
        with pytest.raises(LaunchError, match="turned off"):
            ui.launcher.start(plan)
        assert not ui.launcher.launches
    assert not (storage / "next").exists()
    assert not (storage / ".hypertuner" / "logs").exists()


# --- links out of the storage folder ------------------------------------------------------------


@pytest.fixture
def outside_run(tmp_path: Path, storage: Path) -> Path:
    """A run made in another storage folder, and a link to it inside ours ('leak')."""
    elsewhere = tmp_path / "elsewhere"
    hypertuner.start_run({"secret": "s3cr3t"}, name="private", storage=elsewhere).finish()
    hypertuner.start_run({"lr": 0.1}, name="mine", storage=storage).finish()
    (storage / "leak").symlink_to(elsewhere / "private", target_is_directory=True)
    return elsewhere / "private"


def test_run_folder_linked_outside_storage_is_neither_listed_nor_served(
    server: UIServer, outside_run: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, data = call(server, "GET", "/api/runs")
    assert code == 200
    assert [r["name"] for r in data["runs"]] == ["mine"]
    for path in ("/api/runs/leak", "/api/compare?run=mine&run=leak"):
        code, data = call(server, "GET", path)
        assert code == 403, data
        assert "leads outside the storage folder" in data["error"]
        assert "s3cr3t" not in json.dumps(data)
    assert "run folder" in capfd.readouterr().err  # said once on the terminal


def test_compare_skips_run_folder_linked_outside_storage_with_a_warning(
    storage: Path, outside_run: Path
) -> None:
    with pytest.warns(HypertunerWarning, match=r"links leading outside the storage folder: 'leak'"):
        rows = compare.runs_table(storage)
    assert [r["name"] for r in rows] == ["mine"]
    for read in (
        lambda: compare.read_run("leak", storage),
        lambda: compare.diff_configs(["mine", "leak"], storage),
        lambda: compare.runs_table(storage, names=["leak"]),
    ):
        with pytest.raises(OutsideStorageError, match="Run folder 'leak'") as info:
            read()
        assert info.value.target == str(outside_run.resolve())


def test_run_file_that_is_a_link_is_not_read(
    server: UIServer, storage: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "credentials.json"
    secret.write_text(json.dumps({"token": "s3cr3t"}))
    hypertuner.start_run({"lr": 0.1}, name="mine", storage=storage).finish()
    (storage / "mine" / "config.json").unlink()
    (storage / "mine" / "config.json").symlink_to(secret)
    code, data = call(server, "GET", "/api/runs/mine")
    assert code == 200
    assert "s3cr3t" not in json.dumps(data)
    assert "config.json" not in data["files"]


@pytest.mark.timeout(60)
def test_fifos_in_the_storage_folder_never_hold_the_page(server: UIServer, storage: Path) -> None:
    """A FIFO as meta.json, summary.json or a saved config is unreadable, said at once: each
    read used to wait for a writer forever, holding a server thread."""
    for name in ("meta", "summary", "fine"):
        with hypertuner.start_run({"lr": 0.1}, name=name, storage=storage):
            hypertuner.log({"loss": 0.5}, step=0)
    for run, name in (("meta", "meta.json"), ("summary", "summary.json")):
        (storage / run / name).unlink()
        os.mkfifo(storage / run / name)
    configs = storage / ".hypertuner" / "configs"
    configs.mkdir(parents=True)
    os.mkfifo(configs / "leak.json")
    code, data = call(server, "GET", "/api/runs")
    assert code == 200, data
    assert sorted(r["name"] for r in data["runs"]) == ["fine", "meta", "summary"]
    for path in ("/api/runs/meta", "/api/runs/summary", "/api/compare?run=meta&run=summary"):
        code, data = call(server, "GET", path)
        assert code == 200, (path, data)
    body = {"config": {"lr": 0.5}, "name": "next"}
    code, data = call(server, "POST", "/api/runs/meta/command", body)
    assert code == 409, data
    assert "Not a regular file" in data["error"]
    code, data = call(server, "GET", "/api/configs/leak.json")
    assert code == 403, data
    assert data["error"] == "Saved config 'leak.json' cannot be read (Not a regular file)."


def test_a_tampered_summary_leaves_the_runs_table_and_compare_answering(
    server: UIServer, storage: Path
) -> None:
    for name in ("tampered", "fine"):
        with hypertuner.start_run({"lr": 0.1}, name=name, storage=storage):
            hypertuner.log({"loss": 0.5, "acc": 0.9}, step=0)
    metrics = {
        "loss": {"last": "abc", "min": 1, "max": 2, "step": 1, "count": 1},
        "acc": {"last": 0.9, "min": 0.9, "max": 0.9, "step": 0, "count": 1},
    }
    (storage / "tampered" / "summary.json").write_text(json.dumps({"metrics": metrics}))
    code, data = call(server, "GET", "/api/runs")
    assert code == 200, data
    (row,) = [r for r in data["runs"] if r["name"] == "tampered"]
    assert sorted(row["metrics"]) == ["acc"]  # the bad entry is left out, the rest is read
    for path in ("/api/runs/tampered", "/api/compare?run=tampered&run=fine&metric=loss"):
        code, data = call(server, "GET", path)
        assert code == 200, (path, data)


@pytest.mark.parametrize(
    "target",
    [pytest.param("/etc/passwd", id="etc-passwd"), pytest.param("secret", id="user-file")],
)
def test_saved_config_linked_outside_storage_is_not_downloadable(
    server: UIServer, storage: Path, tmp_path: Path, target: str
) -> None:
    if target == "secret":
        target = str(tmp_path / "secret.json")
        Path(target).write_text('{"token": "s3cr3t"}')
    configs = storage / ".hypertuner" / "configs"
    configs.mkdir(parents=True)
    (configs / "leak.json").symlink_to(target)
    code, data = call(server, "GET", "/api/configs/leak.json")
    assert code == 403, data
    assert "leads outside the storage folder" in data["error"]
    assert "root:" not in json.dumps(data)
    assert "s3cr3t" not in json.dumps(data)


def test_configs_folder_linked_outside_storage_is_neither_read_nor_written(
    server: UIServer, storage: Path, tmp_path: Path
) -> None:
    hypertuner.start_run({"lr": 0.1}, name="mine", storage=storage).finish()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.json").write_text('{"token": "s3cr3t"}')
    (storage / ".hypertuner").mkdir()
    (storage / ".hypertuner" / "configs").symlink_to(elsewhere, target_is_directory=True)
    code, data = call(server, "GET", "/api/configs/x.json")
    assert code == 403, data
    code, data = call(
        server, "POST", "/api/runs/mine/save", {"config": {"lr": 0.2}, "filename": "y"}
    )
    assert code == 403, data
    assert "Folder '.hypertuner/configs' " in data["error"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["x.json"]


def test_launch_log_that_is_a_link_is_replaced_not_followed(
    server: UIServer, storage: Path, project: Path, recorded: dict[str, Any]
) -> None:
    victim = project / "precious.txt"
    victim.write_text("precious")
    logs = storage / ".hypertuner" / "logs"
    logs.mkdir(parents=True)
    (logs / "next.log").symlink_to(victim)
    code, data = launch(server, "src", {"lr": 0.5}, "next")
    assert code == 200, data
    assert wait_for_status(server, "next")["status"] == "finished"
    assert victim.read_text() == "precious"
    assert not (logs / "next.log").is_symlink()
    assert stat.S_ISREG(os.lstat(logs / "next.log").st_mode)


# --- hostile request bodies and connections -----------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param(b"[" * 100_000, "deeper than 64 levels", id="nested-100000"),
        pytest.param(
            b'{"config": {"lr": ' + b"[" * 500 + b"]" * 500 + b'}, "filename": "f"}',
            "deeper than 64 levels",
            id="nested-500",
        ),
        pytest.param(b'{"config": {"lr": NaN}, "filename": "f"}', "NaN", id="nan"),
        pytest.param(b'{"config": {"lr": -Infinity}, "filename": "f"}', "-Infinity", id="inf"),
        pytest.param(b'{"config": {"lr": 1e999}, "filename": "f"}', "'1e999'", id="1e999"),
        pytest.param(
            b'{"config": {"lr": 0.1, "act": "\\ud800"}, "filename": "f"}',
            "lone surrogate",
            id="lone-surrogate",
        ),
        pytest.param(
            b'{"config": {"\\udfff": 1}, "filename": "f"}', "lone surrogate", id="surrogate-key"
        ),
        pytest.param(b'{"config": {"lr": 1' + b"0" * 5000 + b"}}", "not valid JSON", id="digits"),
        pytest.param(b'{"config": \xff}', "not valid JSON", id="not-utf8"),
    ],
)
def test_hostile_body_is_a_quick_400_naming_the_problem(
    server: UIServer, storage: Path, body: bytes, match: str, capfd: pytest.CaptureFixture[str]
) -> None:
    hypertuner.start_run({"lr": 0.1, "act": "relu"}, name="mine", storage=storage).finish()
    before = listing(storage)
    code, data = call(server, "POST", "/api/runs/mine/save", body)
    assert code == 400, data
    assert match in data["error"]
    assert listing(storage) == before
    assert "Traceback" not in capfd.readouterr().err


def _slow_client(ui: UIServer) -> socket.socket:
    """A client that promises a 100-byte body and sends 10."""
    slow = socket.create_connection(("127.0.0.1", ui.port), timeout=10)
    slow.sendall(
        f"POST /api/runs/mine/save HTTP/1.1\r\nHost: 127.0.0.1:{ui.port}\r\n"
        f"X-Hypertuner-Token: {ui.token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n".encode()
        + b'{"config":'
    )
    return slow


@pytest.mark.timeout(20)
def test_a_client_gone_before_its_error_answer_leaves_no_traceback(
    server: UIServer, storage: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """It promises a 100-byte body, sends one byte and closes: the 400 meets a closed socket."""
    hypertuner.start_run({"lr": 0.1}, name="mine", storage=storage).finish()
    for _ in range(5):
        _slow_client(server).close()
    time.sleep(0.5)
    code, _ = call(server, "GET", "/api/runs")
    assert code == 200
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.timeout(20)
def test_slow_loris_does_not_hold_the_server(storage: Path) -> None:
    hypertuner.start_run({"lr": 0.1}, name="mine", storage=storage).finish()
    with UIServer(storage, port=0, timeout=1.0) as ui:
        ui.start()
        slow = [_slow_client(ui) for _ in range(3)]
        started = time.monotonic()
        code, _ = call(ui, "GET", "/api/runs")
        assert code == 200
        assert time.monotonic() - started < 1.0  # served while the slow ones wait
        for client in slow:
            answer = b""
            while chunk := client.recv(4096):  # until the server closes the connection
                answer += chunk
            client.close()
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b"did not arrive within 1 s (10 of 100 bytes)" in answer
        assert time.monotonic() - started < 5.0


@pytest.mark.timeout(20)
def test_connections_beyond_the_cap_get_503_at_once(storage: Path) -> None:
    with UIServer(storage, port=0, timeout=5.0, max_connections=2) as ui:
        ui.start()
        idle = [socket.create_connection(("127.0.0.1", ui.port), timeout=5) for _ in range(2)]
        time.sleep(0.2)
        started = time.monotonic()
        code, data = call(ui, "GET", "/api/runs")
        assert code == 503
        assert "busy" in data["error"]
        assert time.monotonic() - started < 1.0
        for client in idle:
            client.close()
        deadline = time.monotonic() + 5
        while (code := call(ui, "GET", "/api/runs")[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert code == 200


def _nested(levels: int) -> str:
    text = "1"
    for _ in range(levels):
        text = '{"a": ' + text + "}"
    return text


@pytest.mark.parametrize("file", ["config.json", "meta.json"])
def test_a_deeply_nested_run_file_is_not_launchable_never_a_500(
    server: UIServer, storage: Path, file: str
) -> None:
    hypertuner.start_run({"lr": 0.1}, name="deep", storage=storage).finish()
    (storage / "deep" / file).write_text(_nested(600))  # json.loads accepts it
    code, data = call(server, "GET", "/api/runs/deep")
    assert code == 200, data
    assert data["launchable"] is False
    code, data = call(server, "GET", "/api/runs")
    assert code == 200, data
    code, data = call(server, "POST", "/api/runs/deep/command", {"config": {}, "name": "n"})
    assert code in (400, 409), data


def test_saving_a_config_under_an_existing_name_is_refused_unless_overwrite(
    server: UIServer, storage: Path, recorded: dict[str, Any]
) -> None:
    body = {"config": {"lr": 0.5}, "filename": "mine"}
    assert call(server, "POST", "/api/runs/src/save", body)[0] == 200
    saved = storage / ".hypertuner" / "configs" / "mine.json"
    code, data = call(server, "POST", "/api/runs/src/save", {**body, "config": {"lr": 0.9}})
    assert code == 409, data
    assert "exists already" in data["error"]
    assert json.loads(saved.read_text()) == {"lr": 0.5}
    code, data = call(server, "POST", "/api/runs/src/save", {**body, "overwrite": "true"})
    assert code == 400, data  # not read as false: said to be wrong
    assert data["error"] == "'overwrite' must be true or false."
    code, data = call(server, "POST", "/api/runs/src/save", {**body, "overwrite": True})
    assert code == 200, data


def test_launching_a_run_named_like_a_saved_config_does_not_replace_it(
    server: UIServer, storage: Path, recorded: dict[str, Any]
) -> None:
    assert call(server, "POST", "/api/runs/src/save", {"config": {"lr": 0.5}, "filename": "n"})[0]
    saved = storage / ".hypertuner" / "configs" / "n.json"
    code, data = call(server, "POST", "/api/runs/src/command", {"config": {"lr": 0.9}, "name": "n"})
    assert code == 409, data
    assert "exists already" in data["error"]
    assert json.loads(saved.read_text()) == {"lr": 0.5}
    assert not server.launcher.launches
