"""hypertuner.log: TensorBoard scalars, HParams session summaries, summary.json, ranks, resume."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import tracking
from hypertuner._eventfile import crc32c, event_files, frame_records, masked_crc32c, read_scalars
from hypertuner.errors import MetricError, NoRunError

pytestmark = pytest.mark.filterwarnings(
    "ignore:Run .* never read:hypertuner.errors.HypertunerWarning"
)


def events_of(directory: Path) -> list[Any]:
    """Every event of the run folder, parsed with tensorboard's own reader."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    out = []
    for path in event_files(directory):
        out.extend(LegacyEventFileLoader(str(path)).Load())
    return out


def accumulator(directory: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(directory))
    acc.Reload()
    return acc


def hparams_of(directory: Path) -> tuple[Any, Any]:
    """The run's (SessionStartInfo, SessionEndInfo or None) as the HParams plugin decodes them."""
    from tensorboard.plugins.hparams import metadata

    start = end = None
    for event in events_of(directory):
        for value in event.summary.value:
            content = value.metadata.plugin_data.content
            if value.tag == metadata.SESSION_START_INFO_TAG:
                start = metadata.parse_session_start_info_plugin_data(content)
            elif value.tag == metadata.SESSION_END_INFO_TAG:
                end = metadata.parse_session_end_info_plugin_data(content)
    return start, end


def test_logged_scalars_read_back_by_tensorboard(storage: Path) -> None:
    with hypertuner.start_run({"lr": 0.1}, name="a") as run:
        for step in range(5):
            hypertuner.log({"loss": 1.0 / (step + 1), "val/acc": step / 10}, step=step)
    acc = accumulator(run.directory)
    assert sorted(acc.Tags()["scalars"]) == ["loss", "val/acc"]
    assert [e.step for e in acc.Scalars("loss")] == [0, 1, 2, 3, 4]
    assert acc.Scalars("loss")[-1].value == pytest.approx(0.2)
    assert acc.Scalars("val/acc")[2].value == pytest.approx(0.2)
    assert run.directory == storage / "a"


