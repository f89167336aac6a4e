"""Benchmark of metrics writing and reading (issue 4): hypertuner.log, the event reader, `runs`.

Figures, each the median of interleaved pairs with its reference in this one run:

- ``hypertuner.log`` of 1 scalar a step for 20,000 steps, and of 10 scalars a step, per scalar,
  the window closed by a flush of the run's metrics (the events it framed and wrote, on a
  timer thread or the caller's), against ``torch.utils.tensorboard.SummaryWriter.add_scalar``
  closed by ``writer.flush()``, which waits for its writer thread to have written the queue;
  the writer's loop without that flush is a context row;
- reading 50 runs x 5,000 steps x 4 tags (1,000,000 scalars in SummaryWriter's layout, one event
  per scalar, ~46 MB) with every CRC checked, against ``tbparse.SummaryReader(...).scalars``
  (through tensorboard's EventAccumulator: without tensorflow installed, tensorboard's stub
  reader checks each record's CRC32C in pure Python, which is most of its time);
- ``hypertuner runs`` over 200 runs, the whole process, against a bare ``python -c pass``.

Run: ``python benchmarks/bench_tracking.py`` (the issue's sizes) or with ``--quick`` (fewer pairs,
same sizes) on a busy machine. tbparse comes from ``benchmarks/requirements.txt``; without it (or
without torch) the reference cells say so.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Paired,
    Row,
    load_text,
    pairs,
    private,
    process,
    python_env,
    row,
    standard_options,
    table,
    versions,
    window,
)

TAGS = ("train/loss", "train/acc", "val/loss", "lr")


@contextlib.contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hypertuner-bench-") as name:
        yield Path(name)


# --- writing -----------------------------------------------------------------------------------


def log_sampler(run: object, tags: list[str], steps: int) -> Callable[[], float]:
    """Sampler: seconds per scalar of ``steps`` calls of ``hypertuner.log``, then the flush."""
    import hypertuner

    flush = private("flush_metrics")
    next_step = 1

    def sample() -> float:
        nonlocal next_step
        log = hypertuner.log
        first = next_step
        metrics = [{tag: 1.0 / (s + i + 1) for i, tag in enumerate(tags)} for s in range(steps)]
        start = time.perf_counter()
        for offset, values in enumerate(metrics):
            log(values, first + offset)
        flush(run)
        elapsed = time.perf_counter() - start
        next_step += steps
        return elapsed / (steps * len(tags))

    return sample


class WriterSampler:
    """Sampler: seconds per scalar of ``SummaryWriter.add_scalar``, closed by ``flush()``.

    The time of the loop alone (the writer thread's file work left out) is kept in ``loop``.
    """

    def __init__(self, writer: object, tags: list[str], steps: int) -> None:
        self.writer = writer
        self.tags = tags
        self.steps = steps
        self.next_step = 1
        self.loop: list[float] = []

    def __call__(self) -> float:
        add = self.writer.add_scalar  # type: ignore[attr-defined]
        first, tags, steps = self.next_step, self.tags, self.steps
        values = [[1.0 / (s + i + 1) for i in range(len(tags))] for s in range(steps)]
        start = time.perf_counter()
        for offset, row_values in enumerate(values):
            for tag, value in zip(tags, row_values, strict=True):
                add(tag, value, first + offset)
        looped = time.perf_counter()
        self.writer.flush()  # type: ignore[attr-defined]
        end = time.perf_counter()
        self.next_step += steps
        count = steps * len(tags)
        self.loop.append((looped - start) / count)
        return (end - start) / count


def bench_log(steps: int, per_step: int, repeat: int) -> list[Row]:
    import hypertuner

    tags = ["loss"] if per_step == 1 else [f"metric_{i}" for i in range(per_step)]
    figure = f"log {per_step} scalar{'s' if per_step > 1 else ''}/step x {steps:,} (per scalar)"
    target = "<= 5 us" if per_step == 1 else "<= 1.5 us"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        SummaryWriter = None
        print("(torch.utils.tensorboard is not installed: no SummaryWriter reference)")
    with folder() as root:
        run = hypertuner.start_run({"lr": 0.1}, name="bench", storage=root / "ours")
        hypertuner.log(dict.fromkeys(tags, 0.0), step=0)  # the writer starts lazily: warm it up
        private("flush_metrics")(run)
        ours = log_sampler(run, tags, steps)
        if SummaryWriter is None:
            paired = pairs(ours, None, repeat)
            run.finish()
            return [row(figure, paired, target)]
        writer = SummaryWriter(str(root / "theirs"))
        writer.add_scalar(tags[0], 0.0, 0)
        writer.flush()
        theirs = WriterSampler(writer, tags, steps)
        paired = pairs(ours, theirs, repeat)
        writer.close()
        run.finish()
    rows = [row(figure, paired, target)]
    if per_step == 1:
        rows.append(row("  same, vs SummaryWriter.add_scalar + flush()", paired, ">= 8x faster"))
        rows.append(
            row(
                "  context: vs SummaryWriter's loop alone (its thread's writing left out)",
                Paired(paired.ours, theirs.loop[-repeat:]),
                "",
            )
        )
    return rows


# --- reading -----------------------------------------------------------------------------------


def write_dataset(root: Path, runs: int, steps: int) -> int:
    """SummaryWriter's layout (one event per scalar), framed by hypertuner's writer code."""
    frame_records = private("frame_records")
    _event_bytes = private("event_bytes")
    _value_prefix = private("value_prefix")
    _varint = private("varint")

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
    read_scalars = private("read_scalars")

    with folder() as root:
        size = write_dataset(root, runs, steps)
        folders = sorted(root.iterdir())
        expected = runs * steps * len(TAGS)

        def ours() -> None:
            count = sum(len(s.steps) for f in folders for s in read_scalars(f).values())
            if count != expected:
                msg = f"read {count} scalars, expected {expected}"
                raise RuntimeError(msg)

        theirs = None
        try:
            from tbparse import SummaryReader
        except ImportError:
            print("(tbparse is not installed: pip install -r benchmarks/requirements.txt)")
        else:

            def theirs() -> None:
                frame = SummaryReader(str(root), extra_columns={"dir_name"}).scalars
                if len(frame) != expected:
                    msg = f"tbparse read {len(frame)} scalars, expected {expected}"
                    raise RuntimeError(msg)

        # tbparse takes about a minute a read here: no warm-up round (the files were just
        # written, so both read them from the page cache)
        paired = pairs(window(ours), window(theirs) if theirs else None, repeat, warmup=0)
    figure = f"read {runs}x{steps:,}x{len(TAGS)} scalars ({size / 1e6:.0f} MB), CRCs checked"
    return [row(figure, paired, ">= 6x faster")]


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
        paired = pairs(
            process([sys.executable, "-m", "hypertuner", "runs", "--storage", str(storage)], env),
            process([sys.executable, "-c", "pass"], env),
            repeat,
        )
    return [row(f"hypertuner runs over {count} runs (whole process)", paired, "<= 0.5 s")]


def references() -> list[str]:
    """The lines under the table: each reference tool's version and what it does."""
    tensorflow = importlib.util.find_spec("tensorflow") is not None
    crc = (
        "tensorflow is installed, so its native reader checks the CRCs"
        if tensorflow
        else "tensorflow is not installed, so tensorboard's stub reader checks every record's "
        "CRC32C in pure Python (a native CRC, with tensorflow, would be much faster)"
    )
    return [
        f"{versions('torch', 'tensorboard')}: torch.utils.tensorboard.SummaryWriter, "
        "add_scalar per scalar (its own writer thread), then flush(), which waits for that "
        "thread to write the queue; default max_queue=10, flush_secs=120",
        f"{versions('tbparse', 'tensorboard')}: SummaryReader(folder, "
        f"extra_columns={{'dir_name'}}).scalars, a pandas DataFrame of every scalar; {crc}",
        "python -c pass: the same interpreter starting and exiting (the floor for a command)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = standard_options(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="steps of the log figures")
    parser.add_argument("--runs", type=int, default=50, help="runs of the read figure")
    parser.add_argument("--read-steps", type=int, default=5_000, help="steps of the read figure")
    parser.add_argument("--table-runs", type=int, default=200, help="runs of the runs figure")
    options = parser.parse_args(argv)
    repeat = options.repeat or (5 if options.quick else 11)
    process_repeat = options.repeat or (5 if options.quick else 15)
    read_repeat = options.repeat or (2 if options.quick else 3)

    import hypertuner.errors

    warnings.simplefilter("ignore", hypertuner.errors.HypertunerWarning)
    os.environ.pop("HYPERTUNER_STORAGE", None)
    started = time.perf_counter()
    print(f"bench_tracking: Python {sys.version.split()[0]} at {sys.executable}")
    print(f"machine at the start: {load_text()}")
    rows: list[Row] = []
    rows += bench_log(options.steps, 1, repeat)
    rows += bench_log(options.steps, 10, repeat)
    rows += bench_read(options.runs, options.read_steps, read_repeat)
    rows += bench_runs_command(options.table_runs, process_repeat)
    print(f"({time.perf_counter() - started:.0f} s)")
    table(rows, title="tracking and reading (issue 4)", references=references())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
