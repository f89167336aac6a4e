"""hypertuner: one line makes every training run a named, reproducible, comparable thing.

Example:
    >>> import hypertuner
    >>> callable(hypertuner.parse)
    True
"""

from __future__ import annotations

from importlib import metadata as _metadata

from .config import Args, parse, parse_known
from .run import Run, current_run, start_run
from .scope import auto_param, carry, param_scope
from .tracking import log

try:
    __version__ = _metadata.version("hypertuner")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Args",
    "Run",
    "auto_param",
    "carry",
    "current_run",
    "log",
    "param_scope",
    "parse",
    "parse_known",
    "start_run",
]
