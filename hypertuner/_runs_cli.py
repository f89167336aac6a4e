"""The run-comparing subcommands of ``hypertuner``: runs, show, diff, compare, board.

Registered by :mod:`hypertuner.cli`. Tables fit 80 columns; the
``--json`` output of ``runs``, ``show`` and ``compare`` is the plain data of
:mod:`hypertuner.compare` (non-finite numbers as ``null``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import _files, compare
from ._clitools import add_storage_option
from ._deps import require
from ._formats import format_value
from ._layout import list_runs, storage_root
from ._trees import flatten
from .errors import RunNotFoundError, UsageError

__all__ = ["add_commands"]

WIDTH = 80


def add_commands(sub: Any) -> None:
    """Add ``runs``, ``show``, ``diff``, ``compare`` and ``board`` to the ``hypertuner`` parser.

    Example:
        >>> from hypertuner.cli import main
        >>> import tempfile
        >>> main(["runs", "--json", "--storage", tempfile.mkdtemp()])
        []
        0
    """
    runs = sub.add_parser(
        "runs",
        help="list the runs: status, start, duration and last metric values",
        description="List every run in the storage folder, oldest first, with the last value of "
        "its most common metrics.",
    )
    runs.add_argument(
        "-m",
        "--metric",
        action="append",
        default=None,
        metavar="TAG",
        help="a metric column to show (repeatable; default: the most common ones that fit)",
    )
    runs.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_storage_option(runs)
    runs.set_defaults(handler=_runs)

    show = sub.add_parser(
        "show",
        help="show one run's config, metadata and metric summary",
        description="Show a run's flattened config, its metadata and each metric's last, "
        "min and max value.",
    )
    show.add_argument("name", help="the run name")
    show.add_argument("--json", action="store_true", help="print the run as JSON")
    add_storage_option(show)
    show.set_defaults(handler=_show)

    diff = sub.add_parser(
        "diff",
        help="show the config keys that differ between runs",
        description="Show the flattened config keys whose values differ between the runs, "
        "side by side.",
    )
    diff.add_argument("names", nargs="+", metavar="NAME", help="two or more run names")
    add_storage_option(diff)
    diff.set_defaults(handler=_diff)

    comp = sub.add_parser(
        "compare",
        help="rank runs by a metric (and plot its curves)",
        description="Rank runs by the best (or last) value of a metric, best first.",
    )
    comp.add_argument("names", nargs="*", metavar="NAME", help="runs to compare (default: all)")
    comp.add_argument("--metric", required=True, metavar="TAG", help="the metric to rank by")
    comp.add_argument(
        "--mode",
        choices=compare.MODES,
        default="min",
        help="min: lower is better, max: higher is better, last: rank by the last value (lower "
        "first); default min",
    )
    comp.add_argument("--plot", metavar="FILE.png", help="draw the metric's curves to this file")
    comp.add_argument("--json", action="store_true", help="print the ranking as JSON")
    add_storage_option(comp)
    comp.set_defaults(handler=_compare)

    board = sub.add_parser(
        "board",
        help="start TensorBoard on the storage folder",
        description="Start TensorBoard on the storage folder (every run by name, the HParams "
        "tab beside their final metrics) and print its address. Ctrl-C stops it.",
    )
    board.add_argument("--port", type=int, default=6006, help="the port (default 6006; 0: any)")
    add_storage_option(board)
    board.set_defaults(handler=_board)


# --- formatting ------------------------------------------------------------------------------


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    return str(value)


def _cell(value: Any) -> str:
    """A config value, as explain and the sweep summaries show it."""
    return format_value(value)


def _command_line(meta: dict[str, Any]) -> str:
    """The run's command line in full, quoted as a shell would need it (never cut short)."""
    import shlex

    argv = [str(a) for a in meta.get("argv") or []]
    if meta.get("module"):
        argv = ["-m", str(meta["module"]), *argv[1:]]
    return shlex.join([str(meta.get("executable") or "python"), *argv])


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 1)] + "..."


