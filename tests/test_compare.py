"""Reading runs back: event files (checked, corrupt tails skipped), run tables, diffs, rankings."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest

import hypertuner
from hypertuner import compare
from hypertuner._eventfile import event_files, frame_records, read_scalars
from hypertuner.errors import HypertunerError, HypertunerWarning, RunNotFoundError

pytestmark = pytest.mark.filterwarnings(
    "ignore:Run .* never read:hypertuner.errors.HypertunerWarning"
)


def make_run(name: str, config: dict[str, Any], metrics: dict[str, list[float]]) -> Path:
    with hypertuner.start_run(config, name=name) as run:
        steps = max(len(v) for v in metrics.values())
        for step in range(steps):
            hypertuner.log({k: v[step] for k, v in metrics.items() if step < len(v)}, step=step)
    return run.directory


def summary_writer_folder(tmp_path: Path) -> Path:
    """A folder written by torch's SummaryWriter: one event per scalar, both scalar styles."""
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    folder = tmp_path / "tb"
    writer = SummaryWriter(str(folder))
    for step in range(300):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.add_scalar("accuracy/train", step / 300, step)
        writer.add_scalar("new_style", 2.0 * step, step, new_style=True)
        if step % 100 == 0:
            writer.add_histogram("weights", np.array([1.0, 2.0, 3.0]), step)
            writer.add_text("note", "hello", step)
    writer.add_scalar("loss", 7.0, 5)  # a rewrite of step 5: the latest wins
    writer.close()
    return folder


