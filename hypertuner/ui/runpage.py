"""The data of a run's page: what :func:`hypertuner.compare.read_run` gives, plus where each
config value came from, the command line, the saved checkpoints, the log and the run's sweep.

Example:
    >>> import tempfile, hypertuner
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> hypertuner.start_run({"lr": 0.1}, name="a", storage=root).finish()
    >>> page = run_page(root, hypertuner.compare.read_run("a", root))
    >>> sorted(page)
    ['checkpoints', 'command', 'log', 'provenance', 'sweep']
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import readers
from .provenance import provenance

__all__ = ["command_line", "run_page"]


def command_line(meta: Mapping[str, Any]) -> str | None:
    """The recorded command line as a shell would read it back, or ``None`` when not recorded.

    Example:
        >>> command_line({"executable": "/usr/bin/python3", "argv": ["t.py", "lr=0.1", "a b"]})
        "/usr/bin/python3 t.py lr=0.1 'a b'"
        >>> command_line({"executable": "/p/python", "module": "pkg.train", "argv": ["x", "-v"]})
        '/p/python -m pkg.train -v'
    """
    argv = meta.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(t, str) for t in argv):
        return None
    executable = meta.get("executable")
    head = [executable] if isinstance(executable, str) and executable else ["python"]
    module = meta.get("module")
    if isinstance(module, str) and module:
        return shlex.join([*head, "-m", module, *argv[1:]])
    return shlex.join([*head, *argv])


def run_page(root: Path, run: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a run's page beyond :func:`~hypertuner.compare.read_run`'s ``run``.

    Returns ``{"provenance", "command", "checkpoints", "log", "sweep"}``: see
    :func:`~hypertuner.ui.provenance.provenance`, :func:`command_line`,
    :func:`~hypertuner.ui.readers.checkpoints` and :func:`~hypertuner.ui.readers.log_tail`;
    ``sweep`` is ``{"name", "index", "metric", "mode", "value", "best", "n_trials"}`` for a
    sweep's trial, else ``None``.
    """
    name = run["name"]
    directory = Path(run["directory"])
    meta = run.get("meta") or {}
    sweep = None
    for found in readers.sweeps(root, [name]):
        trial = found["trials"].get(name)
        if trial is not None:
            sweep = {
                "name": found["name"],
                "index": trial["index"],
                "status": trial["status"],
                "value": trial["value"],
                "metric": found["metric"],
                "mode": found["mode"],
                "best": found["best"],
                "n_trials": len(found["trials"]),
            }
    return {
        "provenance": provenance(root, meta, run.get("config") or {}),
        "command": command_line(meta),
        "checkpoints": readers.checkpoints(root, directory),
        "log": readers.log_tail(root, readers.trial_logs(root, name, sweep)),
        "sweep": sweep,
    }
