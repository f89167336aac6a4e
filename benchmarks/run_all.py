"""Run every ``benchmarks/bench_*.py`` and summarise which figures missed their target.

Each benchmark runs in its own process with this interpreter (so one benchmark's imports and
caches never colour another's figures), its output streamed as it comes. The arguments given
here are passed on to every benchmark (``--quick``, ``--repeat N``), except ``--only NAME``
(repeatable: run just ``bench_NAME.py``), ``--list`` and ``--timeout SECONDS`` (stop a
benchmark that runs longer; 1800 by default), which this runner reads itself.

The exit status is 0 even when figures miss their targets: this is a report, not a test. It is 1
only when a benchmark itself fails (crashes or exits non-zero), so ``make bench`` still shows a
broken benchmark.

Usage::

    python benchmarks/run_all.py            # the sizes the issues name
    python benchmarks/run_all.py --quick    # fewer interleaved pairs, for a busy machine
    python benchmarks/run_all.py --only core --only tracking
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MISS_MARK = "MISSED:"  # the prefix _common.table prints for each missed target


def discover(only: list[str]) -> list[Path]:
    """Return the benchmark scripts, sorted; ``only`` keeps ``bench_<name>.py`` for each name."""
    scripts = sorted(HERE.glob("bench_*.py"))
    if not only:
        return scripts
    wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
    chosen = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    unknown = wanted - {s.stem.removeprefix("bench_") for s in chosen}
    if unknown:
        names = ", ".join(s.stem.removeprefix("bench_") for s in scripts)
        msg = f"run_all.py: no benchmark named {', '.join(sorted(unknown))} (there are: {names})."
        raise SystemExit(msg)
    return chosen


def run_one(script: Path, extra: list[str], timeout: float) -> tuple[int, list[str], float]:
    """Run ``script`` with ``extra`` arguments, echoing its output.

    Returns:
        The exit status, the missed figures (its ``MISSED:`` lines) and the seconds it took.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(script), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        cwd=str(HERE.parent),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # on --timeout, stop the benchmark and what it started
    )

    def stop() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    watchdog = threading.Timer(timeout, stop)
    watchdog.start()
    misses: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.startswith(MISS_MARK):
            misses.append(line[len(MISS_MARK) :].strip())
    status = process.wait()
    watchdog.cancel()
    seconds = time.perf_counter() - started
    if status != 0 and seconds >= timeout:
        print(f"run_all.py: {script.name} ran past --timeout {timeout:.0f} s and was stopped.")
    return status, misses, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run every benchmarks/bench_*.py; other arguments are passed on to each.",
        add_help=True,
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run bench_NAME.py only"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="stop a benchmark that runs longer (default 1800)",
    )
    options, extra = parser.parse_known_args(argv)
    scripts = discover(options.only)
    if options.list:
        for script in scripts:
            print(script.stem.removeprefix("bench_"))
        return 0
    if not scripts:
        print("run_all.py: no benchmarks/bench_*.py found.")
        return 0

    passed = " ".join(extra) or "(none)"
    print(f"Python {sys.version.split()[0]} ({sys.executable}); arguments passed on: {passed}")
    results: list[tuple[str, int, list[str], float]] = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        status, misses, seconds = run_one(script, extra, options.timeout)
        results.append((script.name, status, misses, seconds))

    print("\n=== summary ===")
    failed = False
    for name, status, misses, seconds in results:
        if status != 0:
            failed = True
            verdict = f"FAILED (exit status {status})"
        elif misses:
            verdict = f"{len(misses)} figure(s) missed their target"
        else:
            verdict = "every figure met its target"
        print(f"{name}: {verdict} ({seconds:.0f} s)")
        for miss in misses:
            print(f"  missed: {miss}")
    total_misses = sum(len(r[2]) for r in results)
    print(
        f"{len(results)} benchmark(s), {total_misses} missed figure(s)"
        + (", some benchmarks failed" if failed else "")
        + "; misses are reported, not fatal."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
