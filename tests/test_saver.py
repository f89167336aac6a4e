"""Saving models beside their config: Saver, load, top-k checkpoints, crash safety."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import hypertuner  # noqa: E402
from hypertuner import _files, _savefile  # noqa: E402
from hypertuner import saver as saver_module  # noqa: E402
from hypertuner.errors import (  # noqa: E402
    CheckpointError,
    CheckpointNotFoundError,
    DiskFullError,
    NoRunError,
    RunNotFoundError,
    UnknownKeyError,
)


def _model(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def _same_weights(a: Any, b: Any) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(f"{_files.TEMP_MARK}*")]


@pytest.fixture
def run(storage: Path) -> hypertuner.Run:
    return hypertuner.start_run({"lr": 0.1, "model": {"width": 8}}, name="exp", storage=storage)


# ---------------------------------------------------------------- saving and loading


def test_save_writes_model_pt_loadable_with_weights_only(run: hypertuner.Run) -> None:
    model = _model()
    path = hypertuner.Saver(model).save()
    assert path == run.directory / "model.pt"
    record = torch.load(path, weights_only=True)
    assert record["format"] == "hypertuner"
    assert record["format_version"] == saver_module.FORMAT_VERSION
    assert record["config"] == {"lr": 0.1, "model": {"width": 8}}
    assert all(torch.equal(record["state_dict"][k], v) for k, v in model.state_dict().items())


def test_saver_without_model_takes_it_at_save(run: hypertuner.Run) -> None:
    saver = hypertuner.Saver()
    saver.save(_model())
    assert (run.directory / "model.pt").is_file()


def test_load_restores_model_and_optimizer_and_returns_record(run: hypertuner.Run) -> None:
    model = _model(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    hypertuner.Saver(model, optimizer).save(metrics={"loss": torch.tensor(0.25)})
    fresh, fresh_optimizer = _model(2), None
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=0.01)
    record = hypertuner.load("exp", fresh, fresh_optimizer)
    assert _same_weights(model, fresh)
    assert fresh_optimizer.state_dict()["state"][0]["step"] == 1
    assert record["metrics"] == {"loss": 0.25}
    assert record["config"]["model"] == {"width": 8}


def test_load_accepts_run_object_run_folder_and_file(run: hypertuner.Run) -> None:
    hypertuner.Saver(_model()).save()
    for target in (run, run.directory, run.directory / "model.pt", str(run.directory)):
        assert hypertuner.load(target)["config"]["lr"] == 0.1


def test_saved_file_gets_normal_permissions(run: hypertuner.Run) -> None:
    path = hypertuner.Saver(_model()).save()
    assert path is not None
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_records_sha256_in_ledger(run: hypertuner.Run) -> None:
    saver = hypertuner.Saver(_model())
    path = saver.save()
    assert path is not None
    saver.wait()
    ledger = json.loads((run.directory / "saves.json").read_text())
    assert ledger["model"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ledger["model"]["size"] == path.stat().st_size


def test_every_write_is_reported_to_the_run(run: hypertuner.Run) -> None:
    seen: list[str] = []
    run.on_write(lambda run, paths: seen.extend(p.name for p in paths))
    hypertuner.Saver(_model()).save(step=1)
    assert {"step-00000001.pt", "saves.json", "model.pt"} <= set(seen)


# ---------------------------------------------------------------- checkpoints, top-k


def _checkpoints(run: hypertuner.Run) -> list[str]:
    return sorted(p.name for p in (run.directory / "checkpoints").iterdir())


def test_numbered_saves_keep_the_latest_k_and_model_pt_is_the_latest(run: hypertuner.Run) -> None:
    saver = hypertuner.Saver(_model(), keep=2)
    for step in range(1, 6):
        saver.save(step=step * 10, epoch=step)
    assert _checkpoints(run) == ["epoch-0004-step-00000040.pt", "epoch-0005-step-00000050.pt"]
    assert hypertuner.load(run)["step"] == 50


@pytest.mark.parametrize(
    ("mode", "best_step"),
    [pytest.param("min", 2, id="min"), pytest.param("max", 4, id="max")],
)
def test_monitor_keeps_the_best_k_plus_the_latest(
    run: hypertuner.Run, mode: str, best_step: int
) -> None:
    saver = hypertuner.Saver(_model(), monitor="val", mode=mode, keep=1)
    for step, value in [(1, 0.5), (2, 0.1), (3, 0.3), (4, 0.9), (5, 0.4)]:
        saver.save(step=step, metrics={"val": value})
    assert _checkpoints(run) == sorted([f"step-{best_step:08d}.pt", "step-00000005.pt"])
    assert hypertuner.load(run)["step"] == best_step


def test_nan_metric_never_counts_as_best(run: hypertuner.Run) -> None:
    saver = hypertuner.Saver(_model(), monitor="val", keep=1)
    saver.save(step=1, metrics={"val": 0.5})
    saver.save(step=2, metrics={"val": float("nan")})
    assert hypertuner.load(run)["step"] == 1


def test_recalled_run_keeps_k_files_and_resumes_from_last_checkpoint(storage: Path) -> None:
    run = hypertuner.start_run({}, name="again", storage=storage)
    model = _model(3)
    saver = hypertuner.Saver(model, keep=2)
    for step in (1, 2, 3):
        saver.save(step=step)
    run.finish()
    run = hypertuner.start_run({}, name="again", storage=storage)
    fresh = _model(4)
    saver = hypertuner.Saver(fresh, keep=2)
    record = saver.resume()
    assert record is not None
    assert record["step"] == 3
    assert _same_weights(model, fresh)
    for step in (4, 5):
        saver.save(step=step)
    assert _checkpoints(run) == ["step-00000004.pt", "step-00000005.pt"]


@pytest.mark.parametrize(
    "metrics", [{"loss": 10**400}, [1, 2], "loss"], ids=["huge-int", "list", "string"]
)
def test_a_ledger_metric_that_is_no_float_counts_as_no_score(storage: Path, metrics: Any) -> None:
    run = hypertuner.start_run({}, name="scored", storage=storage)
    saver = hypertuner.Saver(_model(), monitor="loss", mode="min", keep=2)
    saver.save(step=1, metrics={"loss": 0.5})
    saver.save(step=2, metrics={"loss": 0.4})
    run.finish()
    ledger_path = run.directory / "saves.json"
    ledger = json.loads(ledger_path.read_text())
    ledger["checkpoints"][0]["metrics"] = metrics
    ledger_path.write_text(json.dumps(ledger))
    run = hypertuner.start_run({}, name="scored", storage=storage)
    saver = hypertuner.Saver(_model(), monitor="loss", mode="min", keep=2)
    assert saver.resume() is not None
    saver.save(step=3, metrics={"loss": 0.3})
    ledger = json.loads(ledger_path.read_text())
    assert [e["step"] for e in ledger["checkpoints"]] == [2, 3]
    assert hypertuner.load(run)["step"] == 3


def test_resume_of_a_run_that_saved_nothing_returns_none(run: hypertuner.Run) -> None:
    assert hypertuner.Saver(_model()).resume() is None


def test_orphan_checkpoint_and_stale_temporary_are_cleaned_at_next_save(
    run: hypertuner.Run,
) -> None:
    folder = run.directory / "checkpoints"
    folder.mkdir()
    orphan = folder / "step-00000099.pt"
    orphan.write_bytes(b"left by a killed save")
    stale = folder / f"{_files.TEMP_MARK}step-00000100.pt.999999999.1"
    stale.write_bytes(b"partial")
    mine = folder / "notes.txt"
    mine.write_text("the user's own file")
    hypertuner.Saver(_model()).save(step=1)
    assert not orphan.exists()
    assert not stale.exists()
    assert mine.read_text() == "the user's own file"


# ---------------------------------------------------------------- background saving


def test_background_save_is_on_disk_after_close(run: hypertuner.Run) -> None:
    model = _model(5)
    saver = hypertuner.Saver(model, background=True)
    for step in range(1, 4):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        saver.save(step=step)
    saver.close()
    assert hypertuner.load(run)["step"] == 3
    loaded = _model(6)
    hypertuner.load(run, loaded)
    assert _same_weights(model, loaded)


@pytest.mark.parametrize(
    ("mode", "best_value"), [pytest.param("min", 0.1, id="min"), pytest.param("max", 0.9, id="max")]
)
def test_background_saves_that_queue_up_never_drop_the_best(
    run: hypertuner.Run, mode: str, best_value: float
) -> None:
    """Saves faster than the disk: the newest replaces a queued one, unless that one is the best
    so far by the monitor, which is then written first."""
    model = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.Linear(512, 512))
    saver = hypertuner.Saver(model, monitor="val", mode=mode, keep=1, background=True)
    values = [0.5, 0.1, 0.3, 0.9, 0.4, 0.45, 0.35]
    for step, value in enumerate(values, 1):
        saver.save(step=step, metrics={"val": value})
    saver.close()
    assert hypertuner.load(run)["metrics"]["val"] == best_value
    best_step = values.index(best_value) + 1
    assert f"step-{best_step:08d}.pt" in _checkpoints(run)
    assert f"step-{len(values):08d}.pt" in _checkpoints(run)  # and the latest


def test_background_save_copies_before_returning(run: hypertuner.Run) -> None:
    model = _model(7)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    saver = hypertuner.Saver(model, background=True)
    saver.save()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()  # changes after save() returned must not reach the file
    saver.close()
    saved = hypertuner.load(run)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in expected.items())


def test_background_save_error_is_raised_at_close(
    run: hypertuner.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(fd: int, data: memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    saver = hypertuner.Saver(_model(), background=True)
    monkeypatch.setattr(_savefile, "_write_all", no_space)
    saver.save()
    with pytest.raises(OSError, match="No space left"):
        saver.close()


def test_run_end_waits_for_the_background_save(run: hypertuner.Run) -> None:
    saver = hypertuner.Saver(_model(), background=True)
    saver.save(step=1)
    run.finish()
    assert hypertuner.load(run.directory / "model.pt")["step"] == 1


# ---------------------------------------------------------------- ranks and runs


def test_non_zero_rank_writes_nothing(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    run = hypertuner.start_run({}, name="ddp", storage=storage)
    assert hypertuner.Saver(_model()).save(step=1) is None
    assert not (storage / "ddp").exists()
    assert run.rank == 1


def test_saver_without_any_run_says_to_call_parse() -> None:
    with pytest.raises(NoRunError, match=r"hypertuner\.parse\(\)"):
        hypertuner.Saver(_model())


# ---------------------------------------------------------------- bad input and faults


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        pytest.param(lambda: hypertuner.Saver("net"), TypeError, "not str", id="model-str"),
        pytest.param(
            lambda: hypertuner.Saver(42), TypeError, r"torch\.nn\.Module .*not int", id="model-int"
        ),
        pytest.param(
            lambda: hypertuner.Saver().save([1, 2]), TypeError, "not list", id="save-list"
        ),
        pytest.param(lambda: hypertuner.Saver().save(), TypeError, "needs a model", id="no-model"),
        pytest.param(
            lambda: hypertuner.Saver(_model(), mode="low"), ValueError, "'min' or 'max'", id="mode"
        ),
        pytest.param(lambda: hypertuner.Saver(_model(), keep=0), ValueError, "keep", id="keep-0"),
        pytest.param(
            lambda: hypertuner.Saver(_model(), optimizer="adam"),
            TypeError,
            "optimizer",
            id="optimizer",
        ),
        pytest.param(
            lambda: hypertuner.Saver(_model()).save(step=-1), TypeError, "step", id="step-negative"
        ),
        pytest.param(
            lambda: hypertuner.Saver(_model()).save(epoch=1.5), TypeError, "epoch", id="epoch-float"
        ),
        pytest.param(
            lambda: hypertuner.Saver(_model()).save(metrics={"loss": "low"}),
            TypeError,
            "Metric 'loss' must be a number",
            id="metric-text",
        ),
        pytest.param(
            lambda: hypertuner.Saver(_model(), monitor="val_loss").save(
                step=1, metrics={"val_los": 1.0}
            ),
            UnknownKeyError,
            "Did you mean 'val_los'",
            id="monitor-missing",
        ),
    ],
)
def test_bad_input_is_refused_and_writes_no_model(
    run: hypertuner.Run, build: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        build()
    assert not (run.directory / "model.pt").exists()
    assert not (run.directory / "checkpoints").exists()


@pytest.mark.parametrize(
    "numbered", [pytest.param(False, id="model-pt"), pytest.param(True, id="checkpoint")]
)
def test_disk_full_raises_and_leaves_previous_model_intact(
    run: hypertuner.Run, monkeypatch: pytest.MonkeyPatch, numbered: bool
) -> None:
    saver = hypertuner.Saver(_model(), keep=1)
    saver.save(step=1 if numbered else None)
    saver.wait()
    before = (run.directory / "model.pt").read_bytes()
    ledger_before = (run.directory / "saves.json").read_bytes()
    written = {"bytes": 0}
    real = _savefile._write_all

    def fill_disk(fd: int, data: memoryview) -> None:
        written["bytes"] += len(data)
        if written["bytes"] > 2048:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(_savefile, "_write_all", fill_disk)
    with pytest.raises(OSError, match="No space left") as info:
        saver.save(_model(9), step=2 if numbered else None)
    assert info.value.errno == errno.ENOSPC
    assert (run.directory / "model.pt").read_bytes() == before
    assert (run.directory / "saves.json").read_bytes() == ledger_before
    assert _temporaries(run.directory) == []
    hypertuner.load(run)  # still passes its sha256 check


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MB file system (a tmpfs), mounted for the test: needs root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for a real full disk needs root")
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False, capture_output=True)


@pytest.mark.parametrize(
    "numbered", [pytest.param(False, id="model-pt"), pytest.param(True, id="checkpoint")]
)
def test_real_full_disk_is_a_disk_full_error_naming_folder_and_space(
    small_disk: Path, numbered: bool
) -> None:
    """torch hides ENOSPC in a RuntimeError of its own; the saver says what happened."""
    run = hypertuner.start_run({"lr": 0.1}, name="full", storage=small_disk)
    saver = hypertuner.Saver(torch.nn.Linear(256, 256), keep=1)  # 0.26 MB
    saver.save(step=1 if numbered else None)
    before = (run.directory / "model.pt").read_bytes()
    big = torch.nn.Linear(1024, 1024)  # 4.2 MB, more than the disk holds
    with pytest.raises(
        DiskFullError, match=r"^No space left in .* it needs about 4\.\d MB"
    ) as info:
        saver.save(big, step=2 if numbered else None)
    err = info.value
    assert isinstance(err, OSError)
    assert err.errno == errno.ENOSPC
    assert err.path == str(run.directory)
    assert err.free is not None
    assert err.needed > err.free
    assert f"and {err.free / 1e6:.1f} MB are free" in str(err)
    assert (run.directory / "model.pt").read_bytes() == before
    assert _temporaries(run.directory) == []
    hypertuner.load(run)  # still passes its sha256 check
    run.finish()


def test_serialisation_error_mid_save_leaves_model_byte_identical(run: hypertuner.Run) -> None:
    saver = hypertuner.Saver(_model())
    saver.save()
    before = (run.directory / "model.pt").read_bytes()
    bad_state = {"weight": torch.ones(3), "hook": lambda: None}
    with pytest.raises(Exception, match=r"(?i)pickle|lambda"):
        saver.save(bad_state)
    assert (run.directory / "model.pt").read_bytes() == before
    assert _temporaries(run.directory) == []


def test_flipped_bit_is_detected_by_load(run: hypertuner.Run) -> None:
    path = hypertuner.Saver(_model()).save()
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside tensor data: torch.load alone would accept it
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=True)
    with pytest.raises(CheckpointError, match=r"does not match the sha256") as info:
        hypertuner.load(run)
    assert info.value.path == str(path)


def test_hash_is_in_the_ledger_before_model_pt_is_replaced(
    run: hypertuner.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill at any moment leaves no model.pt in place without its sha256 in saves.json."""
    saver = hypertuner.Saver(_model())
    saver.save()
    recorded_at_replace: list[Any] = []
    real_replace = os.replace

    def spy(source: Any, target: Any) -> None:
        if Path(target).name == "model.pt":
            ledger = json.loads((run.directory / "saves.json").read_text())
            recorded_at_replace.append(ledger["model"]["sha256"])
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    saver.save(_model(5))
    monkeypatch.undo()
    digest = hashlib.sha256((run.directory / "model.pt").read_bytes()).hexdigest()
    assert recorded_at_replace == [digest]


