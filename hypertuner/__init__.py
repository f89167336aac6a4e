"""hypertuner: one line makes every training run a named, reproducible, comparable thing.

Example:
    >>> import hypertuner
    >>> callable(hypertuner.parse)
    True
"""

from __future__ import annotations

from typing import Any as _Any

from .cfgfile import HParams
from .config import Args, parse, parse_known
from .launch import sweep
from .run import Run, current_run, start_run
from .saver import Saver, load
from .scope import auto_param, carry, param_scope
from .search import HyperOptArgumentParser, choice, irange, loguniform, uniform
from .tracking import log


def __getattr__(name: str) -> _Any:
    # importlib.metadata costs a quarter of the import time: read the version only when asked.
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("hypertuner")
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0.0.0"
    msg = f"module 'hypertuner' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "Args",
    "HParams",
    "HyperOptArgumentParser",
    "Run",
    "Saver",
    "auto_param",
    "carry",
    "choice",
    "current_run",
    "irange",
    "load",
    "log",
    "loguniform",
    "param_scope",
    "parse",
    "parse_known",
    "start_run",
    "sweep",
    "uniform",
]
