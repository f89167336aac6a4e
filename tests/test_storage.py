"""Runs mirrored to remote storage: real S3 (moto) and GCS (gcp-storage-emulator) servers, pull
and push, bad URLs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import cfgfile as cfgfile_module
from hypertuner import cli
from hypertuner.errors import (
    ConfigError,
    MissingDependencyError,
    OutsideStorageError,
    RemoteStorageError,
    RunInUseError,
    RunNameError,
    RunNotFoundError,
)
from hypertuner.storage import mirror_run, pull, push
from tests.conftest import write

fsspec = pytest.importorskip("fsspec")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cfgfile"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def _no_loaded_hparams() -> Iterator[None]:
    cfgfile_module._instances.clear()
    yield
    cfgfile_module._instances.clear()


# ---------------------------------------------------------------------------------------------
# The S3 server: moto in server mode on 127.0.0.1, started by the tests themselves


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """``moto_server`` on 127.0.0.1:``port``, stopped and restarted on the same port at will."""

    def __init__(self, log: Path) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        pytest.importorskip("moto.server", reason="the S3 tests need moto[server]")
        executable = Path(sys.executable).with_name("moto_server")
        command = (
            [str(executable)] if executable.exists() else [sys.executable, "-m", "moto.server"]
        )
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*command, "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    pytest.fail(f"moto_server exited: {self.log.read_text()[-2000:]}")
                time.sleep(0.1)
        else:
            pytest.fail("moto_server did not answer within 30 s")
        self.filesystem().mkdir("bucket")  # moto keeps its data in memory: a restart starts empty

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def options(self) -> dict[str, Any]:
        """s3fs options: this endpoint, test credentials, one attempt per request."""
        return {
            "endpoint_url": self.endpoint,
            "key": "testing",
            "secret": "testing",
            "config_kwargs": {
                "retries": {"max_attempts": 1},
                "connect_timeout": 2,
                "read_timeout": 10,
            },
        }

    def filesystem(self) -> Any:
        s3fs = pytest.importorskip("s3fs")
        return s3fs.S3FileSystem(skip_instance_cache=True, **self.options())

    def env(self) -> dict[str, str]:
        """The environment a script needs to reach this server (fsspec reads FSSPEC_S3_*)."""
        return {
            **os.environ,
            **CREDENTIALS,
            "FSSPEC_S3_ENDPOINT_URL": self.endpoint,
            "PYTHONPATH": str(ROOT),
        }


def _server(tmp: Path) -> Iterator[MotoServer]:
    pytest.importorskip("s3fs", reason="the S3 tests need s3fs (hypertuner[s3])")
    server = MotoServer(tmp / "moto.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One server shared by the module's tests that never stop it."""
    yield from _server(tmp_path_factory.mktemp("moto"))