@pytest.mark.parametrize(
    "flipped", [pytest.param(True, id="flipped-byte"), pytest.param(False, id="untouched")]
)
def test_model_recorded_without_its_hash_is_refused(run: hypertuner.Run, flipped: bool) -> None:
    """The ledger an older version left when killed while hashing ("sha256": null): the file
    cannot be checked, so it is not loaded, flipped byte or not."""
    path = hypertuner.Saver(_model()).save()
    assert path is not None
    ledger_path = run.directory / "saves.json"
    ledger = json.loads(ledger_path.read_text())
    ledger["model"]["sha256"] = None
    ledger_path.write_text(json.dumps(ledger))
    if flipped:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01  # inside tensor data: torch.load alone would accept it
        path.write_bytes(bytes(data))
        torch.load(path, weights_only=True)
    with pytest.raises(CheckpointError, match=r"without its sha256 .* it is not loaded") as info:
        hypertuner.load(run)
    assert info.value.reason == "unverified"
    assert info.value.path == str(path)
    with pytest.raises(CheckpointError, match="without its sha256"):
        hypertuner.Saver(_model()).resume()  # a recalled run does not adopt it either


def test_checkpoint_recorded_without_its_hash_is_refused(run: hypertuner.Run) -> None:
    path = hypertuner.Saver(_model()).save(step=3)
    assert path is not None
    ledger_path = run.directory / "saves.json"
    ledger = json.loads(ledger_path.read_text())
    ledger["checkpoints"][0]["sha256"] = None
    ledger_path.write_text(json.dumps(ledger))
    with pytest.raises(CheckpointError, match="without its sha256") as info:
        hypertuner.load(path)
    assert info.value.reason == "unverified"


