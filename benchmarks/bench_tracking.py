"""Benchmark of metrics writing and reading (issue 4): hypertuner.log, the event reader, `runs`.

Figures, each measured beside its reference in this one run:

- ``hypertuner.log`` of 1 scalar a step for 20,000 steps, and of 10 scalars a step, per scalar on
  the caller's thread (the flushes that land on the caller's thread, and the final one, are
  included), against ``torch.utils.tensorboard.SummaryWriter.add_scalar`` (its caller's-thread
  cost: the loop, with its writer thread doing the file work);
- reading 50 runs x 5,000 steps x 4 tags (1,000,000 scalars in SummaryWriter's layout, one event
  per scalar, ~46 MB) with every CRC checked, against ``tbparse.SummaryReader(...).scalars``;
- ``hypertuner runs`` over 200 runs, the whole process, against a bare ``python -c pass``.

Run: ``python benchmarks/bench_tracking.py`` (the issue's sizes) or with ``--quick`` (fewer repeats,
same sizes) on a busy machine. tbparse comes from ``benchmarks/requirements.txt``; without it (or
without torch) the reference cells say so.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, python_env, row, standard_options, table, time_process

TAGS = ("train/loss", "train/acc", "val/loss", "lr")


@contextlib.contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hypertuner-bench-") as name:
        yield Path(name)


def best_of(repeat: int, sample: Callable[[], float]) -> float:
    return min(sample() for _ in range(repeat))


# --- writing -----------------------------------------------------------------------------------


def bench_log(steps: int, per_step: int, repeat: int) -> list[Row]:
    import hypertuner
    from hypertuner import tracking

    tags = ["loss"] if per_step == 1 else [f"metric_{i}" for i in range(per_step)]
    with folder() as root:
        run = hypertuner.start_run({"lr": 0.1}, name="bench", storage=root)
        hypertuner.log(dict.fromkeys(tags, 0.0), step=0)  # the writer starts lazily: warm it up
        tracking.flush(run)
        next_step = 1

        def sample() -> float:
            nonlocal next_step
            log = hypertuner.log
            first = next_step
            metrics = [{tag: 1.0 / (s + i + 1) for i, tag in enumerate(tags)} for s in range(steps)]
            start = time.perf_counter()
            for offset, values in enumerate(metrics):
                log(values, first + offset)
            tracking.flush(run)
            elapsed = time.perf_counter() - start
            next_step += steps
            return elapsed / (steps * per_step)

        ours = best_of(repeat, sample)
        run.finish()
    reference = bench_summary_writer(steps, tags, repeat)
    figure = f"log {per_step} scalar{'s' if per_step > 1 else ''}/step x {steps:,} (per scalar)"
    target = "<= 5 us" if per_step == 1 else "<= 1.5 us"
    rows = [row(figure, ours, reference, target)]
    if per_step == 1 and reference is not None:
        rows.append(row("  same, vs SummaryWriter.add_scalar", ours, reference, ">= 8x faster"))
    return rows


def bench_summary_writer(steps: int, tags: list[str], repeat: int) -> float | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("(torch.utils.tensorboard is not installed: no SummaryWriter reference)")
        return None
    with folder() as root:
        writer = SummaryWriter(str(root))
        writer.add_scalar(tags[0], 0.0, 0)
        writer.flush()
        next_step = 1

        def sample() -> float:
            nonlocal next_step
            add = writer.add_scalar
            first = next_step
            values = [[1.0 / (s + i + 1) for i in range(len(tags))] for s in range(steps)]
            start = time.perf_counter()
            for offset, row_values in enumerate(values):
                for tag, value in zip(tags, row_values, strict=True):
                    add(tag, value, first + offset)
            elapsed = time.perf_counter() - start
            writer.flush()
            next_step += steps
            return elapsed / (steps * len(tags))

        result = best_of(repeat, sample)
        writer.close()
    return result


# --- reading -----------------------------------------------------------------------------------


def write_dataset(root: Path, runs: int, steps: int) -> int:
    """SummaryWriter's layout (one event per scalar), framed by hypertuner's writer code."""
    from hypertuner._eventfile import frame_records
    from hypertuner.tracking import _event_bytes, _value_prefix, _varint

    head = struct.Struct("<Bd").pack
    prefixes = {tag: _value_prefix(tag) for tag in TAGS}
    size = 0
    for index in range(runs):
        directory = root / f"run{index:02d}"
        directory.mkdir(parents=True)
        records = [_event_bytes(wall_time=time.time(), file_version="brain.Event:2")]
        now = time.time()
        for step in range(steps):
            for number, tag in enumerate(TAGS):
                summary = prefixes[tag] + struct.pack("<f", (number + 1) / (step + 1))
                records.append(
                    b"%b%b\x2a%b%b"
                    % (
                        head(9, now + step * 0.01),
                        b"\x10" + _varint(step) if step else b"",
                        _varint(len(summary)),
                        summary,
                    )
                )
        path = directory / f"events.out.tfevents.{int(now)}.bench.{os.getpid()}.{index}"
        path.write_bytes(frame_records(records))
        size += path.stat().st_size
    return size


def bench_read(runs: int, steps: int, repeat: int) -> list[Row]:
    from hypertuner._eventfile import read_scalars

    with folder() as root:
        size = write_dataset(root, runs, steps)
        folders = sorted(root.iterdir())
        expected = runs * steps * len(TAGS)

        def ours_once() -> float:
            start = time.perf_counter()
            count = sum(len(s.steps) for f in folders for s in read_scalars(f).values())
            elapsed = time.perf_counter() - start
            if count != expected:
                msg = f"read {count} scalars, expected {expected}"
                raise RuntimeError(msg)
            return elapsed

        ours = best_of(repeat, ours_once)
        reference = None
        try:
            from tbparse import SummaryReader
        except ImportError:
            print("(tbparse is not installed: pip install -r benchmarks/requirements.txt)")
        else:

            def theirs_once() -> float:
                start = time.perf_counter()
                frame = SummaryReader(str(root), extra_columns={"dir_name"}).scalars
                elapsed = time.perf_counter() - start
                if len(frame) != expected:
                    msg = f"tbparse read {len(frame)} scalars, expected {expected}"
                    raise RuntimeError(msg)
                return elapsed

            reference = best_of(max(1, repeat // 3), theirs_once)
    figure = f"read {runs}x{steps:,}x{len(TAGS)} scalars ({size / 1e6:.0f} MB), CRCs checked"
    return [row(figure, ours, reference, ">= 6x faster")]


# --- hypertuner runs ---------------------------------------------------------------------------


def bench_runs_command(count: int, repeat: int) -> list[Row]:
    import hypertuner

    with folder() as root:
        storage = root / "storage"
        for index in range(count):
            run = hypertuner.start_run(
                {"lr": 0.1 * (index + 1), "model": {"layers": index % 8}},
                name=f"run-{index:03d}",
                storage=storage,
                current=False,
            )
            for step in range(3):
                hypertuner.log(
                    {"train/loss": 1.0 / (step + 1), "val/loss": 2.0 / (step + 1)},
                    step=step,
                    run=run,
                )
            run.finish()
        env = python_env()
        ours = time_process(
            [sys.executable, "-m", "hypertuner", "runs", "--storage", str(storage)],
            repeat=repeat,
            env=env,
        )
        bare = time_process([sys.executable, "-c", "pass"], repeat=repeat, env=env)
    return [row(f"hypertuner runs over {count} runs (whole process)", ours, bare, "<= 0.5 s")]


def main(argv: list[str] | None = None) -> int:
    parser = standard_options(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="steps of the log figures")
    parser.add_argument("--runs", type=int, default=50, help="runs of the read figure")
    parser.add_argument("--read-steps", type=int, default=5_000, help="steps of the read figure")
    parser.add_argument("--table-runs", type=int, default=200, help="runs of the runs figure")
    options = parser.parse_args(argv)
    repeat = options.repeat or (3 if options.quick else 7)
    process_repeat = options.repeat or (5 if options.quick else 15)
    read_repeat = options.repeat or (2 if options.quick else 3)

    import hypertuner.errors

    warnings.simplefilter("ignore", hypertuner.errors.HypertunerWarning)
    os.environ.pop("HYPERTUNER_STORAGE", None)
    started = time.perf_counter()
    print(f"bench_tracking: Python {sys.version.split()[0]} at {sys.executable}")
    rows: list[Row] = []
    rows += bench_log(options.steps, 1, repeat)
    rows += bench_log(options.steps, 10, repeat)
    rows += bench_read(options.runs, options.read_steps, read_repeat)
    rows += bench_runs_command(options.table_runs, process_repeat)
    print(f"({time.perf_counter() - started:.0f} s)")
    table(rows, title="tracking and reading (issue 4)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