def test_reader_agrees_with_tensorboard_on_summary_writer_files(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = summary_writer_folder(tmp_path)
    ours = read_scalars(folder)
    assert sorted(ours) == ["accuracy/train", "loss", "new_style"]
    acc = EventAccumulator(str(folder))
    acc.Reload()
    for tag in ("accuracy/train", "loss"):
        theirs = {e.step: e.value for e in acc.Scalars(tag)}
        assert dict(zip(ours[tag].steps.tolist(), ours[tag].values.tolist(), strict=True)) == {
            step: pytest.approx(value) for step, value in theirs.items()
        }
    assert ours["loss"].values[5] == 7.0
    assert ours["new_style"].values[-1] == 598.0
    assert ours["loss"].steps.tolist() == list(range(300))


def test_read_scalars_selects_tags_and_returns_nothing_for_an_empty_folder(tmp_path: Path) -> None:
    folder = summary_writer_folder(tmp_path)
    assert list(read_scalars(folder, tags=["loss", "absent"])) == ["loss"]
    assert read_scalars(tmp_path / "missing") == {}


def test_many_values_per_event_and_long_tags_read_back(storage: Path) -> None:
    long_tag = "a/very/long/tag/" * 10
    values = {f"m{i}": [float(i * s) for s in range(200)] for i in range(12)}
    values[long_tag] = [1.5] * 200
    directory = make_run("wide", {}, values)
    got = read_scalars(directory)
    assert sorted(got) == sorted(values)
    for tag, expected in values.items():
        assert got[tag].values.tolist() == pytest.approx(expected)
        assert got[tag].steps.tolist() == list(range(200))


def _truncate(data: bytes, records: list[int]) -> bytes:
    return data[:-7]


def _flip_data_byte(data: bytes, records: list[int]) -> bytes:
    out = bytearray(data)
    out[records[3] + 14] ^= 0xFF  # inside the data of record 3
    return bytes(out)


def _flip_length_byte(data: bytes, records: list[int]) -> bytes:
    out = bytearray(data)
    out[records[len(records) // 2] + 1] ^= 0x01  # the length of a record in the middle
    return bytes(out)


def _append_garbage(data: bytes, records: list[int]) -> bytes:
    return data + b"\x05\x00\x00"


@pytest.mark.parametrize(
    ("damage", "lost", "steps_left"),
    [
        pytest.param(_truncate, "skipped 1 record(s), the last", 50, id="truncated-tail"),
        pytest.param(_flip_data_byte, "skipped 1 record(s);", 49, id="corrupt-record"),
        pytest.param(_flip_length_byte, "record(s), the last", None, id="corrupt-length"),
        pytest.param(
            _append_garbage, "skipped 1 record(s), the last 3 bytes", 50, id="partial-record"
        ),
    ],
)
def test_damaged_event_file_is_read_up_to_the_damage_with_a_warning(
    storage: Path, damage: Any, lost: str, steps_left: int | None
) -> None:
    directory = make_run("hurt", {}, {"loss": [float(s) for s in range(50)]})
    (path,) = event_files(directory)
    data = path.read_bytes()
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += 16 + int.from_bytes(data[pos : pos + 8], "little")
    path.write_bytes(damage(data, offsets))
    with pytest.warns(HypertunerWarning, match="truncated or corrupt") as caught:
        series = read_scalars(directory)["loss"]
    message = str(caught[0].message)
    assert str(path) in message
    assert lost in message
    if steps_left is None:
        assert 0 < len(series.steps) < 50
        assert series.steps.tolist() == list(range(len(series.steps)))
    else:
        assert len(series.steps) == steps_left


def test_undamaged_files_raise_no_warning(storage: Path) -> None:
    directory = make_run("fine", {}, {"loss": [1.0, 2.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_scalars(directory)["loss"].values.tolist() == [1.0, 2.0]


def test_latest_write_of_a_step_wins_across_files(storage: Path) -> None:
    directory = make_run("a", {}, {"loss": [1.0, 2.0, 3.0]})
    with hypertuner.start_run({}, name="a"):
        hypertuner.log({"loss": 9.0}, step=1)
    series = read_scalars(directory)["loss"]
    assert series.steps.tolist() == [0, 1]  # step 2 was redone-and-hidden by the resume at 1
    assert series.values.tolist() == [1.0, 9.0]


def test_reader_decodes_records_that_are_not_in_pattern(tmp_path: Path) -> None:
    """Irregular record sizes take the record-by-record path and decode the same."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    records = []
    for step in range(200):
        tags = ["x" * (1 + step % 7)] + (["y"] if step % 3 == 0 else [])
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=t, simple_value=step) for t in tags]
        )
        records.append(
            event_pb2.Event(wall_time=1.0, step=step, summary=summary).SerializeToString()
        )
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "events.out.tfevents.1.host.1.1").write_bytes(frame_records(records))
    got = read_scalars(folder)
    assert got["y"].steps.tolist() == list(range(0, 200, 3))
    assert got["x"].steps.tolist() == list(range(0, 200, 7))
    assert got["xxxxxxx"].values.tolist() == [float(s) for s in range(6, 200, 7)]


def test_runs_table_lists_runs_oldest_first_with_their_summaries(storage: Path) -> None:
    make_run("b-first", {"lr": 0.1}, {"loss": [3.0, 2.0]})
    make_run("a-second", {"lr": 0.5, "model": {"layers": 2}}, {"loss": [1.0]})
    rows = compare.runs_table()
    assert [r["name"] for r in rows] == ["b-first", "a-second"]
    assert rows[0]["status"] == "finished"
    assert rows[0]["metrics"]["loss"]["last"] == 2.0
    assert rows[1]["config"] == {"lr": 0.5, "model.layers": 2}
    assert compare.runs_table(names=["a-second"])[0]["name"] == "a-second"


def test_read_run_gives_config_meta_metrics_and_files(storage: Path) -> None:
    make_run("one", {"lr": 0.1}, {"loss": [1.0]})
    run = compare.read_run("one")
    assert run["config"] == {"lr": 0.1}
    assert run["meta"]["status"] == "finished"
    assert run["metrics"]["loss"]["count"] == 1
    assert {"summary.json", "config.json", "meta.json"} <= set(run["files"])


def test_diff_configs_lists_only_differing_keys(storage: Path) -> None:
    make_run("x", {"lr": 0.1, "model": {"layers": 4, "act": "relu"}, "seed": 1}, {"l": [1.0]})
    make_run("y", {"lr": 0.5, "model": {"layers": 4, "act": "gelu"}, "seed": 1}, {"l": [1.0]})
    make_run("z", {"lr": 0.1, "model": {"layers": 4, "act": "relu"}, "extra": True}, {"l": [1.0]})
    assert compare.diff_configs(["x", "y"]) == [
        ("lr", [0.1, 0.5]),
        ("model.act", ["relu", "gelu"]),
    ]
    assert compare.diff_configs(["x", "z"]) == [("extra", [None, True]), ("seed", [1, None])]


@pytest.mark.parametrize(
    ("mode", "order", "scores"),
    [
        pytest.param("min", ["b", "a", "c"], [0.5, 1.0, 2.0], id="min"),
        pytest.param("max", ["c", "b", "a"], [9.0, 4.0, 3.0], id="max"),
        pytest.param("last", ["b", "a", "c"], [0.5, 3.0, 9.0], id="last"),
    ],
)
def test_rank_runs_orders_by_mode_and_puts_runs_without_the_metric_last(
    storage: Path, mode: str, order: list[str], scores: list[float]
) -> None:
    make_run("a", {}, {"val": [1.0, 3.0]})
    make_run("b", {}, {"val": [4.0, 0.5]})
    make_run("c", {}, {"val": [2.0, 9.0]})
    make_run("d", {}, {"other": [1.0]})
    ranked = compare.rank_runs("val", mode)
    assert [r["name"] for r in ranked] == [*order, "d"]
    assert [r["score"] for r in ranked[:3]] == scores
    assert [r["rank"] for r in ranked] == [1, 2, 3, None]
    assert math.isnan(ranked[3]["score"])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        pytest.param(
            lambda: compare.rank_runs("val_los"),
            HypertunerError,
            "No run logged metric 'val_los'. Did you mean 'val_loss'",
            id="unknown-metric",
        ),
        pytest.param(
            lambda: compare.rank_runs("val_loss", "best"),
            HypertunerError,
            "Mode 'best' is not one of 'min', 'max', 'last'",
            id="unknown-mode",
        ),
        pytest.param(
            lambda: compare.read_run("ful"),
            RunNotFoundError,
            "No run 'ful'.*Did you mean 'full'",
            id="unknown-run",
        ),
        pytest.param(
            lambda: compare.diff_configs(["full", "fulll"]),
            RunNotFoundError,
            "No run 'fulll'",
            id="unknown-run-in-diff",
        ),
        pytest.param(
            lambda: compare.runs_table(names=["nope"]),
            RunNotFoundError,
            "No run 'nope'",
            id="unknown-run-in-table",
        ),
    ],
)
def test_bad_queries_name_the_nearest_valid_choice(
    storage: Path, call: Any, error: type[Exception], match: str
) -> None:
    make_run("full", {}, {"val_loss": [1.0]})
    before = sorted(p.name for p in storage.iterdir())
    with pytest.raises(error, match=match):
        call()
    assert sorted(p.name for p in storage.iterdir()) == before


def test_runs_table_reads_no_event_file_and_imports_no_tensorboard(
    storage: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    make_run("quick", {"lr": 0.1}, {"loss": [1.0]})
    code = (
        "import sys\nfrom hypertuner import compare\n"
        f"rows = compare.runs_table({str(storage)!r})\n"
        "print(rows[0]['metrics']['loss']['last'])\n"
        "print(sorted(m for m in ('torch', 'tensorboard', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["1.0", "[]"]


def test_event_files_and_summaries_that_are_links_are_never_read(tmp_path: Path) -> None:
    """A tampered run folder may hold links out of the storage folder: they are skipped."""
    from hypertuner._eventfile import event_files
    from hypertuner.tracking import read_summary

    outside = tmp_path / "outside"
    with hypertuner.start_run({}, name="victim", storage=outside):
        hypertuner.log({"secret": 42.0}, step=0)
    run = tmp_path / "storage" / "tampered"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    for source in event_files(outside / "victim"):
        (run / source.name).symlink_to(source)
    (run / "summary.json").symlink_to(outside / "victim" / "summary.json")
    assert event_files(run) == []
    assert read_summary(run) == {}
    assert compare.read_scalars(run) == {}