def _fifo_ledger(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)  # reading it would wait for a writer forever


TAMPERED_LEDGERS = [
    pytest.param(
        lambda p: p.write_text('{"model": "x", "checkpoints": []}'), "not a hypertuner", id="model"
    ),
    pytest.param(lambda p: p.write_text("[1]"), "not a hypertuner ledger", id="list"),
    pytest.param(
        lambda p: p.write_text('{"model": null, "checkpoints": [1]}'), "not a hyper", id="entry"
    ),
    pytest.param(
        lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nests too deeply", id="deep"
    ),
    pytest.param(_fifo_ledger, "Not a regular file", id="fifo"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("tamper", "match"), TAMPERED_LEDGERS)
def test_a_tampered_ledger_is_a_checkpoint_error_naming_it(
    run: hypertuner.Run, tamper: Any, match: str
) -> None:
    hypertuner.Saver(_model()).save()
    ledger = run.directory / "saves.json"
    tamper(ledger)
    for attempt in (lambda: hypertuner.load(run), lambda: hypertuner.Saver(_model()).save()):
        with pytest.raises(CheckpointError, match=match) as info:
            attempt()
        assert info.value.path == str(ledger)
        assert str(info.value).startswith(f"Save ledger {str(ledger)!r} ")
        assert "\n" not in str(info.value)


def test_truncated_model_is_a_clear_error_naming_the_file(run: hypertuner.Run) -> None:
    path = hypertuner.Saver(_model()).save()
    assert path is not None
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"model\.pt' is 300 bytes .* truncated"):
        hypertuner.load(run)