def test_one_call_shares_one_event_identical_to_protobuf_serialization(storage: Path) -> None:
    """The hand-framed fast path writes exactly what tensorboard's Event message serializes."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    with hypertuner.start_run({}, name="a") as run:
        hypertuner.log({"loss": 0.5, "acc": 0.25}, step=300)
        hypertuner.log({"loss": 0.75}, step=0)
    scalars = [
        e
        for e in events_of(run.directory)
        if e.summary.value and not e.summary.value[0].metadata.plugin_data.plugin_name
    ]
    assert [len(e.summary.value) for e in scalars] == [2, 1]
    for event in scalars:
        rebuilt = event_pb2.Event(
            wall_time=event.wall_time,
            step=event.step,
            summary=summary_pb2.Summary(
                value=[
                    summary_pb2.Summary.Value(tag=v.tag, simple_value=v.simple_value)
                    for v in event.summary.value
                ]
            ),
        )
        assert rebuilt.SerializeToString() == event.SerializeToString()
    assert scalars[0].step == 300


def test_hparams_session_start_holds_the_flattened_config_without_run_keys(storage: Path) -> None:
    config = {
        "lr": 0.1,
        "model": {"layers": 4, "act": "relu", "norm": True},
        "sizes": [1, 2],
        "run": {"name": "a"},
    }
    with hypertuner.start_run(config, name="a") as run:
        hypertuner.log({"loss": 1.0}, step=0)
    start, _ = hparams_of(run.directory)
    hparams = {k: v.WhichOneof("kind") for k, v in start.hparams.items()}
    assert hparams == {
        "lr": "number_value",
        "model.layers": "number_value",
        "model.act": "string_value",
        "model.norm": "bool_value",
        "sizes": "string_value",
    }
    assert start.hparams["sizes"].string_value == "[1, 2]"


@pytest.mark.parametrize(
    ("ending", "status_name"),
    [
        pytest.param(None, "STATUS_SUCCESS", id="finished"),
        pytest.param(RuntimeError("boom"), "STATUS_FAILURE", id="failed"),
        pytest.param(KeyboardInterrupt(), "STATUS_UNKNOWN", id="interrupted"),
    ],
)
def test_hparams_session_end_records_the_run_status(
    storage: Path, ending: BaseException | None, status_name: str
) -> None:
    from tensorboard.plugins.hparams import api_pb2

    run = hypertuner.start_run({"lr": 0.1}, name="a")
    expected = pytest.raises(type(ending)) if ending else contextlib.nullcontext()
    with expected, run:
        hypertuner.log({"loss": 1.0}, step=0)
        if ending is not None:
            raise ending
    _, end = hparams_of(run.directory)
    assert api_pb2.Status.Name(end.status) == status_name
    assert read_scalars(run.directory)["loss"].values.tolist() == [1.0]


def test_summary_json_keeps_last_min_max_step_and_count(storage: Path) -> None:
    with hypertuner.start_run({}, name="a") as run:
        for step, value in enumerate([3.0, 1.0, 2.0, float("nan")]):
            hypertuner.log({"loss": value}, step=step)
        hypertuner.log({"acc": 0.5}, step=7)
    summary = json.loads((run.directory / "summary.json").read_text())["metrics"]
    assert summary["loss"] == {"last": "nan", "min": 1.0, "max": 3.0, "step": 3, "count": 4}
    assert summary["acc"]["step"] == 7
    assert tracking.read_summary(run.directory)["loss"]["min"] == 1.0


def test_values_may_be_ints_numpy_scalars_and_one_element_tensors(storage: Path) -> None:
    import numpy as np
    import torch

    with hypertuner.start_run({}, name="a") as run:
        hypertuner.log(
            {"int": 3, "np": np.float32(0.5), "tensor": torch.tensor(0.25), "big": 1e300},
            step=1,
        )
    got = {tag: series.values.tolist() for tag, series in read_scalars(run.directory).items()}
    assert got == {"int": [3.0], "np": [0.5], "tensor": [0.25], "big": [float("inf")]}


def test_step_defaults_to_the_step_after_the_previous_call(storage: Path) -> None:
    with hypertuner.start_run({}, name="a") as run:
        hypertuner.log({"loss": 1.0})
        hypertuner.log({"loss": 2.0})
        hypertuner.log({"loss": 3.0}, step=10)
        hypertuner.log({"loss": 4.0})
    assert read_scalars(run.directory)["loss"].steps.tolist() == [0, 1, 10, 11]


def test_log_to_an_explicit_run_that_is_not_current(storage: Path) -> None:
    run = hypertuner.start_run({}, name="side", current=False)
    hypertuner.log({"loss": 1.0}, step=0, run=run)
    run.finish()
    assert hypertuner.current_run() is None
    assert read_scalars(run.directory)["loss"].steps.tolist() == [0]


@pytest.mark.slow
def test_background_timer_flushes_within_the_interval(
    storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracking, "FLUSH_SECONDS", 0.1)
    written: list[str] = []
    with hypertuner.start_run({}, name="a") as run:
        run.on_write(lambda run, paths: written.extend(p.name for p in paths))
        hypertuner.log({"loss": 1.0}, step=0)
        deadline = time.monotonic() + 10
        while not (run.directory / "summary.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert read_scalars(run.directory)["loss"].values.tolist() == [1.0]
        assert run.status == "running"
    assert "summary.json" in written
    assert any(name.startswith("events.out.tfevents.") for name in written)


CRASH = """
import os, signal, sys, time
import hypertuner
from hypertuner import tracking
tracking.FLUSH_SECONDS = 0.2
run = hypertuner.start_run({"lr": 0.1}, name=sys.argv[1])
for step in range(3):
    hypertuner.log({"loss": float(step)}, step=step)
if sys.argv[2] == "kill":
    time.sleep(2.0)
    os.kill(os.getpid(), signal.SIGKILL)
