"""hypertuner: one line makes every training run a named, reproducible, comparable thing.

``import hypertuner`` loads only what :func:`parse`, :class:`Args`, :func:`param_scope` and
:func:`auto_param` need; every other name loads its module on first use (PEP 562).

Example:
    >>> import hypertuner
    >>> callable(hypertuner.parse), callable(hypertuner.sweep)
    (True, True)
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from .args import Args, parse, parse_known
from .run import Run, current_run, start_run
from .scope import auto_param, carry, param_scope

if _TYPE_CHECKING:
    from .cfgfile import HParams
    from .errors import TrialPruned
    from .launch import sweep
    from .saver import Saver, load
    from .search import choice, irange, loguniform, uniform
    from .testtube import HyperOptArgumentParser
    from .tracking import log

__all__ = [
    "Args",
    "HParams",
    "HyperOptArgumentParser",
    "Run",
    "Saver",
    "TrialPruned",
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

# The names loaded on first use, and the module that holds each.
_LAZY = {
    "HParams": "cfgfile",
    "HyperOptArgumentParser": "testtube",
    "Saver": "saver",
    "TrialPruned": "errors",
    "choice": "search",
    "irange": "search",
    "load": "saver",
    "log": "tracking",
    "loguniform": "search",
    "sweep": "launch",
    "uniform": "search",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value  # later reads are plain attribute reads
        return value
    if name == "__version__":
        # importlib.metadata costs a quarter of the import time: read the version only when asked.
        from importlib import metadata

        try:
            return metadata.version("hypertuner")
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0.0.0"
    msg = f"module 'hypertuner' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