def _table(header: list[str], rows: list[list[str]], *, width: int = WIDTH) -> str:
    """Left-aligned columns two spaces apart; the widest columns shrink until the line fits."""
    columns = [header, *rows]
    sizes = [max(len(line[i]) for line in columns) for i in range(len(header))]
    budget = width - 2 * (len(header) - 1)
    while sum(sizes) > budget:
        widest = max(range(len(sizes)), key=lambda i: sizes[i])
        if sizes[widest] <= 6:
            break
        sizes[widest] -= 1
    lines = []
    for line in columns:
        cells = [_clip(cell, size).ljust(size) for cell, size in zip(line, sizes, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _when(stamp: Any) -> str:
    if not isinstance(stamp, str):
        return "-"
    try:
        moment = _dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp[:16]
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


# The longest duration shown (ten years): a longer one, NaN or a negative one comes from a
# tampered meta.json and reads as unknown.
_MAX_DURATION_S = 10 * 366 * 24 * 3600


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "-"
    if not 0 <= seconds <= _MAX_DURATION_S:  # False for NaN; no float() of a huge integer
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{seconds:.1f}s" if seconds < 10 else f"{secs}s"


def _plain(value: Any) -> Any:
    """JSON-ready: non-finite floats become ``None``, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and hasattr(value, "dtype"):
        return _plain(value.item())
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(_plain(value), indent=2, ensure_ascii=False, allow_nan=False, default=str))


def _require_runs(storage: str | None) -> Path:
    root = storage_root(storage)
    if list_runs(root):
        return root
    where = "does not exist" if not root.is_dir() else "has no runs yet"
    msg = (
        f"The storage folder {str(root)!r} {where}. Create a run by running a script that calls "
        "hypertuner.parse() (for example 'python train.py'), or point --storage (or "
        "$HYPERTUNER_STORAGE) at the folder that holds your runs."
    )
    raise RunNotFoundError(msg)


# --- runs ------------------------------------------------------------------------------------


def _metric_columns(rows: list[dict[str, Any]], chosen: list[str] | None, room: int) -> list[str]:
    if chosen:
        return chosen
    counts: dict[str, int] = {}
    for row in rows:
        for tag in row["metrics"]:
            counts[tag] = counts.get(tag, 0) + 1
    ranked = sorted(counts, key=lambda tag: (-counts[tag], tag))
    picked: list[str] = []
    used = 0
    for tag in ranked:
        need = max(min(len(tag), 14), 7) + 2
        if used + need > room:
            break
        picked.append(tag)
        used += need
    return picked


def _runs(options: argparse.Namespace) -> int:
    root = storage_root(options.storage)
    if options.json:
        _print_json(compare.runs_table(root))
        return 0
    _require_runs(options.storage)
    rows = compare.runs_table(root)
    name_width = min(max(len(r["name"]) for r in rows), 28)
    status_width = max(len(str(r["status"])) for r in rows)
    fixed = max(name_width, 4) + max(status_width, 6) + 16 + 8 + 2 * 4
    metrics = _metric_columns(rows, options.metric, WIDTH - fixed)
    header = ["name", "status", "start", "duration", *metrics]
    body = []
    for row in rows:
        cells = [
            row["name"],
            str(row["status"]),
            _when(row["start_time"]),
            _duration(row["duration_s"]),
        ]
        for tag in metrics:
            entry = row["metrics"].get(tag)
            cells.append(_number(entry["last"]) if entry else "-")
        body.append(cells)
    print(_table(header, body))
    return 0


# --- show ------------------------------------------------------------------------------------


def _show(options: argparse.Namespace) -> int:
    run = compare.read_run(options.name, options.storage)
    if options.json:
        _print_json(run)
        return 0
    meta = run["meta"]
    print(f"run       {run['name']}")
    print(f"folder    {run['directory']}")
    print(f"status    {meta.get('status', 'unknown')}")
    print(f"started   {_when(meta.get('start_time'))}")
    print(f"duration  {_duration(meta.get('duration_s'))}")
    if meta.get("error"):
        print(f"error     {_clip(str(meta['error']), WIDTH - 10)}")
    git = meta.get("git")
    if isinstance(git, dict) and git.get("commit"):
        print(f"git       {git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}")
    if meta.get("host"):
        print(f"host      {meta['host']}")
    if meta.get("argv"):
        print(f"command   {_command_line(meta)}")
    if meta.get("cwd"):
        print(f"cwd       {meta['cwd']}")
    flat = flatten(run["config"])
    print("\nconfig")
    if flat:
        print(_table(["key", "value"], [[k, _cell(v)] for k, v in flat.items()]))
    else:
        print("(empty)")
    print("\nmetrics")
    if run["metrics"]:
        header = ["metric", "last", "min", "max", "step"]
        body = [
            [
                tag,
                _number(e.get("last")),
                _number(e.get("min")),
                _number(e.get("max")),
                _cell(e.get("step")),
            ]
            for tag, e in sorted(run["metrics"].items())
        ]
        print(_table(header, body))
    else:
        print("(none logged)")
    return 0


# --- diff ------------------------------------------------------------------------------------


def _diff(options: argparse.Namespace) -> int:
    names = list(options.names)
    if len(names) < 2:
        msg = "hypertuner diff needs two or more run names, for example: hypertuner diff a b."
        raise UsageError(msg)
    _require_runs(options.storage)
    changes = compare.diff_configs(names, options.storage)
    if not changes:
        print(f"The configs of {', '.join(names)} are the same.")
        return 0
    body = [[key, *(_cell(v) for v in values)] for key, values in changes]
    print(_table(["key", *names], body))
    return 0


# --- compare ---------------------------------------------------------------------------------


def _compare(options: argparse.Namespace) -> int:
    _require_runs(options.storage)
    ranked = compare.rank_runs(
        options.metric, options.mode, names=options.names or None, storage=options.storage
    )
    listed = [row for row in ranked if options.metric in row["metrics"]]
    left_out = len(ranked) - len(listed)
    note = (
        f"{left_out} run{'s' if left_out != 1 else ''} never logged {options.metric!r} and "
        f"{'are' if left_out != 1 else 'is'} not listed."
        if left_out
        else ""
    )
    plotted = _plot(listed, options.metric, options.plot, options.storage) if options.plot else None
    if options.json:
        _print_json(listed)
        if note:
            print(note, file=sys.stderr)
        return 0
    score_name = {"min": "best (min)", "max": "best (max)", "last": "last"}[options.mode]
    header = ["rank", "name", score_name, "last", "step", "status"]
    body = []
    for row in listed:
        entry = row["metrics"][options.metric]
        body.append(
            [
                str(row["rank"]) if row["rank"] is not None else "-",
                row["name"],
                _number(row["score"]) if row["rank"] is not None else "-",
                _number(row["last"]),
                _cell(entry.get("step", "-")),
                str(row["status"]),
            ]
        )
    print(_table(header, body))
    if note:
        print(note)
    if plotted is not None:
        print(f"Plot written to {plotted}.")
    return 0


def _plot_target(path: str, formats: dict[str, str]) -> tuple[Path, str]:
    """The file ``--plot PATH`` writes (``.png`` added when it has no suffix) and its format."""
    target = Path(path)
    suffix = target.suffix[1:].lower()
    if not suffix:
        target, suffix = target.with_name(target.name + ".png"), "png"
    if suffix not in formats:
        known = ", ".join(sorted(formats))
        msg = (
            f"Cannot write the plot to {path!r}: matplotlib does not write {suffix!r} files. "
            f"End the path in one of: {known}."
        )
        raise UsageError(msg, option="--plot", value=path)
    if not target.parent.is_dir():
        folder = str(target.parent)
        msg = f"Cannot write the plot to {path!r}: the folder {folder!r} does not exist."
        raise UsageError(msg, option="--plot", value=path)
    if os.path.lexists(target) and (target.is_symlink() or not target.is_file()):
        msg = (
            f"Cannot write the plot to {str(target)!r}: it is a folder, a link or not a regular "
            "file. Name a new file or a plot file to replace."
        )
        raise UsageError(msg, option="--plot", value=path)
    return target, suffix


def _plot(ranked: list[dict[str, Any]], metric: str, path: str, storage: str | None) -> Path:
    """Draw ``metric``'s curves to ``path`` (a temporary file beside it, then renamed); return
    the file written."""
    require("matplotlib", "plot", "hypertuner compare --plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = storage_root(storage)
    figure, axes = plt.subplots(figsize=(8, 5))
    try:
        target, kind = _plot_target(path, figure.canvas.get_supported_filetypes())
        for row in ranked:
            series = compare.read_scalars(root / row["name"], tags=[metric]).get(metric)
            if series is not None and len(series.steps):
                axes.plot(series.steps, series.values, label=row["name"])
        axes.set_xlabel("step")
        axes.set_ylabel(metric)
        axes.set_title(metric)
        axes.grid(True, alpha=0.3)
        if axes.lines:
            axes.legend(fontsize="small")
        try:
            with _files.atomic_open(target, "wb") as handle:
                figure.savefig(handle, format=kind, dpi=100, bbox_inches="tight")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            msg = f"Cannot write the plot to {str(target)!r}: {reason}."
            raise UsageError(msg, option="--plot", value=path) from None
    finally:
        plt.close(figure)
    return target


# --- board -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _check_port_free(port: int) -> None:
    """Raise :class:`UsageError` when something already listens on 127.0.0.1:``port``: the
    readiness check would take that server for TensorBoard, which then exits on its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As TensorBoard binds: a port left in TIME_WAIT by a closed server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            msg = (
                f"Port {port} on 127.0.0.1 is not free ({reason}): another program serves it. "
                "Pass another --port, or --port 0 for any free port."
            )
            raise UsageError(msg, option="--port", value=port) from None


def _tensorboard_command() -> list[str]:
    beside = Path(sys.executable).with_name("tensorboard")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    require("tensorboard", "core", "hypertuner board")
    return [sys.executable, "-m", "tensorboard.main"]


def _board(options: argparse.Namespace) -> int:
    root = _require_runs(options.storage)
    port = options.port or _free_port()
    if not 0 < port < 65536:
        msg = f"Port {port} is not a TCP port: use 1-65535, or 0 for any free port."
        raise UsageError(msg, option="--port", value=port)
    _check_port_free(port)
    command = [
        *_tensorboard_command(),
        "--logdir",
        str(root),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with _stopped_by_signals():
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        return _serve_board(process, root, port)


class _Stop(Exception):
    """SIGTERM or SIGHUP arrived: stop TensorBoard as Ctrl-C does, then exit 128 + signal."""


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """While TensorBoard runs, SIGTERM and SIGHUP unwind like Ctrl-C (so its child is stopped,
    never left serving the port); the default handlers would end this process on the spot."""

    def stop(signum: int, frame: object) -> None:
        raise _Stop(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for kind in (signal.SIGTERM, signal.SIGHUP):
            previous[kind] = signal.signal(kind, stop)
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)


def _serve_board(process: subprocess.Popen[str], root: Path, port: int) -> int:
    try:
        address = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                detail = (process.stderr.read() if process.stderr else "").strip().splitlines()
                msg = (
                    f"TensorBoard stopped before it was ready on port {port}"
                    f"{': ' + detail[-1] if detail else ''}. Try another --port."
                )
                raise UsageError(msg, option="--port", value=port)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.5)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        print(f"TensorBoard on {root}: {address}  (Ctrl-C stops it)", flush=True)
        last = ""
        if process.stderr is not None:
            for line in process.stderr:  # drain its log so it never blocks on a full pipe
                last = line.strip() or last
        code = process.wait()
        if code != 0:  # it failed on its own (a port taken after the check): say why
            msg = (
                f"TensorBoard stopped with exit status {code}"
                f"{': ' + last if last else ''}. Try another --port."
            )
            raise UsageError(msg, option="--port", value=port)
        return code
    except KeyboardInterrupt:
        return 0
    except _Stop as stop:
        return 128 + int(stop.args[0])
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()
