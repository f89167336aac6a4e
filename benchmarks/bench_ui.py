"""Benchmark of issue 7: the ``hypertuner ui`` runs table.

Each figure is the median of interleaved pairs (or of repeated samples, for an absolute target)
with its spread.

- the runs table of 500 runs (``GET /api/runs``, the request the page repeats while runs are
  live) from a warm server: at most 0.5 s, and at most 2x the time of ``hypertuner runs --json``
  (a whole process, as a user runs it) on the same storage folder;
- for context: the same table read in-process with ``compare.runs_table`` (what both share), and
  the compare request of two runs of 5,000 logged steps each.

Run: ``python benchmarks/bench_ui.py`` (500 runs) or ``--quick`` on a busy machine.
"""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    calibrated,
    load_text,
    pairs,
    private,
    process,
    python_env,
    row,
    standard_options,
    table,
    window,
)

import hypertuner

runs_table = private("runs_table")
UIServer = private("UIServer")

RUNS = 500
STEPS = 5000


def make_storage(root: Path, runs: int) -> None:
    """``runs`` finished runs: one real run with metrics, copied with varied configs and times."""
    config = {
        "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4},
        "model": {"layers": 4, "width": 256, "activation": "relu", "dropout": 0.1},
        "data": {"batch_size": 64, "augment": True, "workers": 4},
        "epochs": 20,
        "seed": 0,
    }
    with hypertuner.start_run(config, name="template", storage=root, current=False) as run:
        for step in range(50):
            hypertuner.log(
                {"loss": 1 / (step + 1), "acc": step / 50, "val_loss": 1.1 / (step + 1)},
                step=step,
                run=run,
            )
    template = root / "template"
    meta = json.loads((template / "meta.json").read_text())
    for i in range(runs):
        name = f"run-{i:04d}"
        shutil.copytree(template, root / name)
        varied = {
            **config,
            "optim": {**config["optim"], "lr": 0.1 / (1 + i % 7)},
            "model": {**config["model"], "layers": 2 + i % 5},
            "seed": i,
        }
        (root / name / "config.json").write_text(json.dumps(varied, indent=2))
        (root / name / "meta.json").write_text(
            json.dumps(
                {
                    **meta,
                    "name": name,
                    "start_time": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}",
                }
            )
        )
    shutil.rmtree(template)


def make_long_runs(root: Path, steps: int) -> None:
    for name, lr in (("long-a", 0.1), ("long-b", 0.2)):
        with hypertuner.start_run({"lr": lr}, name=name, storage=root, current=False) as run:
            for step in range(steps):
                hypertuner.log({"loss": lr / (step + 1)}, step=step, run=run)


def get(server: Any, path: str) -> bytes:
    """One request on a fresh connection, as a browser's first fetch would make it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request(
        "GET",
        path,
        headers={"Host": f"127.0.0.1:{server.port}", "X-Hypertuner-Token": server.token},
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        msg = f"GET {path} answered {response.status}: {body[:500]!r}"
        raise RuntimeError(msg)
    return body


def main() -> int:
    options = standard_options(__doc__ or "").parse_args()
    repeat = options.repeat or (5 if options.quick else 11)
    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    print(f"bench_ui: machine at the start: {load_text()}")
    try:
        storage = work / "storage"
        make_storage(storage, RUNS)
        rows_count = len(runs_table(storage))
        assert rows_count == RUNS, rows_count
        env = {**python_env(), "HYPERTUNER_STORAGE": str(storage)}
        cli = process([sys.executable, "-m", "hypertuner", "runs", "--json"], env, work)
        in_process = calibrated(lambda: runs_table(storage), number=1)

        with UIServer(storage, port=0) as server:
            server.start()
            assert len(json.loads(get(server, "/api/runs"))["runs"]) == RUNS  # warm start
            served = pairs(window(lambda: get(server, "/api/runs")), cli, repeat)
            table_pairs = pairs(in_process, window(lambda: get(server, "/api/runs")), repeat)

        long_storage = work / "long"
        make_long_runs(long_storage, STEPS)
        with UIServer(long_storage, port=0) as server:
            server.start()
            query = "/api/compare?run=long-a&run=long-b&metric=loss"
            compared = pairs(window(lambda: get(server, query)), None, repeat)

        rows = [
            row(f"runs table, {RUNS} runs: GET /api/runs (warm)", served, "<= 0.5 s"),
            row(f"runs table, {RUNS} runs: vs `hypertuner runs --json`", served, "<= 2x"),
            row(
                f"  context: compare.runs_table in-process vs GET /api/runs, {RUNS} runs",
                table_pairs,
                "",
            ),
            row(f"compare 2 runs x {STEPS} steps: GET /api/compare", compared, ""),
        ]
        references = [
            "`hypertuner runs --json` on the same storage folder: a whole process (this "
            f"interpreter, Python {sys.version.split()[0]}, bytecode cached), as a user runs it; "
            "the requests: one fresh HTTP connection each, from this process, to the server's "
            "thread in this process",
        ]
        table(rows, title="bench_ui: hypertuner ui (issue 7)", references=references)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