def test_corrupt_file_without_ledger_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04 not really a zip file")
    with pytest.raises(CheckpointError, match=r"model\.pt' is truncated or corrupt"):
        hypertuner.load(path)


def test_file_needing_weights_only_false_is_refused_with_explanation(tmp_path: Path) -> None:
    import argparse

    path = tmp_path / "model.pt"
    torch.save({"state_dict": {}, "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(CheckpointError, match=r"cannot be loaded with weights_only=True") as info:
        hypertuner.load(path)
    assert info.value.reason == "weights_only"


def test_plain_state_dict_file_loads_into_model(tmp_path: Path) -> None:
    model = _model(11)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    fresh = _model(12)
    hypertuner.load(tmp_path / "weights.pt", fresh)
    assert _same_weights(model, fresh)


def test_state_that_does_not_fit_the_model_is_a_clear_error(run: hypertuner.Run) -> None:
    hypertuner.Saver(_model()).save()
    with pytest.raises(CheckpointError, match=r"does not fit the given model"):
        hypertuner.load(run, torch.nn.Linear(3, 3))


def test_load_of_unknown_run_lists_nearest_names(storage: Path) -> None:
    for name in ("resnet-small", "resnet-big"):
        hypertuner.start_run({}, name=name, storage=storage).finish()
    with pytest.raises(RunNotFoundError, match=r"Did you mean 'resnet-small'") as info:
        hypertuner.load("resnet-smal", storage=storage)
    assert "resnet-small" in info.value.suggestions


@pytest.mark.parametrize(
    "target",
    [pytest.param("missing/model.pt", id="path"), pytest.param("nothing.pt", id="pt-name")],
)
def test_load_of_missing_file_is_not_found(target: str) -> None:
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        hypertuner.load(target)


def test_load_of_run_without_model_says_how_to_save(run: hypertuner.Run) -> None:
    with pytest.raises(CheckpointNotFoundError, match=r"no saved model yet"):
        hypertuner.load("exp")
    with pytest.raises(CheckpointNotFoundError, match=r"Run 'exp' has no saved model yet"):
        hypertuner.load(run)  # the Run object, as the Lightning guide passes it


# ---------------------------------------------------------------- killed at random moments

_KILL_SCRIPT = textwrap.dedent(
    """
    import os, random, signal, sys, time
    import torch
    import hypertuner

    torch.set_num_threads(1)
    storage, kills = sys.argv[1], int(sys.argv[2])
    random.seed(1234)
    model = torch.nn.Sequential(*[torch.nn.Linear(256, 256) for _ in range(8)])  # ~2 MB

    run = hypertuner.start_run({"kind": "kill"}, name="killed", storage=storage)
    hypertuner.Saver(model, keep=2).save(step=0)
    run.finish()

    for attempt in range(kills):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the saving process: recall the run and save forever
            os.close(read)
            run = hypertuner.start_run({}, name="killed", storage=storage)
            saver = hypertuner.Saver(model, keep=2)
            step = 1000 * (attempt + 1)
            os.write(write, b"x")
            while True:
                with torch.no_grad():
                    model[0].weight.add_(1.0)
                step += 1
                saver.save(step=step) if step % 2 else saver.save()
        os.close(write)
        os.read(read, 1)
        os.close(read)
        time.sleep(random.uniform(0.0, 0.15))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        record = hypertuner.load(os.path.join(storage, "killed", "model.pt"))
        assert record["config"] == {"kind": "kill"}, record["config"]
        ledger = hypertuner.saver._read_ledger(hypertuner._layout.storage_root(storage) / "killed")
        for entry in ledger["checkpoints"]:
            hypertuner.load(os.path.join(storage, "killed", entry["file"]))
    print("survived", kills)
    """
)


@pytest.mark.slow
def test_model_pt_stays_loadable_when_saving_process_is_killed_at_random(storage: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(storage), "25"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "survived 25" in done.stdout


def test_extra_keeps_tensors_and_plain_data_and_refuses_what_cannot_load(
    run: hypertuner.Run,
) -> None:
    """Tensors in extra= come back as tensors (weights_only=True loads them); an object it
    cannot load is one clear error naming where it is, never a silent string."""
    import argparse

    import numpy as np

    from hypertuner.errors import CheckpointError

    model = torch.nn.Linear(2, 1)
    saver = hypertuner.Saver(model, run=run, background=False)
    extra = {
        "ema": model.state_dict(),
        "args": argparse.Namespace(lr=0.1),
        "pair": (1, 2),
        "scale": torch.nn.Parameter(torch.ones(1)),  # a tensor subclass
    }
    saver.save(step=1, extra=extra)
    record = hypertuner.load(run)
    assert torch.equal(record["extra"]["ema"]["weight"], model.weight)
    assert record["extra"]["args"] == {"lr": 0.1}
    assert record["extra"]["pair"] == (1, 2)
    assert torch.equal(record["extra"]["scale"], torch.ones(1))
    before = sorted(p.name for p in run.directory.rglob("*"))
    with pytest.raises(CheckpointError, match=r"extra\['ema'\]\['w'\] is a numpy.ndarray, which "
                       r"a checkpoint loaded with weights_only=True cannot hold"):  # fmt: skip
        saver.save(step=2, extra={"ema": {"w": np.zeros(2)}})
    assert sorted(p.name for p in run.directory.rglob("*")) == before  # nothing written