raise RuntimeError("boom")
"""


@pytest.mark.parametrize(
    ("how", "status_name"),
    [
        pytest.param("kill", None, id="sigkill-after-flush-interval"),
        pytest.param("raise", "STATUS_FAILURE", id="uncaught-exception"),
    ],
)
@pytest.mark.slow
def test_crashed_process_still_shows_its_last_metrics(
    storage: Path, tmp_path: Path, how: str, status_name: str | None
) -> None:
    from tensorboard.plugins.hparams import api_pb2

    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    done = subprocess.run(
        [sys.executable, str(script), "crashy", how],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert read_scalars(storage / "crashy")["loss"].values.tolist() == [0.0, 1.0, 2.0]
    start, end = hparams_of(storage / "crashy")
    assert start.hparams["lr"].number_value == 0.1
    if status_name is None:
        assert end is None
    else:
        assert api_pb2.Status.Name(end.status) == status_name


def test_nonzero_rank_writes_nothing(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hypertuner.start_run({"lr": 0.1}, name="ddp").finish()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    run = hypertuner.start_run({"lr": 0.1}, name="ddp")
    assert run.rank == 1
    for step in range(3):
        hypertuner.log({"loss": 1.0}, step=step, run=run)
    tracking.flush(run)
    assert event_files(storage / "ddp") == []
    assert not (storage / "ddp" / "summary.json").exists()


def test_recalled_run_hides_the_steps_it_redoes(storage: Path) -> None:
    with hypertuner.start_run({"lr": 0.1}, name="a") as run:
        for step in range(10):
            hypertuner.log({"loss": float(step), "acc": 1.0}, step=step)
    with hypertuner.start_run({"lr": 0.1}, name="a") as again:
        assert again.recalled
        for step in range(5, 8):
            hypertuner.log({"loss": -float(step)}, step=step)
    series = read_scalars(run.directory)
    assert series["loss"].steps.tolist() == list(range(8))
    assert series["loss"].values.tolist()[4:] == [4.0, -5.0, -6.0, -7.0]
    assert series["acc"].steps.tolist() == list(range(5))  # purged like TensorBoard does
    tensorboard_steps = [e.step for e in accumulator(run.directory).Scalars("loss")]
    assert tensorboard_steps == list(range(8))
    summary = tracking.read_summary(run.directory)
    assert summary["loss"] == {"last": -7.0, "min": -7.0, "max": 4.0, "step": 7, "count": 8}
    assert summary["acc"]["step"] == 4


def _scalar_event(step: int, tag: str, value: float) -> bytes:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    return bytes(event_pb2.Event(step=step, summary=summary).SerializeToString())


def _start_event(step: int) -> bytes:
    from tensorboard.compat.proto import event_pb2

    log = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
    return bytes(event_pb2.Event(step=step, session_log=log).SerializeToString())


def _write_events(directory: Path, records: list[bytes], name: str = "1.1") -> None:
    from tensorboard.compat.proto import event_pb2

    head = event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"events.out.tfevents.1700000000.host.{name}"
    path.write_bytes(frame_records([bytes(head), *records]))


def test_many_session_starts_purge_like_tensorboard(tmp_path: Path) -> None:
    """Interleaved STARTs at rising, falling and repeated steps, across two files: each hides the
    values written before it at its step or later, exactly as TensorBoard's accumulator does."""
    first = []
    for step in range(12):
        first.append(_scalar_event(step, "loss", float(step)))
        first.append(_scalar_event(step, "acc", float(-step)))
        if step in (4, 7, 9):
            first.append(_start_event(step - 2))
    first.append(_start_event(10))
    second = [_start_event(3)] + [_scalar_event(s, "loss", 100.0 + s) for s in (3, 5, 20)]
    second += [_start_event(6), _start_event(40), _scalar_event(6, "acc", 0.5)]
    _write_events(tmp_path / "run", first, "1.1")
    _write_events(tmp_path / "run", second, "1.2")
    ours = read_scalars(tmp_path / "run")
    acc = accumulator(tmp_path / "run")
    for tag in ("loss", "acc"):
        theirs = {e.step: e.value for e in acc.Scalars(tag)}
        pairs = zip(ours[tag].steps.tolist(), ours[tag].values.tolist(), strict=True)
        assert dict(pairs) == theirs
    assert ours["loss"].steps.tolist() == [0, 1, 3, 5]
    assert ours["acc"].steps.tolist() == [0, 1, 6]


def test_a_scalar_tensor_with_cut_content_is_skipped(tmp_path: Path) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    records = []
    for step, content in ((1, b"\x01\x02\x03"), (2, struct.pack("<d", 0.25))):
        value = summary_pb2.Summary.Value(tag="loss")
        value.metadata.plugin_data.plugin_name = "scalars"
        value.tensor.dtype = 2  # float64
        value.tensor.tensor_content = content
        event = event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value]))
        records.append(bytes(event.SerializeToString()))
    _write_events(tmp_path / "run", records)
    series = read_scalars(tmp_path / "run")["loss"]
    assert series.steps.tolist() == [2]
    assert series.values.tolist() == [0.25]