@pytest.fixture
def s3(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """Point this process's s3:// URLs at the shared server."""
    monkeypatch.setitem(fsspec.config.conf, "s3", moto.options())
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return moto


def wait_for(condition: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------------
# Against the S3 server


@pytest.mark.slow
def test_example_run_arrives_in_s3_and_pull_restores_it(
    s3: MotoServer, storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch", reason="the example trains a torch model")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--backup", "s3://bucket/runs"],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env=s3.env(),
    )
    assert done.returncode == 0, done.stderr
    fs = s3.filesystem()
    remote = {p.rsplit("/cfg-baseline/", 1)[1] for p in fs.find("bucket/runs/cfg-baseline")}
    assert {"config.json", "meta.json", "hparams.cfg", "model.pt"} <= remote
    assert any(name.startswith("events.out.tfevents.") for name in remote)
    assert json.loads(fs.cat("bucket/runs/cfg-baseline/meta.json"))["status"] == "finished"

    local = storage / "cfg-baseline"
    original = {
        p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()
    }
    original.pop(".lock")
    for path in sorted(local.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    local.rmdir()
    capsys.readouterr()
    assert cli.main(["pull", "s3://bucket/runs/cfg-baseline"]) == 0
    assert "Pulled run 'cfg-baseline'" in capsys.readouterr().out
    restored = {
        p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()
    }
    assert restored == original
    assert hypertuner.load(local / "model.pt")["step"] == 32

    assert cli.main(["pull", "s3://bucket/runs/cfg-baseline"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "exists already" in err
    assert "--force" in err


@pytest.mark.slow
def test_parse_run_backup_mirrors_files_written_later(s3: MotoServer, storage: Path) -> None:
    args = hypertuner.parse(["+lr=0.1", "--name=parsed", "run.backup=s3://bucket/parsed"])
    assert args.lr == 0.1
    run = hypertuner.current_run()
    extra = run.directory / "notes" / "extra.txt"
    extra.parent.mkdir()
    extra.write_text("written by the test")
    run.wrote(extra)
    assert mirror_run(run, "s3://bucket/parsed").wait(60)
    fs = s3.filesystem()
    assert fs.cat("bucket/parsed/parsed/notes/extra.txt") == b"written by the test"
    assert json.loads(fs.cat("bucket/parsed/parsed/config.json")) == {"lr": 0.1}
    run.finish()
    assert json.loads(fs.cat("bucket/parsed/parsed/meta.json"))["status"] == "finished"


@pytest.mark.slow
def test_server_outage_is_retried_warned_and_never_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: Path
) -> None:
    """Stop the server mid-run: a warning names the failed files, the run goes on, the copies go
    through once the server is back; down again at the end, the run ends after a bounded wait."""
    for server in _server(tmp_path):
        monkeypatch.setitem(fsspec.config.conf, "s3", server.options())
        run = hypertuner.start_run({"lr": 0.1}, name="outage")
        mirror = mirror_run(run, "s3://bucket/runs", exit_wait=3.0)
        assert mirror is not None
        assert mirror.wait(60)

        server.stop()
        during = run.directory / "during-outage.txt"
        during.write_text("1")
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            run.wrote(during)  # only sets a flag: the copy happens in the background
            assert run.status == "running"
            assert wait_for(lambda: any("during-outage.txt" in str(w.message) for w in seen))
        message = next(str(w.message) for w in seen if "during-outage.txt" in str(w.message))
        assert message.startswith("Backup of run 'outage' to 's3://bucket/runs/outage' failed for")
        assert mirror.failed

        server.start()
        assert mirror.wait(60)
        assert not mirror.failed
        assert server.filesystem().cat("bucket/runs/outage/during-outage.txt") == b"1"

        server.stop()
        late = run.directory / "late.txt"
        late.write_text("2")
        run.wrote(late)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            run.finish()
        assert run.status == "finished"
        final = [str(w.message) for w in seen if "ended but" in str(w.message)]
        assert len(final) == 1
        assert "late.txt" in final[0]
        assert "meta.json" in final[0]
        assert "hypertuner push outage s3://bucket/runs" in final[0]


# ---------------------------------------------------------------------------------------------
# The GCS server: gcp-storage-emulator on 127.0.0.1, its data on disk so a restart keeps it


class GcsEmulator:
    """``gcp-storage-emulator`` on 127.0.0.1:``port`` with the bucket ``bucket``, keeping its
    objects under ``folder`` (a restart finds them again, as GCS would), stopped and restarted
    on the same port at will."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.log = folder / "emulator.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        pytest.importorskip("gcp_storage_emulator", reason="the GCS tests need the emulator")
        executable = Path(sys.executable).with_name("gcp-storage-emulator")
        command = (
            [str(executable)]
            if executable.exists()
            else [sys.executable, "-m", "gcp_storage_emulator"]
        )
        address = ["-H", "127.0.0.1", "--port", str(self.port), "--default-bucket", "bucket"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*command, "start", *address, "-q"],
                stdout=log,
                stderr=log,
                env={**os.environ, "STORAGE_BASE": str(self.folder)},
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/storage/v1/b/bucket", timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    pytest.fail(f"the GCS emulator exited: {self.log.read_text()[-2000:]}")
                time.sleep(0.1)
        self.stop()
        pytest.fail("the GCS emulator did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def options(self) -> dict[str, Any]:
        """gcsfs options: this endpoint, anonymous (no Google credentials looked up)."""
        return {"endpoint_url": self.endpoint, "token": "anon"}

    def filesystem(self) -> Any:
        gcsfs = pytest.importorskip("gcsfs.core")
        return gcsfs.GCSFileSystem(skip_instance_cache=True, **self.options())


@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsEmulator]:
    """A GCS emulator of this test's own, and this process's gs:// URLs pointed at it."""
    core = pytest.importorskip("gcsfs.core", reason="the GCS tests need gcsfs (hypertuner[gcs])")
    # gcsfs's default class asks GCS's gRPC storage-control API for each bucket's layout, which
    # the emulator does not serve (each call would wait a minute): use the plain HTTP class.
    registry = sys.modules["fsspec.registry"]._registry
    for protocol in ("gs", "gcs"):
        monkeypatch.setitem(registry, protocol, core.GCSFileSystem)
    folder = tmp_path / "gcs"
    folder.mkdir()
    server = GcsEmulator(folder)
    monkeypatch.setitem(fsspec.config.conf, "gs", server.options())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_hparams_gcs_backup_survives_a_server_restart_and_pull_brings_the_run_back(
    gcs: GcsEmulator, storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """backup='gs://bucket/runs' through gcsfs: the run arrives; with the server stopped
    mid-run a warning names the file and the run goes on; restarted, the copy goes through; the
    run ends mirrored, and 'hypertuner pull gs://...' brings it back whole."""
    write("hparams.cfg", "[run]\nname = gcs-run\nnb_gpus = 2\n[model]\nlayers = 4\n")
    hparams = hypertuner.HParams(".", name="gcs", backup="gs://bucket/runs")
    assert (hparams.model.layers, hparams.run.nb_gpus) == (4, 2)
    run = hypertuner.current_run()
    mirror = mirror_run(run, "gs://bucket/runs")  # the one HParams started
    assert mirror is not None
    assert mirror.wait(60)
    fs = gcs.filesystem()
    remote = {p.rsplit("/gcs-run/", 1)[1] for p in fs.find("bucket/runs/gcs-run")}
    assert remote == {"config.json", "hparams.cfg", "meta.json"}

    gcs.stop()
    during = run.directory / "during-outage.txt"
    during.write_text("1")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run.wrote(during)
        assert run.status == "running"
        assert wait_for(lambda: any("during-outage.txt" in str(w.message) for w in seen), 120)
    message = next(str(w.message) for w in seen if "during-outage.txt" in str(w.message))
    assert message.startswith("Backup of run 'gcs-run' to 'gs://bucket/runs/gcs-run' failed for")
    assert mirror.failed

    gcs.start()
    assert mirror.wait(120)
    assert not mirror.failed
    assert fs.cat("bucket/runs/gcs-run/during-outage.txt") == b"1"
    hparams.to_dict()  # every key read: no unread-keys warning at the end
    run.finish()
    assert json.loads(fs.cat("bucket/runs/gcs-run/meta.json"))["status"] == "finished"

    local = storage / "gcs-run"
    original = {
        p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()
    }
    original.pop(".lock")
    for path in sorted(local.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    local.rmdir()
    capsys.readouterr()
    assert cli.main(["pull", "gs://bucket/runs/gcs-run"]) == 0
    assert "Pulled run 'gcs-run'" in capsys.readouterr().out
    restored = {
        p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()
    }
    assert restored == original


@pytest.mark.slow
def test_hparams_gcs_backup_keywords_mirror_the_run_to_the_bucket(
    gcs: GcsEmulator, storage: Path
) -> None:
    """hparams' gcs_backup_project=/gcs_backup_bucket= (no gs:// needed) reach the same place
    as backup='gs://...'; the project goes to gcsfs."""
    write("hparams.cfg", "[run]\nname = kw-run\n[model]\nlayers = 4\n")
    hparams = hypertuner.HParams(
        ".", name="kw", gcs_backup_project="test-project", gcs_backup_bucket="bucket/hparams"
    )
    mirror = mirror_run(hypertuner.current_run(), "gs://bucket/hparams")
    assert mirror is not None
    assert mirror.copier.fs.project == "test-project"
    hparams.to_dict()
    hypertuner.current_run().finish()
    fs = gcs.filesystem()
    assert json.loads(fs.cat("bucket/hparams/kw-run/config.json")) == {"model": {"layers": 4}}
    assert json.loads(fs.cat("bucket/hparams/kw-run/meta.json"))["status"] == "finished"


# ---------------------------------------------------------------------------------------------
# Without a server: file:// and memory:// URLs, push, pull's bad input


def test_hparams_backup_to_a_local_folder_url(tmp_path: Path, storage: Path) -> None:
    write("hparams.cfg", "[run]\nname = local-copy\n[model]\nlayers = 3\n")
    target = tmp_path / "backups"
    hparams = HParams_with_backup(f"file://{target}")
    assert hparams.model.layers == 3
    hypertuner.current_run().finish()
    copied = sorted(p.name for p in (target / "local-copy").iterdir())
    assert copied == ["config.json", "hparams.cfg", "meta.json"]


def test_run_backup_in_the_cfg_file_mirrors_the_run(tmp_path: Path, storage: Path) -> None:
    target = tmp_path / "from-file"
    write("hparams.cfg", f"[run]\nname = from-file\nbackup = file://{target}\n[m]\nx = 1\n")
    assert hypertuner.HParams(".", name="from-file").m.x == 1
    hypertuner.current_run().finish()
    assert json.loads((target / "from-file" / "config.json").read_text()) == {"m": {"x": 1}}


def HParams_with_backup(url: str) -> hypertuner.HParams:
    return hypertuner.HParams(".", name="backed-up", backup=url)


def test_push_copies_a_local_run_and_pull_brings_it_back(
    storage: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hypertuner.start_run({"lr": 0.1}, name="pushed").finish()
    assert cli.main(["push", "pushed", "memory://push-tests/runs"]) == 0
    assert "Pushed run 'pushed' (2 files)" in capsys.readouterr().out
    elsewhere = tmp_path / "elsewhere"
    target = pull("memory://push-tests/runs/pushed", elsewhere)
    assert target == elsewhere / "pushed"
    assert json.loads((target / "config.json").read_text()) == {"lr": 0.1}
    assert push("pushed", "memory://push-tests/runs") == 2


def _remote(files: dict[str, bytes]) -> None:
    fs = fsspec.filesystem("memory")
    for path, data in files.items():
        fs.pipe(path, data)


PULL_ERRORS = [
    pytest.param(
        "memory://pull-tests/runs/bsae",
        RunNotFoundError,
        "No run at .* Did you mean 'base'",
        id="missing-run",
    ),
    pytest.param(
        "memory://pull-tests/runs/.hidden",
        RunNameError,
        "does not end in a run name",
        id="bad-name",
    ),
    pytest.param(
        "memory://pull-tests/runs/loose", RunNotFoundError, "no config.json", id="not-a-run"
    ),
    pytest.param(
        "memory://pull-tests/runs/evil",
        RemoteStorageError,
        "would leave the run folder",
        id="dot-dot",
    ),
    pytest.param(
        "memory://pull-tests/runs/evil2",
        RemoteStorageError,
        "would leave the run folder",
        id="backslash",
    ),
    pytest.param(
        "memory://pull-tests/runs/base", RunInUseError, "exists already", id="exists-locally"
    ),
    pytest.param("nope://bucket/runs/base", ConfigError, "scheme 'nope://'", id="unknown-scheme"),
]


@pytest.mark.parametrize(("url", "error", "match"), PULL_ERRORS)
def test_pull_refuses_bad_input_and_writes_nothing(
    url: str, error: type[Exception], match: str, storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _remote(
        {
            "/pull-tests/runs/base/config.json": b"{}",
            "/pull-tests/runs/loose/notes.txt": b"x",
            "/pull-tests/runs/evil/config.json": b"{}",
            "/pull-tests/runs/evil/../../escape.txt": b"x",
            "/pull-tests/runs/evil2/config.json": b"{}",
            "/pull-tests/runs/evil2/..\\escape.txt": b"x",
        }
    )
    if "exists" in match:
        (storage / "base").mkdir(parents=True)
    before = sorted(storage.rglob("*")) if storage.exists() else []
    with pytest.raises(error, match=match):
        pull(url)
    after = sorted(storage.rglob("*")) if storage.exists() else []
    assert [p for p in after if p not in before and ".hypertuner" not in p.parts] == []
    assert not (storage.parent / "escape.txt").exists()
    assert cli.main(["pull", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hypertuner: error: ")
    assert err.count("\n") == 1


def _run_folder_link(storage: Path, outside: Path) -> None:
    (outside / "config.json").write_text('{"mine": 1}')
    (storage / "base").symlink_to(outside, target_is_directory=True)


def _dangling_run_folder_link(storage: Path, outside: Path) -> None:
    (storage / "base").symlink_to(outside / "missing", target_is_directory=True)


def _subfolder_link(storage: Path, outside: Path) -> None:
    (storage / "base").mkdir()
    (storage / "base" / "config.json").write_text("{}")
    (storage / "base" / "checkpoints").symlink_to(outside, target_is_directory=True)


def _staging_link(storage: Path, outside: Path) -> None:
    (storage / ".hypertuner").symlink_to(outside, target_is_directory=True)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        pytest.param(_run_folder_link, "Run folder 'base' .* is a link", id="run-folder"),
        pytest.param(_dangling_run_folder_link, "Run folder 'base' .* is a link", id="dangling"),
        pytest.param(_subfolder_link, "Folder 'base/checkpoints' .* is a link", id="subfolder"),
        pytest.param(_staging_link, "Folder '.hypertuner' .* is a link", id="staging-folder"),
    ],
)
def test_pull_never_writes_through_a_link_in_the_storage_folder(
    setup: Callable[[Path, Path], None],
    match: str,
    storage: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _remote(
        {
            "/link-tests/runs/base/config.json": b'{"lr": 0.1}',
            "/link-tests/runs/base/checkpoints/step-1.pt": b"weights",
        }
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    storage.mkdir()
    setup(storage, outside)
    before = {p: p.read_bytes() for p in outside.rglob("*")}
    with pytest.raises(OutsideStorageError, match=match):
        pull("memory://link-tests/runs/base", force=True)
    assert cli.main(["pull", "memory://link-tests/runs/base", "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hypertuner: error: ")
    assert err.count("\n") == 1
    assert "never writes through links" in err
    assert {p: p.read_bytes() for p in outside.rglob("*")} == before


def _remote_file_link(remote: Path, outside: Path) -> None:
    (remote / "notes.txt").symlink_to(outside / "secret.txt")


def _remote_folder_link(remote: Path, outside: Path) -> None:
    (remote / "checkpoints").symlink_to(outside, target_is_directory=True)


def _remote_fifo(remote: Path, outside: Path) -> None:
    os.mkfifo(remote / "events.out")


def _remote_device(remote: Path, outside: Path) -> None:
    (remote / "model.pt").symlink_to("/dev/zero")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and links")
@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(_remote_file_link, id="file-link"),
        pytest.param(_remote_folder_link, id="folder-link"),
        pytest.param(_remote_fifo, id="fifo"),
        pytest.param(_remote_device, id="dev-zero"),
    ],
)
def test_pull_refuses_a_remote_link_or_special_file_and_keeps_nothing(
    setup: Callable[[Path, Path], None],
    storage: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    remote = tmp_path / "backups" / "r1"
    remote.mkdir(parents=True)
    (remote / "config.json").write_text('{"lr": 0.1}')
    setup(remote, outside)
    url = f"file://{tmp_path / 'backups' / 'r1'}"
    with pytest.raises(RemoteStorageError, match="link or not a regular file") as info:
        pull(url, storage)
    assert info.value.file is not None
    assert cli.main(["pull", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hypertuner: error: ")
    assert err.count("\n") == 1
    assert not (storage / "r1").exists()
    assert list((storage / ".hypertuner").glob("pull-*")) == []


def test_pull_stops_a_remote_file_longer_than_listed_and_keeps_nothing(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hypertuner import storage as storage_module

    _remote({"/grow-tests/runs/g/config.json": b"{}", "/grow-tests/runs/g/big.bin": b"x" * 100})
    listed = storage_module._remote_files

    def shrunk(fs: Any, remote: str, url: str) -> dict[str, tuple[str, int | None]]:
        return {rel: (path, 10) for rel, (path, _) in listed(fs, remote, url).items()}

    monkeypatch.setattr(storage_module, "_remote_files", shrunk)
    with pytest.raises(RemoteStorageError, match="more than the 10 bytes"):
        pull("memory://grow-tests/runs/g", storage)
    assert not (storage / "g").exists()
    assert list((storage / ".hypertuner").glob("pull-*")) == []


@pytest.mark.parametrize(
    ("url", "error", "match"),
    [
        pytest.param(
            "gs://bucket/runs", MissingDependencyError, r"needs gcsfs.*'hypertuner\[gcs\]'", id="gs"
        ),
        pytest.param(
            "nope://bucket/runs", ConfigError, r"scheme 'nope://'.*'hypertuner\[s3\]'", id="unknown"
        ),
    ],
)
def test_parse_refuses_a_backup_url_no_installed_filesystem_serves(
    url: str, error: type[Exception], match: str, storage: Path
) -> None:
    if url.startswith("gs:"):
        try:
            import gcsfs  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("gcsfs is installed here, so gs:// works")
    with pytest.raises(error, match=match):
        hypertuner.parse(["--name=x", f"run.backup={url}"])
    assert not storage.exists()