def test_recalled_run_without_step_continues_after_the_last_one(storage: Path) -> None:
    with hypertuner.start_run({}, name="a"):
        hypertuner.log({"loss": 1.0}, step=41)
    with hypertuner.start_run({}, name="a") as run:
        hypertuner.log({"loss": 2.0})
    assert read_scalars(run.directory)["loss"].steps.tolist() == [41, 42]


def test_flush_with_no_run_or_nothing_logged_does_nothing(storage: Path) -> None:
    tracking.flush()
    with hypertuner.start_run({}, name="a") as run:
        tracking.flush()
    assert event_files(run.directory) == []


class _NotANumber:
    def __float__(self) -> float:
        msg = "no"
        raise TypeError(msg)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        pytest.param(
            lambda: hypertuner.log({"": 1.0}), MetricError, "Metric name ''", id="empty-name"
        ),
        pytest.param(lambda: hypertuner.log({3: 1.0}), MetricError, "Metric name 3", id="int-name"),
        pytest.param(
            lambda: hypertuner.log({"_hparams_/x": 1.0}),
            MetricError,
            "_hparams_/",
            id="reserved-name",
        ),
        pytest.param(
            lambda: hypertuner.log({"loss": "high"}),
            MetricError,
            "Metric 'loss' has value 'high' of type str, which is not a number",
            id="string-value",
        ),
        pytest.param(
            lambda: hypertuner.log({"loss": _NotANumber()}),
            MetricError,
            "not a number",
            id="object-value",
        ),
        pytest.param(
            lambda: hypertuner.log({"loss": 1.0}, step=1.5),
            MetricError,
            "Step 1.5 is not an integer",
            id="float-step",
        ),
        pytest.param(
            lambda: hypertuner.log({"loss": 1.0}, step="3"), MetricError, "Step '3'", id="str-step"
        ),
    ],
)
def test_bad_metrics_are_refused_and_nothing_is_written(
    storage: Path, call: Any, error: type[Exception], match: str
) -> None:
    with hypertuner.start_run({}, name="bad") as run, pytest.raises(error, match=match):
        call()
    assert event_files(run.directory) == []
    assert not (run.directory / "summary.json").exists()


def test_log_without_a_run_says_how_to_start_one(storage: Path) -> None:
    with pytest.raises(NoRunError, match=r"needs a run: call hypertuner.parse\(\)"):
        hypertuner.log({"loss": 1.0})
    assert not storage.exists()


def test_log_to_an_ended_run_is_refused(storage: Path) -> None:
    run = hypertuner.start_run({}, name="done")
    hypertuner.log({"loss": 1.0}, step=0)
    run.finish()
    with pytest.raises(NoRunError, match="Run 'done' has ended"):
        hypertuner.log({"loss": 2.0}, step=1, run=run)
    other = hypertuner.start_run({}, name="fresh", current=False)
    other.finish()
    with pytest.raises(NoRunError, match="Run 'fresh' has ended"):
        hypertuner.log({"loss": 2.0}, run=other)
    assert read_scalars(storage / "done")["loss"].values.tolist() == [1.0]


def test_crc32c_matches_the_castagnoli_check_values() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"\x00" * 32) == 0x8A9136AA
    assert masked_crc32c(b"") == 2726488792


def test_vectorized_framing_equals_record_by_record_framing() -> None:
    import random

    rng = random.Random(7)
    records = [rng.randbytes(rng.choice([0, 1, 20, 26, 26, 26, 130, 600])) for _ in range(300)]
    one_by_one = b"".join(frame_records([r]) for r in records)
    assert frame_records(records) == one_by_one
    same = [rng.randbytes(26) for _ in range(100)]
    assert frame_records(same) == b"".join(frame_records([r]) for r in same)


def test_event_file_is_named_for_tensorboard(storage: Path) -> None:
    with hypertuner.start_run({}, name="a") as run:
        hypertuner.log({"loss": 1.0})
    (path,) = event_files(run.directory)
    stamp, host, pid = path.name.split(".")[3:6]
    assert len(stamp) == 10
    assert host
    assert int(pid) == os.getpid()


@pytest.mark.slow
def test_a_run_never_finished_is_flushed_at_interpreter_exit(storage: Path) -> None:
    code = (
        "import hypertuner\n"
        "run = hypertuner.start_run({}, name='side', current=False)\n"
        "hypertuner.log({'loss': 1.0}, step=3, run=run)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert read_scalars(storage / "side")["loss"].steps.tolist() == [3]
